"""The daily usage rollup: connection minutes per room and UTC join day, computed in SQL.

``room_usage_daily`` holds, per (source_id, room_sid, day_ts), what store/queries/usage.py
``connection_minutes`` sums for *closed* participant sessions (left_ts set) that joined on that day:
minutes rounded up per connection, unrounded seconds, and the spread of their left_ts, so a
reader can tell whether a window would clip any of them. Only closed UTC days are rolled up
(day_ts + 86400 <= now): today's rows would change every tick.

Two marks in ``rollup_state``:
- ``room_usage_daily``: the horizon, the first day not rolled up (days before it are);
- ``room_usage_daily_seen``: the watermark, the largest ``last_seen_ts`` at the last refresh.
A row covers exactly the closed sessions of its key whose last_seen_ts is at most the
watermark. Sessions change after the fact (a poll closes them, a webhook corrects left_ts), and
those writes move last_seen_ts; a refresh recomputes every key with a session seen after the
watermark (minus LATE_S, for webhook corrections whose event time is older than the last poll).
Readers treat keys with a session seen after the watermark as not rolled up.
Recomputing a key deletes its row and re-inserts it, so a refresh is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Connection,
    Select,
    and_,
    case,
    delete,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from core.units import DAY_S
from store import schema
from store.queries.bind import Bind
from store.upsert import upsert

# Participants that LiveKit does not charge connection minutes for (SIP is billed apart).
NOT_CONNECTION_KINDS = ("EGRESS", "INGRESS", "SIP")
HORIZON_STATE = "room_usage_daily"
WATERMARK_STATE = "room_usage_daily_seen"
# A webhook's leave event stores its own (event) time as last_seen_ts when that is later than the
# last poll; delivered late, it can land below the watermark. Keys seen this far below it are
# recomputed on every refresh too (few rows: only closed days' keys with recent activity).
LATE_S = 3600
# Keys recomputed per statement (three bind parameters each, well under SQLite's limit).
KEYS_PER_STATEMENT = 200
# Larger than any Unix time in seconds: the open end of a range written as two-sided.
NO_TS = 2**62


@dataclass(frozen=True)
class Coverage:
    """How far the rollup is complete: days before ``horizon_ts`` are rolled up, for the
    sessions last seen at or before ``watermark_ts``."""

    horizon_ts: int
    watermark_ts: int


def join_day(joined_ts: ColumnElement[int]) -> ColumnElement[int]:
    """The join day number, textually the expression of ix_participant_sessions_usage (an
    inline literal, never a bind parameter), so lookups by (source, room, day) use that index."""
    return joined_ts // literal_column(str(DAY_S), BigInteger)


def _day_ts(day_number: ColumnElement[int]) -> ColumnElement[int]:
    return day_number * literal_column(str(DAY_S), BigInteger)


@contextmanager
def _transaction(bind: Bind) -> Iterator[Connection]:
    if isinstance(bind, Connection):
        yield bind  # the caller's transaction
    else:
        with bind.begin() as connection:
            yield connection


def coverage(connection: Connection) -> Coverage | None:
    """The rollup's horizon and watermark, or None before its first refresh."""
    state = schema.rollup_state
    marks = dict(
        connection.execute(
            select(state.c.name, state.c.done_until_ts).where(
                state.c.name.in_([HORIZON_STATE, WATERMARK_STATE])
            )
        ).all()
    )
    if HORIZON_STATE not in marks or WATERMARK_STATE not in marks:
        return None
    return Coverage(horizon_ts=int(marks[HORIZON_STATE]), watermark_ts=int(marks[WATERMARK_STATE]))


def _rows(watermark_ts: int) -> Select[tuple[int, str, int, int, int, int, int, int, int, int]]:
    """The rollup rows of closed connection sessions seen by ``watermark_ts`` (filter and
    join it to pick keys). The arithmetic is connection_minutes' for a session no window clips."""
    p = schema.participant_sessions
    day = join_day(p.c.joined_ts)
    seconds = case((p.c.left_ts > p.c.joined_ts, p.c.left_ts - p.c.joined_ts), else_=0)
    # At least one minute per connection, like collectors/sessions.py.
    rounded = (seconds + 59) // 60
    minutes = case((rounded > 1, rounded), else_=1)
    publisher = p.c.is_publisher.is_(True)
    return (
        select(
            p.c.source_id,
            p.c.room_sid,
            _day_ts(day).label("day_ts"),
            func.count().label("sessions"),
            func.sum(case((publisher, minutes), else_=0)).label("publisher_minutes"),
            func.sum(case((publisher, 0), else_=minutes)).label("listener_minutes"),
            func.sum(case((publisher, seconds), else_=0)).label("publisher_seconds"),
            func.sum(case((publisher, 0), else_=seconds)).label("listener_seconds"),
            func.min(p.c.left_ts).label("min_left_ts"),
            func.max(p.c.left_ts).label("max_left_ts"),
        )
        .where(
            p.c.left_ts.is_not(None),
            p.c.last_seen_ts <= watermark_ts,
            p.c.kind.not_in(NOT_CONNECTION_KINDS),
        )
        .group_by(p.c.source_id, p.c.room_sid, day)
    )


