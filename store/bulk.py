"""Bulk idempotent loads of pandas frames (backfills, benchmarks): the fast path beside upsert().

SQLite: one prepared ``INSERT .. ON CONFLICT DO UPDATE`` run by the driver's ``executemany``
over plain tuples. PostgreSQL: ``COPY`` into a temporary table, then one
``INSERT .. SELECT .. ON CONFLICT DO UPDATE``. Both replace rows with the same key, so a
re-run of a backfill writes the same rows again instead of duplicating them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, Integer, Table, func, select, text

_SQLITE_BATCH = 100_000
_SQLITE_CACHE_KIB = 512 * 1024


def _plain_rows(frame: pd.DataFrame, integer_columns: frozenset[str] = frozenset()) -> list[tuple[Any, ...]]:
    """Tuples of plain Python values (numpy scalars and NaN/NaT become int/float/None).
    Float columns bound for an integer column (a nullable ``*_ts`` holds NaN in pandas) become
    ints: PostgreSQL's COPY refuses "1795260541.0" for a bigint."""
    columns = []
    for name in frame.columns:
        series = frame[name]
        if series.dtype.kind in "iub":
            columns.append(series.to_numpy().tolist())
        elif series.dtype.kind == "f":
            values = series.to_numpy(dtype=float)
            as_list = values.tolist()
            if name in integer_columns:
                as_list = [None if v != v else int(v) for v in as_list]
            elif np.isnan(values).any():
                as_list = [None if v != v else v for v in as_list]
            columns.append(as_list)
        else:
            columns.append(
                [
                    None if (v is None or v is pd.NA or (isinstance(v, float) and v != v)) else v
                    for v in series.astype(object).tolist()
                ]
            )
    return list(zip(*columns, strict=True))


def _integer_columns(table: Table) -> frozenset[str]:
    return frozenset(c.name for c in table.columns if isinstance(c.type, Integer))


def _statement_parts(table: Table, columns: list[str]) -> tuple[str, str, str]:
    keys = [c.name for c in table.primary_key.columns]
    updates = [c for c in columns if c not in keys]
    quoted = ", ".join(f'"{c}"' for c in columns)
    conflict = ", ".join(f'"{k}"' for k in keys)
    action = (
        "DO UPDATE SET " + ", ".join(f'"{c}" = excluded."{c}"' for c in updates) if updates else "DO NOTHING"
    )
    return quoted, conflict, action


def bulk_upsert(engine: Engine, table: Table, frame: pd.DataFrame) -> int:
    """Write ``frame`` (columns = a subset of ``table``'s, including its primary key)."""
    if frame.empty:
        return 0
    columns = [c.name for c in table.columns if c.name in frame.columns]
    frame = frame[columns]
    # Later rows win within one load, as they would when written one after another.
    keys = [c.name for c in table.primary_key.columns]
    frame = frame.drop_duplicates(subset=keys, keep="last")
    quoted, conflict, action = _statement_parts(table, columns)
    if engine.dialect.name == "postgresql":
        return _postgres_copy(engine, table, frame, columns, quoted, conflict, action)
    sql = (
        f'INSERT INTO "{table.name}" ({quoted}) VALUES ({", ".join("?" for _ in columns)}) '
        f"ON CONFLICT ({conflict}) {action}"
    )
    # Key order turns random B-tree inserts into appends; a large page cache keeps the
    # secondary indexes in memory (SQLite's default cache is 2 MB).
    frame = frame.sort_values(keys, kind="stable")
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(f"PRAGMA cache_size=-{_SQLITE_CACHE_KIB}")
        for start in range(0, len(frame), _SQLITE_BATCH):
            cursor.executemany(sql, _plain_rows(frame.iloc[start : start + _SQLITE_BATCH]))
        raw.commit()
    finally:
        raw.close()
    return len(frame)


def _postgres_copy(
    engine: Engine,
    table: Table,
    frame: pd.DataFrame,
    columns: list[str],
    quoted: str,
    conflict: str,
    action: str,
) -> int:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        staging = f"_bulk_{table.name}"
        cursor.execute(
            f'CREATE TEMP TABLE "{staging}" (LIKE "{table.name}" INCLUDING DEFAULTS) ON COMMIT DROP'
        )
        with cursor.copy(f'COPY "{staging}" ({quoted}) FROM STDIN') as copy:
            for row in _plain_rows(frame, _integer_columns(table)):
                copy.write_row(row)
        cursor.execute(
            f'INSERT INTO "{table.name}" ({quoted}) SELECT {quoted} FROM "{staging}" ON CONFLICT ({conflict}) {action}'
        )
        raw.commit()
    finally:
        raw.close()
    return len(frame)


@contextmanager
def deferred_indexes(engine: Engine, table: Table) -> Iterator[None]:
    """Load an EMPTY table without its secondary indexes and build them once at the end
    (much faster than maintaining them row by row). A non-empty table is left alone."""
    with engine.connect() as connection:
        empty = (
            connection.execute(select(func.count()).select_from(select(table).limit(1).subquery())).scalar()
            == 0
        )
    indexes = list(table.indexes) if empty else []
    # Plain DDL: expression indexes cannot be reflected, so checkfirst would misjudge them.
    with engine.begin() as connection:
        for index in indexes:
            connection.execute(text(f'DROP INDEX IF EXISTS "{index.name}"'))
    try:
        yield
    finally:
        for index in indexes:
            index.create(engine)
