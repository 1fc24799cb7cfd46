"""Rollups raw → 1 min → 1 h: weighted averages and maxima, idempotent and incremental."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from store import schema
from store.engine import make_engine
from store.rollups import HOUR_S, MINUTE_S, refresh_rollups
from store.upsert import upsert
from tests.store.conftest import fetch

T0 = 1_700_000_000 - 1_700_000_000 % HOUR_S  # an hour boundary


def _room(ts: int, listeners: int, room_sid: str = "RM_a", source_id: int = 1) -> dict[str, Any]:
    return {"source_id": source_id, "room_sid": room_sid, "ts": ts,
            "participants": listeners + 1, "publishers": 1, "listeners": listeners}  # fmt: skip


def _node(ts: int, cpu_pct: float | None, node_id: str = "ND_a") -> dict[str, Any]:
    row: dict[str, Any] = {"source_id": 1, "node_id": node_id, "ts": ts}
    row.update({name: None for name in schema.NODE_METRICS})
    row["cpu_pct"] = cpu_pct
    row["rooms"] = 2.0
    return row


def _write(engine: Engine, table: Any, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as connection:
        upsert(connection, table, rows)


def _by_bucket(rows: Iterable[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {row["bucket_ts"]: row for row in rows}


# The fixture: minute 0 has three samples (listeners 1, 2, 3), minute 1 has one (10);
# the next hour has one sample (7). A plain mean of the 1 min averages would give 6 for hour 0;
# the sample-weighted mean is (2*3 + 10*1) / 4 = 4.
ROOM_SAMPLES = [
    _room(T0, 1),
    _room(T0 + 10, 2),
    _room(T0 + 20, 3),
    _room(T0 + 60, 10),
    _room(T0 + HOUR_S + 5, 7),
]
NOW = T0 + 2 * HOUR_S


def test_room_rollups_weighted_average_and_max(store: Engine) -> None:
    _write(store, schema.room_samples, ROOM_SAMPLES)
    written = refresh_rollups(store, NOW)
    assert written["room_samples_1m"] == 3

    minutes = _by_bucket(fetch(store, schema.room_samples_1m))
    assert sorted(minutes) == [T0, T0 + 60, T0 + HOUR_S]
    assert (minutes[T0]["samples"], minutes[T0]["listeners_avg"], minutes[T0]["listeners_max"]) == (3, 2.0, 3)
    assert minutes[T0]["participants_avg"] == pytest.approx(3.0)
    assert (minutes[T0 + 60]["samples"], minutes[T0 + 60]["listeners_avg"]) == (1, 10.0)

    hours = _by_bucket(fetch(store, schema.room_samples_1h))
    assert sorted(hours) == [T0, T0 + HOUR_S]
    assert hours[T0]["samples"] == 4
    assert hours[T0]["listeners_avg"] == pytest.approx(4.0)
    assert hours[T0]["listeners_max"] == 10
    assert hours[T0]["participants_avg"] == pytest.approx(5.0)
    assert (hours[T0 + HOUR_S]["listeners_avg"], hours[T0 + HOUR_S]["listeners_max"]) == (7.0, 7)


def test_node_rollups_skip_missing_metrics_in_the_weighting(store: Engine) -> None:
    # Minute 0: cpu 10 and 20; minute 1: three samples without cpu (a metric the node lacked).
    samples = [_node(T0, 10.0), _node(T0 + 30, 20.0), *(_node(T0 + 60 + 10 * i, None) for i in range(3))]
    _write(store, schema.node_samples, samples)
    refresh_rollups(store, NOW)

    minutes = _by_bucket(fetch(store, schema.node_samples_1m))
    assert minutes[T0]["cpu_pct_avg"] == pytest.approx(15.0)
    assert minutes[T0]["cpu_pct_max"] == pytest.approx(20.0)
    assert minutes[T0 + 60]["cpu_pct_avg"] is None
    assert minutes[T0 + 60]["samples"] == 3
    assert minutes[T0]["memory_bytes_avg"] is None

    (hour,) = fetch(store, schema.node_samples_1h)
    assert hour["samples"] == 5
    assert hour["cpu_pct_avg"] == pytest.approx(15.0)  # not (15*2 + 0*3) / 5
    assert hour["cpu_pct_max"] == pytest.approx(20.0)
    assert hour["rooms_avg"] == pytest.approx(2.0)
    assert hour["jitter_p95_ms_avg"] is None


def test_refresh_is_idempotent(store: Engine) -> None:
    _write(store, schema.room_samples, ROOM_SAMPLES)
    refresh_rollups(store, NOW)
    first = (fetch(store, schema.room_samples_1m), fetch(store, schema.room_samples_1h))
    refresh_rollups(store, NOW)
    refresh_rollups(store, NOW, since_ts=T0 - HOUR_S)
    assert (fetch(store, schema.room_samples_1m), fetch(store, schema.room_samples_1h)) == first
    assert {row["name"]: row["done_until_ts"] for row in fetch(store, schema.rollup_state)}[
        "room_samples_1h"
    ] == NOW


def test_refresh_is_incremental_and_takes_late_samples(store: Engine) -> None:
    # First pass at T0+70 sees minute 0 and part of minute 1.
    _write(store, schema.room_samples, ROOM_SAMPLES[:4])
    refresh_rollups(store, T0 + 70)
    assert _by_bucket(fetch(store, schema.room_samples_1h))[T0]["samples"] == 4
    # A late sample for minute 1 (within the late window) and new ones after.
    _write(store, schema.room_samples, [_room(T0 + 65, 2), ROOM_SAMPLES[4], _room(T0 + HOUR_S + 70, 9)])
    refresh_rollups(store, NOW)
    minutes = _by_bucket(fetch(store, schema.room_samples_1m))
    assert (minutes[T0 + 60]["samples"], minutes[T0 + 60]["listeners_avg"]) == (2, 6.0)
    hours = _by_bucket(fetch(store, schema.room_samples_1h))
    assert hours[T0]["samples"] == 5
    assert hours[T0]["listeners_avg"] == pytest.approx((1 + 2 + 3 + 10 + 2) / 5)
    assert (hours[T0 + HOUR_S]["samples"], hours[T0 + HOUR_S]["listeners_max"]) == (2, 9)


def test_empty_store_refresh_writes_nothing(store: Engine) -> None:
    assert refresh_rollups(store, NOW) == {
        "room_samples_1m": 0, "room_samples_1h": 0, "node_samples_1m": 0, "node_samples_1h": 0,
    }  # fmt: skip
    assert fetch(store, schema.room_samples_1m) == []


# ---------------------------------------------------------------------------------------------
# Property: incremental refreshes at arbitrary times equal a reference computed in Python.
# ---------------------------------------------------------------------------------------------


def _reference(
    samples: list[dict[str, Any]],
) -> tuple[dict[tuple[str, int], Any], dict[tuple[str, int], Any]]:
    minute_values: dict[tuple[str, int], list[int]] = defaultdict(list)
    for sample in samples:
        minute_values[(sample["room_sid"], sample["ts"] - sample["ts"] % MINUTE_S)].append(
            sample["listeners"]
        )
    minutes = {key: (len(v), sum(v) / len(v), max(v)) for key, v in minute_values.items()}
    hour_parts: dict[tuple[str, int], list[tuple[int, float, int]]] = defaultdict(list)
    for (room, bucket), value in minutes.items():
        hour_parts[(room, bucket - bucket % HOUR_S)].append(value)
    hours = {
        key: (sum(n for n, _, _ in parts), sum(n * avg for n, avg, _ in parts) / sum(n for n, _, _ in parts),
              max(m for _, _, m in parts))
        for key, parts in hour_parts.items()
    }  # fmt: skip
    return minutes, hours


def _as_reference(rows: list[dict[str, Any]]) -> dict[tuple[str, int], Any]:
    return {
        (r["room_sid"], r["bucket_ts"]): (r["samples"], r["listeners_avg"], r["listeners_max"]) for r in rows
    }


@pytest.fixture
def memory_store() -> Iterator[Engine]:
    engine = make_engine("sqlite://")
    yield engine
    engine.dispose()


samples_strategy = st.lists(
    st.tuples(st.sampled_from(["RM_a", "RM_b"]), st.integers(0, 3 * HOUR_S), st.integers(0, 40)),
    min_size=1,
    max_size=60,
    unique_by=lambda s: (s[0], s[1]),
)


@pytest.mark.slow
@settings(
    max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=samples_strategy, batches=st.integers(1, 5), lag_s=st.integers(0, 59))
def test_incremental_refresh_matches_reference(
    memory_store: Engine, raw: list[tuple[str, int, int]], batches: int, lag_s: int
) -> None:
    engine = memory_store
    schema.metadata.drop_all(engine)
    schema.metadata.create_all(engine)
    samples = sorted(
        (_room(T0 + offset, listeners, room) for room, offset, listeners in raw), key=lambda r: r["ts"]
    )
    size = max(1, len(samples) // batches)
    for start in range(0, len(samples), size):
        batch = samples[start : start + size]
        _write(engine, schema.room_samples, batch)
        # Samples arrive in time order; the collector refreshes a little after the newest one.
        refresh_rollups(engine, batch[-1]["ts"] + lag_s)
    minutes, hours = _reference(samples)
    got_minutes = _as_reference(fetch(engine, schema.room_samples_1m))
    got_hours = _as_reference(fetch(engine, schema.room_samples_1h))
    assert got_minutes.keys() == minutes.keys()
    assert got_hours.keys() == hours.keys()
    for got, expected in ((got_minutes, minutes), (got_hours, hours)):
        for key, (count, average, maximum) in expected.items():
            assert (got[key][0], got[key][2]) == (count, maximum), key
            assert got[key][1] == pytest.approx(average), key
