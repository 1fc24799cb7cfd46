"""Monitoring queries for the operator pages: what is live, how it moved, how the nodes are.

Pure functions over the store (a SQLAlchemy ``Connection``); no Streamlit, no network.
Every time-series query picks a tier (raw, 1-minute or 1-hour rollup) and a step so a
series has at most ``MAX_POINTS`` points, and aggregates in SQL: a 30-day view never pulls
raw rows into Python.

"Now" is the newest sample at or before the end of the window (``as_of_ts``), not the wall
clock: a stopped collector shows its last picture (with a stale-data banner on the page)
instead of an empty fleet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVarTuple

import pandas as pd
from sqlalchemy import (
    Connection,
    Select,
    Subquery,
    and_,
    case,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from store import schema
from store.usage_rollup import NOT_CONNECTION_KINDS

_Columns = TypeVarTuple("_Columns")

MAX_POINTS = 3000
# Tier limits: raw samples (every 15 s) only for short, fresh windows; 1-minute rollups up
# to two days (≤ 2,880 points, no re-bucketing); hourly beyond. Measured on platform-500:
# a 6 h window from raw (180k rows) took 0.8 s, from 1-minute rollups 0.1 s.
RAW_MAX_SPAN_S = 2 * 3600
MINUTE_MAX_SPAN_S = 2 * 86_400
# Raw samples come every collector interval (15 s by default); a step of at least two
# intervals keeps every room in every bucket despite tick jitter.
MIN_RAW_STEP_S = 30
# A room or node counts as "live now" when it has a sample this close to the newest one.
LIVE_WINDOW_S = 60
OTHER_CHANNELS = "other"
# Downstream estimate for audio: seed 000 puts a radio stream at ~128–192 kbps; take the low
# end unless the caller knows better (no settings key exists for it yet).
DEFAULT_LISTENER_KBPS = 128.0
CPU_THRESHOLDS_PCT: tuple[float, float] = (70.0, 80.0)
STREAM_ROWS_LIMIT = 2000  # rows the Streams table shows
STREAM_CSV_ROWS_LIMIT = 200_000  # rows its CSV export holds (every session of a long range)
PARTICIPANT_ROWS_LIMIT = 5000


# ---------------------------------------------------------------------------------------------
# Tiers
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tier:
    """Where a series is read from and at what step (seconds per point)."""

    name: str  # raw | 1m | 1h
    bucket_s: int  # native resolution of the table (0 = raw, irregular)
    step_s: int


def pick_tier(start_ts: int, end_ts: int, *, min_raw_step_s: int = MIN_RAW_STEP_S) -> Tier:
    """≤ 2 h from raw samples, ≤ 2 d from 1-minute rollups, else 1-hour rollups; the step is
    the tier's resolution, coarsened so the series stays under ``MAX_POINTS``."""
    span_s = max(1, end_ts - start_ts)
    if span_s <= RAW_MAX_SPAN_S:
        name, bucket_s, floor_s = "raw", 0, min_raw_step_s
    elif span_s <= MINUTE_MAX_SPAN_S:
        name, bucket_s, floor_s = "1m", 60, 60
    else:
        name, bucket_s, floor_s = "1h", 3600, 3600
    step_s = max(floor_s, math.ceil(span_s / MAX_POINTS))
    step_s = math.ceil(step_s / floor_s) * floor_s  # whole tier buckets per step
    return Tier(name, bucket_s, step_s)


@dataclass(frozen=True)
class _RoomTier:
    table: object
    time: ColumnElement[int]
    listeners: ColumnElement[float]
    listeners_peak: ColumnElement[float]
    publishers: ColumnElement[float]
    participants: ColumnElement[float]
    source_id: ColumnElement[int]
    room_sid: ColumnElement[str]


def _room_tier(tier: Tier) -> _RoomTier:
    if tier.name == "raw":
        c = schema.room_samples.c
        return _RoomTier(
            schema.room_samples,
            c.ts,
            c.listeners,
            c.listeners,
            c.publishers,
            c.participants,
            c.source_id,
            c.room_sid,
        )
    table = schema.room_samples_1m if tier.name == "1m" else schema.room_samples_1h
    c = table.c
    return _RoomTier(
        table,
        c.bucket_ts,
        c.listeners_avg,
        c.listeners_max,
        c.publishers_avg,
        c.participants_avg,
        c.source_id,
        c.room_sid,
    )


