"""Day partitions of the raw samples on PostgreSQL (issue 20)

Revision ID: 0008_day_partitions
Revises: 0006_alertmanager
Create Date: 2026-12-01

PostgreSQL: ``room_samples`` and ``node_samples`` become tables partitioned by RANGE on ``ts``,
one partition per UTC day (``<table>_pYYYYMMDD``) plus a DEFAULT partition (``<table>_default``)
for rows of days without one. An existing database is converted in place: the table is renamed,
the partitioned table made under the old name (same columns, primary key and index names), a
partition created for every day the old rows cover, the rows copied, the old table dropped —
all in the migration's one transaction, so a failure leaves the old table as it was. The
primary key (source_id, room_sid|node_id, ts) already holds the partition key, so every upsert
keeps its ON CONFLICT target. store/partitions.py creates the next days' partitions and drops
expired ones. SQLite is unchanged (it has no partitioning).

Both dialects: ``ix_webhook_events_room`` (the room poller's webhook-coverage lookup).

Independent of 0007_leases: it touches neither that table nor anything it adds.
"""

from __future__ import annotations

import datetime as dt

from alembic import op
from sqlalchemy import text

revision = "0008_day_partitions"
down_revision = "0007_leases"
branch_labels = None
depends_on = None

DAY_S = 86_400
# table -> (primary key columns, its time index); frozen here as of this revision.
TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "room_samples": (("source_id", "room_sid", "ts"), "ix_room_samples_ts"),
    "node_samples": (("source_id", "node_id", "ts"), "ix_node_samples_ts"),
}


def _day_name(table: str, day_index: int) -> str:
    return f"{table}_p{dt.datetime.fromtimestamp(day_index * DAY_S, tz=dt.UTC):%Y%m%d}"


def _columns(keys: tuple[str, ...]) -> str:
    return ", ".join(f'"{name}"' for name in keys)


def upgrade() -> None:
    op.create_index("ix_webhook_events_room", "webhook_events", ["source_id", "room_sid"], unique=False)
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for table, (keys, index) in TABLES.items():
        old = f"{table}_unpartitioned"
        bind.execute(text(f'ALTER TABLE "{table}" RENAME TO "{old}"'))
        bind.execute(text(f'ALTER TABLE "{old}" RENAME CONSTRAINT "pk_{table}" TO "pk_{old}"'))
        bind.execute(text(f'ALTER INDEX "{index}" RENAME TO "{index}_unpartitioned"'))
        bind.execute(
            text(f'CREATE TABLE "{table}" (LIKE "{old}" INCLUDING DEFAULTS) PARTITION BY RANGE (ts)')
        )
        bind.execute(
            text(f'ALTER TABLE "{table}" ADD CONSTRAINT "pk_{table}" PRIMARY KEY ({_columns(keys)})')
        )
        bind.execute(text(f'CREATE INDEX "{index}" ON "{table}" (ts)'))
        bind.execute(text(f'CREATE TABLE "{table}_default" PARTITION OF "{table}" DEFAULT'))
        days = bind.execute(text(f'SELECT DISTINCT ts / {DAY_S} FROM "{old}" ORDER BY 1')).scalars().all()
        for day_index in days:
            low = int(day_index) * DAY_S
            bind.execute(
                text(
                    f'CREATE TABLE "{_day_name(table, int(day_index))}" PARTITION OF "{table}" '
                    f"FOR VALUES FROM ({low}) TO ({low + DAY_S})"
                )
            )
        bind.execute(text(f'INSERT INTO "{table}" SELECT * FROM "{old}"'))
        bind.execute(text(f'DROP TABLE "{old}"'))
        bind.execute(text(f'ANALYZE "{table}"'))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table, (keys, index) in TABLES.items():
            old = f"{table}_partitioned"
            bind.execute(text(f'ALTER TABLE "{table}" RENAME TO "{old}"'))
            bind.execute(text(f'ALTER TABLE "{old}" RENAME CONSTRAINT "pk_{table}" TO "pk_{old}"'))
            bind.execute(text(f'ALTER INDEX "{index}" RENAME TO "{index}_partitioned"'))
            bind.execute(text(f'CREATE TABLE "{table}" (LIKE "{old}" INCLUDING DEFAULTS)'))
            bind.execute(
                text(f'ALTER TABLE "{table}" ADD CONSTRAINT "pk_{table}" PRIMARY KEY ({_columns(keys)})')
            )
            bind.execute(text(f'CREATE INDEX "{index}" ON "{table}" (ts)'))
            bind.execute(text(f'INSERT INTO "{table}" SELECT * FROM "{old}"'))
            bind.execute(text(f'DROP TABLE "{old}" CASCADE'))
    op.drop_index("ix_webhook_events_room", table_name="webhook_events")
