"""Measured usage from the store as a :class:`~analytics.ledger.UsageLedger`.

All aggregation is in SQL (GROUP BY day, channel); pandas only joins the few grouped frames.
- connection minutes: per participant session ceil(seconds / 60), clipped to the window, split
  by ``is_publisher``; ingress/egress participants are not charged connection minutes (as
  LiveKit meters), SIP is billed separately and left out too;
- stream minutes: room sessions' open time; egress/ingress minutes from their status rows
  (egress minutes are also counted as recording minutes: the output is stored either way);
- downstream/upstream GB: node bytes_out/in_per_s averages × bucket seconds from the 1 h
  rollup (1 min for ranges up to two days; raw samples when no rollup exists yet), shared
  out to channels by listener minutes because nodes are not per channel;
- peaks: room rollups, the largest room per channel and day; fleet-wide, rooms summed per bucket.
A session is assigned to the UTC day it started in (or the window start when it began earlier).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, Connection, Engine, and_, case, func, literal, literal_column, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from analytics.ledger import (
    COLUMNS,
    DAY_S,
    FLOW_COLUMNS,
    MONTH_DAYS,
    PEAK_COLUMNS,
    Region,
    UsageLedger,
    VideoTier,
    empty_frame,
)
from store import schema

NOT_CONNECTION_KINDS = ("EGRESS", "INGRESS", "SIP")
MINUTE_ROLLUP_MAX_S = 2 * DAY_S
# Readers accept an engine or an open connection (pages pass their own).
Bind = Engine | Connection


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


def _sessions(engine: Bind, since_ts: int, until_ts: int, source_id: int | None) -> pd.DataFrame:
    p, r = schema.participant_sessions, schema.room_sessions
    end = func.coalesce(p.c.left_ts, p.c.last_seen_ts)
    _, _, overlaps = _interval_query(p.c.joined_ts, end, since_ts, until_ts)
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
    # The clipped day is max(join day, window start's day): flooring to days is monotonic.
    join_day = p.c.joined_ts // literal_column(str(DAY_S), BigInteger)
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
    sub = per_room.subquery()
    # Inline integers: PostgreSQL matches GROUP BY to SELECT textually (bind parameters never match).
    first_day = literal_column(str(since_ts - since_ts % DAY_S), BigInteger)
    day_ts = _greatest(sub.c.join_day * literal_column(str(DAY_S), BigInteger), first_day)
    query = (
        select(
            day_ts.label("day_ts"),
            r.c.channel,
            *(func.sum(sub.c[name]).label(name) for name in (
                "publisher_minutes", "listener_minutes", "publisher_minutes_unrounded", "listener_minutes_unrounded"
            )),
        )
        .select_from(sub.join(r, and_(sub.c.source_id == r.c.source_id, sub.c.room_sid == r.c.room_sid)))
        .group_by(day_ts, r.c.channel)
    )  # fmt: skip
    return _read(engine, query)


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
    return _read(engine, query)


def _egress(engine: Bind, since_ts: int, until_ts: int, source_id: int | None) -> tuple[pd.DataFrame, float]:
    e, r = schema.egress_status, schema.room_sessions
    end = func.coalesce(e.c.ended_ts, e.c.updated_ts, e.c.last_seen_ts)
    seconds, day, overlaps = _interval_query(e.c.started_ts, end, since_ts, until_ts)
    channel = func.coalesce(r.c.channel, e.c.room_name, literal("(unknown)"))
    query = (
        select(
            day.label("day_ts"),
            channel.label("channel"),
            func.sum(_ceil_minutes(seconds)).label("egress_minutes"),
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
    frame = _read(engine, query)
    frame["recording_minutes"] = frame["egress_minutes"]
    return frame, _peak_overlap(_read(engine, spans))


def _peak_overlap(spans: pd.DataFrame) -> float:
    """Most intervals open at once (sweep over sorted start/end events, vectorized)."""
    if spans.empty:
        return 0.0
    times = np.concatenate([spans["start"].to_numpy(), spans["end"].to_numpy()])
    deltas = np.concatenate([np.ones(len(spans)), -np.ones(len(spans))])
    order = np.lexsort((deltas, times))  # ends before starts at the same instant
    return float(np.cumsum(deltas[order]).max())


def _ingress(engine: Bind, since_ts: int, until_ts: int, source_id: int | None) -> pd.DataFrame:
    i = schema.ingress_status
    end = func.coalesce(i.c.ended_ts, i.c.last_seen_ts)
    seconds, day, overlaps = _interval_query(i.c.started_ts, end, since_ts, until_ts)
    channel = func.coalesce(i.c.room_name, literal("(unknown)"))
    query = (
        select(
            day.label("day_ts"),
            channel.label("channel"),
            func.sum(_ceil_minutes(seconds)).label("ingress_minutes"),
        )
        .where(overlaps, i.c.started_ts.is_not(None))
        .group_by(day, channel)
    )
    if source_id is not None:
        query = query.where(i.c.source_id == source_id)
    return _read(engine, query)


def _traffic(engine: Bind, since_ts: int, until_ts: int, source_id: int | None) -> pd.DataFrame:
    """Fleet GB per day, from the coarsest rollup that covers the range."""
    use_hour = until_ts - since_ts > MINUTE_ROLLUP_MAX_S
    tables = (
        [(schema.node_samples_1h, 3600), (schema.node_samples_1m, 60)]
        if use_hour
        else [(schema.node_samples_1m, 60), (schema.node_samples_1h, 3600)]
    )
    for table, bucket_s in tables:
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
            .where(table.c.bucket_ts >= since_ts, table.c.bucket_ts < until_ts)
            .group_by(day)
        )
        if source_id is not None:
            query = query.where(table.c.source_id == source_id)
        frame = _read(engine, query)
        if not frame.empty:
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
    return _read(engine, query)


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
    fleet_bucket = (
        select(
            func.sum(live).label("streams"),
            func.sum(table.c.listeners_max).label("listeners"),
            func.sum(table.c.publishers_max).label("publishers"),
        )
        .where(*in_window)
        .group_by(table.c.bucket_ts)
        .subquery()
    )
    fleet = select(
        func.max(fleet_bucket.c.streams),
        func.max(fleet_bucket.c.listeners),
        func.max(fleet_bucket.c.publishers),
    )
    with _connected(engine) as connection:
        row = connection.execute(fleet).one()
    peaks = {
        name: float(value or 0)
        for name, value in zip(("streams", "listeners", "publishers"), row, strict=True)
    }
    return _read(engine, by_channel), peaks


@contextmanager
def _connected(bind: Bind) -> Iterator[Connection]:
    """A connection from an engine, or the caller's own connection as is."""
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.connect() as connection:
            yield connection


