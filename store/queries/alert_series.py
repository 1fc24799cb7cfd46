"""The samples the alert rules are evaluated on (analytics.alerts.series, analytics.alerts.spend):
node samples over the three tiers, room listeners by room name, and the 5-min fleet buckets
the spend run-rate prices.

:func:`series_reader` gives one connection's reads as a :class:`StoreSeries`, the object
analytics.alerts.series.load_store_series takes (its ``SeriesReader`` protocol); analytics
turns the frames into a rule's series and never sees SQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Select, func, or_, select, union_all

from store import schema
from store.queries.bind import Bind, connected, read_frame
from store.queries.nodes import newest_node_samples
from store.queries.sources import first_observed_ts, has_node_data
from store.rollups import done_until

SAMPLE_COLUMNS = ["ts", "target", "value"]

# Tiers from finest to coarsest: history older than a tier's oldest row comes from the next.
_NODE_TIERS = (
    (schema.node_samples, "ts", "", 0),
    (schema.node_samples_1m, "bucket_ts", "_avg", 60),
    (schema.node_samples_1h, "bucket_ts", "_avg", 3600),
)


def node_samples(
    connection: Connection,
    column: str,
    since_ts: int,
    until_ts: int,
    *,
    absence: bool = False,
    known_since_ts: int | None = None,
) -> list[pd.DataFrame]:
    """``ts, target, value, bucket_s`` parts: raw samples of ``column`` (a node_samples column),
    with older history from the 1-min and then the 1-h rollup means (``bucket_s``: 0, 60 or
    3600). ``absence``: the sample times instead of a column (value = the time), and first, each
    node's newest raw sample in [known_since_ts, since_ts) (value 1, bucket_s 0)."""
    parts: list[pd.DataFrame] = []
    if absence and known_since_ts is not None:
        known = newest_node_samples(connection, known_since_ts, since_ts)
        if known:
            prior = pd.DataFrame(known, columns=["ts", "target"]).assign(value=1.0, bucket_s=0)
            parts.append(prior[[*SAMPLE_COLUMNS, "bucket_s"]])
    limit = until_ts
    for table, time_name, suffix, bucket_s in _NODE_TIERS:
        if limit < since_ts:
            break
        time_column = table.c[time_name]
        value = time_column if absence else table.c[f"{column}{suffix}"]
        query = select(time_column, table.c.node_id, value).where(
            time_column >= since_ts, time_column <= limit
        )
        if not absence:
            query = query.where(value.is_not(None))
        part = read_frame(connection, query, SAMPLE_COLUMNS)
        if not part.empty:
            part["bucket_s"] = bucket_s
            parts.append(part)
        oldest = connection.execute(select(func.min(time_column))).scalar()
        if oldest is not None and int(oldest) <= since_ts:
            break  # this tier covers the whole range
        if oldest is not None:
            limit = min(limit, int(oldest) - 1)
    return parts


def room_listener_samples(connection: Connection, since_ts: int, until_ts: int) -> pd.DataFrame:
    """``ts, target, value``: every room sample's listeners, the target its room's name (the
    room sid when the session is unknown)."""
    samples = schema.room_samples
    sessions = schema.room_sessions
    # A stream is a room name: successive sessions of the same room form one series.
    target = func.coalesce(sessions.c.room_name, samples.c.room_sid)
    query = (
        select(samples.c.ts, target, samples.c.listeners)
        .select_from(
            samples.outerjoin(
                sessions,
                (sessions.c.source_id == samples.c.source_id) & (sessions.c.room_sid == samples.c.room_sid),
            )
        )
        .where(samples.c.ts >= since_ts, samples.c.ts <= until_ts)
    )
    return read_frame(connection, query, SAMPLE_COLUMNS)


