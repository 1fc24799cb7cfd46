"""Overview: what is live right now and how it moved (headline figures refresh every 15 s)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import cast

import pandas as pd
import streamlit as st

from analytics import audience, costs
from core import clock
from ui import auth, charts, data, empty
from ui.background import shared_pending
from ui.formatting import format_count, format_rate, format_usd_rate, plotly_text, shorten
from ui.page import start
from ui.sidebar import ViewState
from ui.tables import show_table
from ui.timefmt import format_ts, to_local, with_zone

CHARTS_REFRESH_S = 60
COST_TTL_S = 300  # a priced window is kept this long (every session shares it)
COST_WAIT_S = 3.0  # most windows are priced in time for the render that asked
COST_RETRY_S = 1.0  # a longer one: the card looks again this often until it is there


@dataclass(frozen=True)
class CostEstimate:
    """The Overview's cost card: the window's usage priced under ``[prices] current_model``."""

    usd_per_hour: float | None
    model_label: str
    note: str  # why there is no figure, or "" (coverage is in ``coverage``)
    coverage: str = ""
    pending: bool = False


def estimated_cost_per_hour(url: str, start_ts: int, end_ts: int, source_id: int | None) -> CostEstimate:
    """The cost engine's ``estimate_cost_per_hour_usd`` for the page's window (the Costs page's
    figure for the same window ÷ 720 h) under the current model. Pricing a long window takes a
    second or more, so it runs in a background pool shared by every session; the page waits up
    to COST_WAIT_S for it, and re-runs until it is there when it takes longer. The only place
    the Overview touches costs."""
    # Priced under [prices] current_model with [prices.overrides] (settings read in the script thread).
    prices = data.settings().prices
    model_id, overrides = prices.current_model, tuple(sorted(prices.overrides.items()))
    audience_product = str(prices.audience_product)
    label = costs.MODEL_LABELS[model_id]

    def compute() -> tuple[float | None, str]:
        return data.cost_per_hour(url, start_ts, end_ts, source_id, model_id, overrides, audience_product)

    try:
        ready, result = shared_pending().get(
            ("cost_per_hour", url, start_ts, end_ts, source_id, model_id, overrides, audience_product),
            compute,
            ttl_s=COST_TTL_S,
            wait_s=COST_WAIT_S,
        )
    except Exception as exc:  # the cost engine must never take the live overview down
        return CostEstimate(None, label, f"Cost estimate unavailable ({type(exc).__name__}).")
    if not ready:
        return CostEstimate(None, label, "Estimating the cost of this window…", pending=True)
    value, coverage = cast(tuple[float | None, str], result)
    if value is None:
        return CostEstimate(None, label, "No usage to price in this window.")
    return CostEstimate(value, label, "", coverage)


def headline_figures(view: ViewState) -> None:
    start_ts, end_ts = view.window()
    url = data.db_url()
    figures = data.headline(url, start_ts, end_ts, view.source_id)
    empty.banners(view)
    cost = estimated_cost_per_hour(url, start_ts, end_ts, view.source_id)
    # The bandwidth and cost cards carry the longest label and value: wider, so a laptop shows
    # "$142.71" whole instead of "$14…".
    columns = st.columns([1.15, 1, 1, 0.95, 1.45, 1.6])
    columns[0].metric("Live streams", format_count(figures.live_streams), border=True)
    columns[1].metric("Listeners", format_count(figures.listeners), border=True)
    columns[2].metric("Publishers", format_count(figures.publishers), border=True)
    no_nodes = empty.node_metrics_missing(view) if figures.nodes_total == 0 else None
    if no_nodes is not None:
        # LiveKit Cloud (or any source without Prometheus): say so instead of "0 / 0" and "0.0".
        columns[3].metric("Nodes up", "not measured", border=True, help=no_nodes)
        columns[4].metric("Outgoing Mbit/s", "not measured", border=True, help=no_nodes)
    else:
        columns[3].metric("Nodes up", f"{figures.nodes_up} / {figures.nodes_total}", border=True)
        bandwidth_value, bandwidth_unit = format_rate(figures.outgoing_mbps)
        columns[4].metric(
            f"Outgoing {bandwidth_unit}", bandwidth_value, border=True, help="Sum over the nodes up."
        )
    columns[5].metric(
        f"Cost per hour ({cost.model_label})",
        format_usd_rate(cost.usd_per_hour),
        border=True,
        help=cost.note
        or (
            f"USD per hour: the usage of {view.range_label.lower()} priced by the cost engine under "
            f"{cost.model_label} ([prices] current_model), as a 30-day month ÷ 720 h."
            + (f" The {cost.coverage}." if cost.coverage else "")
        ),
    )
    as_of = format_ts(figures.as_of_ts, view.timezone) if figures.as_of_ts else "no samples in this window"
    refresh = f" · refreshes every {view.refresh_every_s} s" if view.live else " · live refresh off"
    cost_text = cost.note or (
        f"cost per hour: {cost.model_label}, {view.range_label.lower()}"
        + (f" ({cost.coverage})" if cost.coverage else "")
    )
    st.caption(f"As of {as_of}{refresh} · {cost_text}")
    if cost.pending:
        # Still being priced: look again shortly, live refresh or not (the page, not only this
        # fragment: a fragment-scoped rerun is refused during the page's first run).
        time.sleep(COST_RETRY_S)
        st.rerun()


def window_range(view: ViewState) -> charts.XRange:
    """The page's window as an x axis extent, in the times the charts plot."""
    start_ts, end_ts = view.window()
    # Naive local times, as plotly writes the series' own (an offset in a range it cannot parse).
    start, end = to_local(pd.Series([start_ts, end_ts]), view.timezone).dt.tz_localize(None)
    return start, end


