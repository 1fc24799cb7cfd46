"""make_engine(read_only=True) lets a page read but never write, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import exc, func, select, text

from store import schema
from store.engine import is_sqlite, make_engine, open_store
from store.upsert import upsert


def _seed(url: str) -> None:
    engine = open_store(url)
    with engine.begin() as connection:
        upsert(connection, schema.collector_counters, [{"name": "polls", "value": 3, "updated_ts": 1}])
    engine.dispose()  # closes the last SQLite connection, so WAL files are checkpointed away


def test_read_only_engine_reads_but_refuses_writes(db_url: str) -> None:
    _seed(db_url)
    engine = make_engine(db_url, read_only=True)
    try:
        with engine.connect() as connection:
            assert connection.execute(select(schema.collector_counters.c.value)).scalar() == 3
        with pytest.raises(exc.DBAPIError, match=r"(?i)read.?only"), engine.begin() as connection:
            connection.execute(schema.collector_counters.update().values(value=99))
        with pytest.raises(exc.DBAPIError, match=r"(?i)read.?only"), engine.begin() as connection:
            connection.execute(text("CREATE TABLE intruder (x integer)"))
    finally:
        engine.dispose()
    writer = make_engine(db_url)
    with writer.connect() as connection:
        assert connection.execute(select(func.max(schema.collector_counters.c.value))).scalar() == 3
    writer.dispose()


def test_read_only_sqlite_works_while_a_writer_is_active(tmp_path: Path) -> None:
    """The dashboard reads while the collector writes (WAL): both at once must work."""
    url = f"sqlite:///{tmp_path / 'live.db'}"
    assert is_sqlite(url)
    writer = open_store(url)
    reader = make_engine(url, read_only=True)
    try:
        with writer.begin() as connection:
            upsert(connection, schema.collector_counters, [{"name": "a", "value": 1, "updated_ts": 1}])
        with reader.connect() as connection:
            assert connection.execute(select(schema.collector_counters.c.value)).scalar() == 1
        with writer.begin() as connection:
            upsert(connection, schema.collector_counters, [{"name": "a", "value": 2, "updated_ts": 2}])
        with reader.connect() as connection:
            assert connection.execute(select(schema.collector_counters.c.value)).scalar() == 2
    finally:
        reader.dispose()
        writer.dispose()


def test_read_only_sqlite_does_not_create_a_missing_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'absent.db'}"
    engine = make_engine(url, read_only=True)
    with pytest.raises(exc.OperationalError), engine.connect():
        pass
    engine.dispose()
    assert not (tmp_path / "absent.db").exists()
