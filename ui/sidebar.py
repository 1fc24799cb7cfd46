"""The shared sidebar (data source, time range, live refresh) and the view state it yields.

app.py renders it once per run and publishes the state; a page run on its own (AppTest)
renders it itself, so every page works both ways.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import streamlit as st

from core import clock
from ui import data, params

VIEW_KEY = "castmeter_view"
RANGE_SPANS_S: dict[str, int] = {
    "1h": 3600,
    "6h": 6 * 3600,
    "24h": 86_400,
    "7d": 7 * 86_400,
    "30d": 30 * 86_400,
}
RANGE_LABELS: dict[str, str] = {
    "1h": "Last 1 hour",
    "6h": "Last 6 hours",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "custom": "Custom dates",
}
DEFAULT_RANGE = "6h"
ALL_SOURCES = "all"
# Window ends are rounded down to this, so reruns within it share cached reads.
WINDOW_ROUND_S = 15
REFRESH_EVERY_S = 15
_KEY_SOURCE, _KEY_RANGE, _KEY_DATES, _KEY_LIVE = "sb_source", "sb_range", "sb_dates", "sb_live"
_KEY_DATES_NOTICE = "sb_dates_notice"
# A custom range reaches back at most this far (Streamlit's date picker refuses a value outside
# its bounds with a traceback; a shared link is clamped instead, with the reason shown).
EARLIEST_DAYS_BACK = 3660
# The kinds of source with fleet data (billing collectors are sources too).
MONITORED_KINDS = ("livekit", "prometheus")


@dataclass(frozen=True)
class ViewState:
    """What every page is asked to show."""

    source_id: int | None  # None = all sources
    source_name: str
    range_key: str
    custom_from: date | None
    custom_to: date | None
    live: bool
    timezone: str

    @staticmethod
    def now_ts() -> int:
        """Now, rounded up to WINDOW_ROUND_S (the end of every relative range)."""
        now = clock.now_ts()
        return now - now % WINDOW_ROUND_S + WINDOW_ROUND_S

    def window(self, now_ts: int | None = None) -> tuple[int, int]:
        """(start_ts, end_ts) of the chosen range; relative ranges end now (rounded)."""
        if now_ts is None:
            end_ts = self.now_ts()
        else:
            end_ts = now_ts - now_ts % WINDOW_ROUND_S + WINDOW_ROUND_S
        if self.range_key != "custom" or self.custom_from is None or self.custom_to is None:
            return end_ts - RANGE_SPANS_S.get(self.range_key, RANGE_SPANS_S[DEFAULT_RANGE]), end_ts
        zone = ZoneInfo(self.timezone)
        start = datetime.combine(self.custom_from, datetime.min.time(), zone)
        stop = datetime.combine(self.custom_to + timedelta(days=1), datetime.min.time(), zone)
        return int(start.timestamp()), min(int(stop.timestamp()), end_ts)

    @property
    def range_label(self) -> str:
        if self.range_key == "custom" and self.custom_from and self.custom_to:
            return f"{self.custom_from.isoformat()} – {self.custom_to.isoformat()} ({self.timezone})"
        return RANGE_LABELS.get(self.range_key, self.range_key)

    @property
    def refresh_every_s(self) -> int | None:
        return REFRESH_EVERY_S if self.live else None


def clamp_dates(start: date, end: date, earliest: date, today: date) -> tuple[tuple[date, date], str]:
    """A custom range inside [earliest, today], and why it was changed ("" when it was not)."""
    reasons = []
    if end > today:
        reasons.append(f"{end.isoformat()} is in the future: the range ends today ({today.isoformat()})")
    if start < earliest:
        reasons.append(
            f"{start.isoformat()} is more than {EARLIEST_DAYS_BACK:,} days ago: the range starts {earliest.isoformat()}"
        )
    end = min(max(end, earliest), today)
    start = min(max(start, earliest), end)
    return (start, end), "; ".join(reasons) + ("." if reasons else "")


def _seed(key: str, value: object) -> None:
    if key not in st.session_state:
        st.session_state[key] = value


def _today(timezone: str) -> date:
    return datetime.fromtimestamp(clock.now_ts(), ZoneInfo(timezone)).date()


def render_sidebar(*, publish: bool = False) -> ViewState:
    """Draw the sidebar, sync it with the URL and return the view state."""
    timezone = data.settings().dashboard.timezone
    url = data.db_url()
    source_rows = data.sources(url) if data.store_state(url).ok else None
    if source_rows is not None:  # billing collectors are sources too, but they hold no fleet data
        source_rows = source_rows[source_rows["kind"].isin(MONITORED_KINDS)]
    names = [] if source_rows is None else [str(name) for name in source_rows["name"]]
    options = [ALL_SOURCES, *names]

    url_source = params.read("source")
    _seed(_KEY_SOURCE, url_source if url_source in options else ALL_SOURCES)
    if st.session_state[_KEY_SOURCE] not in options:  # a source vanished from the store
        st.session_state[_KEY_SOURCE] = ALL_SOURCES
    _seed(_KEY_RANGE, params.read("range") or DEFAULT_RANGE)
    url_from, url_to = params.read("from"), params.read("to")
    today = _today(timezone)
    earliest = today - timedelta(days=EARLIEST_DAYS_BACK)
    if url_from and url_to and url_from <= url_to and _KEY_DATES not in st.session_state:
        clamped, notice = clamp_dates(
            date.fromisoformat(url_from), date.fromisoformat(url_to), earliest, today
        )
        _seed(_KEY_DATES, clamped)
        if notice:  # shown until other dates are picked
            st.session_state[_KEY_DATES_NOTICE] = (clamped, notice)
    else:
        _seed(_KEY_DATES, (today - timedelta(days=7), today))
    picked_before = st.session_state[_KEY_DATES]
    if isinstance(picked_before, tuple) and len(picked_before) == 2:  # a long-open session passes midnight
        clamped, _ = clamp_dates(picked_before[0], picked_before[1], earliest, today)
        if clamped != picked_before:
            st.session_state[_KEY_DATES] = clamped
    _seed(_KEY_LIVE, params.read("live") != "0")

    with st.sidebar:
        source_name = st.selectbox(
            "Data source",
            options,
            key=_KEY_SOURCE,
            format_func=lambda name: "All sources" if name == ALL_SOURCES else name,
            help="One LiveKit server / project or Prometheus, or all of them.",
        )
        range_key = st.selectbox(
            "Time range", list(RANGE_LABELS), key=_KEY_RANGE, format_func=lambda key: RANGE_LABELS[key]
        )
        custom_from: date | None = None
        custom_to: date | None = None
        if range_key == "custom":
            picked = st.date_input(
                "Dates", key=_KEY_DATES, min_value=earliest, max_value=today, format="YYYY-MM-DD"
            )
            shown_for, notice = st.session_state.get(_KEY_DATES_NOTICE, (None, ""))
            if notice and shown_for == picked:
                st.caption(notice)
            if isinstance(picked, tuple) and len(picked) == 2:
                custom_from, custom_to = picked
            else:  # the user has picked the first day only so far
                st.caption("Pick an end date too.")
        live = st.toggle(
            "Live refresh", key=_KEY_LIVE, help=f"Re-read live figures every {REFRESH_EVERY_S} s."
        )
        st.caption(f"Times in {timezone}")
        st.caption(f"Database: {data.db_label(url)}")

    source_id: int | None = None
    if source_rows is not None and source_name != ALL_SOURCES:
        match = source_rows[source_rows["name"] == source_name]
        source_id = int(match["id"].iloc[0]) if not match.empty else None
    view = ViewState(
        source_id=source_id,
        source_name=str(source_name),
        range_key=str(range_key),
        custom_from=custom_from,
        custom_to=custom_to,
        live=bool(live),
        timezone=timezone,
    )
    params.write(
        {
            "source": None if view.source_name == ALL_SOURCES else view.source_name,
            "range": view.range_key,
            "from": custom_from.isoformat() if custom_from else None,
            "to": custom_to.isoformat() if custom_to else None,
            "live": None if view.live else "0",
        }
    )
    if publish:
        st.session_state[VIEW_KEY] = view
    return view


def current_view() -> ViewState:
    """The view published by app.py in this run, or — when the page runs on its own — the
    sidebar drawn here."""
    view = st.session_state.get(VIEW_KEY)
    if isinstance(view, ViewState):
        return view
    return render_sidebar()