def history_charts(view: ViewState) -> None:
    start_ts, end_ts = view.window()
    url = data.db_url()
    history = data.fleet_history(url, start_ts, end_ts, view.source_id)
    by_channel, fleet = history.by_channel, history.series
    if fleet.empty:
        empty.nothing_in_window("samples", view)
        return
    time_label = with_zone("Time", view.timezone)
    window = window_range(view)
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Listeners by channel")
        frame = by_channel.assign(
            time=to_local(by_channel["bucket_ts"], view.timezone),
            channel=by_channel["channel"].map(lambda name: plotly_text(shorten(str(name), 40))),
        )
        figure = charts.stacked_area(
            frame,
            "time",
            "listeners",
            "channel",
            x_title=time_label,
            y_title="Listeners",
            legend_title="Channel",
            x_range=window,
        )
        st.plotly_chart(figure, key="listeners_by_channel")
    with right:
        st.subheader("Live streams")
        streams_frame = fleet.assign(time=to_local(fleet["bucket_ts"], view.timezone))
        figure = charts.lines(
            streams_frame, "time", ["live_streams"], x_title=time_label, y_title="Live streams", height=360,
            x_range=window,
        )  # fmt: skip
        st.plotly_chart(figure, key="live_streams")


def audience_by_path(view: ViewState) -> None:
    """The audience now by delivery path (WebRTC, HLS, Agora, Cloudflare Stream, IVS), and per
    channel when a path outside LiveKit reports one."""
    start_ts, end_ts = view.window()
    url = data.db_url()
    now = data.audience_now(url, start_ts, end_ts, view.source_id)  # WebRTC = the headline's Listeners
    paths = now.paths
    st.subheader("Audience by delivery path")
    columns = st.columns(len(paths))
    for column, path in zip(columns, paths, strict=True):
        hosts = (
            ""
            if path.hosts is None
            else f"; {path.hosts:,} {'hosts' if path.path == 'agora' else 'publishers'}"
        )
        column.metric(
            path.label,
            format_count(path.viewers),
            border=True,
            help=(
                f"No {path.label} source reports an audience now."
                if path.viewers is None
                else f"Viewers now on {path.label} (newest sample of each source): "
                f"{path.channels:,} channel{'s' if path.channels != 1 else ''}{hosts}."
            ),
        )
    outside = [path for path in paths if path.path != "webrtc" and path.viewers is not None]
    if outside and not now.by_channel.empty:
        shown = now.by_channel.head(20)
        table = pd.DataFrame({"Channel": shown["channel"].astype(str)})
        for path_name in audience.PATHS:
            if path_name in shown:
                table[audience.PATH_LABELS[path_name]] = shown[path_name].map(format_count)
        table["All paths"] = shown["total"].map(format_count)
        show_table(table, hide_index=True, key="audience_by_channel")
    st.caption("Viewers now: LiveKit's live rooms and each poller's newest sample (at most 2 minutes old).")


