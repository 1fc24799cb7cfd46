"""Migrations create the schema on an empty database, match store/schema.py, and are idempotent."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from store import schema
from store.engine import MIGRATIONS_DIR, migrate, open_store
from store.migrations.filters import migration_includes


def _heads() -> set[str]:
    return set(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())


def _applied(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return {row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))}


def test_migrations_create_every_table_on_an_empty_database(store: Engine) -> None:
    tables = set(inspect(store).get_table_names())
    assert set(schema.metadata.tables) <= tables
    assert _applied(store) == _heads()


def test_migrated_schema_matches_schema_module(store: Engine) -> None:
    """A model change without a migration (or the reverse) shows up here."""
    with store.connect() as connection:
        # Day partitions (PostgreSQL) are made at run time, not declared in schema.py.
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": migration_includes}
        )
        differences = compare_metadata(context, schema.metadata)
    assert differences == []


def test_migrate_is_idempotent(db_url: str) -> None:
    engine = open_store(db_url)
    try:
        before = {name: inspect(engine).get_columns(name) for name in inspect(engine).get_table_names()}
        with engine.begin() as connection:
            connection.execute(schema.collector_counters.insert().values(name="kept", value=7, updated_ts=1))
        migrate(engine)
        migrate(engine)
        after = {name: inspect(engine).get_columns(name) for name in inspect(engine).get_table_names()}
        assert [c["name"] for c in before["room_samples"]] == [c["name"] for c in after["room_samples"]]
        assert set(before) == set(after)
        assert _applied(engine) == _heads()
        with engine.connect() as connection:
            assert connection.execute(text("SELECT value FROM collector_counters")).scalar() == 7
    finally:
        engine.dispose()
    # A second process opening the same store also just works.
    again = open_store(db_url)
    again.dispose()
