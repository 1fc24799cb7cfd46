"""Clock jumps, samples out of order, and a tick that fails half-way through its writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from collectors import sessions as sessions_module
from collectors.livekit_rooms import ParticipantRow, RoomRow, RoomSnapshot
from collectors.runner import Collector
from collectors.sessions import SessionTracker
from collectors.spool import Spool
from core.settings import Settings
from store import schema
from store.engine import open_store
from store.rollups import refresh_rollups
from store.upsert import upsert
from tests.reliability.helpers import count, fleet, livekit_source, run


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return open_store(f"sqlite:///{tmp_path / 'clock.db'}")


def _snapshot(ts: int, members: list[str], room_created_ts: int = 0) -> RoomSnapshot:
    snap = RoomSnapshot(ts=ts)
    snap.rooms.append(RoomRow("RM_a", "channel-a", room_created_ts, len(members), 1 if members else 0))
    for index, sid in enumerate(members):
        snap.participants.append(ParticipantRow(sid, "RM_a", f"id-{sid}", "", "STANDARD", index == 0, 0))
    return snap


def _rows(engine: Engine, table: Any) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(select(table)))


def test_snapshots_out_of_order_keep_sessions_consistent(engine: Engine) -> None:
    tracker = SessionTracker(engine, source_id=1)
    tracker.apply(_snapshot(2000, ["PA_dj", "PA_l1", "PA_l2"]))
    # The clock was set back an hour; the server's join times are unknown (0 → the tick time).
    tracker.apply(_snapshot(1400, ["PA_dj", "PA_l2", "PA_l3"]))
    tracker.apply(_snapshot(1415, ["PA_dj", "PA_l3"]))
    tracker.apply(_snapshot(1430, []))
    tracker.apply(RoomSnapshot(ts=1445))  # the room is gone
    parts = {row.participant_sid: row for row in _rows(engine, schema.participant_sessions)}
    assert all(row.left_ts is not None and row.left_ts >= row.joined_ts for row in parts.values())
    # Nobody is "last seen" earlier than a sighting already written.
    assert parts["PA_l1"].left_ts == 2000 and parts["PA_l2"].left_ts >= 2000
    [room] = _rows(engine, schema.room_sessions)
    assert room.ended_ts is not None and room.started_ts <= room.ended_ts and room.last_seen_ts == 2000
    # Samples keep the time they were taken (a time series may receive late points).
    assert sorted(row.ts for row in _rows(engine, schema.room_samples)) == [1400, 1415, 1430, 2000]
    # A restarted tracker knows the newest time written.
    assert SessionTracker(engine, source_id=1).high_water_ts == 2000


def test_a_tick_failing_half_way_writes_nothing(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    tracker = SessionTracker(engine, source_id=1)
    tracker.apply(_snapshot(1000, ["PA_dj", "PA_l1"]))
    before = {
        t.name: _rows(engine, t)
        for t in (schema.room_sessions, schema.participant_sessions, schema.room_samples)
    }
    calls = {"n": 0}
    real_upsert = sessions_module.upsert

    def failing_upsert(*args: Any, **kwargs: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 3:  # after room and participant sessions, before the samples
            raise RuntimeError("crash in the middle of a tick")
        return real_upsert(*args, **kwargs)

    monkeypatch.setattr(sessions_module, "upsert", failing_upsert)
    with pytest.raises(RuntimeError):
        tracker.apply(_snapshot(1015, ["PA_dj", "PA_l2"]))
    after = {
        t.name: _rows(engine, t)
        for t in (schema.room_sessions, schema.participant_sessions, schema.room_samples)
    }
    assert after == before
    assert set(tracker.open_participants) == {"PA_dj", "PA_l1"}  # memory follows the store
    monkeypatch.setattr(sessions_module, "upsert", real_upsert)
    tracker.apply(_snapshot(1030, ["PA_dj", "PA_l2"]))
    parts = {
        row.participant_sid: (row.joined_ts, row.left_ts)
        for row in _rows(engine, schema.participant_sessions)
    }
    assert parts["PA_l1"][1] == 1000 and parts["PA_l2"][1] is None


@pytest.mark.slow
def test_the_clock_set_back_does_not_stop_collection(engine: Engine, tmp_path: Path) -> None:
    now = 1_900_000_000

    async def scenario() -> list[str]:
        async with fleet() as server:
            collector = Collector(
                Settings(livekit=[livekit_source(server.api_url)]), engine, spool=Spool(tmp_path / "spool")
            )
            states = []
            for ts in (now, now + 15, now - 3600, now - 3585, now - 3570):  # set back an hour
                states.append((await collector.tick(ts)).polled["sim"])
            return states

    assert run(scenario()) == ["ok", "ok", "ok", "ok", "ok"]
    rooms, parts = schema.room_sessions, schema.participant_sessions
    assert count(engine, rooms, rooms.c.ended_ts < rooms.c.started_ts) == 0
    assert count(engine, parts, parts.c.left_ts < parts.c.joined_ts) == 0
    assert count(engine, rooms, rooms.c.last_seen_ts < now + 15) == 0


def test_rollups_are_idempotent_with_late_samples(engine: Engine) -> None:
    base = 1_900_000_000 - 1_900_000_000 % 3600

    def sample(ts: int, listeners: int) -> dict[str, Any]:
        return {
            "source_id": 1,
            "room_sid": "RM_a",
            "ts": ts,
            "participants": listeners + 1,
            "publishers": 1,
            "listeners": listeners,
        }

    with engine.begin() as connection:
        upsert(connection, schema.room_samples, [sample(base + 15 * i, i) for i in range(40, 240)])
    refresh_rollups(engine, base + 3600)
    with engine.begin() as connection:  # late, older than what the rollups consider done
        upsert(connection, schema.room_samples, [sample(base + 15 * i, i) for i in range(0, 40)])
    refresh_rollups(engine, base + 3600, since_ts=base)
    first = sorted(_rows(engine, schema.room_samples_1m))
    refresh_rollups(engine, base + 3600, since_ts=base)
    refresh_rollups(engine, base + 3600)
    assert sorted(_rows(engine, schema.room_samples_1m)) == first
    assert len(first) == 60 and sum(row.samples for row in first) == 240
    assert [row.listeners_max for row in sorted(first, key=lambda r: r.bucket_ts)][:2] == [3, 7]


@pytest.mark.slow
def test_a_clock_jumping_forward_does_not_let_retention_wipe_the_history(
    engine: Engine, tmp_path: Path
) -> None:
    """A clock a year ahead (a bad NTP answer, a VM restored with a wrong time) must not delete
    the history as "older than 7 days" in one pass: retention waits for 24 h of steady ticks."""
    now = 1_900_000_000
    year_s = 365 * 86_400

    async def scenario() -> list[int]:
        async with fleet() as server:
            collector = Collector(
                Settings(livekit=[livekit_source(server.api_url)]), engine, spool=Spool(tmp_path / "spool")
            )
            kept = []
            await collector.tick(now, force=True)
            await collector.tick(now + 15, force=True)
            kept.append(count(engine, schema.room_samples, schema.room_samples.c.ts <= now + 15))
            await collector.tick(now + year_s, force=True)  # the jump: retention is held
            await collector.tick(now + year_s + 3_600, force=True)
            kept.append(count(engine, schema.room_samples, schema.room_samples.c.ts <= now + 15))
            for hours in range(5, 30, 5):  # a day of steady ticks (5 h apart: no new jump)
                await collector.tick(now + year_s + hours * 3_600, force=True)
            kept.append(count(engine, schema.room_samples, schema.room_samples.c.ts <= now + 15))
            return kept

    before, held, after = run(scenario())
    assert before > 0
    assert held == before  # nothing deleted while the clock was unproven
    assert after == 0  # a clock that stayed ahead for a day is believed: retention resumes


@pytest.mark.slow
def test_the_retention_hold_survives_a_restart(engine: Engine, tmp_path: Path) -> None:
    """The hold a forward jump started lives in the store: a collector restarted during it
    (a crash, a deploy) still keeps the history until the clock has proved steady for a day.
    And a clock that jumped while castmeter was down is caught on the first tick after."""
    now = 1_900_000_000
    year_s = 365 * 86_400

    def collector(server: Any) -> Collector:
        return Collector(
            Settings(livekit=[livekit_source(server.api_url)]), engine, spool=Spool(tmp_path / "spool")
        )

    async def scenario() -> list[int]:
        async with fleet() as server:
            first = collector(server)
            await first.tick(now, force=True)
            await first.tick(now + 15, force=True)
            kept = [count(engine, schema.room_samples, schema.room_samples.c.ts <= now + 15)]
            await first.tick(now + year_s, force=True)  # the jump: retention is held
            restarted = collector(server)  # a restart an hour into the hold
            await restarted.tick(now + year_s + 3_600, force=True)
            kept.append(count(engine, schema.room_samples, schema.room_samples.c.ts <= now + 15))
            for hours in range(5, 30, 5):
                await restarted.tick(now + year_s + hours * 3_600, force=True)
            kept.append(count(engine, schema.room_samples, schema.room_samples.c.ts <= now + 15))
            return kept

    before, held, after = run(scenario())
    assert before > 0 and held == before and after == 0


def test_a_jump_while_castmeter_was_down_holds_retention(engine: Engine, tmp_path: Path) -> None:
    now = 1_900_000_000
    year_s = 365 * 86_400

    async def scenario() -> list[int]:
        async with fleet() as server:
            settings = Settings(livekit=[livekit_source(server.api_url)])
            first = Collector(settings, engine, spool=Spool(tmp_path / "spool"))
            await first.tick(now, force=True)
            kept = [count(engine, schema.room_samples, schema.room_samples.c.ts <= now)]
            # Stopped, and started again with the clock a year ahead.
            second = Collector(settings, engine, spool=Spool(tmp_path / "spool"))
            await second.tick(now + year_s, force=True)
            kept.append(count(engine, schema.room_samples, schema.room_samples.c.ts <= now))
            return kept

    before, held = run(scenario())
    assert before > 0 and held == before