def _insert(
    connection: Connection, query: Select[tuple[int, str, int, int, int, int, int, int, int, int]]
) -> None:
    table = schema.room_usage_daily
    dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    names = [column.name for column in table.columns]
    keys = ["source_id", "room_sid", "day_ts"]
    # One INSERT .. SELECT .. ON CONFLICT: the aggregation never leaves the database. (The
    # SELECT has a WHERE clause, which SQLite needs to parse ON CONFLICT after it.)
    statement = dialect_insert(table).from_select(names, query)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=keys, set_={name: statement.excluded[name] for name in names if name not in keys}
        )
    )


def _rebuild_days(connection: Connection, low_ts: int | None, high_ts: int, watermark_ts: int) -> None:
    """Recompute every row of the days in [low_ts, high_ts) (from the first session when None)."""
    if low_ts is not None and low_ts >= high_ts:
        return
    table, p = schema.room_usage_daily, schema.participant_sessions
    window = [table.c.day_ts < high_ts] + ([table.c.day_ts >= low_ts] if low_ts is not None else [])
    connection.execute(delete(table).where(*window))
    # joined_ts + 0: one pass over the covering usage index, in its GROUP BY order, beats
    # looking up a day or more of sessions row by row through the joined_ts index.
    query = _rows(watermark_ts).where(p.c.joined_ts + 0 < high_ts)
    if low_ts is not None:
        query = query.where(p.c.joined_ts + 0 >= low_ts)
    _insert(connection, query)


def _rebuild_touched(connection: Connection, seen_after_ts: int, before_ts: int, watermark_ts: int) -> None:
    """Recompute the rows of keys (before ``before_ts``) with a session seen after ``seen_after_ts``."""
    table, p = schema.room_usage_daily, schema.participant_sessions
    day = join_day(p.c.joined_ts)
    # SQLite plans without statistics: a two-sided last_seen_ts range and ``joined_ts + 0`` keep
    # it on the last_seen_ts index (a few sessions) instead of scanning the covering index.
    touched = connection.execute(
        select(p.c.source_id, p.c.room_sid, day)
        .where(p.c.last_seen_ts > seen_after_ts, p.c.last_seen_ts < NO_TS, p.c.joined_ts + 0 < before_ts)
        .distinct()
    ).all()
    for start in range(0, len(touched), KEYS_PER_STATEMENT):
        keys = touched[start : start + KEYS_PER_STATEMENT]
        # OR of equalities, not a row-value IN: both SQLite (MULTI-INDEX OR) and PostgreSQL
        # (BitmapOr) then read each key as a range of the (source, room, join day) index.
        rows = or_(
            *(
                and_(
                    table.c.source_id == source_id,
                    table.c.room_sid == room_sid,
                    table.c.day_ts == number * DAY_S,
                )
                for source_id, room_sid, number in keys
            )
        )
        sessions = or_(
            *(
                and_(p.c.source_id == source_id, p.c.room_sid == room_sid, day == number)
                for source_id, room_sid, number in keys
            )
        )
        connection.execute(delete(table).where(rows))
        _insert(connection, _rows(watermark_ts).where(sessions))


def refresh_usage_daily(bind: Bind, now_ts: int, since_ts: int | None = None) -> int:
    """Bring the daily usage rollup up to the last closed day before ``now_ts``; ``since_ts``
    forces a recompute of the days from that time on (after a backfill wrote old sessions with
    old last_seen_ts). Returns the number of rows the rollup holds for the recomputed range."""
    table, p, state = schema.room_usage_daily, schema.participant_sessions, schema.rollup_state
    with _transaction(bind) as connection:
        previous = coverage(connection)
        seen = connection.execute(select(func.max(p.c.last_seen_ts))).scalar()
        watermark_ts = int(seen) if seen is not None else 0
        horizon_ts = now_ts - now_ts % DAY_S
        if previous is not None:
            # A clock that went back does not un-roll days.
            horizon_ts = max(horizon_ts, previous.horizon_ts)
        if previous is None:
            low_ts: int | None = None
            _rebuild_days(connection, None, horizon_ts, watermark_ts)
        else:
            low_ts = previous.horizon_ts
            if since_ts is not None:
                low_ts = min(low_ts, since_ts - since_ts % DAY_S)
            _rebuild_touched(connection, previous.watermark_ts - LATE_S, low_ts, watermark_ts)
            _rebuild_days(connection, low_ts, horizon_ts, watermark_ts)
        upsert(
            connection,
            state,
            [
                {"name": HORIZON_STATE, "done_until_ts": horizon_ts},
                {"name": WATERMARK_STATE, "done_until_ts": watermark_ts},
            ],
        )
        counted = select(func.count()).select_from(table)
        if low_ts is not None:
            counted = counted.where(table.c.day_ts >= low_ts)
        return int(connection.execute(counted).scalar_one())
