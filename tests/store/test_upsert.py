"""upsert(): idempotent on both backends — re-running writes no duplicates and updates values."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from store import schema
from store.upsert import upsert
from tests.store.conftest import fetch


def _room_samples(count: int, *, listeners: int = 5) -> list[dict[str, Any]]:
    return [
        {"source_id": 1, "room_sid": f"RM_{i % 7}", "ts": 1_700_000_000 + i,
         "participants": listeners + 1, "publishers": 1, "listeners": listeners}
        for i in range(count)
    ]  # fmt: skip


def test_rerun_writes_no_duplicates(store: Engine) -> None:
    rows = _room_samples(50)
    with store.begin() as connection:
        assert upsert(connection, schema.room_samples, rows) == 50
    with store.begin() as connection:
        upsert(connection, schema.room_samples, rows)
    assert fetch(store, schema.room_samples) == sorted(
        rows, key=lambda r: (r["source_id"], r["room_sid"], r["ts"])
    )


def test_conflict_updates_values(store: Engine) -> None:
    with store.begin() as connection:
        upsert(connection, schema.room_samples, _room_samples(10, listeners=5))
        upsert(connection, schema.room_samples, _room_samples(10, listeners=9))
    stored = fetch(store, schema.room_samples)
    assert len(stored) == 10
    assert {row["listeners"] for row in stored} == {9}
    assert {row["participants"] for row in stored} == {10}


def test_keep_existing_and_explicit_update_columns(store: Engine) -> None:
    first = {
        "source_id": 1,
        "node_id": "ND_a",
        "node_type": "SERVER",
        "first_seen_ts": 100,
        "last_seen_ts": 100,
    }
    later = {**first, "first_seen_ts": 500, "last_seen_ts": 500, "node_type": "MEDIA"}
    with store.begin() as connection:
        upsert(connection, schema.nodes, [first], keep_existing=["first_seen_ts"])
        upsert(connection, schema.nodes, [later], keep_existing=["first_seen_ts"])
    (row,) = fetch(store, schema.nodes)
    assert (row["first_seen_ts"], row["last_seen_ts"], row["node_type"]) == (100, 500, "MEDIA")

    # update=[]: an existing row is left alone (ON CONFLICT DO NOTHING).
    with store.begin() as connection:
        upsert(connection, schema.nodes, [{**later, "last_seen_ts": 900}], update=[])
    (row,) = fetch(store, schema.nodes)
    assert row["last_seen_ts"] == 500

    # update=[...]: only the listed columns change.
    with store.begin() as connection:
        upsert(
            connection,
            schema.nodes,
            [{**later, "node_type": "X", "last_seen_ts": 901}],
            update=["last_seen_ts"],
        )
    (row,) = fetch(store, schema.nodes)
    assert (row["node_type"], row["last_seen_ts"]) == ("MEDIA", 901)


@pytest.mark.slow
def test_large_batches_are_chunked_below_the_parameter_limit(store: Engine) -> None:
    # 6 columns x 6,000 rows = 36,000 parameters: more than SQLite takes in one statement (32,766).
    rows = _room_samples(6_000)
    with store.begin() as connection:
        assert upsert(connection, schema.room_samples, rows) == 6_000
        upsert(connection, schema.room_samples, rows)
    with store.connect() as connection:
        assert connection.execute(select(func.count()).select_from(schema.room_samples)).scalar() == 6_000


def test_duplicate_keys_in_one_batch_last_one_wins(store: Engine) -> None:
    """A batch can repeat a key (overlapping polls); PostgreSQL would refuse
    "ON CONFLICT DO UPDATE command cannot affect row a second time" without de-duplication."""
    rows = _room_samples(3, listeners=1) + _room_samples(3, listeners=4)
    with store.begin() as connection:
        upsert(connection, schema.room_samples, rows)
    stored = fetch(store, schema.room_samples)
    assert len(stored) == 3
    assert {row["listeners"] for row in stored} == {4}


def test_empty_rows_write_nothing(store: Engine) -> None:
    with store.begin() as connection:
        assert upsert(connection, schema.room_samples, []) == 0
    assert fetch(store, schema.room_samples) == []


def test_duplicate_keys_in_one_batch_respect_keep_existing(store: Engine) -> None:
    first = {
        "source_id": 1,
        "node_id": "ND_a",
        "node_type": "SERVER",
        "first_seen_ts": 100,
        "last_seen_ts": 100,
    }
    later = {**first, "first_seen_ts": 300, "last_seen_ts": 300}
    with store.begin() as connection:
        assert upsert(connection, schema.nodes, [first, later], keep_existing=["first_seen_ts"]) == 1
    (row,) = fetch(store, schema.nodes)
    assert (row["first_seen_ts"], row["last_seen_ts"]) == (100, 300)
