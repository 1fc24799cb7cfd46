"""Averages divide by the time covered by data (finding 6 of issue 14): a 30-day window over
7 days of history gives the same rates as the 7-day window, and says how much it covers."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import insert

from analytics.costs import estimate_cost_per_hour_usd
from analytics.prices import load_catalogue
from store import schema
from store.engine import open_store
from tests.analytics.stored import stored_ledger

NOW = 1_795_176_000  # 2026-11-20 12:00 UTC
DAY_S = 86_400


@pytest.fixture
def store(tmp_path: Path) -> str:
    """Seven days of one radio channel live 12:00-14:00 UTC daily with 10 listeners for the
    whole broadcast (the store begins seven days before NOW)."""
    url = f"sqlite:///{tmp_path / 'week.db'}"
    engine = open_store(url)
    rooms, participants, samples = [], [], []
    for day in range(7, 0, -1):
        start = NOW - day * DAY_S
        sid = f"RM_{day}"
        rooms.append({"source_id": 1, "room_sid": sid, "room_name": "radio", "channel": "radio", "started_ts": start,
                      "ended_ts": start + 7200, "last_seen_ts": start + 7200})  # fmt: skip
        for index in range(11):
            participants.append(
                {"source_id": 1, "participant_sid": f"PA_{day}_{index}", "room_sid": sid, "identity": f"u{index}",
                 "kind": "STANDARD", "is_publisher": index == 0, "joined_ts": start, "left_ts": start + 7200,
                 "last_seen_ts": start + 7200}
            )  # fmt: skip
        samples += [{"source_id": 1, "room_sid": sid, "ts": ts, "participants": 11, "publishers": 1, "listeners": 10}
                    for ts in range(start, start + 7200, 60)]  # fmt: skip
    with engine.begin() as connection:
        connection.execute(insert(schema.room_sessions), rooms)
        connection.execute(insert(schema.participant_sessions), participants)
        connection.execute(insert(schema.room_samples), samples)
    engine.dispose()
    return url


def test_a_long_window_over_a_short_history_divides_by_the_history(store: str) -> None:
    engine = open_store(store)
    week = stored_ledger(engine, NOW - 7 * DAY_S, NOW)
    month = stored_ledger(engine, NOW - 30 * DAY_S, NOW)
    # 7 broadcasts × 10 listeners × 120 min = 8,400 listener-minutes in 7 days → × 30 / 7 a month.
    assert week.totals()["listener_minutes"] == month.totals()["listener_minutes"] == 8_400
    assert month.covered_days == pytest.approx(7.0) and month.period_days == pytest.approx(30.0)
    assert month.monthly_totals()["listener_minutes"] == pytest.approx(8_400 * 30 / 7)
    assert week.monthly_totals()["listener_minutes"] == pytest.approx(8_400 * 30 / 7)
    assert "data covers 7.0 days of the 30.0 days chosen" in month.coverage_note
    assert week.coverage_note == ""
    catalogue = load_catalogue()
    per_hour_month = estimate_cost_per_hour_usd(
        engine, NOW - 30 * DAY_S, NOW, None, catalogue=catalogue, ledger=month
    )
    per_hour_week = estimate_cost_per_hour_usd(
        engine, NOW - 7 * DAY_S, NOW, None, catalogue=catalogue, ledger=week
    )
    assert per_hour_month is not None and per_hour_month == pytest.approx(per_hour_week, rel=1e-9)
    engine.dispose()


def test_a_partly_covered_hour_is_not_stretched_to_a_whole_one(tmp_path: Path) -> None:
    """Ten minutes of one node sending 16 000 B/s: 10 × 60 × 16 000 = 9.6 MB, whatever the
    window. The hourly rollup's average × 3 600 s made it an hour's worth (57.6 MB) in any
    window longer than two days."""
    from store.rollups import refresh_rollups

    engine = open_store(f"sqlite:///{tmp_path / 'ten.db'}")
    start = NOW - 7200
    with engine.begin() as connection:
        connection.execute(
            insert(schema.node_samples),
            [
                {"source_id": 2, "node_id": "n1", "ts": ts, "bytes_out_per_s": 16_000.0}
                for ts in range(start, start + 600, 15)
            ],
        )
    refresh_rollups(engine, NOW)
    for days in (1, 7, 30):
        ledger = stored_ledger(engine, NOW - days * DAY_S, NOW)
        assert ledger.totals()["downstream_gb"] == pytest.approx(0.0096), days
    engine.dispose()


def test_fleet_peaks_over_long_windows_are_simultaneous(tmp_path: Path) -> None:
    """Two rooms in one hour, 10 listeners each but never at once: the fleet's peak is 10. An
    hourly rollup sums each room's maximum (20); the minutes of that hour say 10."""
    from store.rollups import refresh_rollups

    engine = open_store(f"sqlite:///{tmp_path / 'peaks.db'}")
    hour = NOW - 7200
    rows = []
    for room, (first, last) in {"RM_a": (hour, hour + 1200), "RM_b": (hour + 1800, hour + 3000)}.items():
        rows += [{"source_id": 1, "room_sid": room, "ts": ts, "participants": 11, "publishers": 1, "listeners": 10}
                 for ts in range(first, last, 15)]  # fmt: skip
    with engine.begin() as connection:
        connection.execute(insert(schema.room_samples), rows)
        connection.execute(
            insert(schema.room_sessions),
            [{"source_id": 1, "room_sid": room, "room_name": room, "channel": room, "started_ts": hour,
              "ended_ts": hour + 3000, "last_seen_ts": hour + 3000} for room in ("RM_a", "RM_b")],
        )  # fmt: skip
    refresh_rollups(engine, NOW)
    for days in (1, 7, 30):  # minute buckets up to two days, hourly ones beyond
        ledger = stored_ledger(engine, NOW - days * DAY_S, NOW)
        assert (ledger.fleet_peak_listeners, ledger.fleet_peak_streams) == (10, 1), days
    engine.dispose()
