"""Store tests run on both backends: SQLite (a temp file) and a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Table, select

from store.engine import open_store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'castmeter.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Engine]:
    """A migrated read-write engine on an empty database."""
    engine = open_store(db_url)
    yield engine
    engine.dispose()


def fetch(engine: Engine, table: Table) -> list[dict[str, Any]]:
    """Every row of ``table``, ordered by its primary key, as plain dicts."""
    order = list(table.primary_key.columns)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(select(table).order_by(*order))]
