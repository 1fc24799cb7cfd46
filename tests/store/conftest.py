"""Store tests run on both backends: SQLite (a temp file) and a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Table, select

from harness.realparts import PostgresServer
from store.engine import make_engine, open_store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty database URL on each backend."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'castmeter.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(scope="session")
def pg_migrated_template(postgres_server: PostgresServer) -> Iterator[str]:
    """A migrated PostgreSQL database that tests copy (CREATE DATABASE .. TEMPLATE) instead of
    running the migrations again each time; test_migrations.py covers the migrations."""
    url = postgres_server.create_database()
    engine = open_store(url)
    engine.dispose()  # a template must have no open connections
    yield url
    postgres_server.drop_database(url)


@pytest.fixture
def store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A migrated read-write engine on an empty database."""
    if backend == "sqlite":
        engine = open_store(f"sqlite:///{tmp_path / 'castmeter.db'}")
        yield engine
        engine.dispose()
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create_database(template=request.getfixturevalue("pg_migrated_template"))
    engine = make_engine(url)
    yield engine
    engine.dispose()
    server.drop_database(url)


def fetch(engine: Engine, table: Table) -> list[dict[str, Any]]:
    """Every row of ``table``, ordered by its primary key, as plain dicts."""
    order = list(table.primary_key.columns)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(select(table).order_by(*order))]