def audience_history_chart(view: ViewState) -> None:
    start_ts, end_ts = view.window()
    history = data.audience_history(data.db_url(), start_ts, end_ts, view.source_id)
    if history.empty or set(history["path"]) == {"webrtc"}:
        return  # the listeners-by-channel chart above already shows a WebRTC-only audience
    st.subheader("Audience by delivery path over time")
    frame = history.assign(
        time=to_local(history["bucket_ts"], view.timezone), path=history["path"].map(audience.PATH_LABELS)
    )
    figure = charts.stacked_area(
        frame,
        "time",
        "viewers",
        "path",
        x_title=with_zone("Time", view.timezone),
        y_title="Viewers (average per step)",
        legend_title="Delivery path",
        x_range=window_range(view),
    )
    st.plotly_chart(figure, key="audience_by_path")


def busiest_now(view: ViewState) -> None:
    _, end_ts = view.window()
    busiest = data.busiest_channels(data.db_url(), end_ts, view.source_id)
    st.subheader("Busiest channels now")
    if busiest.empty:
        st.caption("No stream is live right now.")
        return
    show_table(
        pd.DataFrame(
            {
                "Channel": busiest["channel"].astype(str),
                "Live streams": busiest["live_streams"].astype(int),
                "Listeners": busiest["listeners"].astype(int),
                "Publishers": busiest["publishers"].astype(int),
            }
        ),
        hide_index=True,
        key="busiest_channels",
    )


def collector_ownership(view: ViewState) -> None:
    """Several collectors on one PostgreSQL: who owns what, since when (nothing on SQLite)."""
    owners = data.collector_ownership(data.db_url())
    if owners.empty:
        return
    st.subheader("Collectors")
    lease = owners["lease"].astype(str)
    show_table(
        pd.DataFrame(
            {
                "Owns": lease.where(
                    lease != "leader", "leader: rollups, retention, alerts, billing"
                ).str.removeprefix("source:"),
                "Process (host:pid:id)": owners["holder"].astype(str),
                "Since": [format_ts(ts, view.timezone) for ts in owners["since_ts"]],
                "State": owners["live"].map({True: "live", False: "expired: moving to a live collector"}),
            }
        ),
        hide_index=True,
        key="collector_ownership",
    )


view = start("Overview")
if not data.has_any_data(data.db_url()):
    empty.banners(view)  # a source failing from the start is why there is no data
    empty.no_data("streams or nodes")
    st.stop()


@auth.fragment(run_every=view.refresh_every_s)
def _live_headline() -> None:
    headline_figures(view)


@auth.fragment(run_every=CHARTS_REFRESH_S if view.live else None)
def _live_charts() -> None:
    history_charts(view)


@auth.fragment(run_every=view.refresh_every_s)
def _live_busiest() -> None:
    busiest_now(view)


@auth.fragment(run_every=view.refresh_every_s)
def _live_audience() -> None:
    audience_by_path(view)


@auth.fragment(run_every=CHARTS_REFRESH_S if view.live else None)
def _audience_chart() -> None:
    audience_history_chart(view)


_live_headline()
_live_audience()
_live_charts()
_audience_chart()
_live_busiest()
collector_ownership(view)
st.caption(f"Rendered {format_ts(clock.now_ts(), view.timezone)} · {view.range_label}")
