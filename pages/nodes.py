"""Nodes: per-node load and quality, headroom against 70 % / 80 % CPU, one node in detail."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from analytics.monitoring import CPU_THRESHOLDS_PCT
from ui import charts, data, empty, headroom, params
from ui.auth import fragment
from ui.formatting import format_count
from ui.page import start
from ui.sidebar import ViewState
from ui.tables import no_data_styler, show_table
from ui.timefmt import to_local, to_local_text, with_zone

_KEY_NODE = "nodes_node"
SERIES_LABELS = {
    "cpu_pct": "CPU % (avg)",
    "cpu_pct_max": "CPU % (max)",
    "memory_pct": "Memory %",
    "out_mbps": "Out",
    "in_mbps": "In",
    "packets_out_per_s": "Packets out",
    "packets_in_per_s": "Packets in",
    "packet_loss_pct": "Packet loss %",
    "jitter_p95_ms": "Jitter p95",
    "rtt_p95_ms": "RTT p95",
    "quality_score": "Quality score",
    "join_success_pct": "Join success %",
    "api_requests_per_s": "API requests",
    "api_errors_per_s": "API errors",
    "participants": "Participants",
    "rooms": "Rooms",
}


# Column title -> (nodes_table column, decimals shown).
TABLE_COLUMNS: dict[str, tuple[str, int]] = {
    "CPU %": ("cpu_pct", 1),
    "CPU peak %": ("cpu_peak_pct", 1),
    "Headroom to 70 % (pp)": ("headroom_70_pp", 1),
    "Headroom to 80 % (pp)": ("headroom_80_pp", 1),
    "+Participants to 70 %": ("participants_to_70", 0),
    "+Participants to 80 %": ("participants_to_80", 0),
    "Participants": ("participants", 0),
    "Memory %": ("memory_pct", 1),
    "Out Mbit/s": ("out_mbps", 1),
    "In Mbit/s": ("in_mbps", 1),
    "Packets out/s": ("packets_out_per_s", 0),
    "Packets in/s": ("packets_in_per_s", 0),
    "Packet loss p95 %": ("packet_loss_pct", 2),
    "Jitter p95 ms": ("jitter_p95_ms", 1),
    "RTT p95 ms": ("rtt_p95_ms", 1),
    "Quality score": ("quality_score", 2),
    "Join success %": ("join_success_pct", 2),
    "API error %": ("api_error_pct", 2),
}


def table_frame(nodes: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """The table's values (numbers rounded as shown; a missing value stays missing)."""
    frame = pd.DataFrame(
        {"Node": nodes["node_id"].astype(str), "CPU status": nodes["cpu_status"].astype(str)}
    )
    for title, (column, digits) in TABLE_COLUMNS.items():
        frame[title] = pd.to_numeric(nodes[column], errors="coerce").round(digits)
    frame[with_zone("Last seen", timezone)] = to_local_text(nodes["last_seen_ts"], timezone)
    return frame


def _line(frame: pd.DataFrame, columns: list[str], title: str, y_label: str, timezone: str) -> go.Figure:
    return charts.lines(
        frame, "time", columns, x_title=with_zone("Time", timezone), y_title=y_label, title=title, height=280
    )


# The detail's charts in sections; only the chosen one is drawn (ten plotly charts at once cost
# the browser about a second per node pick).
SECTIONS: dict[str, tuple[str, ...]] = {
    "Load": ("CPU", "Memory", "Participants and rooms"),
    "Network": ("Bandwidth", "Packets", "Packet loss"),
    "Quality": ("Jitter and RTT (p95)", "Quality score", "Join success"),
    "API": ("API requests and errors",),
}
_KEY_SECTION = "nodes_section"


