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

from analytics.capacity.planner import streams_from_weekly_hours
from analytics.ledger import (
    AUDIENCE_PRODUCTS,
    PEAK_BELOW_AVERAGE,
    REGIONS,
    SERVER_TYPES,
    VIDEO_TIERS,
    Scenario,
    field_bounds,
)
from analytics.my_fleet import MY_FLEET as MY_FLEET  # the preset's name, for the page
from ui import data
from ui.sidebar import ViewState

SAVED_PATH = Path(__file__).resolve().parents[1] / "data" / "planner_scenarios.json"
MAX_SAVED = 50
MAX_NAME_CHARS = 60
KBPS_PRESETS: tuple[int, ...] = (32, 64, 128, 192)
TARGETS_PCT: tuple[int, ...] = (70, 80)

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
# What each numeric input is called in a refusal, and its shown unit scale (the HLS share is a
# fraction in the model and a percentage on screen). The limits themselves are the Scenario
# model's (analytics.ledger), read with field_bounds.
LABELS: dict[str, str] = {
    "streams": "concurrent broadcasts",
    "listeners_per_stream": "listeners per stream",
    "peak_listeners_per_stream": "peak listeners per stream",
    "publishers_per_stream": "publishers per stream",
    "audio_kbps": "the audio bitrate (kbps)",
    "hours_per_day": "hours per day",
    "days_per_month": "days per month",
    "growth_pct_per_month": "monthly growth (%)",
    "hls_share": "the HLS share (%)",
    "target_cpu_pct": "the target CPU (%)",
}
SHOWN_SCALE: dict[str, float] = {"hls_share": 100.0}
NUMBER_FIELDS: tuple[str, ...] = tuple(LABELS)
NOTICE_KEY = "pl_notice"  # the planner page shows (and removes) this message above its inputs


def presets() -> dict[str, Scenario]:
    """The seed scenarios (analytics/scenarios/*.yaml) by file name."""
    return data.presets()


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


def _limit_text(value: float) -> str:
    """``10,000,000``, ``0.5``: whole numbers with thousands separators, never ``1e+07``."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,g}"


def shown_bounds(field: str) -> tuple[float | None, float | None]:
    """The model's (lower, upper) limits of ``field`` in the units the input shows."""
    scale = SHOWN_SCALE.get(field, 1.0)
    low, high = field_bounds(field)
    return (None if low is None else low.value * scale), (None if high is None else high.value * scale)


def range_reason(field: str) -> str:
    """Why a value of ``field`` is refused, from the Scenario model's bounds."""
    low, high = field_bounds(field)
    scale = SHOWN_SCALE.get(field, 1.0)
    low_text = "" if low is None else _limit_text(low.value * scale)
    high_text = "" if high is None else _limit_text(high.value * scale)
    if field == "publishers_per_stream" and low is not None and high is not None:
        return f"a stream needs {low_text} to {high_text} publishers"
    label = LABELS[field]
    if low is not None and high is not None:
        if low.inclusive:
            return f"{label} must be between {low_text} and {high_text}"
        return f"{label} must be above {low_text} and at most {high_text}"
    if low is not None:
        return f"{label} must be {'at least' if low.inclusive else 'above'} {low_text}"
    return f"{label} must be at most {high_text}"


RANGE_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})


def refusals(exc: ValidationError) -> dict[str, str]:
    """{field: reason} from the model's validation errors: a range error states the field's
    whole range, a choice its options, any other the model's own message."""
    reasons: dict[str, str] = {}
    for item in exc.errors():
        field = str(item["loc"][0]) if item["loc"] else "streams"
        if field in reasons:
            continue
        if item["type"] in RANGE_ERRORS and field in LABELS:
            reasons[field] = range_reason(field)
        elif item["type"] in ("float_type", "float_parsing", "finite_number", "missing"):
            reasons[field] = "enter a number"
        elif item["type"] == PEAK_BELOW_AVERAGE:
            ctx = item.get("ctx") or {}
            reasons[field] = (
                f"the peak ({ctx['peak_value']:,.0f}) cannot be below the average ({ctx['average_value']:,.0f})"
            )
        elif field in CHOICES:
            reasons[field] = f"choose one of {', '.join(CHOICES[field])}"
        else:
            reasons[field] = str(item["msg"]).removeprefix("Value error, ")
    return reasons


def scenario_from_inputs(
    values: Mapping[str, Any], *, name: str = ""
) -> tuple[Scenario | None, dict[str, str]]:
    """(scenario, {}) or (None, {field: reason}) for the planner's raw input values: the
    Scenario model validates them, and its errors become the reasons shown."""
    numbers: dict[str, float | None] = {field: _number(values.get(field)) for field in NUMBER_FIELDS}
    hls_share = numbers["hls_share"]
    candidate = {
        **numbers, "hls_share": None if hls_share is None else hls_share / 100.0, "name": name,
        **{field: values.get(field) for field in CHOICES},
        **{field: bool(values.get(field, False)) for field in BOOL_FIELDS},
    }  # fmt: skip
    # None is the model's "same as the average"; an emptied input is not that.
    missing_peak = (
        {"peak_listeners_per_stream": "enter a number"}
        if numbers["peak_listeners_per_stream"] is None
        else {}
    )
    try:
        scenario = Scenario.model_validate(candidate)
    except ValidationError as exc:
        return None, {**refusals(exc), **missing_peak}
    return (None, missing_peak) if missing_peak else (scenario, {})


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
    """``value`` capped at the model's upper limit for ``name`` (with the reason in ``notes``);
    values below the range are left for the validation to refuse. URL values are the model's
    own units (the HLS share a fraction)."""
    high = field_bounds(name)[1]
    if high is None or value <= high.value:
        return value
    label = LABELS[name].removeprefix("the ").removesuffix(" (%)" if name in SHOWN_SCALE else "")
    notes.append(f"{label} {value:g} is more than the planner takes: clamped to {_limit_text(high.value)}")
    return high.value


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


def fleet_scenario(source_id: int | None, growth_pct: float | None) -> tuple[Scenario, str] | None:
    """ "My fleet" as a scenario and a note on what it was filled from, or None."""
    url = data.db_url()
    if not data.store_state(url).ok:
        return None
    # The last 30 days up to where every page's window ends (now, rounded up to 15 s), so the
    # preset's listener-hours are the Costs page's for the same 30 days.
    until_ts = ViewState.now_ts()
    growth = None if growth_pct is None else round(growth_pct, 1)
    fleet = data.my_fleet(url, until_ts, source_id, growth)
    return None if fleet is None else (fleet.scenario, fleet.note)


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
