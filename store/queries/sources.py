"""Sources and their health, and what the store has observed and since when: the reads that
tell "no data" from "nothing happened" (coverage of a window, whether node metrics exist)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import ColumnElement, Table, func, inspect, literal, select

from store import schema
from store.queries.bind import Bind, connected, read_frame, scalar

# (table, time column) of every tier that records an observation of the fleet, finest first.
ROOM_TIERS: tuple[tuple[Table, str], ...] = (
    (schema.room_samples, "ts"),
    (schema.room_samples_1m, "bucket_ts"),
    (schema.room_samples_1h, "bucket_ts"),
)
NODE_TIERS: tuple[tuple[Table, str], ...] = (
    (schema.node_samples, "ts"),
    (schema.node_samples_1m, "bucket_ts"),
    (schema.node_samples_1h, "bucket_ts"),
)


def has_schema(bind: Bind) -> bool:
    """Whether the store has castmeter's schema (a fresh install has none)."""
    with connected(bind) as connection:
        return inspect(connection).has_table("room_sessions")


def list_sources(bind: Bind) -> pd.DataFrame:
    """Every source with its health: id, name, kind, status, last_error, last_success_ts,
    failing_since_ts (status is null when the collector never recorded an attempt)."""
    s, h = schema.sources.c, schema.source_health.c
    query = (
        select(s.id, s.name, s.kind, h.status, h.last_error, h.last_success_ts, h.failing_since_ts)
        .select_from(schema.sources.outerjoin(schema.source_health, h.source_id == s.id))
        .order_by(s.name)
    )
    return read_frame(bind, query)


def newest_sample_ts(bind: Bind, source_id: int | None = None, until_ts: int | None = None) -> int | None:
    """The newest raw room or node sample (Unix s) — where the collectors last wrote — or None
    when there is none."""
    newest: list[int] = []
    with connected(bind) as connection:
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


def _exists(bind: Bind, table: Table) -> bool:
    return scalar(bind, select(literal(1)).select_from(table).limit(1)) is not None


def has_any_data(bind: Bind) -> bool:
    """True when the store holds at least one room session, node or sample (an audience or
    relay sample counts: a fleet seen only through its HLS or Agora pollers has data too)."""
    with connected(bind) as connection:
        tables = (schema.room_sessions, schema.nodes, schema.room_samples, schema.node_samples,
                  schema.audience_samples, schema.relay_samples)  # fmt: skip
        return any(_exists(connection, table) for table in tables)


def has_node_data(bind: Bind) -> bool:
    """True when any node sample exists in any tier (a Prometheus source has reported)."""
    with connected(bind) as connection:
        return any(_exists(connection, table) for table, _column in NODE_TIERS)


def _min_time(bind: Bind, table: Table, column: str, source_id: int | None) -> int | None:
    time_column: ColumnElement[int] = table.c[column]
    query = select(func.min(time_column))
    if source_id is not None:
        query = query.where(table.c.source_id == source_id)
    value = scalar(bind, query)
    return None if value is None else int(value)


def first_observed_ts(bind: Bind, source_id: int | None = None) -> int | None:
    """The earliest moment the store holds any observation of the fleet (a room or node
    sample in any tier, or a room session's start), or None for an empty store."""
    with connected(bind) as connection:
        found = [
            _min_time(connection, table, column, source_id)
            for table, column in (*ROOM_TIERS, *NODE_TIERS, (schema.room_sessions, "started_ts"))
        ]
    values = [value for value in found if value is not None]
    return min(values) if values else None
