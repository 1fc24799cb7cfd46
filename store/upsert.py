"""Idempotent bulk writes: INSERT ... ON CONFLICT for SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, func
from sqlalchemy.dialects import postgresql, sqlite

# Rows handed to the driver per call: bounds memory for huge backfills.
_ROWS_PER_CALL = 20_000


def _insert(connection: Connection, table: Table) -> Any:
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _merge_duplicates(
    rows: Sequence[Mapping[str, Any]], key_columns: list[str], update_columns: list[str], keep: set[str]
) -> Sequence[Mapping[str, Any]]:
    """Fold rows that repeat a key into one, as if they had been upserted one after another.
    PostgreSQL refuses a statement that touches the same row twice ("ON CONFLICT DO UPDATE
    command cannot affect row a second time"); SQLite would silently take one of them."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = tuple(row.get(name) for name in key_columns)
        if any(part is None for part in key):  # server-generated key: cannot collide
            merged[(id(row),)] = dict(row)
            continue
        previous = merged.get(key)
        if previous is None:
            merged[key] = dict(row)
            continue
        for name in update_columns:
            if name in row and not (name in keep and previous.get(name) is not None):
                previous[name] = row[name]
    return rows if len(merged) == len(rows) else list(merged.values())


def upsert(
    connection: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    update: Iterable[str] | None = None,
    keep_existing: Iterable[str] = (),
    conflict: Sequence[str] | None = None,
) -> int:
    """Insert ``rows``; on a primary-key conflict update the columns in ``update``
    (default: every non-key column present in the rows). Columns in ``keep_existing`` keep
    their stored value when it is not null (``COALESCE(stored, new)``), e.g. a first-seen time.
    Rows repeating a key within ``rows`` are folded first (later values win, as if written
    one after another). ``conflict`` names the unique columns to match on (default: the
    primary key). Returns the number of distinct rows written."""
    if not rows:
        return 0
    key_columns = list(conflict) if conflict else [c.name for c in table.primary_key.columns]
    present = list(rows[0].keys())
    update_columns = [c for c in (update if update is not None else present) if c not in key_columns]
    keep = set(keep_existing)
    rows = _merge_duplicates(rows, key_columns, update_columns, keep)
    statement = _insert(connection, table)
    if update_columns:
        excluded = statement.excluded
        values: dict[str, Any] = {}
        for name in update_columns:
            if name in keep:
                values[name] = func.coalesce(table.c[name], excluded[name])
            else:
                values[name] = excluded[name]
        statement = statement.on_conflict_do_update(index_elements=key_columns, set_=values)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=key_columns)
    # executemany: SQLAlchemy batches it ("insertmanyvalues") within each driver's parameter
    # limit; an order of magnitude faster than compiling one multi-row VALUES per chunk.
    for start in range(0, len(rows), _ROWS_PER_CALL):
        connection.execute(statement, [dict(row) for row in rows[start : start + _ROWS_PER_CALL]])
    return len(rows)
