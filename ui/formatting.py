"""Numbers for people, and safe display of untrusted text (room names, errors)."""

from __future__ import annotations

import html
import math
import re

MAX_SHOWN_CHARS = 120


def shorten(text: str, limit: int = MAX_SHOWN_CHARS) -> str:
    """At most ``limit`` characters, with an ellipsis and the full length when cut.
    Only for plain-text display (st.text, option labels, chart legends)."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}… ({len(text):,} chars)"


def format_count(value: float | int | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "no data"
    return f"{round(value):,}"


def format_rate(value_mbps: float | None) -> tuple[str, str]:
    """(number, unit) for a bit rate, so a narrow metric can carry the unit in its label."""
    if value_mbps is None or math.isnan(value_mbps):
        return "no data", "Mbit/s"
    if value_mbps >= 1000:
        return f"{value_mbps / 1000:,.2f}", "Gbit/s"
    return f"{value_mbps:,.1f}", "Mbit/s"


def format_usd(value_usd: float | None) -> str:
    if value_usd is None or math.isnan(value_usd):
        return "no data"
    return f"${value_usd:,.2f}"


def format_usd_rate(value_usd: float | None) -> str:
    """A small rate (per hour, per listener-hour) keeps four decimals below a dollar:
    "$0.0210", where cents alone would read "$0.02"."""
    if value_usd is None or math.isnan(value_usd):
        return "no data"
    return f"${value_usd:,.4f}" if abs(value_usd) < 1 else f"${value_usd:,.2f}"


_MARKDOWN_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character


def escape_markdown(text: str) -> str:
    """Backslash-escape all ASCII punctuation (valid CommonMark) so untrusted text inside an
    st.error/st.warning body shows literally: no links, images, emphasis or HTML."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text.replace("\n", " "))


def plotly_text(text: str) -> str:
    """Untrusted text for plotly labels/legends: plotly renders a subset of HTML there
    (<b>, <i>, <br>, <a href>), so escape it to show the characters literally."""
    return html.escape(text, quote=False)
