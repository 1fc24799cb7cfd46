"""What the store has observed, and since when: the reads that tell "no data" from "nothing
happened" (coverage of a window, known nodes, whether node metrics exist at all)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, Table, func, literal, select

from store import schema

# (table, time column) of every tier that records an observation of the fleet, finest first.
_ROOM_TIERS: tuple[tuple[Table, str], ...] = (
    (schema.room_samples, "ts"),
    (schema.room_samples_1m, "bucket_ts"),
    (schema.room_samples_1h, "bucket_ts"),
)
_NODE_TIERS: tuple[tuple[Table, str], ...] = (
    (schema.node_samples, "ts"),
    (schema.node_samples_1m, "bucket_ts"),
    (schema.node_samples_1h, "bucket_ts"),
)


def _min_time(connection: Connection, table: Table, column: str, source_id: int | None) -> int | None:
    time_column: ColumnElement[int] = table.c[column]
    query = select(func.min(time_column))
    if source_id is not None:
        query = query.where(table.c.source_id == source_id)
    value = connection.execute(query).scalar()
    return None if value is None else int(value)


def first_observed_ts(connection: Connection, source_id: int | None = None) -> int | None:
    """The earliest moment the store holds any observation of the fleet (a room or node
    sample in any tier, or a room session's start), or None for an empty store."""
    found = [
        _min_time(connection, table, column, source_id) for table, column in (*_ROOM_TIERS, *_NODE_TIERS)
    ]
    found.append(_min_time(connection, schema.room_sessions, "started_ts", source_id))
    values = [value for value in found if value is not None]
    return min(values) if values else None


def has_node_data(connection: Connection) -> bool:
    """True when any node sample exists in any tier (a Prometheus source has reported)."""
    for table, _column in _NODE_TIERS:
        if connection.execute(select(literal(1)).select_from(table).limit(1)).first() is not None:
            return True
    return False


def newest_node_samples(connection: Connection, since_ts: int, before_ts: int) -> list[tuple[int, str]]:
    """Per node, its newest raw sample time in ``[since_ts, before_ts)``: ``(ts, node_id)``."""
    n = schema.node_samples.c
    query = select(func.max(n.ts), n.node_id).where(n.ts >= since_ts, n.ts < before_ts).group_by(n.node_id)
    return [(int(ts), str(node_id)) for ts, node_id in connection.execute(query)]