def _per_room_buckets(
    tier: Tier,
    start_ts: int,
    end_ts: int,
    source_id: int | None,
    room_sid: str | None = None,
    room_sids: Sequence[str] | None = None,
) -> Subquery:
    """One row per (room, step bucket): the room's average listeners/publishers/participants.
    Summing these across rooms gives the fleet's concurrent figures per bucket."""
    t = _room_tier(tier)
    if tier.bucket_s and tier.step_s == tier.bucket_s:
        # The rollup already has one row per room and bucket: read it as it is.
        native = select(
            t.source_id.label("source_id"),
            t.room_sid.label("room_sid"),
            t.time.label("bucket_ts"),
            t.listeners.label("listeners"),
            t.listeners_peak.label("listeners_peak"),
            t.publishers.label("publishers"),
            t.participants.label("participants"),
        ).where(t.time >= start_ts, t.time < end_ts)
        return _room_filters(native, t, source_id, room_sid, room_sids).subquery("per_room")
    bucket_expr = t.time - t.time % _step(tier)
    bucket = bucket_expr.label("bucket_ts")
    query = select(
        t.source_id.label("source_id"),
        t.room_sid.label("room_sid"),
        bucket,
        func.avg(t.listeners).label("listeners"),
        func.max(t.listeners_peak).label("listeners_peak"),
        func.avg(t.publishers).label("publishers"),
        func.avg(t.participants).label("participants"),
    ).where(t.time >= start_ts, t.time < end_ts)
    query = _room_filters(query, t, source_id, room_sid, room_sids)
    return query.group_by(t.source_id, t.room_sid, bucket_expr).subquery("per_room")


def _room_filters(
    query: Select[*_Columns],
    t: Any,
    source_id: int | None,
    room_sid: str | None,
    room_sids: Sequence[str] | None,
) -> Select[*_Columns]:
    """The optional source / room / room-list filters of a per-room query."""
    if source_id is not None:
        query = query.where(t.source_id == source_id)
    if room_sid is not None:
        query = query.where(t.room_sid == room_sid)
    if room_sids is not None:
        query = query.where(t.room_sid.in_(room_sids))
    return query


def _step(tier: Tier) -> ColumnElement[int]:
    """The step as an inline SQL integer: PostgreSQL only matches a GROUP BY expression to
    the selected one when they are textually equal, and two bind parameters are not."""
    return literal_column(str(int(tier.step_s)))


def _frame(connection: Connection, query: Select[tuple[object, ...]] | Select[object]) -> pd.DataFrame:
    result = connection.execute(query)
    frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
    # PostgreSQL returns AVG/SUM of averages as NUMERIC (Decimal): float - Decimal raises in
    # pandas arithmetic. SQLite never does; make both give floats.
    for name in frame.columns:
        if frame[name].dtype == object and not frame.empty:
            first = frame[name].dropna()
            if not first.empty and isinstance(first.iloc[0], Decimal):
                frame[name] = frame[name].astype(float)
    return frame


# ---------------------------------------------------------------------------------------------
# Sources, health, freshness
# ---------------------------------------------------------------------------------------------


def list_sources(connection: Connection) -> pd.DataFrame:
    """Every source with its health: id, name, kind, status, last_error, last_success_ts,
    failing_since_ts (status is null when the collector never recorded an attempt)."""
    s, h = schema.sources.c, schema.source_health.c
    query = (
        select(s.id, s.name, s.kind, h.status, h.last_error, h.last_success_ts, h.failing_since_ts)
        .select_from(schema.sources.outerjoin(schema.source_health, h.source_id == s.id))
        .order_by(s.name)
    )
    return _frame(connection, query)


def failing_sources(connection: Connection, source_id: int | None = None) -> pd.DataFrame:
    """Sources whose collector reports anything but ``ok`` (same columns as list_sources)."""
    frame = list_sources(connection)
    frame = frame[frame["status"].notna() & (frame["status"] != "ok")]
    if source_id is not None:
        frame = frame[frame["id"] == source_id]
    return frame.reset_index(drop=True)


