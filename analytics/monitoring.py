"""Monitoring figures for the operator pages, from what store.queries read: the Overview's
channel stack, one stream's drill-down figures, the Nodes table's headroom columns.

Pure: frames and values in, frames and dataclasses out (the reads are store/queries/fleet.py,
streams.py, nodes.py and sources.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from store.queries.results import FleetHistoryFrames, NodeState, StreamRecord

OTHER_CHANNELS = "other"
# Downstream estimate for audio: seed 000 puts a radio stream at ~128–192 kbps; take the low
# end unless the caller knows better (no settings key exists for it yet).
DEFAULT_LISTENER_KBPS = 128.0
CPU_THRESHOLDS_PCT: tuple[float, float] = (70.0, 80.0)


def failing_sources(sources: pd.DataFrame, source_id: int | None = None) -> pd.DataFrame:
    """The sources (store.queries.sources.list_sources) whose collector reports anything but
    ``ok`` (same columns)."""
    frame = sources[sources["status"].notna() & (sources["status"] != "ok")]
    if source_id is not None:
        frame = frame[frame["id"] == source_id]
    return frame.reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# Over time: the Overview's charts
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FleetHistory:
    series: pd.DataFrame  # bucket_ts, live_streams, listeners, publishers
    by_channel: pd.DataFrame  # listeners_by_channel


def listeners_by_channel(history: FleetHistoryFrames) -> pd.DataFrame:
    """Listeners per bucket for the top channels and one ``other`` row for the rest (the fleet
    total minus the top channels), so 500 channels stay a readable stacked chart.
    Columns: bucket_ts, channel, listeners; the biggest channel first, "other" last."""
    columns = ["bucket_ts", "channel", "listeners"]
    totals, top = history.series, history.top
    if totals.empty:
        return pd.DataFrame(columns=columns)
    frames = [history.top_listeners] if top else []
    total = totals.set_index("bucket_ts")["listeners"].astype(float)
    top_sum = (
        frames[0].groupby("bucket_ts")["listeners"].sum().reindex(total.index, fill_value=0.0)
        if frames
        else pd.Series(0.0, index=total.index)
    )
    other_frame = pd.DataFrame(
        {
            "bucket_ts": total.index.to_numpy(),
            "channel": OTHER_CHANNELS,
            "listeners": (total - top_sum).clip(lower=0).to_numpy(),
        }
    )
    if not other_frame["listeners"].gt(1e-9).any():
        other_frame = other_frame.iloc[0:0]
    frame = pd.concat([*frames, other_frame], ignore_index=True) if frames else other_frame
    # Stack order: biggest channel first, "other" last.
    order = {name: index for index, name in enumerate([*top, OTHER_CHANNELS])}
    frame["_order"] = frame["channel"].map(order)
    return frame.sort_values(["_order", "bucket_ts"]).drop(columns="_order").reset_index(drop=True)[columns]


def fleet_history(history: FleetHistoryFrames) -> FleetHistory:
    """The Overview's two charts: the fleet series and the channel stack."""
    return FleetHistory(history.series, listeners_by_channel(history))


# ---------------------------------------------------------------------------------------------
# One stream
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamDetail:
    """One room session in full. Minutes follow LiveKit's metering: each connection is billed
    ``ceil(duration / 60)`` minutes."""

    source_id: int
    room_sid: str
    room_name: str
    channel: str
    status: str
    started_ts: int
    ended_ts: int | None
    until_ts: int
    curve: pd.DataFrame  # bucket_ts, listeners, publishers, participants
    peak_listeners: int
    avg_listeners: float
    listener_minutes: float
    publishers: int
    participants: pd.DataFrame
    participants_total: int
    connection_minutes: int
    egress: pd.DataFrame
    ingress: pd.DataFrame
    listener_kbps: float
    listener_kbps_measured: bool = False  # from the fleet's bytes per subscribed track, else assumed
    # Minutes the room's egress recorders were subscribed (hidden EGRESS participants).
    recorder_minutes: float = 0.0

    @property
    def downstream_gb(self) -> float:
        """What the SFU sent for this stream, in GB (10^9 bytes): listener-minutes plus the egress
        recorders' minutes, × the bitrate each receives (so the streams add up to the fleet's
        measured downstream GB)."""
        return (self.listener_minutes + self.recorder_minutes) * 60 * self.listener_kbps * 1000 / 8 / 1e9


