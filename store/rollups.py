"""Incremental rollups raw → 1 min → 1 h, computed in SQL, and retention.

Each rollup remembers how far it is complete (``rollup_state``). A refresh recomputes from
a little before that point (late samples land in recent buckets) up to now, replacing the
buckets it touches, so it is idempotent: running it twice changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement

from core.settings import RetentionSettings
from core.units import DAY_S, HOUR_S, MINUTE_S
from store import schema
from store.partitions import PARTITIONED, drop_expired_partitions, is_partitioned
from store.upsert import upsert

log = logging.getLogger(__name__)

# Buckets recomputed behind the last complete one, for samples that arrive late.
LATE_BUCKETS = 2


@dataclass(frozen=True)
class Rollup:
    name: str
    source: Table
    target: Table
    key: str  # room_sid | node_id
    bucket_s: int
    from_raw: bool


ROLLUPS: tuple[Rollup, ...] = (
    Rollup("room_samples_1m", schema.room_samples, schema.room_samples_1m, "room_sid", MINUTE_S, True),
    Rollup("room_samples_1h", schema.room_samples_1m, schema.room_samples_1h, "room_sid", HOUR_S, False),
    Rollup("node_samples_1m", schema.node_samples, schema.node_samples_1m, "node_id", MINUTE_S, True),
    Rollup("node_samples_1h", schema.node_samples_1m, schema.node_samples_1h, "node_id", HOUR_S, False),
)

_ROOM_FIELDS = ("participants", "publishers", "listeners")


def _aggregates(rollup: Rollup) -> list[ColumnElement[Any]]:
    src = rollup.source.c
    fields = _ROOM_FIELDS if rollup.key == "room_sid" else schema.NODE_METRICS
    columns: list[ColumnElement[Any]] = []
    if rollup.from_raw:
        columns.append(func.count().label("samples"))
        for name in fields:
            columns.append(func.avg(src[name]).label(f"{name}_avg"))
            columns.append(func.max(src[name]).label(f"{name}_max"))
    else:
        weight = src["samples"]
        columns.append(func.sum(weight).label("samples"))
        for name in fields:
            average = src[f"{name}_avg"]
            # Weighted by samples, over the buckets where the metric was present.
            present_weight = func.sum(case((average.is_not(None), weight), else_=0))
            weighted = func.sum(average * weight) / func.nullif(present_weight, 0)
            columns.append(weighted.label(f"{name}_avg"))
            columns.append(func.max(src[f"{name}_max"]).label(f"{name}_max"))
    return columns


def _dialect_insert(connection: Connection, table: Table) -> Any:
    return (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(table)


def _time_column(rollup: Rollup) -> ColumnElement[int]:
    return rollup.source.c["ts"] if rollup.from_raw else rollup.source.c["bucket_ts"]


def done_until(connection: Connection, name: str) -> int | None:
    """How far the rollup ``name`` is complete (exclusive, Unix s); None before its first refresh."""
    state = schema.rollup_state
    done = connection.execute(select(state.c.done_until_ts).where(state.c.name == name)).scalar()
    return None if done is None else int(done)


RETENTION_HOLD = "retention_hold_until"  # rollup_state row: retention waits until this time


def retention_hold_until(connection: Connection) -> int | None:
    """Until when retention is held after a forward clock jump (None: not held)."""
    return done_until(connection, RETENTION_HOLD)


def set_retention_hold(engine: Engine, until_ts: int | None) -> None:
    """Hold retention until ``until_ts`` (None: release it); kept in the store, so a restart
    does not forget a hold a jumping clock started."""
    state = schema.rollup_state
    with engine.begin() as connection:
        if until_ts is None:
            connection.execute(delete(state).where(state.c.name == RETENTION_HOLD))
        else:
            upsert(connection, state, [{"name": RETENTION_HOLD, "done_until_ts": int(until_ts)}])


def _refresh_one(connection: Connection, rollup: Rollup, now_ts: int, since_ts: int | None) -> int:
    state = schema.rollup_state
    done = done_until(connection, rollup.name)
    # ts - ts % n is integer arithmetic on both SQLite and PostgreSQL.
    time_col = _time_column(rollup)
    if since_ts is not None:
        low = since_ts - since_ts % rollup.bucket_s
        if done is not None:
            low = min(low, done - LATE_BUCKETS * rollup.bucket_s)
    elif done is not None:
        low = done - LATE_BUCKETS * rollup.bucket_s
    else:
        first = connection.execute(select(func.min(time_col))).scalar()
        if first is None:
            return 0
        low = int(first) - int(first) % rollup.bucket_s
    high = now_ts + 1
    src = rollup.source.c
    bucket_expr = time_col - time_col % rollup.bucket_s
    query = (
        select(src["source_id"], src[rollup.key], bucket_expr.label("bucket_ts"), *_aggregates(rollup))
        .where(time_col >= low, time_col < high)
        # Group by the expression, not the label: the 1 h source has its own bucket_ts column.
        .group_by(src["source_id"], src[rollup.key], bucket_expr)
    )
    # One INSERT .. SELECT .. ON CONFLICT: the aggregation never leaves the database.
    # (SQLite needs the SELECT's WHERE clause to parse ON CONFLICT after a SELECT; it has one.)
    names = ["source_id", rollup.key, "bucket_ts", *(c.name for c in _aggregates(rollup))]
    insert = _dialect_insert(connection, rollup.target).from_select(names, query)
    keys = ["source_id", rollup.key, "bucket_ts"]
    statement = insert.on_conflict_do_update(
        index_elements=keys, set_={name: insert.excluded[name] for name in names if name not in keys}
    )
    connection.execute(statement)
    # psycopg reports no rowcount for INSERT .. SELECT here; count the buckets in range instead.
    target = rollup.target.c
    written = int(
        connection.execute(
            select(func.count())
            .select_from(rollup.target)
            .where(target.bucket_ts >= low - low % rollup.bucket_s, target.bucket_ts < high)
        ).scalar_one()
    )
    complete_until = now_ts - now_ts % rollup.bucket_s
    upsert(connection, state, [{"name": rollup.name, "done_until_ts": max(complete_until, low)}])
    return written


def refresh_rollups(engine: Engine, now_ts: int, since_ts: int | None = None) -> dict[str, int]:
    """Bring every rollup up to ``now_ts``; ``since_ts`` forces a recompute from that time
    (used after a backfill). Returns the number of buckets written per rollup."""
    written: dict[str, int] = {}
    for rollup in ROLLUPS:
        with engine.begin() as connection:
            written[rollup.name] = _refresh_one(connection, rollup, now_ts, since_ts)
    return written


def apply_retention(engine: Engine, now_ts: int, retention: RetentionSettings) -> dict[str, int]:
    """Delete samples older than each tier's retention. Returns rows deleted per table (by
    DELETE; on PostgreSQL the raw tiers' whole expired days are dropped as partitions first,
    logged, not counted: counting them would read what dropping avoids reading)."""
    plan: list[tuple[Table, str, float]] = [
        (schema.room_samples, "ts", retention.raw_days),
        (schema.node_samples, "ts", retention.raw_days),
        (schema.room_samples_1m, "bucket_ts", retention.minute_days),
        (schema.node_samples_1m, "bucket_ts", retention.minute_days),
        (schema.room_samples_1h, "bucket_ts", retention.hour_days),
        (schema.node_samples_1h, "bucket_ts", retention.hour_days),
        # Per-poll audience and relay samples are few (one per channel and path, or relay, per
        # poll) and the Costs page prices their last 30 days: kept as long as the minute tier.
        (schema.audience_samples, "ts", retention.minute_days),
        (schema.relay_samples, "ts", retention.minute_days),
    ]
    deleted: dict[str, int] = {}
    with engine.begin() as connection:
        partitioned = is_partitioned(connection)
        for table, column, days in plan:
            cutoff = now_ts - int(days * DAY_S)
            if partitioned and table.name in PARTITIONED:
                # Whole days go by DROP TABLE; the DELETE below then touches only the day the
                # cutoff falls in (and the default partition): partition pruning.
                dropped = drop_expired_partitions(connection, table.name, cutoff)
                if dropped:
                    log.info("retention dropped partitions %s", ", ".join(dropped))
            result = connection.execute(delete(table).where(table.c[column] < cutoff))
            deleted[table.name] = int(result.rowcount or 0)
    return deleted
