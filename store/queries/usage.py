"""The measured usage ledger's parts, read from the store (analytics.usage assembles them).

All aggregation is in SQL (GROUP BY day, channel):
- connection minutes: per participant session ceil(seconds / 60), clipped to the window, split
  by ``is_publisher``; ingress/egress participants are not charged connection minutes (as
  LiveKit meters), SIP is billed separately and left out too; whole days come from the daily
  rollup (store/usage_rollup.py), edge days and sessions it does not hold from the sessions;
- stream minutes: room sessions' open time; egress/ingress minutes from their status rows
  (egress minutes are also counted as recording minutes: the output is stored either way),
  split into LiveKit's transcode minutes (RTMP/URL ingress, composite egress) and track-egress
  minutes by the egress request kind and the ingress input type;
- downstream/upstream GB per day: node bytes_out/in_per_s averages × bucket seconds from the
  1 min rollup (the 1 h one for hours older than it; raw samples when no rollup exists yet);
- peaks: room rollups, the largest room per channel and day; fleet-wide, rooms summed per bucket.
A session is assigned to the UTC day it started in (or the window start when it began earlier).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Connection,
    Select,
    Subquery,
    and_,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
    tuple_,
    union,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from core.units import DAY_S
from store import schema, usage_rollup
from store.queries.audience import audience_usage
from store.queries.bind import Bind, connected, read_frame
from store.queries.results import UsageParts
from store.queries.sources import first_observed_ts

NOT_CONNECTION_KINDS = usage_rollup.NOT_CONNECTION_KINDS
# LiveKit bills these egress requests as track-egress minutes; every other kind (room_composite,
# web, participant, track_composite, the unified "egress") composites and transcodes.
TRACK_EGRESS_KINDS: tuple[str, ...] = ("track",)
# WHIP ingress forwards media unchanged by default (transcoding bypassed): no transcode minutes.
# RTMP and URL ingress always transcode. castmeter sees the input type, not the bypass flag.
PASSTHROUGH_INGRESS_TYPES: tuple[str, ...] = ("WHIP_INPUT",)
SESSION_COLUMNS = (
    "publisher_minutes",
    "listener_minutes",
    "publisher_minutes_unrounded",
    "listener_minutes_unrounded",
)
MINUTE_ROLLUP_MAX_S = 2 * DAY_S
# Rollup rows whose sessions connection_minutes re-reads at most (three bind parameters each; SQLite
# allows 32766 per statement); beyond that the raw query is as cheap.
MAX_KEYS_REREAD = 5000
# Larger than any Unix time in seconds: the open end of a range written as two-sided.
_NO_TS = 2**62


def _greatest(a: ColumnElement[int], b: ColumnElement[int] | int) -> ColumnElement[int]:
    return case((a > b, a), else_=b)


def _least(a: ColumnElement[int], b: ColumnElement[int] | int) -> ColumnElement[int]:
    return case((a < b, a), else_=b)


class _NativeGreatest(FunctionElement[int]):
    """greatest(a, b) as the database's own function (PostgreSQL GREATEST, SQLite's scalar
    max): about 30 % cheaper than CASE over millions of rows. Only for NOT NULL arguments —
    on NULL, SQLite returns NULL where GREATEST and the CASE form return the other value."""

    type = BigInteger()
    inherit_cache = True


class _NativeLeast(FunctionElement[int]):
    """least(a, b) likewise (PostgreSQL LEAST, SQLite's scalar min); NOT NULL arguments only."""

    type = BigInteger()
    inherit_cache = True


@compiles(_NativeGreatest)
def _greatest_default(element: _NativeGreatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"greatest({compiler.process(element.clauses, **kw)})"


@compiles(_NativeGreatest, "sqlite")
def _greatest_sqlite(element: _NativeGreatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"max({compiler.process(element.clauses, **kw)})"


@compiles(_NativeLeast)
def _least_default(element: _NativeLeast, compiler: SQLCompiler, **kw: Any) -> str:
    return f"least({compiler.process(element.clauses, **kw)})"


@compiles(_NativeLeast, "sqlite")
def _least_sqlite(element: _NativeLeast, compiler: SQLCompiler, **kw: Any) -> str:
    return f"min({compiler.process(element.clauses, **kw)})"


def _day(ts: ColumnElement[int]) -> ColumnElement[int]:
    return ts - ts % DAY_S


def _ceil_minutes(seconds: ColumnElement[int]) -> ColumnElement[int]:
    # Integer floor division on SQLite and PostgreSQL alike; seconds are clipped at 0 first.
    positive = _greatest(seconds, 0)
    return (positive + 59) // 60


def _interval_query(
    start: ColumnElement[int], end: ColumnElement[int], since_ts: int, until_ts: int
) -> tuple[ColumnElement[int], ColumnElement[int], ColumnElement[bool]]:
    """(clipped seconds, day of the clipped start, overlaps-window condition)."""
    clipped_start = _greatest(start, since_ts)
    clipped_end = _least(end, until_ts)
    return clipped_end - clipped_start, _day(clipped_start), and_(start < until_ts, end > since_ts)


def _per_room_raw(
    since_ts: int, until_ts: int, source_id: int | None, joined_before_ts: int | None = None
) -> Select[Any]:
    """Connection minutes per (source_id, room_sid, join day number) straight from the
    sessions overlapping the window, clipped to it; callers add filters to pick sessions.
    ``joined_before_ts`` (at most until_ts) narrows the join times in the one condition that
    bounds them above: SQLite ranges an index by the first of two upper bounds it is given."""
    p = schema.participant_sessions
    end = func.coalesce(p.c.left_ts, p.c.last_seen_ts)
    joined_below_ts = until_ts if joined_before_ts is None else min(until_ts, joined_before_ts)
    overlaps = and_(p.c.joined_ts < joined_below_ts, end > since_ts)
    # The same arithmetic as _interval_query/_ceil_minutes with native greatest/least: every
    # argument is NOT NULL here (joined_ts and last_seen_ts are), and this runs per session.
    seconds = _NativeLeast(end, literal(until_ts)) - _NativeGreatest(p.c.joined_ts, literal(since_ts))
    positive = _NativeGreatest(seconds, literal(0))
    # At least one minute per connection, like collectors/sessions.py (a sub-poll session is real).
    minutes = _NativeGreatest((positive + 59) // 60, literal(1))
    exact = positive / 60.0
    publisher = p.c.is_publisher.is_(True)
    # Group per room and UTC day of joining, in the order of ix_participant_sessions_usage
    # (source_id, room_sid, joined_ts / 86400, ...): no sort of millions of sessions. The
    # expression must stay textually the index's (an inline literal, not a bind parameter).
    join_day = usage_rollup.join_day(p.c.joined_ts)
    per_room = (
        select(
            p.c.source_id,
            p.c.room_sid,
            join_day.label("join_day"),
            func.sum(case((publisher, minutes), else_=0)).label("publisher_minutes"),
            func.sum(case((publisher, literal(0)), else_=minutes)).label("listener_minutes"),
            func.sum(case((publisher, exact), else_=0.0)).label("publisher_minutes_unrounded"),
            func.sum(case((publisher, literal(0.0)), else_=exact)).label("listener_minutes_unrounded"),
        )
        .where(overlaps, p.c.kind.not_in(NOT_CONNECTION_KINDS))
        .group_by(p.c.source_id, p.c.room_sid, join_day)
    )
    if source_id is not None:
        per_room = per_room.where(p.c.source_id == source_id)
    return per_room


def _by_channel(per_room: Subquery, since_ts: int) -> Select[Any]:
    """Per (clipped join day, channel): the per-room sums joined to their room's channel."""
    r = schema.room_sessions
    # Inline integers: PostgreSQL matches GROUP BY to SELECT textually (bind parameters never match).
    # The clipped day is max(join day, window start's day): flooring to days is monotonic.
    first_day = literal_column(str(since_ts - since_ts % DAY_S), BigInteger)
    day_ts = _greatest(per_room.c.join_day * literal_column(str(DAY_S), BigInteger), first_day)
    return (
        select(
            day_ts.label("day_ts"),
            r.c.channel,
            *(func.sum(per_room.c[name]).label(name) for name in SESSION_COLUMNS),
        )
        .select_from(
            per_room.join(r, and_(per_room.c.source_id == r.c.source_id, per_room.c.room_sid == r.c.room_sid))
        )
        .group_by(day_ts, r.c.channel)
    )


def connection_minutes_raw(engine: Bind, since_ts: int, until_ts: int, source_id: int | None) -> pd.DataFrame:
    """Connection minutes per day and channel from every session (no rollup): the reference
    connection_minutes must equal."""
    return read_frame(engine, _by_channel(_per_room_raw(since_ts, until_ts, source_id).subquery(), since_ts))


def connection_minutes(engine: Bind, since_ts: int, until_ts: int, source_id: int | None) -> pd.DataFrame:
    """Connection minutes per day and channel: whole days inside the window from the daily
    rollup (store/usage_rollup.py), the rest from the sessions; the same answer as
    :func:`connection_minutes_raw` once the rollup is refreshed."""
    with connected(engine) as connection:
        covered = usage_rollup.coverage(connection)
        # Whole days inside the window that the rollup holds; a session that joined before
        # since_ts counts on the first (partial) day, which therefore always comes from raw.
        start_ts = since_ts + (-since_ts) % DAY_S
        end_ts = min(until_ts - until_ts % DAY_S, covered.horizon_ts) if covered is not None else start_ts
        if covered is None or end_ts <= start_ts:
            return connection_minutes_raw(connection, since_ts, until_ts, source_id)
        window = _Covered(since_ts, until_ts, start_ts, end_ts, covered.watermark_ts)
        parts = _rolled_up_parts(connection, window, source_id)
        if parts is None:
            return connection_minutes_raw(connection, since_ts, until_ts, source_id)
        return read_frame(connection, _by_channel(union_all(*parts).subquery(), since_ts))


@dataclass(frozen=True)
class _Covered:
    """A window split for the rollup: its rows answer the whole days [start_ts, end_ts), for
    the sessions last seen by ``watermark_ts``."""

    since_ts: int
    until_ts: int
    start_ts: int
    end_ts: int
    watermark_ts: int


def _rolled_up_parts(
    connection: Connection, window: _Covered, source_id: int | None
) -> list[Select[Any]] | None:
    """Disjoint per-room parts that add up to connection_minutes_raw's per-room rows: rollup rows, and
    the sessions they do not hold, each part read by an index on few sessions. None when too
    many rollup rows need their sessions re-read (a refresh long overdue): then read raw.

    The rollup holds the closed sessions (of rolled-up days) last seen by the watermark; the
    rest is raw. SQLite plans without statistics: ``joined_ts + 0`` keeps it off the
    joined_ts index where another index (last_seen_ts, open sessions) is the narrow one."""
    p, u = schema.participant_sessions, schema.room_usage_daily
    since_ts, until_ts, start_ts, end_ts = window.since_ts, window.until_ts, window.start_ts, window.end_ts
    day_s = literal_column(str(DAY_S), BigInteger)
    source = [p.c.source_id == source_id] if source_id is not None else []
    rows_covered = [u.c.day_ts >= start_ts, u.c.day_ts < end_ts]
    if source_id is not None:
        rows_covered.append(u.c.source_id == source_id)
    changed_since = [p.c.left_ts.is_not(None), p.c.last_seen_ts > window.watermark_ts]
    # Keys a rollup row cannot answer: the window clips one of its sessions (left before
    # since_ts or after until_ts), or a session of it changed after the last refresh.
    clipped = select(u.c.source_id, u.c.room_sid, (u.c.day_ts // day_s).label("join_day")).where(
        *rows_covered, or_(u.c.min_left_ts <= since_ts, u.c.max_left_ts > until_ts)
    )
    changed = select(p.c.source_id, p.c.room_sid, usage_rollup.join_day(p.c.joined_ts)).where(
        *changed_since, p.c.joined_ts + 0 >= start_ts, p.c.joined_ts + 0 < end_ts, *source
    )
    excluded = union(clipped, changed).subquery()
    rolled_up = select(
        u.c.source_id,
        u.c.room_sid,
        (u.c.day_ts // day_s).label("join_day"),
        u.c.publisher_minutes,
        u.c.listener_minutes,
        (u.c.publisher_seconds / 60.0).label("publisher_minutes_unrounded"),
        (u.c.listener_seconds / 60.0).label("listener_minutes_unrounded"),
    ).where(
        *rows_covered,
        tuple_(u.c.source_id, u.c.room_sid, u.c.day_ts // day_s).not_in(
            select(excluded.c.source_id, excluded.c.room_sid, excluded.c.join_day)
        ),
    )
    raw = _per_room_raw(since_ts, until_ts, source_id)
    # Rolled-up rooms and days with a session that joined before since_ts and left after it.
    crossing = select(u.c.source_id, u.c.room_sid, (u.c.day_ts // day_s).label("join_day")).where(
        u.c.day_ts < since_ts, u.c.max_left_ts > since_ts
    )
    if source_id is not None:
        crossing = crossing.where(u.c.source_id == source_id)
    excluded_keys = _keys(connection, select(excluded))
    crossing_keys = _keys(connection, crossing)
    if len(excluded_keys) + len(crossing_keys) > MAX_KEYS_REREAD:
        return None
    before_since = _per_room_raw(since_ts, until_ts, source_id, since_ts)
    in_covered = _per_room_raw(since_ts, until_ts, source_id, end_ts)
    return [
        rolled_up,
        # The first, partial day.
        _per_room_raw(since_ts, until_ts, source_id, start_ts).where(p.c.joined_ts >= since_ts),
        # Joined before since_ts and still connected then: closed ones by the rollup's keys (by
        # the index prefix, no scan of earlier days), open and changed ones by their indexes.
        *_by_keys(
            before_since.where(p.c.left_ts.is_not(None), p.c.last_seen_ts <= window.watermark_ts),
            crossing_keys,
        ),
        before_since.where(p.c.left_ts.is_(None)),
        # A two-sided last_seen_ts range and ``joined_ts + 0``: SQLite plans without statistics,
        # and would rather scan an index for its GROUP BY order than look up these few sessions.
        raw.where(*changed_since, p.c.last_seen_ts < _NO_TS, p.c.joined_ts + 0 < since_ts),
        raw.where(p.c.joined_ts >= end_ts),  # the last partial day and days not rolled up
        in_covered.where(p.c.left_ts.is_(None), p.c.joined_ts >= start_ts),  # open: never rolled up
        # Closed sessions of the excluded keys.
        *_by_keys(in_covered.where(p.c.joined_ts >= start_ts, p.c.left_ts.is_not(None)), excluded_keys),
    ]


def _keys(connection: Connection, query: Select[Any]) -> list[tuple[int, str, int]]:
    return [(int(source), str(room), int(number)) for source, room, number in connection.execute(query)]


def _by_keys(raw: Select[Any], keys: Sequence[tuple[int, str, int]]) -> list[Select[Any]]:
    """``raw`` for the sessions of the given (source_id, room_sid, join day number) keys, a few
    hundred keys per part. An OR of equalities rather than a join or a row-value IN: SQLite
    (MULTI-INDEX OR) and PostgreSQL (BitmapOr) then read each key as a range of the prefix of
    ix_participant_sessions_usage instead of scanning it."""
    p = schema.participant_sessions
    day = usage_rollup.join_day(p.c.joined_ts)
    parts = []
    for start in range(0, len(keys), usage_rollup.KEYS_PER_STATEMENT):
        chunk = keys[start : start + usage_rollup.KEYS_PER_STATEMENT]
        parts.append(
            raw.where(
                or_(
                    *(
                        and_(p.c.source_id == source, p.c.room_sid == room, day == number)
                        for source, room, number in chunk
                    )
                )
            )
        )
    return parts


def _rooms(engine: Bind, since_ts: int, until_ts: int, source_id: int | None) -> pd.DataFrame:
    r = schema.room_sessions
    seconds, day, overlaps = _interval_query(
        r.c.started_ts, func.coalesce(r.c.ended_ts, r.c.last_seen_ts), since_ts, until_ts
    )
    query = (
        select(
            day.label("day_ts"), r.c.channel, func.sum(_greatest(seconds, 0) / 60.0).label("stream_minutes")
        )
        .where(overlaps)
        .group_by(day, r.c.channel)
    )
    if source_id is not None:
        query = query.where(r.c.source_id == source_id)
    return read_frame(engine, query)


def _egress(
    engine: Bind, since_ts: int, until_ts: int, source_id: int | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    e, r = schema.egress_status, schema.room_sessions
    end = func.coalesce(e.c.ended_ts, e.c.updated_ts, e.c.last_seen_ts)
    seconds, day, overlaps = _interval_query(e.c.started_ts, end, since_ts, until_ts)
    channel = func.coalesce(r.c.channel, e.c.room_name, literal("(unknown)"))
    minutes = _ceil_minutes(seconds)
    track = e.c.kind.in_(TRACK_EGRESS_KINDS)
    query = (
        select(
            day.label("day_ts"),
            channel.label("channel"),
            func.sum(minutes).label("egress_minutes"),
            func.sum(case((track, literal(0)), else_=minutes)).label("transcode_minutes"),
            func.sum(case((track, minutes), else_=literal(0))).label("track_egress_minutes"),
        )
        .select_from(e.outerjoin(r, and_(e.c.source_id == r.c.source_id, e.c.room_sid == r.c.room_sid)))
        .where(overlaps, e.c.started_ts.is_not(None))
        .group_by(day, channel)
    )
    spans = select(
        _greatest(e.c.started_ts, since_ts).label("start"), _least(end, until_ts).label("end")
    ).where(overlaps, e.c.started_ts.is_not(None))
    if source_id is not None:
        query = query.where(e.c.source_id == source_id)
        spans = spans.where(e.c.source_id == source_id)
    frame = read_frame(engine, query)
    frame["recording_minutes"] = frame["egress_minutes"]
    return frame, read_frame(engine, spans)


def _ingress(engine: Bind, since_ts: int, until_ts: int, source_id: int | None) -> pd.DataFrame:
    i = schema.ingress_status
    end = func.coalesce(i.c.ended_ts, i.c.last_seen_ts)
    seconds, day, overlaps = _interval_query(i.c.started_ts, end, since_ts, until_ts)
    channel = func.coalesce(i.c.room_name, literal("(unknown)"))
    minutes = _ceil_minutes(seconds)
    passthrough = i.c.input_type.in_(PASSTHROUGH_INGRESS_TYPES)
    query = (
        select(
            day.label("day_ts"),
            channel.label("channel"),
            func.sum(minutes).label("ingress_minutes"),
            func.sum(case((passthrough, literal(0)), else_=minutes)).label("ingress_transcode_minutes"),
        )
        .where(overlaps, i.c.started_ts.is_not(None))
        .group_by(day, channel)
    )
    if source_id is not None:
        query = query.where(i.c.source_id == source_id)
    return read_frame(engine, query)


def _traffic(engine: Bind, since_ts: int, until_ts: int, source_id: int | None) -> pd.DataFrame:
    """Fleet GB per day: minute rollups wherever they exist (a node's average bytes/s × 60 s
    per minute), hourly rollups only for the hours before them (retention keeps minutes 35
    days), raw samples when neither exists yet. An hourly row averages only the minutes it
    saw: × 3 600 s would stretch a partly covered hour (the store's first hour, the current
    one) to a whole one."""
    minute, hour = schema.node_samples_1m, schema.node_samples_1h
    with connected(engine) as connection:
        first_minute = connection.execute(select(func.min(minute.c.bucket_ts))).scalar()
    if first_minute is None:
        cut_ts = until_ts
    else:
        cut_ts = int(first_minute) + (-int(first_minute)) % 3600  # the first whole hour of minutes
    parts = []
    for table, bucket_s, low_ts, high_ts in (
        (minute, 60, max(since_ts, cut_ts), until_ts),
        (hour, 3600, since_ts, min(until_ts, cut_ts)),
    ):
        if low_ts >= high_ts:
            continue
        day = _day(table.c.bucket_ts)
        query = (
            select(
                day.label("day_ts"),
                (func.sum(func.coalesce(table.c.bytes_out_per_s_avg, 0.0)) * bucket_s / 1e9).label(
                    "downstream_gb"
                ),
                (func.sum(func.coalesce(table.c.bytes_in_per_s_avg, 0.0)) * bucket_s / 1e9).label(
                    "upstream_gb"
                ),
            )
            .where(table.c.bucket_ts >= low_ts, table.c.bucket_ts < high_ts)
            .group_by(day)
        )
        if source_id is not None:
            query = query.where(table.c.source_id == source_id)
        frame = read_frame(engine, query)
        if not frame.empty:
            parts.append(frame)
    if parts:
        frame = pd.concat(parts, ignore_index=True).groupby("day_ts", as_index=False).sum()
        return frame
    raw = schema.node_samples
    day = _day(raw.c.ts)
    # No rollup yet: average rate × the span the node was sampled that day.
    per_node = (
        select(
            day.label("day_ts"),
            (
                func.avg(func.coalesce(raw.c.bytes_out_per_s, 0.0))
                * (func.max(raw.c.ts) - func.min(raw.c.ts))
            ).label("out_bytes"),
            (
                func.avg(func.coalesce(raw.c.bytes_in_per_s, 0.0)) * (func.max(raw.c.ts) - func.min(raw.c.ts))
            ).label("in_bytes"),
        )
        .where(raw.c.ts >= since_ts, raw.c.ts < until_ts)
        .group_by(day, raw.c.source_id, raw.c.node_id)
    )
    if source_id is not None:
        per_node = per_node.where(raw.c.source_id == source_id)
    sub = per_node.subquery()
    query = select(
        sub.c.day_ts,
        (func.sum(sub.c.out_bytes) / 1e9).label("downstream_gb"),
        (func.sum(sub.c.in_bytes) / 1e9).label("upstream_gb"),
    ).group_by(sub.c.day_ts)
    return read_frame(engine, query)


def _peaks(
    engine: Bind, since_ts: int, until_ts: int, source_id: int | None
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per channel and day: the largest room's peak (a channel is one room at a time; rooms of
    one channel that overlap are undercounted). Fleet: the rooms summed per bucket."""
    use_hour = until_ts - since_ts > MINUTE_ROLLUP_MAX_S
    table = schema.room_samples_1h if use_hour else schema.room_samples_1m
    r = schema.room_sessions
    in_window = [table.c.bucket_ts >= since_ts, table.c.bucket_ts < until_ts]
    if source_id is not None:
        in_window.append(table.c.source_id == source_id)
    live = case((table.c.publishers_max > 0, 1), else_=0)
    day = _day(table.c.bucket_ts)
    per_room = (
        select(
            table.c.source_id,
            table.c.room_sid,
            day.label("day_ts"),
            func.max(live).label("streams"),
            func.max(table.c.listeners_max).label("listeners"),
            func.max(table.c.publishers_max).label("publishers"),
        )
        .where(*in_window)
        .group_by(table.c.source_id, table.c.room_sid, day)
        .subquery()
    )
    by_channel = (
        select(
            per_room.c.day_ts,
            r.c.channel,
            func.max(per_room.c.streams).label("peak_streams"),
            func.max(per_room.c.listeners).label("peak_listeners"),
            func.max(per_room.c.publishers).label("peak_publishers"),
        )
        .select_from(
            per_room.join(r, and_(per_room.c.source_id == r.c.source_id, per_room.c.room_sid == r.c.room_sid))
        )
        .group_by(per_room.c.day_ts, r.c.channel)
    )
    with connected(engine) as connection:
        peaks = _fleet_peaks(connection, table, in_window, use_hour, source_id)
    return read_frame(engine, by_channel), peaks


_PEAK_NAMES = ("streams", "listeners", "publishers")
# Hours whose minutes are read to turn an hourly upper bound into the exact peak, at most.
MAX_PEAK_HOURS_REFINED = 48


def _bucket_sums(table: Any, conditions: list[ColumnElement[bool]]) -> Select[Any]:
    """Per bucket, the fleet's figures: live rooms, and each room's maxima summed."""
    live = case((table.c.publishers_max > 0, 1), else_=0)
    return (
        select(
            table.c.bucket_ts,
            func.sum(live).label("streams"),
            func.sum(table.c.listeners_max).label("listeners"),
            func.sum(table.c.publishers_max).label("publishers"),
        )
        .where(*conditions)
        .group_by(table.c.bucket_ts)
    )


def _fleet_peaks(
    connection: Connection,
    table: Any,
    in_window: list[ColumnElement[bool]],
    use_hour: bool,
    source_id: int | None,
) -> dict[str, float]:
    """The fleet's simultaneous peaks. From minute buckets they are exact (to a minute); an
    hourly bucket sums each room's maximum within the hour, an upper bound (two rooms peaking
    at different minutes add up). So hours are read by their bound, highest first, and their
    minute rollup gives the exact peak, until no unread hour's bound can beat the peaks found
    (minutes expire after 35 days: an hour without them keeps its bound)."""
    bounds = pd.DataFrame(
        connection.execute(_bucket_sums(table, in_window)).all(), columns=["bucket_ts", *_PEAK_NAMES]
    )
    if bounds.empty:
        return dict.fromkeys(_PEAK_NAMES, 0.0)
    bounds[list(_PEAK_NAMES)] = bounds[list(_PEAK_NAMES)].astype(float)
    if not use_hour:
        return {name: float(bounds[name].max()) for name in _PEAK_NAMES}
    minute = schema.room_samples_1m
    best = dict.fromkeys(_PEAK_NAMES, 0.0)
    pending = bounds.copy()
    for _ in range(MAX_PEAK_HOURS_REFINED):
        open_names = [name for name in _PEAK_NAMES if not pending.empty and pending[name].max() > best[name]]
        if not open_names:
            break
        position = int(pending[open_names[0]].to_numpy().argmax())
        row = {column: float(value) for column, value in pending.iloc[position].items()}
        pending = pending.drop(index=pending.index[position])
        hour_ts = int(row["bucket_ts"])
        conditions = [minute.c.bucket_ts >= hour_ts, minute.c.bucket_ts < hour_ts + 3600]
        if source_id is not None:
            conditions.append(minute.c.source_id == source_id)
        minutes = pd.DataFrame(
            connection.execute(_bucket_sums(minute, conditions)).all(), columns=["bucket_ts", *_PEAK_NAMES]
        )
        for peak_name in _PEAK_NAMES:
            exact = (
                float(minutes[peak_name].astype(float).max()) if not minutes.empty else float(row[peak_name])
            )
            best[peak_name] = max(best[peak_name], exact)
    else:
        for name in _PEAK_NAMES:  # refinement budget spent: the remaining bounds stand
            if not pending.empty:
                best[name] = max(best[name], float(pending[name].max()))
    return best


# Parts read at once, each on its own connection: SQLite and psycopg release the GIL while a
# query runs, so on 2 cores the ledger's queries overlap (the Costs page's three 30-day ledgers
# of platform-500 on SQLite: 3.6 → 2.1 s).
PARALLEL_PARTS = 3
_parts_pool: ThreadPoolExecutor | None = None
_parts_pool_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _parts_pool
    with _parts_pool_lock:
        if _parts_pool is None:
            _parts_pool = ThreadPoolExecutor(PARALLEL_PARTS, thread_name_prefix="castmeter-usage")
        return _parts_pool


def usage_parts(bind: Bind, since_ts: int, until_ts: int, source_id: int | None = None) -> UsageParts:
    """Every part of the measured usage ledger over [since_ts, until_ts). Given an engine, the
    parts are read concurrently (one connection each, the slowest first); given a connection,
    one after the other in it (the caller's transaction: one snapshot)."""
    window = (since_ts, until_ts, source_id)
    readers: dict[str, Callable[[Connection], Any]] = {
        "sessions": lambda c: connection_minutes(c, *window),
        "audience": lambda c: audience_usage(c, *window),
        "peaks": lambda c: _peaks(c, *window),
        "egress": lambda c: _egress(c, *window),
        "rooms": lambda c: _rooms(c, *window),
        "ingress": lambda c: _ingress(c, *window),
        "traffic": lambda c: _traffic(c, *window),
        "first_observed_ts": lambda c: first_observed_ts(c, source_id),
    }
    if isinstance(bind, Connection):
        read = {name: reader(bind) for name, reader in readers.items()}
    else:
        engine = bind

        def on_own_connection(reader: Callable[[Connection], Any]) -> Any:
            with engine.connect() as connection:
                return reader(connection)

        futures = {name: _pool().submit(on_own_connection, reader) for name, reader in readers.items()}
        read = {name: future.result() for name, future in futures.items()}
    egress, egress_spans = read["egress"]
    peaks, fleet_peaks = read["peaks"]
    return UsageParts(
        sessions=read["sessions"],
        rooms=read["rooms"],
        ingress=read["ingress"],
        egress=egress,
        egress_spans=egress_spans,
        peaks=peaks,
        fleet_peaks=fleet_peaks,
        traffic=read["traffic"],
        first_observed_ts=read["first_observed_ts"],
        audience=read["audience"],
    )