def stream_detail(record: StreamRecord, listener_kbps: float | None = None) -> StreamDetail:
    """One stream's drill-down figures. ``listener_kbps`` None: the fleet's bytes per subscribed
    track during the stream (``record.kbps_per_subscribed_track``) × its publishers, else
    DEFAULT_LISTENER_KBPS."""
    curve = record.curve
    peak = int(curve["listeners_peak"].max()) if not curve.empty else 0
    peak = max(peak, record.max_listeners)
    listener_minutes = float(curve["listeners"].sum()) * record.step_s / 60 if not curve.empty else 0.0
    duration_min = max(1e-9, (record.until_ts - record.started_ts) / 60)
    avg_listeners = min(listener_minutes / duration_min, float(peak)) if listener_minutes else 0.0

    kbps, measured = (DEFAULT_LISTENER_KBPS if listener_kbps is None else listener_kbps), False
    per_track = record.kbps_per_subscribed_track if listener_kbps is None else None
    if per_track is not None and per_track > 0:
        # A listener subscribes to every publisher's track.
        publishing = float(curve["publishers"].mean()) if not curve.empty else 1.0
        kbps, measured = per_track * max(1.0, publishing), True
    return StreamDetail(
        source_id=record.source_id,
        room_sid=record.room_sid,
        room_name=record.room_name,
        channel=record.channel,
        status="live" if record.ended_ts is None else "ended",
        started_ts=record.started_ts,
        ended_ts=record.ended_ts,
        until_ts=record.until_ts,
        curve=curve.drop(columns=["listeners_peak"]) if not curve.empty else curve,
        peak_listeners=peak,
        avg_listeners=avg_listeners,
        listener_minutes=listener_minutes,
        publishers=record.publishers,
        participants=record.participants,
        participants_total=record.participants_total,
        connection_minutes=record.connection_minutes,
        recorder_minutes=record.recorder_seconds / 60.0,
        egress=record.egress,
        ingress=record.ingress,
        listener_kbps=kbps,
        listener_kbps_measured=measured,
    )


# ---------------------------------------------------------------------------------------------
# Nodes
# ---------------------------------------------------------------------------------------------


def nodes_table(state: NodeState) -> pd.DataFrame:
    """One row per node seen in the window: its newest sample (if it is up), peak CPU over the
    window and headroom against the CPU thresholds.

    Columns: source_id, node_id, up, last_seen_ts, every NODE_METRICS column (now),
    cpu_peak_pct, api_error_pct, join_success_pct, out_mbps, in_mbps,
    headroom_70_pp / headroom_80_pp (percentage points below the threshold at the peak),
    cpu_status (ok | over 70 % | over 80 % | down),
    participants_to_70 / participants_to_80 (more participants before the threshold,
    assuming CPU grows linearly with participants)."""
    metrics = list(state.metrics)
    keys = ["source_id", "node_id"]
    frame = state.inventory.merge(state.latest, on=keys, how="outer").merge(state.peaks, on=keys, how="left")
    if frame.empty:
        return pd.DataFrame(
            columns=[
                *keys,
                "up",
                "last_seen_ts",
                *metrics,
                "cpu_peak_pct",
                "api_error_pct",
                "join_success_pct",
            ]
        )
    frame["up"] = frame["ts"].notna()
    frame["last_seen_ts"] = frame[["last_seen_ts", "ts"]].max(axis=1)
    frame = frame.drop(columns="ts")
    for metric in metrics:
        frame[metric] = pd.to_numeric(frame[metric], errors="coerce")
    frame["cpu_peak_pct"] = pd.to_numeric(frame["cpu_peak_pct"], errors="coerce").fillna(frame["cpu_pct"])
    requests = frame["api_requests_per_s"].where(frame["api_requests_per_s"] > 0)
    frame["api_error_pct"] = 100 * frame["api_errors_per_s"] / requests
    frame["join_success_pct"] = 100 * frame["join_success_ratio"]
    frame["out_mbps"] = frame["bytes_out_per_s"] * 8 / 1e6
    frame["in_mbps"] = frame["bytes_in_per_s"] * 8 / 1e6
    for threshold in CPU_THRESHOLDS_PCT:
        label = int(threshold)
        frame[f"headroom_{label}_pp"] = threshold - frame["cpu_peak_pct"]
        cpu_now = frame["cpu_pct"].where(frame["cpu_pct"] > 0)
        extra = frame["participants"] * (threshold / cpu_now) - frame["participants"]
        frame[f"participants_to_{label}"] = extra.clip(lower=0).round()
    frame["cpu_status"] = "ok"
    frame.loc[frame["cpu_peak_pct"] >= CPU_THRESHOLDS_PCT[0], "cpu_status"] = (
        f"over {CPU_THRESHOLDS_PCT[0]:g} %"
    )
    frame.loc[frame["cpu_peak_pct"] >= CPU_THRESHOLDS_PCT[1], "cpu_status"] = (
        f"over {CPU_THRESHOLDS_PCT[1]:g} %"
    )
    frame.loc[~frame["up"], "cpu_status"] = "down"
    # Down nodes first (they need attention), then the busiest.
    return frame.sort_values(["up", "cpu_peak_pct"], ascending=[True, False]).reset_index(drop=True)
