"""Planner: what-if sliders on the capacity model — nodes, bandwidth and cost per model for a
scenario, its growth and its audience; presets (seeds, my fleet, saved), side-by-side
comparison, a shareable URL, the calibration and the headroom forecast. Thin: the numbers
come from analytics.capacity / analytics.forecast; state handling is in ui/planner.py."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]
import streamlit as st

from analytics.capacity.planner import PlanResult, plan
from analytics.capacity.report import FleetCapacity
from analytics.capacity.sizing import CapacityModel, default_model
from analytics.costs import MODEL_IDS, MODEL_LABELS
from analytics.ledger import AUDIENCE_PRODUCTS, REGIONS, SERVER_TYPES, VIDEO_TIERS, Scenario
from analytics.prices import Catalogue, CatalogueError
from ui import data, headroom, params
from ui import planner as state
from ui.auth import fragment
from ui.formatting import escape_markdown, format_usd
from ui.page import gate
from ui.sidebar import current_view
from ui.tables import show_table

DEFAULT_PRESET = "platform-500"
NO_PRESET = "(custom)"
SAVED_PREFIX = "saved: "
SERVER_LABELS = {
    "auto": "cheapest (CX33 or AX52)",
    "cx33": "Hetzner CX33 (4 vCPU, 20 TiB)",
    "ax52": "Hetzner AX52 (16 threads, unmetered)",
}
VIDEO_LABELS = {"none": "audio only", "hd": "720p video", "fullhd": "1080p video"}
AUDIENCE_LABELS = {"broadcast": "Broadcast Streaming", "interactive": "Interactive Live Streaming"}
SECTIONS = ["Nodes and costs", "Save and compare", "Capacity model", "Headroom forecast"]
COEFFICIENT_LABELS = {
    "fleet": "fitted on my fleet",
    "benchmark": "benchmark defaults",
    "livekit-server": "measured livekit-server",
}


def _reason(errors: dict[str, str], field: str) -> None:
    """The refusal reason right under its input."""
    if field in errors:
        st.error(escape_markdown(errors[field]), icon=":material/block:")


def _slider(label: str, field: str, key: str, step: float) -> None:
    """A slider over the Scenario model's range of ``field`` (an open lower end starts at 0, so
    a value the model refuses can still be picked and gets its reason)."""
    low, high = state.shown_bounds(field)
    if high is None:
        raise ValueError(f"the Scenario model gives {field} no upper bound for its slider")
    st.slider(label, 0.0 if low is None else low, high, key=key, step=step)


def _preset_options(saved: dict[str, Scenario], fleet_available: bool) -> list[str]:
    return [NO_PRESET, *state.presets(), *([state.MY_FLEET] if fleet_available else []),
            *(SAVED_PREFIX + name for name in saved)]  # fmt: skip


def _on_preset(saved: dict[str, Scenario], source_id: int | None, growth_pct: float | None) -> None:
    choice = st.session_state.get("pl_preset", NO_PRESET)
    scenario: Scenario | None = None
    if choice in state.presets():
        scenario = state.presets()[choice]
    elif choice == state.MY_FLEET:
        fleet = state.fleet_scenario(source_id, growth_pct)
        if fleet is None:
            st.session_state["pl_notice"] = "No usage in the last 30 days to fill “my fleet” from."
        else:
            scenario, note = fleet
            st.session_state["pl_fleet_note"] = note
    elif choice.startswith(SAVED_PREFIX):
        scenario = saved.get(choice.removeprefix(SAVED_PREFIX))
    if scenario is not None:
        state.apply(scenario)


def _on_kbps_preset() -> None:
    picked = st.session_state.get("pl_kbps_preset")
    if picked is not None:
        st.session_state["pl_kbps"] = float(picked)


PERSISTED_KEYS = (*(key for key, _url in state.FIELDS.values()), "pl_broadcasters", "pl_hours_week")


def _initialise() -> None:
    if st.session_state.get("pl_initialised"):
        # Keep the values of inputs not drawn in this run (Streamlit drops those otherwise).
        for key in PERSISTED_KEYS:
            if key in st.session_state:
                st.session_state[key] = st.session_state[key]
        return
    st.session_state["pl_initialised"] = True
    shared = state.from_url(params.read("plan"))
    if shared is not None:
        state.apply(shared)
        st.session_state["pl_preset"] = NO_PRESET
    else:
        state.apply(state.presets()[DEFAULT_PRESET])
        st.session_state["pl_preset"] = DEFAULT_PRESET
    st.session_state.setdefault("pl_broadcasters", 500.0)
    st.session_state.setdefault("pl_hours_week", 40.0)


def inputs(errors: dict[str, str], options: list[str], saved: dict[str, Scenario], report: FleetCapacity | None,
           source_id: int | None) -> None:  # fmt: skip
    growth = None if report is None else report.headroom.listener_growth_pct_per_month
    st.selectbox("Preset", options, key="pl_preset", on_change=_on_preset, args=(saved, source_id, growth),
                 help="The seed scenarios, your fleet's last 30 days, or a saved scenario.")  # fmt: skip
    notice = st.session_state.pop("pl_notice", None)
    if notice:
        st.warning(notice)
    fleet_note = st.session_state.pop("pl_fleet_note", None)
    if fleet_note:
        st.info(fleet_note, icon=":material/info:")  # our own text: no markdown to escape
    left, middle, right = st.columns(3)
    with left:
        mode = st.radio("Broadcasts", ["concurrent", "weekly"], key="pl_mode", horizontal=True,
                        format_func={"concurrent": "concurrent", "weekly": "broadcasters × hours/week"}.__getitem__)  # fmt: skip
        if mode == "concurrent":
            st.number_input("Concurrent broadcasts", key="pl_streams", step=1.0, format="%g")
        else:
            st.number_input("Broadcasters", key="pl_broadcasters", step=1.0, format="%g")
            st.number_input("Hours per week each", key="pl_hours_week", step=1.0, format="%g")
        _reason(errors, "streams")
        st.number_input("Average listeners per stream", key="pl_avg", step=1.0, format="%g")
        _reason(errors, "listeners_per_stream")
        st.number_input("Peak listeners per stream", key="pl_peak", step=1.0, format="%g")
        _reason(errors, "peak_listeners_per_stream")
        st.number_input("Publishers per stream", key="pl_pubs", step=1.0, format="%g")
        _reason(errors, "publishers_per_stream")
    with middle:
        st.number_input("Audio bitrate (kbps)", key="pl_kbps", step=8.0, format="%g")
        st.pills("Bitrate presets", list(state.KBPS_PRESETS), key="pl_kbps_preset", on_change=_on_kbps_preset,
                 format_func=lambda kbps: f"{kbps} kbps", label_visibility="collapsed")  # fmt: skip
        _reason(errors, "audio_kbps")
        st.selectbox("Video", list(VIDEO_TIERS), key="pl_video", format_func=VIDEO_LABELS.__getitem__)
        _slider("Hours per day", "hours_per_day", "pl_hours", 0.25)
        _reason(errors, "hours_per_day")
        _slider("Days per month", "days_per_month", "pl_days", 1.0)
        _reason(errors, "days_per_month")
        _slider("Monthly audience growth (%)", "growth_pct_per_month", "pl_growth", 0.5)
        _reason(errors, "growth_pct_per_month")
    with right:
        _slider("Listeners served by HLS (%)", "hls_share", "pl_hls", 5.0)
        _reason(errors, "hls_share")
        st.selectbox("Region", list(REGIONS), key="pl_region")
        st.selectbox(
            "Server type (self-hosted)",
            list(SERVER_TYPES),
            key="pl_server",
            format_func=SERVER_LABELS.__getitem__,
        )
        st.radio(
            "Target CPU",
            list(state.TARGETS_PCT),
            key="pl_target",
            horizontal=True,
            format_func=lambda t: f"{t} %",
        )
        st.toggle("Record every stream", key="pl_rec")
        st.toggle("RTMP ingress (OBS)", key="pl_rtmp",
                  help="Publishers stream in over RTMP ingress: LiveKit Cloud bills it as transcode minutes.")  # fmt: skip
        st.toggle("One HLS egress per stream", key="pl_hls_egress",
                  help="Composite/HLS egress: LiveKit Cloud transcode minutes and a self-hosted egress job "
                  "(implied when some listeners are on HLS).")  # fmt: skip
        st.selectbox("Agora audience product", list(AUDIENCE_PRODUCTS), key="pl_audience",
                     format_func=AUDIENCE_LABELS.__getitem__,
                     help="Broadcast Streaming audiences convert at their own ratios; Interactive Live Streaming "
                     "audiences pay host rates.")  # fmt: skip


def _coefficients(report: FleetCapacity | None, catalogue: Catalogue) -> CapacityModel:
    models: dict[str, CapacityModel] = {"benchmark": default_model(catalogue)}
    if report is not None and report.calibration.ok and report.calibration.fitted is not None:
        models = {"fleet": report.calibration.fitted, **models}
    if report is not None and report.livekit_server is not None:
        models["livekit-server"] = report.livekit_server
    if st.session_state.get("pl_coefficients") not in models:
        st.session_state["pl_coefficients"] = next(iter(models))
    choice = st.radio("Capacity coefficients", list(models), key="pl_coefficients", horizontal=True,
                      format_func=COEFFICIENT_LABELS.__getitem__,
                      help="Which CPU-per-track figures size the self-hosted nodes (see “Capacity model” below).")  # fmt: skip
    return models[str(choice)]


def _usd(values: Iterable[float]) -> list[str]:
    return [format_usd(float(v)) for v in values]


def curve_spec(result: PlanResult) -> dict[str, object]:
    """Vega-Lite line chart of monthly cost against listeners (data inline: no frame conversion)."""
    curve = result.curve
    values = [
        {"listeners": float(x), "usd": float(y), "model": str(label)}
        for x, y, label in zip(
            curve["listeners_per_stream"], curve["monthly_usd"], curve["label"], strict=True
        )
        if y > 0
    ]
    return {
        "height": 360,
        "title": "Monthly cost against listeners per stream",
        "layer": [
            {
                "data": {"values": values},
                "mark": {"type": "line", "point": True},
                "encoding": {
                    "x": {
                        "field": "listeners",
                        "type": "quantitative",
                        "scale": {"type": "log"},
                        "title": "Average listeners per stream",
                    },
                    "y": {
                        "field": "usd",
                        "type": "quantitative",
                        "scale": {"type": "log"},
                        "title": "USD per month",
                    },
                    "color": {"field": "model", "type": "nominal", "title": "Model"},
                    "tooltip": [
                        {"field": "model"},
                        {"field": "listeners", "format": ",.0f"},
                        {"field": "usd", "format": "$,.2f"},
                    ],
                },
            },
            {
                "data": {"values": [{"listeners": max(result.scenario.listeners_per_stream, 1.0)}]},
                "mark": {"type": "rule", "strokeDash": [4, 4]},
                "encoding": {"x": {"field": "listeners", "type": "quantitative"}},
            },
        ],
    }


def outputs(result: PlanResult) -> None:
    scenario = result.scenario
    costs = result.costs.sort_values("monthly_usd", kind="stable")
    cheapest = costs.iloc[0]
    columns = st.columns(4)
    by = result.sfu_nodes_by
    binding = max(by, key=lambda k: by[k])
    # Short values (a narrow metric truncates); the detail goes in the delta line and the help.
    columns[0].metric("SFU nodes", str(result.sfu_nodes), result.server_name, delta_color="off", delta_arrow="off",
                      border=True, help=f"by CPU {by['cpu']}, by port {by['port']}, by memory {by['memory'] or '—'} "
                      f"(binding: {binding})")  # fmt: skip
    columns[1].metric("Egress nodes", str(result.egress_nodes), f"{result.egress_jobs:,.0f} jobs",
                      delta_color="off", delta_arrow="off", border=True,
                      help=f"{result.egress_cpus_per_stream:g} CPU per egress job (LiveKit egress admission defaults)")  # fmt: skip
    included = (
        "unmetered"
        if math.isinf(result.included_traffic_tb)
        else f"{result.included_traffic_tb:,.1f} TB included"
    )
    columns[2].metric("SFU traffic, TB/month", f"{result.sfu_traffic_tb:,.2f}", included, delta_color="off",
                      delta_arrow="off", border=True)  # fmt: skip
    columns[3].metric("Cheapest per month", format_usd(float(cheapest["monthly_usd"])), str(cheapest["label"]),
                      delta_color="off", delta_arrow="off", border=True)  # fmt: skip
    st.caption(
        f"Peak {result.peak_subscribed_tracks:,.0f} subscribed tracks on the SFU ({result.peak_mbps:,.0f} Mbit/s) at "
        f"{scenario.target_cpu_pct:g} % target CPU; {result.listener_hours:,.0f} listener-hours per month; "
        f"coefficients: {COEFFICIENT_LABELS[result.model.source]}."
    )
    for warning in result.warnings:
        st.warning(escape_markdown(warning), icon=":material/warning:")
    # Per 1,000 listener-hours: self-hosted audio costs fractions of a cent per listener-hour.
    per_hour = ["no data" if pd.isna(v) else f"${v * 1000:,.2f}" for v in costs["usd_per_listener_hour"]]
    show_table(
        pa.table({"Model": list(costs["label"]), "Monthly": _usd(costs["monthly_usd"]), "Per 1,000 listener-hours": per_hour}),
        hide_index=True, key="planner_costs",
    )  # fmt: skip
    st.caption(
        "Every model prices the whole audience its own way; the self-hosted row is sized by the capacity model with "
        "HLS listeners off the SFU (their delivery cost is the LiveKit + HLS model's)."
    )
    unverified = sorted({rate_id for p in result.providers for rate_id in p.unverified})
    if unverified:
        st.caption(
            "⚠ Unverified rates in these figures (set them in `[prices.overrides]`): "
            + ", ".join(f"`{rate_id}`" for rate_id in unverified)
        )
    st.vega_lite_chart(spec=curve_spec(result), key="planner_curve")
    growth = result.growth
    table: dict[str, object] = {
        "Month": growth["month"].to_numpy(), "Listeners/stream": growth["listeners_per_stream"].round(1).to_numpy(),
        "Peak/stream": growth["peak_listeners_per_stream"].round(1).to_numpy(),
        "SFU nodes": growth["sfu_nodes"].astype(int).to_numpy(), "Egress nodes": growth["egress_nodes"].astype(int).to_numpy(),
    }  # fmt: skip
    for model_id in MODEL_IDS:
        table[MODEL_LABELS[model_id]] = _usd(growth[model_id])
    st.markdown(f"**Growth at {scenario.growth_pct_per_month:g} % per month**")
    show_table(pa.table(table), hide_index=True, key="planner_growth")


def compare(
    saved: dict[str, Scenario], current: Scenario | None, catalogue: Catalogue, model: CapacityModel
) -> None:
    st.subheader("Save and compare")
    left, right = st.columns([1, 2])
    with left:
        name = st.text_input("Scenario name", key="pl_save_name", max_chars=state.MAX_NAME_CHARS)
        if st.button("Save scenario", disabled=current is None, key="pl_save"):
            reason = state.save(name, current) if current is not None else "fix the inputs first"
            if reason:
                st.error(escape_markdown(reason))
            else:
                st.success(f"Saved “{escape_markdown(name.strip())}”.")
                saved = state.load_saved()
    with right:
        picked = st.multiselect("Compare side by side", list(saved), key="pl_compare", max_selections=4)
    chosen = {"current": current} if current is not None else {}
    chosen.update({name: saved[name] for name in picked if name in saved})
    if len(chosen) < 2:
        st.caption("Save scenarios, then pick them here to compare with the current inputs.")
        return
    columns: dict[str, list[str]] = {}
    rows = ["Concurrent broadcasts", "Listeners/stream (avg / peak)", "Audio kbps, video", "Hours/day × days",
            "SFU nodes", "Egress nodes", "SFU TB/month", *[MODEL_LABELS[m] for m in MODEL_IDS]]  # fmt: skip
    for title, scenario in chosen.items():
        result = plan(scenario, catalogue, model, months=(0,), grid=np.zeros(0))
        usd = dict(zip(result.costs["model"], result.costs["monthly_usd"], strict=True))
        columns[title] = [
            f"{scenario.streams:,.1f}", f"{scenario.listeners_per_stream:,.0f} / {scenario.peak_listeners:,.0f}",
            f"{scenario.audio_kbps:g}, {scenario.video}", f"{scenario.hours_per_day:g} × {scenario.days_per_month:g}",
            f"{result.sfu_nodes} × {result.server_name}", str(result.egress_nodes), f"{result.sfu_traffic_tb:,.2f}",
            *[format_usd(usd[m]) for m in MODEL_IDS],
        ]  # fmt: skip
    show_table(pd.DataFrame({"": rows, **columns}), hide_index=True, key="planner_compare")


@fragment()
def planner(catalogue: Catalogue, source_id: int | None, timezone: str) -> None:
    """Inputs and what they give, as one fragment: a slider move reruns this, not the sidebar,
    the navigation and the fleet calibration around it (a change of data source or range in the
    sidebar reruns the whole page and hands this its new ``source_id``)."""
    # Cached: the calibration and forecast are computed once per source, target and ttl.
    report = headroom.fleet(source_id, float(st.session_state.get("pl_target", 70)))
    saved = state.load_saved()
    scenario, errors = state.scenario_from_inputs(state.session_inputs(), name="current")
    inputs(errors, _preset_options(saved, report is not None), saved, report, source_id)
    model = _coefficients(report, catalogue)
    if scenario is not None:
        params.write({"plan": state.to_url(scenario)})
    # One section at a time: a slider move reruns only what is on screen.
    section = st.segmented_control("Show", SECTIONS, key="pl_section", default=SECTIONS[0]) or SECTIONS[0]
    if section == SECTIONS[0]:
        if scenario is None:
            st.error("Fix the inputs marked above to see nodes and costs.", icon=":material/block:")
        else:
            if st.session_state.get("pl_mode") == "weekly":
                st.caption(
                    f"= {scenario.streams:,.1f} concurrent broadcasts within {scenario.hours_per_day:g} h a day."
                )
            outputs(plan(scenario, catalogue, model))
            st.caption("Share these inputs: copy the page address (the `plan` parameter holds them).")
    elif section == SECTIONS[1]:
        compare(saved, scenario, catalogue, model)
    elif section == SECTIONS[2]:
        headroom.render_calibration(report)
    else:
        headroom.render_forecast(report, timezone)


def main() -> None:
    error = data.settings_error()
    if error is not None:
        st.title("Capacity planner")
        st.error(
            f"castmeter's configuration is invalid: {escape_markdown(str(error))}", icon=":material/error:"
        )
        st.stop()
    view = current_view()
    st.title("Capacity planner")
    try:
        catalogue = headroom.settings_catalogue()
    except CatalogueError as exc:
        st.error(f"Invalid price override: {escape_markdown(str(exc))}", icon=":material/error:")
        return
    _initialise()
    planner(catalogue, view.source_id, view.timezone)


gate()
main()