def hls_error_samples(connection: Connection, since_ts: int, until_ts: int) -> pd.DataFrame:
    """``ts, target, requests, errors_5xx``: every HLS audience sample that counted requests,
    the target its channel."""
    a = schema.audience_samples.c
    query = select(a.ts, a.channel, a.requests, a.errors_5xx).where(
        a.path == "hls", a.requests.is_not(None), a.ts >= since_ts, a.ts <= until_ts
    )
    return read_frame(connection, query, ["ts", "target", "requests", "errors_5xx"])


def relay_health_samples(connection: Connection, since_ts: int, until_ts: int) -> pd.DataFrame:
    """``ts, target, health``: every relay sample, the target ``channel/kind``."""
    r = schema.relay_samples.c
    query = select(r.ts, r.channel + "/" + r.kind, r.health).where(r.ts >= since_ts, r.ts <= until_ts)
    return read_frame(connection, query, ["ts", "target", "health"])


# ---------------------------------------------------------------------------------------------
# The spend run-rate's buckets: per bucket, fleet sums of per-room (per-node) bucket means
# ---------------------------------------------------------------------------------------------


def _tier_split_ts(connection: Connection, rollup_name: str, low_ts: int, high_ts: int, bucket_s: int) -> int:
    """Where the 1-min rollup hands over to raw samples: its complete part (below
    ``done_until_ts``) is 4× fewer rows than raw at a 15 s poll and outlives raw retention.
    Aligned down to a bucket so no room's bucket is split across the two tiers."""
    done = done_until(connection, rollup_name)
    if done is None:
        return low_ts  # never rolled up: everything from raw
    return int(min(max(done - done % bucket_s, low_ts), high_ts + 1))


def room_buckets(connection: Connection, low_ts: int, high_ts: int, bucket_s: int) -> pd.DataFrame:
    """``bucket_ts, rooms, listeners, publishers``: rooms with anyone in them, and the sums of
    each room's mean listeners / publishers over the bucket (the fleet's concurrent figures)."""
    split_ts = _tier_split_ts(connection, "room_samples_1m", low_ts, high_ts, bucket_s)
    parts: list[Select[Any]] = []
    if split_ts > low_ts:
        m = schema.room_samples_1m.c
        bucket = m.bucket_ts - m.bucket_ts % bucket_s
        # Minutes weighted by their samples: the same mean the raw samples would give.
        weight = func.sum(m.samples)
        listeners = func.sum(m.listeners_avg * m.samples) / weight
        publishers = func.sum(m.publishers_avg * m.samples) / weight
        parts.append(
            select(bucket.label("bucket_ts"), listeners.label("listeners"), publishers.label("publishers"))
            .where(m.bucket_ts >= low_ts, m.bucket_ts < split_ts)
            .group_by(bucket, m.source_id, m.room_sid)
            .having(listeners + publishers > 0)
        )
    if split_ts <= high_ts:
        r = schema.room_samples.c
        bucket = r.ts - r.ts % bucket_s
        listeners = func.avg(r.listeners)
        publishers = func.avg(r.publishers)
        parts.append(
            select(bucket.label("bucket_ts"), listeners.label("listeners"), publishers.label("publishers"))
            .where(r.ts >= split_ts, r.ts <= high_ts)
            .group_by(bucket, r.source_id, r.room_sid)
            .having(listeners + publishers > 0)
        )
    per_room = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()
    query = (
        select(
            per_room.c.bucket_ts,
            func.count().label("rooms"),
            func.sum(per_room.c.listeners).label("listeners"),
            func.sum(per_room.c.publishers).label("publishers"),
        )
        .group_by(per_room.c.bucket_ts)
        .order_by(per_room.c.bucket_ts)
    )
    columns = ["bucket_ts", "rooms", "listeners", "publishers"]
    return read_frame(connection, query, columns)