def newest_sample_ts(
    connection: Connection, source_id: int | None = None, until_ts: int | None = None
) -> int | None:
    """The newest room or node sample (Unix s), or None when there is none."""
    newest: list[int] = []
    for table in (schema.room_samples, schema.node_samples):
        query = select(func.max(table.c.ts))
        if source_id is not None:
            query = query.where(table.c.source_id == source_id)
        if until_ts is not None:
            query = query.where(table.c.ts <= until_ts)
        value = connection.execute(query).scalar()
        if value is not None:
            newest.append(int(value))
    return max(newest) if newest else None


def has_any_data(connection: Connection) -> bool:
    """True when the store holds at least one room session, node or sample."""
    for table in (schema.room_sessions, schema.nodes, schema.room_samples, schema.node_samples):
        if connection.execute(select(literal(1)).select_from(table).limit(1)).first() is not None:
            return True
    return False


# ---------------------------------------------------------------------------------------------
# What is live now
# ---------------------------------------------------------------------------------------------


def _latest_room_samples(connection: Connection, as_of_ts: int, source_id: int | None) -> Subquery:
    """The newest raw sample of each room that is still open and was seen within
    ``LIVE_WINDOW_S`` of ``as_of_ts``."""
    rs = schema.room_samples.c
    sessions = schema.room_sessions.c
    newest = select(rs.source_id, rs.room_sid, func.max(rs.ts).label("ts")).where(
        rs.ts > as_of_ts - LIVE_WINDOW_S, rs.ts <= as_of_ts
    )
    if source_id is not None:
        newest = newest.where(rs.source_id == source_id)
    newest_sq = newest.group_by(rs.source_id, rs.room_sid).subquery("newest")
    query = (
        select(
            rs.source_id,
            rs.room_sid,
            rs.listeners,
            rs.publishers,
            rs.participants,
            func.coalesce(sessions.channel, rs.room_sid).label("channel"),
        )
        .select_from(
            schema.room_samples.join(
                newest_sq,
                and_(
                    rs.source_id == newest_sq.c.source_id,
                    rs.room_sid == newest_sq.c.room_sid,
                    rs.ts == newest_sq.c.ts,
                ),
            ).outerjoin(
                schema.room_sessions,
                and_(sessions.source_id == rs.source_id, sessions.room_sid == rs.room_sid),
            )
        )
        # A room that ended at or before as_of is not live, even if its last sample is recent.
        .where(or_(sessions.ended_ts.is_(None), sessions.ended_ts > as_of_ts))
    )
    return query.subquery("live_rooms")


def _latest_node_samples(connection: Connection, as_of_ts: int, source_id: int | None) -> Subquery:
    ns = schema.node_samples.c
    newest = select(ns.source_id, ns.node_id, func.max(ns.ts).label("ts")).where(
        ns.ts > as_of_ts - LIVE_WINDOW_S, ns.ts <= as_of_ts
    )
    if source_id is not None:
        newest = newest.where(ns.source_id == source_id)
    newest_sq = newest.group_by(ns.source_id, ns.node_id).subquery("newest_node")
    return (
        select(schema.node_samples)
        .join(
            newest_sq,
            and_(
                ns.source_id == newest_sq.c.source_id,
                ns.node_id == newest_sq.c.node_id,
                ns.ts == newest_sq.c.ts,
            ),
        )
        .subquery("live_nodes")
    )


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


