"""What the queries return: frames, dataclasses and plain values, no SQL. These are the types
analytics/ takes (it imports nothing else from store/)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

# ---------------------------------------------------------------------------------------------
# The fleet now and over a window (store.queries.fleet)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Headline:
    """The fleet right now (as of ``as_of_ts``, the newest sample in the window)."""

    as_of_ts: int | None
    live_streams: int
    listeners: int
    publishers: int
    participants: int
    nodes_up: int
    nodes_total: int
    bytes_out_per_s: float

    @property
    def outgoing_mbps(self) -> float:
        return self.bytes_out_per_s * 8 / 1e6


@dataclass(frozen=True)
class FleetHistoryFrames:
    """The Overview's history as read: the fleet series, the top channels (biggest first) and
    their listeners per bucket (analytics.monitoring stacks them with an "other" row)."""

    series: pd.DataFrame  # bucket_ts, live_streams, listeners, publishers
    top: list[str]
    top_listeners: pd.DataFrame  # bucket_ts, channel, listeners (of the ``top`` channels)


# ---------------------------------------------------------------------------------------------
# Streams (store.queries.streams)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamList:
    rows: pd.DataFrame
    truncated: bool
    total: int = 0  # every matching session (rows holds the newest ``limit`` of them)
    live: int = 0  # how many of them are live


@dataclass(frozen=True)
class StreamRecord:
    """One room session as stored: its times, its curve at ``step_s`` seconds per point
    (bucket_ts, listeners, listeners_peak, publishers, participants), its participants
    (with ``connection_min`` as LiveKit meters them), egress and ingress."""

    source_id: int
    room_sid: str
    room_name: str
    channel: str
    started_ts: int
    ended_ts: int | None  # None: live as of the reading's "now"
    until_ts: int
    max_listeners: int  # the session row's own peak
    step_s: int
    curve: pd.DataFrame
    participants: pd.DataFrame
    participants_total: int
    publishers: int
    connection_minutes: int
    recorder_seconds: float  # egress recorders' (hidden EGRESS participants') seconds
    egress: pd.DataFrame
    ingress: pd.DataFrame
    kbps_per_subscribed_track: float | None  # the fleet's, during the stream (None: not measured)


# ---------------------------------------------------------------------------------------------
# Nodes (store.queries.nodes)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeState:
    """Nodes seen in a window: ``inventory`` (source_id, node_id, last_seen_ts), their newest
    samples ``latest`` (source_id, node_id, ts, every metric) and ``peaks`` (source_id,
    node_id, cpu_peak_pct)."""

    inventory: pd.DataFrame
    latest: pd.DataFrame
    peaks: pd.DataFrame
    metrics: tuple[str, ...]


# ---------------------------------------------------------------------------------------------
# Usage (store.queries.usage)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UsageParts:
    """The measured usage ledger's parts over a window (analytics.usage.measured_ledger joins
    them): frames per UTC day × channel, the egress jobs' spans (start, end) clipped to the
    window, the fleet-wide peaks (streams, listeners, publishers), fleet GB per day
    (day_ts, downstream_gb, upstream_gb) and the store's first observation (None: empty)."""

    sessions: pd.DataFrame
    rooms: pd.DataFrame
    ingress: pd.DataFrame
    egress: pd.DataFrame
    egress_spans: pd.DataFrame
    peaks: pd.DataFrame
    fleet_peaks: dict[str, float]
    traffic: pd.DataFrame
    first_observed_ts: int | None
    # The audience outside LiveKit per UTC day × channel × path (store.queries.audience
    # .audience_usage: day_ts, channel, path, viewer_s, bytes_delivered, samples).
    audience: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            columns=["day_ts", "channel", "path", "viewer_s", "bytes_delivered"]
        )
    )


# ---------------------------------------------------------------------------------------------
# Billing (store.queries.billing)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BillingRecords:
    """What the billing collectors stored for a span of UTC days, and the collector gaps that
    overlap it (analytics.reconcile compares them with the model): every ``billing_usage`` and
    ``billing_fetches`` row (their own columns; ``billed`` has ``day``, a date, too) and the
    gaps of the LiveKit/Prometheus sources (``start_ts, end_ts``; end None: still open)."""

    billed: pd.DataFrame
    fetches: pd.DataFrame
    gaps: pd.DataFrame
