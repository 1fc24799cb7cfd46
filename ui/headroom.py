"""The headroom forecast and the capacity calibration as page sections (planner and Nodes).

The numbers come from analytics.capacity.report.fleet_capacity (read and cached by ui.data, the one
door to the data); this module only lays them out.
"""

from __future__ import annotations

import math

import pandas as pd
import streamlit as st

from analytics.capacity.report import FleetCapacity
from analytics.capacity.sizing import derivation_lines
from analytics.forecast import CLUSTER
from analytics.prices import Catalogue
from core import clock
from ui import data
from ui.formatting import escape_markdown
from ui.tables import show_table

ROUND_S = 300  # one calibration serves every rerun within five minutes

METRIC_LABELS = {"cpu_pct": "CPU %", "out_mbps": "Out Mbit/s"}
STATUS_LABELS = {
    "over": "already over",
    "crossing": "crosses",
    "not_rising": "not rising",
    "beyond_horizon": "beyond 2 years",
    "too_little_data": "too little data",
}


def settings_catalogue() -> Catalogue:
    """The price catalogue with the settings' ``[prices.overrides]``."""
    return data.settings_catalogue()


def fleet(source_id: int | None, target_cpu_pct: float = 70.0) -> FleetCapacity | None:
    """Calibration and forecast over the last 30 days, or None without a readable store."""
    url = data.db_url()
    if not data.store_state(url).ok:
        return None
    now = clock.now_ts()
    return data.fleet_capacity_report(
        url, now - now % ROUND_S, source_id, float(target_cpu_pct), data.settings_overrides()
    )


def _day(ts: object, timezone: str) -> str:
    if not isinstance(ts, int | float) or math.isnan(ts):
        return "no data"
    return pd.Timestamp(int(ts), unit="s", tz="UTC").tz_convert(timezone).strftime("%Y-%m-%d")


def crossings_table(report: FleetCapacity, timezone: str, node_id: str | None = None) -> pd.DataFrame:
    frame = report.headroom.frame()
    if frame.empty:
        return frame
    if node_id is not None:
        frame = frame[frame["target"].isin([CLUSTER, node_id])]
    return pd.DataFrame(
        {
            "Node": frame["target"].map(
                lambda t: "whole cluster" if t == CLUSTER else str(t).partition(":")[2] or t
            ),
            "Measure": frame["metric"].map(METRIC_LABELS),
            "Threshold": frame["threshold"].round(1),
            "Trend today": frame["current"].astype(float).round(1),
            "Change per week": (frame["slope_per_day"].astype(float) * 7).round(2),
            "Status": frame["status"].map(STATUS_LABELS),
            "Crosses on": frame["crossing_ts"].map(lambda v: _day(v, timezone)),
            "Earliest (80 %)": frame["early_ts"].map(lambda v: _day(v, timezone)),
            "Latest (80 %)": frame["late_ts"].map(lambda v: _day(v, timezone)),
            "Days used": frame["days_used"],
        }
    )


def render_forecast(report: FleetCapacity | None, timezone: str, node_id: str | None = None) -> None:
    """ "Add a node by" and the per-node / cluster crossing dates."""
    st.subheader("Headroom forecast")
    if report is None:
        st.info(
            "The forecast needs node samples in the store (a `[[prometheus]]` source).",
            icon=":material/database:",
        )
        return
    headroom = report.headroom
    icon = ":material/warning:" if headroom.add_node_by_ts is not None else ":material/check_circle:"
    st.info(escape_markdown(headroom.recommendation), icon=icon)
    table = crossings_table(report, timezone, node_id)
    if not table.empty:
        show_table(table, hide_index=True, key=f"headroom_{node_id or 'all'}")
    st.caption(
        f"Trend of each day's peak (busiest hourly average) over the last {headroom.days} full day(s); "
        f"thresholds: {report.target_cpu_pct:g} % CPU and {report.target_cpu_pct:g} % of a "
        f"{report.port_mbps:,.0f} Mbit/s port per node. The range comes from the slope's 80 % confidence interval."
    )