def headline(connection: Connection, start_ts: int, end_ts: int, source_id: int | None = None) -> Headline:
    as_of_ts = newest_sample_ts(connection, source_id, until_ts=end_ts)
    n = schema.nodes.c
    total_query = select(func.count()).select_from(schema.nodes).where(n.last_seen_ts >= start_ts)
    if source_id is not None:
        total_query = total_query.where(n.source_id == source_id)
    if as_of_ts is None:
        return Headline(None, 0, 0, 0, 0, 0, int(connection.execute(total_query).scalar() or 0), 0.0)
    live = _latest_room_samples(connection, as_of_ts, source_id)
    rooms = connection.execute(
        select(
            func.count(),
            func.coalesce(func.sum(live.c.listeners), 0),
            func.coalesce(func.sum(live.c.publishers), 0),
            func.coalesce(func.sum(live.c.participants), 0),
        ).select_from(live)
    ).one()
    live_nodes = _latest_node_samples(connection, as_of_ts, source_id)
    node_row = connection.execute(
        select(func.count(), func.coalesce(func.sum(live_nodes.c.bytes_out_per_s), 0.0)).select_from(
            live_nodes
        )
    ).one()
    nodes_up = int(node_row[0])
    nodes_total = max(nodes_up, int(connection.execute(total_query).scalar() or 0))
    return Headline(
        as_of_ts=as_of_ts,
        live_streams=int(rooms[0]),
        listeners=int(rooms[1]),
        publishers=int(rooms[2]),
        participants=int(rooms[3]),
        nodes_up=nodes_up,
        nodes_total=nodes_total,
        bytes_out_per_s=float(node_row[1]),
    )


def busiest_channels(
    connection: Connection, end_ts: int, source_id: int | None = None, limit: int = 10
) -> pd.DataFrame:
    """Channels with the most listeners now: channel, live_streams, listeners, publishers."""
    as_of_ts = newest_sample_ts(connection, source_id, until_ts=end_ts)
    columns = ["channel", "live_streams", "listeners", "publishers"]
    if as_of_ts is None:
        return pd.DataFrame(columns=columns)
    live = _latest_room_samples(connection, as_of_ts, source_id)
    listeners = func.sum(live.c.listeners)
    query = (
        select(
            live.c.channel,
            func.count().label("live_streams"),
            listeners.label("listeners"),
            func.sum(live.c.publishers).label("publishers"),
        )
        .group_by(live.c.channel)
        .order_by(listeners.desc(), live.c.channel)
        .limit(limit)
    )
    return _frame(connection, query)


# ---------------------------------------------------------------------------------------------
# Over time
# ---------------------------------------------------------------------------------------------


def fleet_series(
    connection: Connection, start_ts: int, end_ts: int, source_id: int | None = None
) -> pd.DataFrame:
    """Per step bucket: bucket_ts, live_streams, listeners, publishers (averages per bucket)."""
    tier = pick_tier(start_ts, end_ts)
    per_room = _per_room_buckets(tier, start_ts, end_ts, source_id)
    query = (
        select(
            per_room.c.bucket_ts,
            func.count().label("live_streams"),
            func.sum(per_room.c.listeners).label("listeners"),
            func.sum(per_room.c.publishers).label("publishers"),
        )
        .group_by(per_room.c.bucket_ts)
        .order_by(per_room.c.bucket_ts)
    )
    return _frame(connection, query)


def _overlapping_sessions(start_ts: int, end_ts: int, source_id: int | None) -> list[ColumnElement[bool]]:
    r = schema.room_sessions.c
    conditions = [r.started_ts < end_ts, or_(r.ended_ts.is_(None), r.ended_ts >= start_ts)]
    if source_id is not None:
        conditions.append(r.source_id == source_id)
    return conditions


def top_channels(
    connection: Connection, start_ts: int, end_ts: int, source_id: int | None, top_n: int
) -> list[str]:
    """The ``top_n`` channels by approximate listener volume in the window: each session's
    peak listeners × its time inside the window. Read from the sessions table (thousands of
    rows), not the samples (hundreds of thousands), so ranking costs milliseconds."""
    r = schema.room_sessions.c
    until = func.coalesce(r.ended_ts, r.last_seen_ts)
    inside_from = case((r.started_ts > start_ts, r.started_ts), else_=literal(start_ts))
    inside_to = case((until < end_ts, until), else_=literal(end_ts))
    volume = func.sum(r.max_listeners * (inside_to - inside_from))
    query = (
        select(r.channel)
        .where(*_overlapping_sessions(start_ts, end_ts, source_id))
        .group_by(r.channel)
        .order_by(volume.desc(), r.channel)
        .limit(top_n)
    )
    return [str(row[0]) for row in connection.execute(query)]