def _read(engine: Bind, query: object) -> pd.DataFrame:
    with _connected(engine) as connection:
        result = connection.execute(query)  # type: ignore[call-overload]
        names = list(result.keys())
        rows = result.fetchall()
    # Column-wise construction: far cheaper than letting pandas inspect every Row object.
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return pd.DataFrame({name: list(values) for name, values in zip(names, columns, strict=True)})


def measured_ledger(
    engine: Bind,
    since_ts: int,
    until_ts: int,
    source_id: int | None = None,
    *,
    audio_kbps: float = 128.0,
    video: VideoTier = "none",
    region: Region = "eu",
) -> UsageLedger:
    """Usage per UTC day × channel over [since_ts, until_ts), scaled to a 30-day month."""
    if until_ts <= since_ts:
        raise ValueError("until_ts must be after since_ts")
    keys = ["day_ts", "channel"]
    parts = [
        _sessions(engine, since_ts, until_ts, source_id),
        _rooms(engine, since_ts, until_ts, source_id),
        _ingress(engine, since_ts, until_ts, source_id),
    ]
    egress, peak_egress = _egress(engine, since_ts, until_ts, source_id)
    peaks, fleet = _peaks(engine, since_ts, until_ts, source_id)
    parts += [egress, peaks]
    frame = empty_frame()[keys]
    for part in parts:
        if not part.empty:
            part = part.assign(day_ts=part["day_ts"].astype("int64"), channel=part["channel"].astype(str))
            frame = frame.merge(part, on=keys, how="outer")
    for name in (*FLOW_COLUMNS, *PEAK_COLUMNS):
        frame[name] = (
            pd.to_numeric(frame[name], errors="coerce").fillna(0.0).astype(float) if name in frame else 0.0
        )
    traffic = _traffic(engine, since_ts, until_ts, source_id)
    frame = _share_traffic(frame, traffic)
    frame = frame[list(COLUMNS)].sort_values(keys, ignore_index=True)
    period_days = (until_ts - since_ts) / DAY_S
    return UsageLedger(
        frame=frame,
        period_start_ts=since_ts,
        period_end_ts=until_ts,
        audio_kbps=audio_kbps,
        video=video,
        region=region,
        fleet_peak_streams=fleet["streams"],
        fleet_peak_listeners=fleet["listeners"],
        fleet_peak_publishers=fleet["publishers"],
        fleet_peak_egress=peak_egress,
        month_scale=MONTH_DAYS / period_days,
        origin="measured",
    )


def _share_traffic(frame: pd.DataFrame, traffic: pd.DataFrame) -> pd.DataFrame:
    """Give each channel its day's share of fleet GB, by listener (downstream) and publisher
    (upstream) minutes; a day with traffic but no sessions keeps it on ``(unattributed)``."""
    frame = frame.copy()
    frame["downstream_gb"] = 0.0
    frame["upstream_gb"] = 0.0
    if traffic.empty:
        return frame
    traffic = traffic.assign(day_ts=traffic["day_ts"].astype("int64"))
    for column, weight_column in (
        ("downstream_gb", "listener_minutes"),
        ("upstream_gb", "publisher_minutes"),
    ):
        day_weight = frame.groupby("day_ts")[weight_column].transform("sum")
        share = np.where(day_weight > 0, frame[weight_column] / day_weight.where(day_weight > 0, 1.0), 0.0)
        day_gb = frame["day_ts"].map(traffic.set_index("day_ts")[column]).fillna(0.0)
        frame[column] = day_gb.to_numpy() * share
    attributed = frame.groupby("day_ts")[["downstream_gb", "upstream_gb"]].sum()
    rest = (
        traffic.set_index("day_ts")[["downstream_gb", "upstream_gb"]]
        .astype(float)
        .sub(attributed, fill_value=0.0)
    )
    rest = rest[(rest["downstream_gb"] > 1e-9) | (rest["upstream_gb"] > 1e-9)].reset_index()
    if not rest.empty:
        rest["channel"] = "(unattributed)"
        frame = pd.concat([frame, rest], ignore_index=True).fillna(0.0)
    return frame
