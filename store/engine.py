"""Engines for SQLite (WAL, busy timeout) and PostgreSQL, and schema migration on start."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key held while migrating (any constant unique to castmeter).
MIGRATION_LOCK_KEY = 0x63617374  # "cast"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_path(url: str) -> str | None:
    database = make_url(url).database
    return database if database and database != ":memory:" else None


def _refuse_attach(action: int, *_args: object) -> int:
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _confine(connection: sqlite3.Connection) -> None:
    """A read-only page connection stays on the one file it opened: ``mode=ro`` covers that
    file only, and ``ATTACH`` would open (and create) any other file read-write. No attached
    databases at all (the limit), ATTACH/DETACH refused by the authorizer, and writes refused
    even to temporary tables (``query_only``)."""
    connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    connection.set_authorizer(_refuse_attach)
    connection.execute("PRAGMA query_only = ON")
    connection.execute("PRAGMA trusted_schema = OFF")


def make_engine(
    url: str, *, busy_timeout_ms: int = 5000, read_only: bool = False, application_name: str | None = None
) -> Engine:
    """An engine for ``url``. SQLite gets WAL and a busy timeout; ``read_only`` opens it
    with ``mode=ro`` and confines it to that file (no ATTACH) so a page can never write. PostgreSQL read-only sessions use
    ``default_transaction_read_only`` (a read-only role is the stronger guarantee)."""
    kwargs: dict[str, Any] = {"future": True}
    if is_sqlite(url):
        path = _sqlite_path(url)
        if path and not read_only:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        if read_only and path:
            uri = f"file:{Path(path).resolve()}?mode=ro"

            def _connect() -> sqlite3.Connection:
                connection = sqlite3.connect(
                    uri, uri=True, timeout=busy_timeout_ms / 1000, check_same_thread=False
                )
                _confine(connection)
                return connection

            engine = create_engine("sqlite://", creator=_connect, poolclass=NullPool, **kwargs)
        else:
            engine = create_engine(
                url,
                connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
                **kwargs,
            )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            if not read_only:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine

    connect_args: dict[str, Any] = {"connect_timeout": max(1, busy_timeout_ms // 1000)}
    if read_only:
        connect_args["options"] = "-c default_transaction_read_only=on"
    if application_name:  # who this session is, in pg_stat_activity (a collector's holder id)
        connect_args["application_name"] = application_name[:63]
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def migrate(engine: Engine) -> None:
    """Bring the schema to every Alembic head (idempotent, safe on every start)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Several collectors starting together on one database migrate one at a time.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")  # feature branches from 0001 may coexist


def open_store(url: str, *, busy_timeout_ms: int = 5000, application_name: str | None = None) -> Engine:
    """A read-write engine with the schema migrated: what collectors and the CLI use."""
    engine = make_engine(url, busy_timeout_ms=busy_timeout_ms, application_name=application_name)
    migrate(engine)
    return engine