def _chart(frame: pd.DataFrame, title: str, tz: str) -> go.Figure:
    specs: dict[str, tuple[list[str], str]] = {
        "CPU": (["CPU % (avg)", "CPU % (max)"], "%"),
        "Memory": (["Memory %"], "%"),
        "Participants and rooms": (["Participants", "Rooms"], "count"),
        "Bandwidth": (["Out", "In"], "Mbit/s"),
        "Packets": (["Packets out", "Packets in"], "packets/s"),
        "Packet loss": (["Packet loss %"], "%"),
        "Jitter and RTT (p95)": (["Jitter p95", "RTT p95"], "ms"),
        "Quality score": (["Quality score"], "score"),
        "Join success": (["Join success %"], "%"),
        "API requests and errors": (["API requests", "API errors"], "per s"),
    }
    columns, unit = specs[title]
    figure = _line(frame, columns, title, unit, tz)
    if title == "CPU":
        for threshold in CPU_THRESHOLDS_PCT:
            figure.add_hline(y=threshold, line_dash="dot", annotation_text=f"{threshold:g} %")
    return figure


def node_detail(view: ViewState, source_id: int, node_id: str) -> None:
    start_ts, end_ts = view.window()
    series = data.node_series(data.db_url(), source_id, node_id, start_ts, end_ts)
    st.text(f"Node: {node_id}")
    if series.empty:
        empty.nothing_in_window("samples for this node", view)
        return
    frame = series.assign(
        time=to_local(series["bucket_ts"], view.timezone),
        out_mbps=series["bytes_out_per_s"] * 8 / 1e6,
        in_mbps=series["bytes_in_per_s"] * 8 / 1e6,
        join_success_pct=series["join_success_ratio"] * 100,
    ).rename(columns=SERIES_LABELS)
    if st.session_state.get(_KEY_SECTION) not in SECTIONS:
        st.session_state[_KEY_SECTION] = next(iter(SECTIONS))
    section = st.segmented_control("Charts", list(SECTIONS), key=_KEY_SECTION, required=True)
    titles = SECTIONS[section if section in SECTIONS else next(iter(SECTIONS))]
    for index in range(0, len(titles), 2):
        for column, title in zip(st.columns(2), titles[index : index + 2], strict=False):
            with column:
                st.plotly_chart(_chart(frame, title, view.timezone), key=f"node_chart_{title}")
    headroom.nodes_page_section(view.timezone, view.source_id, f"{source_id}:{node_id}")


# Picking a node or a section reruns the detail alone, not the table above it.
@fragment()
def detail_section(view: ViewState, keys: list[str]) -> None:
    st.subheader("Node detail")
    wanted = params.read("node")
    if _KEY_NODE not in st.session_state:
        st.session_state[_KEY_NODE] = wanted if wanted in keys else keys[0]
    if st.session_state[_KEY_NODE] not in keys:
        st.session_state[_KEY_NODE] = keys[0]
    selected = st.selectbox("Node", keys, key=_KEY_NODE, format_func=lambda key: key.partition(":")[2])
    params.write({"node": selected})
    parsed = params.split_keyed_id(selected)
    if parsed is not None:
        node_detail(view, *parsed)


def page(view: ViewState) -> None:
    empty.banners(view)
    start_ts, end_ts = view.window()
    nodes = data.nodes_table(data.db_url(), start_ts, end_ts, view.source_id)
    if nodes.empty:
        missing = empty.node_metrics_missing(view)
        if missing is not None:
            st.info(missing, icon=":material/dns:")
            return
        empty.nothing_in_window("nodes", view)
        st.caption(
            "Node metrics come from Prometheus: add a `[[prometheus]]` source that scrapes your LiveKit nodes."
        )
        return
    up = int(nodes["up"].sum())
    hot = int((nodes["cpu_status"].str.startswith("over")).sum())
    columns = st.columns(3)
    columns[0].metric("Nodes up", f"{up} / {len(nodes)}", border=True)
    columns[1].metric("Over 70 % CPU (peak)", format_count(hot), border=True)
    columns[2].metric("Participants on nodes", format_count(nodes["participants"].sum()), border=True)
    table = table_frame(nodes, view.timezone)
    show_table(
        no_data_styler(table, {title: digits for title, (_column, digits) in TABLE_COLUMNS.items()}),
        hide_index=True,
        key="nodes_table",
    )
    st.caption(
        "Headroom: percentage points between the window's peak CPU and 70 % / 80 %. "
        "+Participants: how many more the node takes before the threshold, if CPU grows linearly with participants."
    )

    keys = [
        params.keyed_id(int(source_id), str(node_id))
        for source_id, node_id in zip(nodes["source_id"], nodes["node_id"], strict=True)
    ]
    detail_section(view, keys)


page(start("Nodes"))
