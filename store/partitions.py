"""Day partitions of the raw sample tables on PostgreSQL (declarative partitioning).

``room_samples`` and ``node_samples`` are partitioned by RANGE on ``ts``, one partition per UTC
day named ``<table>_pYYYYMMDD`` (``[day 00:00, next day 00:00)``), plus ``<table>_default``
(PostgreSQL's DEFAULT partition) so that an insert for a day without a partition still lands.
The maintenance job (:func:`ensure_day_partitions`, from the collector's retention path) creates
yesterday's, today's and the next ``DAYS_AHEAD`` days' partitions, and moves any rows that
landed in the default partition into their own day's partition. Retention drops the partitions
of days wholly older than its cutoff (``DROP TABLE``: no dead rows, no vacuum) instead of
deleting their rows. A query with a WHERE on ``ts`` reads only the partitions it needs
(partition pruning), which is what the rollups do.

SQLite has no partitioning: everything here does nothing there. Sessions are not partitioned:
see docs/ARCHITECTURE.md ("Day partitions").
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

DAY_S = 86_400
# Partitions made ahead of time: a collector that is down over a weekend still finds its days.
DAYS_AHEAD = 2
# Partitioned table -> its partition key (a Unix-seconds column).
PARTITIONED: dict[str, str] = {"room_samples": "ts", "node_samples": "ts"}
_DAY_NAME = re.compile(r"^(?P<table>[a-z_]+)_p(?P<day>\d{8})$")


def partition_name(table: str, day_index: int) -> str:
    """``room_samples_p20261201`` for the UTC day ``day_index`` (days since 1970-01-01)."""
    day = dt.datetime.fromtimestamp(day_index * DAY_S, tz=dt.UTC)
    return f"{table}_p{day:%Y%m%d}"


def default_partition(table: str) -> str:
    return f"{table}_default"


def is_partition_name(name: str) -> bool:
    """True for a day or default partition of a partitioned table (not a table of schema.py)."""
    match = _DAY_NAME.match(name)
    if match is not None:
        return match.group("table") in PARTITIONED
    return any(name == default_partition(table) for table in PARTITIONED)


def _day_of(name: str) -> int:
    match = _DAY_NAME.match(name)
    assert match is not None, name
    day = dt.datetime.strptime(match.group("day"), "%Y%m%d").replace(tzinfo=dt.UTC)
    return int(day.timestamp()) // DAY_S


def is_partitioned(connection: Connection, table: str = "room_samples") -> bool:
    if connection.dialect.name != "postgresql":
        return False
    kind = connection.execute(
        text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:name)"), {"name": table}
    ).scalar()
    return kind == "p"


def day_partitions(connection: Connection, table: str) -> dict[int, str]:
    """The day partitions of ``table``: UTC day index -> partition name."""
    names = connection.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:name)"
        ),
        {"name": table},
    ).scalars()
    return {_day_of(name): name for name in names if _DAY_NAME.match(name)}


def create_day_partition(connection: Connection, table: str, day_index: int) -> int:
    """Create ``table``'s partition for one UTC day, moving that day's rows out of the default
    partition first (PostgreSQL refuses a new range that rows in the default partition fall
    in). Returns the rows moved."""
    name, column = partition_name(table, day_index), PARTITIONED[table]
    low, high = day_index * DAY_S, (day_index + 1) * DAY_S
    connection.execute(text(f'CREATE TABLE "{name}" (LIKE "{table}" INCLUDING DEFAULTS)'))
    moved = connection.execute(
        text(
            f'WITH moved AS (DELETE FROM "{default_partition(table)}" '
            f'WHERE "{column}" >= :low AND "{column}" < :high RETURNING *) '
            f'INSERT INTO "{name}" SELECT * FROM moved'
        ),
        {"low": low, "high": high},
    ).rowcount
    connection.execute(
        text(f'ALTER TABLE "{table}" ATTACH PARTITION "{name}" FOR VALUES FROM ({low}) TO ({high})')
    )
    return int(moved or 0)


def ensure_day_partitions(engine: Engine, now_ts: int, days_ahead: int = DAYS_AHEAD) -> list[str]:
    """Create the missing day partitions: yesterday to ``days_ahead`` days after ``now_ts``'s
    day, and every day that has rows waiting in the default partition. Returns the names made.
    Each partition is its own transaction, so a failure leaves the others in place."""
    with engine.connect() as connection:
        if not is_partitioned(connection):
            return []
    today = now_ts // DAY_S
    created: list[str] = []
    for table, column in PARTITIONED.items():
        with engine.connect() as connection:
            existing = set(day_partitions(connection, table))
            waiting = connection.execute(
                text(f'SELECT DISTINCT "{column}" / {DAY_S} FROM "{default_partition(table)}"')
            ).scalars()
            wanted = set(range(today - 1, today + days_ahead + 1)) | {int(day) for day in waiting}
        for day_index in sorted(wanted - existing):
            with engine.begin() as connection:
                moved = create_day_partition(connection, table, day_index)
            created.append(partition_name(table, day_index))
            if moved:
                log.info(
                    "moved %d rows of %s out of the default partition",
                    moved,
                    partition_name(table, day_index),
                )
    return created


def drop_expired_partitions(connection: Connection, table: str, cutoff_ts: int) -> list[str]:
    """Drop ``table``'s day partitions whose whole day is older than ``cutoff_ts``."""
    dropped = []
    for day_index, name in sorted(day_partitions(connection, table).items()):
        if (day_index + 1) * DAY_S <= cutoff_ts:
            connection.execute(text(f'DROP TABLE "{name}"'))
            dropped.append(name)
    return dropped
