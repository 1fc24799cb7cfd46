"""Which table a time series is read from, and at what step.

Every time-series read picks a tier (raw samples, 1-minute or 1-hour rollup) and a step so a
series has at most ``MAX_POINTS`` points, and aggregates in SQL: a 30-day view never pulls raw
rows into Python.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVarTuple

from sqlalchemy import Select, Subquery, Table, func, literal_column, select
from sqlalchemy.sql.elements import ColumnElement

from core.units import DAY_S, HOUR_S, MINUTE_S
from store import schema

_Columns = TypeVarTuple("_Columns")

MAX_POINTS = 3000
# Tier limits: raw samples (every 15 s) only for short, fresh windows; 1-minute rollups up
# to two days (≤ 2,880 points, no re-bucketing); hourly beyond. Measured on platform-500:
# a 6 h window from raw (180k rows) took 0.8 s, from 1-minute rollups 0.1 s.
RAW_MAX_SPAN_S = 2 * HOUR_S
MINUTE_MAX_SPAN_S = 2 * DAY_S
# Raw samples come every collector interval (15 s by default); a step of at least two
# intervals keeps every room in every bucket despite tick jitter.
MIN_RAW_STEP_S = 30


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
        name, bucket_s, floor_s = "1m", MINUTE_S, MINUTE_S
    else:
        name, bucket_s, floor_s = "1h", HOUR_S, HOUR_S
    step_s = max(floor_s, math.ceil(span_s / MAX_POINTS))
    step_s = math.ceil(step_s / floor_s) * floor_s  # whole tier buckets per step
    return Tier(name, bucket_s, step_s)


def raw_tier(step_s: int = MIN_RAW_STEP_S) -> Tier:
    return Tier("raw", 0, step_s)


def step(tier: Tier) -> ColumnElement[int]:
    """The step as an inline SQL integer: PostgreSQL only matches a GROUP BY expression to
    the selected one when they are textually equal, and two bind parameters are not."""
    return literal_column(str(int(tier.step_s)))


# ---------------------------------------------------------------------------------------------
# Rooms
# ---------------------------------------------------------------------------------------------


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


def per_room_buckets(
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
    bucket_expr = t.time - t.time % step(tier)
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


# ---------------------------------------------------------------------------------------------
# Nodes
# ---------------------------------------------------------------------------------------------


def node_tier_columns(
    tier: Tier,
) -> tuple[Table, ColumnElement[int], dict[str, tuple[ColumnElement[float], ColumnElement[float]]]]:
    """(table, time column, metric -> (average column, peak column)) for a tier."""
    if tier.name == "raw":
        c = schema.node_samples.c
        return schema.node_samples, c.ts, {m: (c[m], c[m]) for m in schema.NODE_METRICS}
    table = schema.node_samples_1m if tier.name == "1m" else schema.node_samples_1h
    c = table.c
    return table, c.bucket_ts, {m: (c[f"{m}_avg"], c[f"{m}_max"]) for m in schema.NODE_METRICS}