def node_bytes_buckets(connection: Connection, low_ts: int, high_ts: int, bucket_s: int) -> pd.DataFrame:
    """``bucket_ts, bytes_per_s``: each node's mean outgoing bytes/s over the bucket, summed."""
    split_ts = _tier_split_ts(connection, "node_samples_1m", low_ts, high_ts, bucket_s)
    parts: list[Select[Any]] = []
    if split_ts > low_ts:
        m = schema.node_samples_1m.c
        bucket = m.bucket_ts - m.bucket_ts % bucket_s
        parts.append(
            select(bucket.label("bucket_ts"), func.avg(m.bytes_out_per_s_avg).label("bytes_per_s"))
            .where(m.bucket_ts >= low_ts, m.bucket_ts < split_ts, m.bytes_out_per_s_avg.is_not(None))
            .group_by(bucket, m.source_id, m.node_id)
        )
    if split_ts <= high_ts:
        n = schema.node_samples.c
        bucket = n.ts - n.ts % bucket_s
        parts.append(
            select(bucket.label("bucket_ts"), func.avg(n.bytes_out_per_s).label("bytes_per_s"))
            .where(n.ts >= split_ts, n.ts <= high_ts, n.bytes_out_per_s.is_not(None))
            .group_by(bucket, n.source_id, n.node_id)
        )
    per_node = (union_all(*parts) if len(parts) > 1 else parts[0]).subquery()
    query = (
        select(per_node.c.bucket_ts, func.sum(per_node.c.bytes_per_s).label("bytes_per_s"))
        .group_by(per_node.c.bucket_ts)
        .order_by(per_node.c.bucket_ts)
    )
    return read_frame(connection, query, ["bucket_ts", "bytes_per_s"])


def livekit_gaps(connection: Connection, start_ts: int, end_ts: int) -> list[tuple[int, int | None]]:
    """``(start_ts, end_ts)`` of the recorded outages of LiveKit sources overlapping
    [start_ts, end_ts) (end None: still open)."""
    gaps, sources = schema.collector_gaps, schema.sources
    rows = connection.execute(
        select(gaps.c.start_ts, gaps.c.end_ts)
        .join(sources, sources.c.id == gaps.c.source_id)
        .where(
            sources.c.kind == "livekit",
            gaps.c.start_ts < end_ts,
            or_(gaps.c.end_ts.is_(None), gaps.c.end_ts > start_ts),
        )
    ).all()
    return [(int(start), None if stop is None else int(stop)) for start, stop in rows]


class StoreSeries:
    """The reads behind a rule's series, over one connection (analytics.alerts.series.SeriesReader)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def node_samples(
        self, column: str, since_ts: int, until_ts: int, *, absence: bool, known_since_ts: int | None
    ) -> list[pd.DataFrame]:
        return node_samples(
            self.connection, column, since_ts, until_ts, absence=absence, known_since_ts=known_since_ts
        )

    def room_listener_samples(self, since_ts: int, until_ts: int) -> pd.DataFrame:
        return room_listener_samples(self.connection, since_ts, until_ts)

    def hls_error_samples(self, since_ts: int, until_ts: int) -> pd.DataFrame:
        return hls_error_samples(self.connection, since_ts, until_ts)

    def relay_health_samples(self, since_ts: int, until_ts: int) -> pd.DataFrame:
        return relay_health_samples(self.connection, since_ts, until_ts)

    def first_observed_ts(self) -> int | None:
        return first_observed_ts(self.connection)

    def has_node_data(self) -> bool:
        return has_node_data(self.connection)

    def room_buckets(self, low_ts: int, high_ts: int, bucket_s: int) -> pd.DataFrame:
        return room_buckets(self.connection, low_ts, high_ts, bucket_s)

    def node_bytes_buckets(self, low_ts: int, high_ts: int, bucket_s: int) -> pd.DataFrame:
        return node_bytes_buckets(self.connection, low_ts, high_ts, bucket_s)

    def livekit_gaps(self, start_ts: int, end_ts: int) -> list[tuple[int, int | None]]:
        return livekit_gaps(self.connection, start_ts, end_ts)


@contextmanager
def series_reader(bind: Bind) -> Iterator[StoreSeries]:
    """The series reads over one connection of ``bind`` (the caller's own, when it is one)."""
    with connected(bind) as connection:
        yield StoreSeries(connection)
