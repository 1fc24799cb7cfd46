"""Alembic environment: runs on the connection handed over by store.engine.migrate."""

from __future__ import annotations

from alembic import context

from store.migrations.filters import migration_includes
from store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only via `alembic` CLI without our helper
    from sqlalchemy import create_engine

    from core.settings import load_settings

    connection = create_engine(load_settings().database.url).connect()

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    include_name=migration_includes,
)
with context.begin_transaction():
    context.run_migrations()
