"""The planner page's state: presets, input validation (a reason per input), the shareable
URL value and saved scenarios (a small JSON file under data/).

Inputs live in ``st.session_state`` under the keys of :data:`FIELDS`; everything that turns
them into numbers is in analytics.capacity.planner.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st
from pydantic import ValidationError

from analytics import costs as cost_engine
from analytics.capacity.planner import streams_from_weekly_hours
from analytics.ledger import AUDIENCE_PRODUCTS, REGIONS, SERVER_TYPES, VIDEO_TIERS, Scenario, load_scenario
from analytics.usage import measured_ledger
from ui import data
from ui.sidebar import ViewState

SCENARIO_DIR = Path(__file__).resolve().parents[1] / "analytics" / "scenarios"
SAVED_PATH = Path(__file__).resolve().parents[1] / "data" / "planner_scenarios.json"
MAX_SAVED = 50
MAX_NAME_CHARS = 60
MY_FLEET = "my fleet (last 30 days)"
KBPS_PRESETS: tuple[int, ...] = (32, 64, 128, 192)
TARGETS_PCT: tuple[int, ...] = (70, 80)
FLEET_TTL_S = 300

# Scenario field -> (session key, URL key). The URL value is "k=v;k=v" of these only.
FIELDS: dict[str, tuple[str, str]] = {
    "streams": ("pl_streams", "s"),
    "listeners_per_stream": ("pl_avg", "l"),
    "peak_listeners_per_stream": ("pl_peak", "p"),
    "publishers_per_stream": ("pl_pubs", "u"),
    "audio_kbps": ("pl_kbps", "k"),
    "video": ("pl_video", "v"),
    "hours_per_day": ("pl_hours", "h"),
    "days_per_month": ("pl_days", "d"),
    "growth_pct_per_month": ("pl_growth", "g"),
    "hls_share": ("pl_hls", "x"),  # shown as a percentage
    "region": ("pl_region", "r"),
    "server_type": ("pl_server", "sv"),
    "target_cpu_pct": ("pl_target", "t"),
    "recording": ("pl_rec", "rec"),
    "rtmp_ingress": ("pl_rtmp", "in"),
    "hls_egress": ("pl_hls_egress", "he"),
    "audience_product": ("pl_audience", "ap"),
}
CHOICES: dict[str, tuple[str, ...]] = {
    "video": VIDEO_TIERS, "region": REGIONS, "server_type": SERVER_TYPES, "audience_product": AUDIENCE_PRODUCTS,
}  # fmt: skip
BOOL_FIELDS: tuple[str, ...] = ("recording", "rtmp_ingress", "hls_egress")
# Fields a shared URL from before they existed may leave out, and their values then.
URL_DEFAULTS: dict[str, Any] = {"rtmp_ingress": False, "hls_egress": False, "audience_product": "broadcast"}
# Upper bounds of the inputs: far beyond any fleet, and short of numbers that stop meaning
# anything (a shared link with s=1e300 would otherwise ask for a 300-digit node count).
MAX_STREAMS = 100_000.0
MAX_LISTENERS = 10_000_000.0
MAX_PUBLISHERS = 1_000.0
# A shared link's numbers above these are clamped to them, with the reason shown (below the
# range the link is refused like any invalid one).
URL_LIMITS: dict[str, tuple[float, str]] = {
    "streams": (MAX_STREAMS, "concurrent broadcasts"),
    "listeners_per_stream": (MAX_LISTENERS, "average listeners per stream"),
    "peak_listeners_per_stream": (MAX_LISTENERS, "peak listeners per stream"),
    "publishers_per_stream": (MAX_PUBLISHERS, "publishers per stream"),
    "audio_kbps": (2000.0, "audio bitrate (kbps)"),
    "hours_per_day": (24.0, "hours per day"),
    "days_per_month": (31.0, "days per month"),
    "growth_pct_per_month": (200.0, "monthly growth (%)"),
    "hls_share": (1.0, "HLS share"),
    "target_cpu_pct": (95.0, "target CPU (%)"),
}
NOTICE_KEY = "pl_notice"  # the planner page shows (and removes) this message above its inputs


@st.cache_resource(ttl=3600, show_spinner=False)
def presets() -> dict[str, Scenario]:
    """The seed scenarios (analytics/scenarios/*.yaml) by file name."""
    return {path.stem: load_scenario(path) for path in sorted(SCENARIO_DIR.glob("*.yaml"))}


def widget_values(scenario: Scenario) -> dict[str, Any]:
    """Session values for a scenario (HLS share as a percentage, target CPU on the radio)."""
    values: dict[str, Any] = {}
    for name, (key, _url) in FIELDS.items():
        value = getattr(scenario, name)
        if name == "peak_listeners_per_stream":
            value = scenario.peak_listeners
        elif name == "hls_share":
            value = round(scenario.hls_share * 100.0, 1)
        elif name == "target_cpu_pct":
            value = min(TARGETS_PCT, key=lambda t: abs(t - scenario.target_cpu_pct))
        elif isinstance(value, float | int) and not isinstance(value, bool):
            value = float(value)
        values[key] = value
    return values


def apply(scenario: Scenario) -> None:
    st.session_state.update(widget_values(scenario))
    st.session_state["pl_mode"] = "concurrent"


# --------------------------------------------------------------------------------------------
# Validation: a reason per input, never an exception
# --------------------------------------------------------------------------------------------


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        return None
    return float(value)


def scenario_from_inputs(
    values: Mapping[str, Any], *, name: str = ""
) -> tuple[Scenario | None, dict[str, str]]:
    """(scenario, {}) or (None, {field: reason}) for the planner's raw input values."""
    errors: dict[str, str] = {}
    numbers: dict[str, float] = {}
    for field in ("streams", "listeners_per_stream", "peak_listeners_per_stream", "publishers_per_stream",
                  "audio_kbps", "hours_per_day", "days_per_month", "growth_pct_per_month", "hls_share", "target_cpu_pct"):  # fmt: skip
        number = _number(values.get(field))
        if number is None:
            errors[field] = "enter a number"
        else:
            numbers[field] = number
    checks = {
        "streams": (
            lambda v: 0 < v <= MAX_STREAMS,
            f"concurrent broadcasts must be above 0 and at most {MAX_STREAMS:,.0f}",
        ),
        "listeners_per_stream": (
            lambda v: 0 <= v <= MAX_LISTENERS,
            f"listeners per stream must be between 0 and {MAX_LISTENERS:,.0f}",
        ),
        "peak_listeners_per_stream": (
            lambda v: 0 <= v <= MAX_LISTENERS,
            f"listeners per stream must be between 0 and {MAX_LISTENERS:,.0f}",
        ),
        "publishers_per_stream": (
            lambda v: 1 <= v <= MAX_PUBLISHERS,
            f"a stream needs 1 to {MAX_PUBLISHERS:,.0f} publishers",
        ),
        "audio_kbps": (lambda v: 0 < v <= 2000, "the audio bitrate must be between 1 and 2,000 kbps"),
        "hours_per_day": (lambda v: 0 < v <= 24, "hours per day must be above 0 and at most 24"),
        "days_per_month": (lambda v: 0 < v <= 31, "days per month must be between 1 and 31"),
        "growth_pct_per_month": (lambda v: -50 <= v <= 200, "monthly growth must be between −50 % and 200 %"),
        "hls_share": (lambda v: 0 <= v <= 100, "the HLS share must be between 0 and 100 %"),
        "target_cpu_pct": (lambda v: 10 <= v <= 95, "the target CPU must be between 10 and 95 %"),
    }
    for field, (ok, reason) in checks.items():
        if field in numbers and not ok(numbers[field]):
            errors[field] = reason
    average, peak = numbers.get("listeners_per_stream"), numbers.get("peak_listeners_per_stream")
    if (
        "peak_listeners_per_stream" not in errors
        and average is not None
        and peak is not None
        and peak < average
    ):
        errors["peak_listeners_per_stream"] = (
            f"the peak ({peak:,.0f}) cannot be below the average ({average:,.0f})"
        )
    for field, options in CHOICES.items():
        if values.get(field) not in options:
            errors[field] = f"choose one of {', '.join(options)}"
    if errors:
        return None, errors
    try:
        scenario = Scenario.model_validate(
            {**numbers, "hls_share": numbers["hls_share"] / 100.0, "name": name, "video": values["video"],
             "region": values["region"], "server_type": values["server_type"],
             "audience_product": values["audience_product"],
             **{field: bool(values.get(field, False)) for field in BOOL_FIELDS}}
        )  # fmt: skip
    except ValidationError as exc:  # a bound the checks above missed: still a reason, not a traceback
        for item in exc.errors():
            errors[str(item["loc"][0]) if item["loc"] else "streams"] = str(item["msg"])
        return None, errors
    return scenario, {}


def session_inputs() -> dict[str, Any]:
    """The raw input values from the session, streams computed in the weekly-hours mode."""
    state = st.session_state
    values = {name: state.get(key) for name, (key, _url) in FIELDS.items()}
    if state.get("pl_mode") == "weekly":
        hours = _number(values["hours_per_day"])
        broadcasters, weekly = _number(state.get("pl_broadcasters")), _number(state.get("pl_hours_week"))
        if (
            hours
            and hours > 0
            and broadcasters is not None
            and weekly is not None
            and broadcasters >= 0
            and weekly >= 0
        ):
            values["streams"] = streams_from_weekly_hours(broadcasters, weekly, hours)
        else:
            values["streams"] = None
    return values


# --------------------------------------------------------------------------------------------
# The URL: one allow-listed key, "plan", holding k=v pairs of known keys and plain values
# --------------------------------------------------------------------------------------------


def to_url(scenario: Scenario) -> str:
    parts = []
    for name, (_key, short) in FIELDS.items():
        value = scenario.peak_listeners if name == "peak_listeners_per_stream" else getattr(scenario, name)
        if isinstance(value, bool):
            value = int(value)
        parts.append(f"{short}={value:g}" if isinstance(value, float | int) else f"{short}={value}")
    return ";".join(parts)


def _clamped(name: str, value: float, notes: list[str]) -> float:
    """``value`` capped at the planner's limit for ``name`` (with the reason in ``notes``);
    values below the range are left for the validation to refuse."""
    high, label = URL_LIMITS[name]
    if value <= high:
        return value
    notes.append(f"{label} {value:g} is more than the planner takes: clamped to {high:,g}")
    return high


def from_url(text: str | None) -> Scenario | None:
    """The scenario in a shared URL value, or None when anything in it is unknown or invalid.
    Numbers above the planner's range are clamped to it; the reason is left for the page
    (``st.session_state[NOTICE_KEY]``), as is the reason a link could not be read at all."""
    notes: list[str] = []
    scenario = _parse_url(text, notes)
    if text and scenario is None:
        notes.append("the rest of the link could not be read, so the default preset is shown")
    if notes:
        st.session_state[NOTICE_KEY] = "The shared link: " + "; ".join(notes) + "."
    return scenario


def _parse_url(text: str | None, notes: list[str]) -> Scenario | None:
    if not text:
        return None
    by_short = {short: name for name, (_key, short) in FIELDS.items()}
    values: dict[str, Any] = {}
    for part in text.split(";"):
        key, sep, raw = part.partition("=")
        name = by_short.get(key)
        if not sep or name is None or name in values:
            return None
        if name in CHOICES:
            if raw not in CHOICES[name]:
                return None
            values[name] = raw
        elif name in BOOL_FIELDS:
            if raw not in ("0", "1"):
                return None
            values[name] = raw == "1"
        else:
            try:
                number = float(raw)
            except ValueError:
                return None
            if math.isnan(number):
                return None
            values[name] = _clamped(name, number, notes)
    values = {**{k: v for k, v in URL_DEFAULTS.items() if k not in values}, **values}
    if set(values) != set(FIELDS):
        return None
    values["hls_share"] = values["hls_share"] * 100.0
    scenario, errors = scenario_from_inputs(values, name="shared")
    return None if errors else scenario


# --------------------------------------------------------------------------------------------
# "My fleet": the last 30 days measured
# --------------------------------------------------------------------------------------------


GROWTH_RANGE_PCT = (-50.0, 200.0)  # the slider's range


def fleet_notes(ledger_covered_note: str, growth_pct: float | None) -> str:
    """What "my fleet" was filled from, for the notice under the preset."""
    if growth_pct is None:
        growth = (
            "growth set to 0 %: the audience shows no measurable trend (it needs two weeks of daily "
            "peaks and a slope clear of day-to-day noise)"
        )
    elif not GROWTH_RANGE_PCT[0] <= growth_pct <= GROWTH_RANGE_PCT[1]:
        growth = (
            f"the audience trend is {growth_pct:+.1f} % a month, beyond the slider's "
            f"{GROWTH_RANGE_PCT[0]:g}..{GROWTH_RANGE_PCT[1]:g} %: set to the nearest end"
        )
    else:
        growth = f"growth {growth_pct:+.1f} % a month: the trend of the daily audience peaks"
    coverage = f"; {ledger_covered_note}" if ledger_covered_note else ""
    return f"My fleet: the last 30 days' usage per month{coverage}; {growth}."


@st.cache_resource(ttl=FLEET_TTL_S, show_spinner=False)
def _fleet_scenario(
    url: str, until_ts: int, source_id: int | None, growth_pct: float | None
) -> tuple[Scenario, str] | None:
    since_ts = until_ts - 30 * 86_400
    ledger = measured_ledger(data.usage_parts(url, since_ts, until_ts, source_id), since_ts, until_ts)
    if ledger.is_empty:
        return None
    base = cost_engine.scenario_from_ledger(ledger)
    streams = max(ledger.fleet_peak_streams, 1.0)
    peak = max(ledger.fleet_peak_listeners / streams, base.listeners_per_stream)
    scenario = base.model_copy(
        update={
            "name": MY_FLEET,
            "streams": round(base.streams, 2),
            "hours_per_day": round(min(max(base.hours_per_day, 0.1), 24.0), 2),
            "listeners_per_stream": round(base.listeners_per_stream, 2),
            "peak_listeners_per_stream": round(peak, 2)
            if peak >= round(base.listeners_per_stream, 2)
            else None,
            "publishers_per_stream": round(base.publishers_per_stream, 2),
            "growth_pct_per_month": float(
                min(max(growth_pct or 0.0, GROWTH_RANGE_PCT[0]), GROWTH_RANGE_PCT[1])
            ),
        }
    )
    return scenario, fleet_notes(ledger.coverage_note, growth_pct)


def fleet_scenario(source_id: int | None, growth_pct: float | None) -> tuple[Scenario, str] | None:
    """ "My fleet" as a scenario and a note on what it was filled from, or None."""
    url = data.db_url()
    if not data.store_state(url).ok:
        return None
    # The last 30 days up to where every page's window ends (now, rounded up to 15 s), so the
    # preset's listener-hours are the Costs page's for the same 30 days.
    until_ts = ViewState.now_ts()
    growth = None if growth_pct is None else round(growth_pct, 1)
    return _fleet_scenario(url, until_ts, source_id, growth)


# --------------------------------------------------------------------------------------------
# Saved scenarios (a JSON file; each entry re-validated when read)
# --------------------------------------------------------------------------------------------


def load_saved(path: Path | None = None) -> dict[str, Scenario]:
    path = path or SAVED_PATH
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    saved: dict[str, Scenario] = {}
    if isinstance(raw, dict):
        for name, values in list(raw.items())[:MAX_SAVED]:
            try:
                saved[str(name)[:MAX_NAME_CHARS]] = Scenario.model_validate(values)
            except ValidationError:
                continue  # a hand-edited entry that no longer validates is skipped
    return saved


def save(name: str, scenario: Scenario, path: Path | None = None) -> str | None:
    """Save under ``name``; returns a reason when refused."""
    path = path or SAVED_PATH
    name = name.strip()
    if not name or len(name) > MAX_NAME_CHARS or not name.isprintable():
        return f"give the scenario a name of 1 to {MAX_NAME_CHARS} printable characters"
    saved = load_saved(path)
    if name not in saved and len(saved) >= MAX_SAVED:
        return f"at most {MAX_SAVED} saved scenarios: delete one first"
    saved[name] = scenario.model_copy(update={"name": name})
    document = {key: value.model_dump() for key, value in saved.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write then rename, so a reader never sees half a file.
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, delete=False, suffix=".tmp", encoding="utf-8"
    ) as handle:
        json.dump(document, handle, indent=2)
    os.replace(handle.name, path)
    return None


def delete(name: str, path: Path | None = None) -> None:
    path = path or SAVED_PATH
    saved = load_saved(path)
    if saved.pop(name, None) is None:
        return
    path.write_text(json.dumps({k: v.model_dump() for k, v in saved.items()}, indent=2), encoding="utf-8")