def _figure(value: object) -> str:
    """Four significant figures (coefficients span 1e-4 cores to 1e6 bytes)."""
    if not isinstance(value, int | float) or math.isnan(value):
        return "no data"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def residual_spec(residuals: pd.DataFrame) -> dict[str, object]:
    """Measured against fitted CPU % (a perfect fit lies on the diagonal)."""
    values = [
        {"fitted": round(float(fitted), 3), "measured": round(float(measured), 3)}
        for fitted, measured in zip(residuals["predicted_pct"], residuals["measured_pct"], strict=True)
    ]
    top = max(max(v["fitted"], v["measured"]) for v in values)
    axis = {"type": "quantitative", "scale": {"domain": [0, top]}}
    return {
        "height": 300,
        "title": "Node CPU %: measured against the fit",
        "layer": [
            {"data": {"values": values}, "mark": {"type": "point", "opacity": 0.35, "size": 12},
             "encoding": {"x": {"field": "fitted", "title": "Fitted CPU %", **axis},
                          "y": {"field": "measured", "title": "Measured CPU %", **axis}}},
            {"data": {"values": [{"fitted": 0, "measured": 0}, {"fitted": top, "measured": top}]},
             "mark": {"type": "line", "strokeDash": [4, 4], "color": "gray"},
             "encoding": {"x": {"field": "fitted", **axis}, "y": {"field": "measured", **axis}}},
        ],
    }  # fmt: skip


def render_calibration(report: FleetCapacity | None) -> None:
    """The benchmark derivation, the fleet fit and its quality, and which coefficients are used."""
    st.subheader("Capacity model")
    with st.expander("Defaults: derived from LiveKit's published benchmark", expanded=False):
        for line in derivation_lines():
            st.markdown(f"- {escape_markdown(line)}")
    if report is None:
        st.caption("No store to calibrate from: the planner uses the benchmark defaults.")
        return
    calibration = report.calibration
    if calibration.status == "fitted":
        st.success(escape_markdown(calibration.message), icon=":material/fact_check:")
    else:
        st.warning(escape_markdown(calibration.message), icon=":material/info:")
    if calibration.r2 is not None:
        columns = st.columns(4)
        columns[0].metric("R²", f"{calibration.r2:.3f}", border=True)
        columns[1].metric("Residual σ", f"{calibration.residual_std_pct:.2f} pp", border=True)
        columns[2].metric("|Residual| p95", f"{calibration.residual_p95_abs_pct:.2f} pp", border=True)
        columns[3].metric("Samples", f"{calibration.samples:,}", border=True)
    if not calibration.coefficients.empty:
        frame = calibration.coefficients
        shown = pd.DataFrame(
            {"Coefficient": frame["name"], "Unit": frame["unit"], "Fitted": frame["fitted"].map(_figure),
             "Std. error": frame["std_error"].map(_figure), "Benchmark default": frame["default"].map(_figure),
             "In use": frame["in_use"].map(_figure)}
        )  # fmt: skip
        show_table(shown, hide_index=True, key="calibration_coefficients")
    if not calibration.residuals.empty:
        st.vega_lite_chart(spec=residual_spec(calibration.residuals), key="calibration_residuals")
    st.caption(
        f"CPU % converted to cores with {report.node_vcpus:g} vCPUs per node ({escape_markdown(report.node_vcpus_source)}). "
        "The per-room cost is folded into the published-track coefficient (one publisher per room is usual). "
        + ("" if report.livekit_server is None else
           f"Measured on a real livekit-server: {report.livekit_server.cores_per_subscribed_track:.6f} cores per subscribed "
           f"track ({escape_markdown(report.livekit_server_note)}).")
        + ("" if report.livekit_server is not None else escape_markdown(report.livekit_server_note.capitalize()) + ".")
    )  # fmt: skip


def nodes_page_section(view_timezone: str, source_id: int | None, node_id: str) -> None:
    """The Nodes page's headroom forecast for one node (and the cluster)."""
    render_forecast(fleet(source_id), view_timezone, node_id)
