"""Retention deletes exactly the rows older than each tier's limit, and nothing else."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, Table

from core.settings import RetentionSettings
from store import schema
from store.rollups import DAY_S, apply_retention
from store.upsert import upsert
from tests.store.conftest import fetch

NOW = 1_700_000_000
RETENTION = RetentionSettings(raw_days=1, minute_days=2.5, hour_days=30)

TIERS: list[tuple[Table, str, float]] = [
    (schema.room_samples, "ts", RETENTION.raw_days),
    (schema.node_samples, "ts", RETENTION.raw_days),
    (schema.room_samples_1m, "bucket_ts", RETENTION.minute_days),
    (schema.node_samples_1m, "bucket_ts", RETENTION.minute_days),
    (schema.room_samples_1h, "bucket_ts", RETENTION.hour_days),
    (schema.node_samples_1h, "bucket_ts", RETENTION.hour_days),
    (schema.audience_samples, "ts", RETENTION.minute_days),
    (schema.relay_samples, "ts", RETENTION.minute_days),
]


def _row(table: Table, column: str, ts: int) -> dict[str, Any]:
    row: dict[str, Any] = {"source_id": 1, column: ts}
    if table.name == "audience_samples":
        return {**row, "channel": "ch", "path": "hls", "viewers": 4}
    if table.name == "relay_samples":
        return {
            **row,
            "relay_id": "r",
            "channel": "ch",
            "kind": "hls_playlist",
            "sink": "",
            "health": "ok",
            "status": "fresh",
        }
    row["room_sid" if "room_sid" in table.c else "node_id"] = "X"
    for name, value in (("participants", 3), ("publishers", 1), ("listeners", 2), ("samples", 1)):
        if name in table.c:
            row[name] = value
    for name in ("participants", "publishers", "listeners"):
        if f"{name}_avg" in table.c:
            row[f"{name}_avg"], row[f"{name}_max"] = 1.0, 1
    return row


def test_retention_deletes_exactly_what_is_older_than_each_tier(store: Engine) -> None:
    cutoffs = {}
    with store.begin() as connection:
        for table, column, days in TIERS:
            cutoff = NOW - int(days * DAY_S)
            cutoffs[table.name] = cutoff
            stamps = [cutoff - DAY_S, cutoff - 1, cutoff, cutoff + 1, NOW]
            upsert(connection, table, [_row(table, column, ts) for ts in stamps])

    deleted = apply_retention(store, NOW, RETENTION)

    assert deleted == {table.name: 2 for table, _, _ in TIERS}
    for table, column, _ in TIERS:
        cutoff = cutoffs[table.name]
        kept = sorted(row[column] for row in fetch(store, table))
        assert kept == [cutoff, cutoff + 1, NOW], table.name
    # Other tables are untouched by retention; a second run deletes nothing.
    assert apply_retention(store, NOW, RETENTION) == {table.name: 0 for table, _, _ in TIERS}