def listeners_by_channel(
    connection: Connection,
    start_ts: int,
    end_ts: int,
    source_id: int | None = None,
    top_n: int = 8,
    totals: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Listeners per bucket for the ``top_n`` channels and one ``other`` row for the rest
    (the fleet total minus the top channels), so 500 channels stay a readable stacked chart.
    ``totals`` is this window's fleet_series when the caller has it already.
    Columns: bucket_ts, channel, listeners."""
    columns = ["bucket_ts", "channel", "listeners"]
    top = top_channels(connection, start_ts, end_ts, source_id, top_n)
    if totals is None:
        totals = fleet_series(connection, start_ts, end_ts, source_id)
    if totals.empty:
        return pd.DataFrame(columns=columns)
    frames: list[pd.DataFrame] = []
    if top:
        r = schema.room_sessions.c
        top_rooms = [
            str(row[0])
            for row in connection.execute(
                select(r.room_sid).where(
                    r.channel.in_(top), *_overlapping_sessions(start_ts, end_ts, source_id)
                )
            )
        ]
        tier = pick_tier(start_ts, end_ts)
        per_room = _per_room_buckets(tier, start_ts, end_ts, source_id, room_sids=top_rooms)
        joined = per_room.join(
            schema.room_sessions, and_(r.source_id == per_room.c.source_id, r.room_sid == per_room.c.room_sid)
        )
        query = (
            select(per_room.c.bucket_ts, r.channel, func.sum(per_room.c.listeners).label("listeners"))
            .select_from(joined)
            .where(r.channel.in_(top))
            .group_by(per_room.c.bucket_ts, r.channel)
        )
        frames.append(_frame(connection, query))
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


@dataclass(frozen=True)
class FleetHistory:
    series: pd.DataFrame  # fleet_series
    by_channel: pd.DataFrame  # listeners_by_channel


def fleet_history(
    connection: Connection, start_ts: int, end_ts: int, source_id: int | None = None, top_n: int = 8
) -> FleetHistory:
    """The Overview's two charts from one pass over the samples."""
    series = fleet_series(connection, start_ts, end_ts, source_id)
    return FleetHistory(
        series, listeners_by_channel(connection, start_ts, end_ts, source_id, top_n, totals=series)
    )


# ---------------------------------------------------------------------------------------------
# Streams
# ---------------------------------------------------------------------------------------------

STREAM_STATUSES = ("all", "live", "ended")


@dataclass(frozen=True)
class StreamList:
    rows: pd.DataFrame
    truncated: bool
    total: int = 0  # every matching session (rows holds the newest ``limit`` of them)
    live: int = 0  # how many of them are live


def streams(
    connection: Connection,
    start_ts: int,
    end_ts: int,
    source_id: int | None = None,
    search: str = "",
    status: str = "all",
    limit: int = STREAM_ROWS_LIMIT,
    now_ts: int | None = None,
) -> StreamList:
    """Room sessions overlapping the window, newest first. ``search`` matches room name or
    channel (case-insensitive substring, no wildcards); ``status`` is all | live | ended,
    as of ``now_ts`` (default ``end_ts``): an end time after it is not an end yet.
    Columns: source_id, source, room_sid, room_name, channel, status, started_ts, ended_ts,
    duration_s, max_listeners, max_participants."""
    r, s = schema.room_sessions.c, schema.sources.c
    now = end_ts if now_ts is None else now_ts
    live = or_(r.ended_ts.is_(None), r.ended_ts > now)
    ended = case((live, null()), else_=r.ended_ts)
    # A live session has lasted until it was last seen (never beyond now).
    seen = case((r.last_seen_ts > now, literal(now)), else_=r.last_seen_ts)
    until = case((live, seen), else_=r.ended_ts)
    query = (
        select(
            r.source_id,
            s.name.label("source"),
            r.room_sid,
            r.room_name,
            r.channel,
            case((live, literal("live")), else_=literal("ended")).label("status"),
            r.started_ts,
            ended.label("ended_ts"),
            (until - r.started_ts).label("duration_s"),
            r.max_listeners,
            r.max_participants,
        )
        .select_from(schema.room_sessions.outerjoin(schema.sources, s.id == r.source_id))
        .where(r.started_ts < end_ts, or_(live, r.ended_ts >= start_ts))
    )
    if source_id is not None:
        query = query.where(r.source_id == source_id)
    if status == "live":
        query = query.where(live)
    elif status == "ended":
        query = query.where(~live)
    term = search.strip().lower()
    if term:
        query = query.where(
            or_(
                func.lower(r.room_name).contains(term, autoescape=True),
                func.lower(r.channel).contains(term, autoescape=True),
            )
        )
    counted = query.subquery("matching")
    total, live_count = connection.execute(
        select(func.count(), func.coalesce(func.sum(case((counted.c.status == "live", 1), else_=0)), 0))
    ).one()
    query = query.order_by(r.started_ts.desc(), r.room_sid).limit(limit)
    frame = _frame(connection, query)
    return StreamList(frame, int(total) > limit, int(total), int(live_count))


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


def kbps_per_subscribed_track(connection: Connection, start_ts: int, end_ts: int) -> float | None:
    """The fleet's outgoing bitrate per subscribed track over [start, end): Σ bytes/s ÷ Σ tracks
    over the node samples that have both (Prometheus sources carry no room, so this is the
    fleet's figure, not one room's). None without such samples."""
    tier = pick_tier(start_ts, end_ts)
    attempts = [tier] if tier.name == "raw" else [tier, Tier("raw", 0, MIN_RAW_STEP_S)]
    for attempt in attempts:  # a recent window may not be rolled up yet: then raw
        _table, time_col, columns = _node_tier_columns(attempt)
        out, tracks = columns["bytes_out_per_s"][0], columns["tracks_subscribed"][0]
        row = connection.execute(
            select(func.sum(out), func.sum(tracks)).where(
                time_col >= start_ts, time_col < end_ts, out.is_not(None), tracks > 0
            )
        ).one()
        if row[1]:
            return float(row[0]) / float(row[1]) * 8 / 1000
    return None


def stream_detail(
    connection: Connection,
    source_id: int,
    room_sid: str,
    now_ts: int,
    listener_kbps: float | None = None,
) -> StreamDetail | None:
    """One stream's drill-down. ``listener_kbps`` None: measured from the fleet's bytes per
    subscribed track during the stream × its publishers, else DEFAULT_LISTENER_KBPS."""
    r = schema.room_sessions.c
    session = connection.execute(
        select(schema.room_sessions).where(r.source_id == source_id, r.room_sid == room_sid)
    ).first()
    if session is None:
        return None
    started_ts = int(session.started_ts)
    # An end time after now is a schedule, not an end (live sessions have none).
    ended_ts = int(session.ended_ts) if session.ended_ts is not None and session.ended_ts <= now_ts else None
    until_ts = ended_ts if ended_ts is not None else min(int(session.last_seen_ts), now_ts)
    until_ts = max(until_ts, started_ts + 1)

    # A short, recent session may not be rolled up yet: fall back to raw when the tier is empty.
    tier = pick_tier(started_ts, until_ts + 1)
    curve = _stream_curve(connection, tier, source_id, room_sid, started_ts, until_ts + 1)
    if curve.empty and tier.name != "raw":
        tier = Tier("raw", 0, max(MIN_RAW_STEP_S, tier.step_s))
        curve = _stream_curve(connection, tier, source_id, room_sid, started_ts, until_ts + 1)
    peak = int(curve["listeners_peak"].max()) if not curve.empty else 0
    peak = max(peak, int(session.max_listeners or 0))
    listener_minutes = float(curve["listeners"].sum()) * tier.step_s / 60 if not curve.empty else 0.0
    duration_min = max(1e-9, (until_ts - started_ts) / 60)
    avg_listeners = min(listener_minutes / duration_min, float(peak)) if listener_minutes else 0.0

    p = schema.participant_sessions.c
    left = func.coalesce(p.left_ts, literal(until_ts))
    duration = left - p.joined_ts
    in_room = and_(p.source_id == source_id, p.room_sid == room_sid)
    # LiveKit's metering, as the usage ledger applies it: ceil(duration / 60), at least one
    # minute, per connection; egress recorders, ingress and SIP are not connection minutes.
    billed = p.kind.not_in(NOT_CONNECTION_KINDS)
    positive = case((duration > 0, duration), else_=0)
    minutes = case(((positive + 59) // 60 > 1, (positive + 59) // 60), else_=1)
    totals = connection.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((p.is_publisher, 1), else_=0)), 0),
            func.coalesce(func.sum(case((billed, minutes), else_=0)), 0),
            func.coalesce(func.sum(case((p.kind == "EGRESS", positive), else_=0)), 0),
        ).where(in_room)
    ).one()
    participants = _frame(
        connection,
        select(
            p.identity,
            p.name,
            p.kind,
            p.is_publisher,
            p.joined_ts,
            p.left_ts,
            duration.label("duration_s"),
            p.origin,
        )
        .where(in_room)
        .order_by(p.joined_ts, p.participant_sid)
        .limit(PARTICIPANT_ROWS_LIMIT),
    )
    if not participants.empty:
        seconds = participants["duration_s"].clip(lower=0)
        metered = ((seconds + 59) // 60).clip(lower=1).astype("int64")
        participants["connection_min"] = metered.where(~participants["kind"].isin(NOT_CONNECTION_KINDS), 0)
    else:
        participants["connection_min"] = pd.Series(dtype="int64")

    kbps, measured = (DEFAULT_LISTENER_KBPS if listener_kbps is None else listener_kbps), False
    per_track = (
        kbps_per_subscribed_track(connection, started_ts, until_ts + 1) if listener_kbps is None else None
    )
    if per_track is not None and per_track > 0:
        # A listener subscribes to every publisher's track.
        publishing = float(curve["publishers"].mean()) if not curve.empty else 1.0
        kbps, measured = per_track * max(1.0, publishing), True

    # This session's egress and ingress only: other sessions of the same room name (earlier
    # broadcasts of the channel) have their own. Egress names its room session; a row without
    # one, and ingress (a reusable endpoint per room name), count when they ran during it.
    e = schema.egress_status.c
    during_egress = and_(
        e.room_sid.is_(None),
        e.room_name == session.room_name,
        e.started_ts <= until_ts,
        func.coalesce(e.ended_ts, e.last_seen_ts) >= started_ts,
    )
    egress = _frame(
        connection,
        select(e.egress_id, e.kind, e.status, e.started_ts, e.ended_ts, e.error)
        .where(e.source_id == source_id, or_(e.room_sid == room_sid, during_egress))
        .order_by(e.started_ts),
    )
    i = schema.ingress_status.c
    ingress = _frame(
        connection,
        select(i.ingress_id, i.name, i.input_type, i.status, i.started_ts, i.ended_ts, i.error)
        .where(
            i.source_id == source_id,
            i.room_name == session.room_name,
            i.started_ts <= until_ts,
            func.coalesce(i.ended_ts, i.last_seen_ts) >= started_ts,
        )
        .order_by(i.started_ts),
    )
    return StreamDetail(
        source_id=source_id,
        room_sid=room_sid,
        room_name=str(session.room_name),
        channel=str(session.channel),
        status="live" if ended_ts is None else "ended",
        started_ts=started_ts,
        ended_ts=ended_ts,
        until_ts=until_ts,
        curve=curve.drop(columns=["listeners_peak"]) if not curve.empty else curve,
        peak_listeners=peak,
        avg_listeners=avg_listeners,
        listener_minutes=listener_minutes,
        publishers=int(totals[1]),
        participants=participants,
        participants_total=int(totals[0]),
        connection_minutes=int(totals[2]),
        recorder_minutes=float(totals[3]) / 60.0,
        egress=egress,
        ingress=ingress,
        listener_kbps=kbps,
        listener_kbps_measured=measured,
    )


def _stream_curve(
    connection: Connection, tier: Tier, source_id: int, room_sid: str, start_ts: int, end_ts: int
) -> pd.DataFrame:
    per_room = _per_room_buckets(tier, start_ts, end_ts, source_id, room_sid)
    query = select(
        per_room.c.bucket_ts,
        per_room.c.listeners,
        per_room.c.listeners_peak,
        per_room.c.publishers,
        per_room.c.participants,
    ).order_by(per_room.c.bucket_ts)
    return _frame(connection, query)


# ---------------------------------------------------------------------------------------------
# Nodes
# ---------------------------------------------------------------------------------------------


def nodes_table(
    connection: Connection, start_ts: int, end_ts: int, source_id: int | None = None
) -> pd.DataFrame:
    """One row per node seen in the window: its newest sample (if it is up), peak CPU over the
    window and headroom against the CPU thresholds.

    Columns: source_id, node_id, up, last_seen_ts, every NODE_METRICS column (now),
    cpu_peak_pct, api_error_pct, join_success_pct, out_mbps, in_mbps,
    headroom_70_pp / headroom_80_pp (percentage points below the threshold at the peak),
    cpu_status (ok | over 70 % | over 80 % | down),
    participants_to_70 / participants_to_80 (more participants before the threshold,
    assuming CPU grows linearly with participants)."""
    n = schema.nodes.c
    inventory_query = select(n.source_id, n.node_id, n.last_seen_ts).where(n.last_seen_ts >= start_ts)
    if source_id is not None:
        inventory_query = inventory_query.where(n.source_id == source_id)
    inventory = _frame(connection, inventory_query)

    as_of_ts = newest_sample_ts(connection, source_id, until_ts=end_ts)
    metrics = list(schema.NODE_METRICS)
    if as_of_ts is not None:
        live = _latest_node_samples(connection, as_of_ts, source_id)
        latest = _frame(
            connection, select(live.c.source_id, live.c.node_id, live.c.ts, *(live.c[m] for m in metrics))
        )
    else:
        latest = pd.DataFrame(columns=["source_id", "node_id", "ts", *metrics])

    tier = pick_tier(start_ts, end_ts)
    peaks = _node_peaks(connection, tier, start_ts, end_ts, source_id)

    keys = ["source_id", "node_id"]
    frame = inventory.merge(latest, on=keys, how="outer").merge(peaks, on=keys, how="left")
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


def _node_tier_columns(
    tier: Tier,
) -> tuple[object, ColumnElement[int], dict[str, tuple[ColumnElement[float], ColumnElement[float]]]]:
    """(table, time column, metric -> (average column, peak column)) for a tier."""
    if tier.name == "raw":
        c = schema.node_samples.c
        return schema.node_samples, c.ts, {m: (c[m], c[m]) for m in schema.NODE_METRICS}
    table = schema.node_samples_1m if tier.name == "1m" else schema.node_samples_1h
    c = table.c
    return table, c.bucket_ts, {m: (c[f"{m}_avg"], c[f"{m}_max"]) for m in schema.NODE_METRICS}


def _node_peaks(
    connection: Connection, tier: Tier, start_ts: int, end_ts: int, source_id: int | None
) -> pd.DataFrame:
    table, time_col, columns = _node_tier_columns(tier)
    tc = table.c  # type: ignore[attr-defined]
    query = select(tc.source_id, tc.node_id, func.max(columns["cpu_pct"][1]).label("cpu_peak_pct")).where(
        time_col >= start_ts, time_col < end_ts
    )
    if source_id is not None:
        query = query.where(tc.source_id == source_id)
    return _frame(connection, query.group_by(tc.source_id, tc.node_id))


def node_series(
    connection: Connection, source_id: int, node_id: str, start_ts: int, end_ts: int
) -> pd.DataFrame:
    """One node over time: bucket_ts, every metric's average per bucket, and cpu_pct_max."""
    tier = pick_tier(start_ts, end_ts)
    table, time_col, columns = _node_tier_columns(tier)
    tc = table.c  # type: ignore[attr-defined]
    bucket = time_col - time_col % _step(tier)
    query = (
        select(
            bucket.label("bucket_ts"),
            *(func.avg(average).label(metric) for metric, (average, _peak) in columns.items()),
            func.max(columns["cpu_pct"][1]).label("cpu_pct_max"),
        )
        .where(tc.source_id == source_id, tc.node_id == node_id, time_col >= start_ts, time_col < end_ts)
        .group_by(bucket)
        .order_by(bucket)
    )
    return _frame(connection, query)
