"""Room/participant sessions derived from successive polls."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from collectors.livekit_rooms import EgressRow, ParticipantRow, RoomRow, RoomSnapshot
from collectors.sessions import SessionTracker, connection_minutes
from store import schema
from store.engine import open_store


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return open_store(f"sqlite:///{tmp_path / 'c.db'}")


def _snapshot(
    ts: int, rooms: dict[str, list[tuple[str, bool]]], joined: dict[str, int] | None = None
) -> RoomSnapshot:
    joined = joined or {}
    snap = RoomSnapshot(ts=ts)
    for room_sid, members in rooms.items():
        pubs = sum(1 for _, is_pub in members if is_pub)
        snap.rooms.append(RoomRow(room_sid, f"channel-{room_sid}", 1000, len(members), pubs))
        for sid, is_pub in members:
            snap.participants.append(
                ParticipantRow(sid, room_sid, f"id-{sid}", "", "STANDARD", is_pub, joined.get(sid, 1000))
            )
    return snap


def _sessions(engine: Engine) -> dict[str, tuple[int, int | None]]:
    parts = schema.participant_sessions
    with engine.connect() as c:
        return {r.participant_sid: (r.joined_ts, r.left_ts) for r in c.execute(select(parts))}


def test_connection_minutes_round_up_per_connection() -> None:
    assert connection_minutes(0, 0) == 1
    assert connection_minutes(0, 60) == 1
    assert connection_minutes(0, 61) == 2
    assert connection_minutes(100, 100 + 3600) == 60


def test_sessions_open_and_close(engine: Engine) -> None:
    tracker = SessionTracker(engine, source_id=1)
    tracker.apply(_snapshot(1015, {"RM_a": [("PA_dj", True), ("PA_l1", False), ("PA_l2", False)]}))
    tracker.apply(_snapshot(1030, {"RM_a": [("PA_dj", True), ("PA_l2", False)]}))
    counts = tracker.apply(_snapshot(1045, {}))
    assert counts["rooms_ended"] == 1
    sessions = _sessions(engine)
    assert sessions["PA_l1"] == (1000, 1015)  # last seen at the first poll
    assert sessions["PA_l2"] == (1000, 1030)
    with engine.connect() as c:
        room = c.execute(select(schema.room_sessions)).one()
        samples = c.execute(
            select(schema.room_samples.c.ts, schema.room_samples.c.listeners).order_by(
                schema.room_samples.c.ts
            )
        ).all()
    assert room.ended_ts == 1030 and room.max_listeners == 2 and room.max_participants == 3
    assert [(s.ts, s.listeners) for s in samples] == [(1015, 2), (1030, 1)]


def test_reapplying_a_snapshot_writes_no_duplicates(engine: Engine) -> None:
    tracker = SessionTracker(engine, source_id=1)
    snap = _snapshot(1015, {"RM_a": [("PA_dj", True), ("PA_l1", False)]})
    tracker.apply(snap)
    tracker.apply(snap)
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(schema.participant_sessions)).scalar() == 2
        assert c.execute(select(func.count()).select_from(schema.room_samples)).scalar() == 1


def test_tracker_resumes_open_sessions_after_restart(engine: Engine) -> None:
    SessionTracker(engine, 1).apply(_snapshot(1015, {"RM_a": [("PA_dj", True), ("PA_l1", False)]}))
    restarted = SessionTracker(engine, 1)  # a new process
    assert set(restarted.open_participants) == {"PA_dj", "PA_l1"}
    restarted.apply(_snapshot(1030, {"RM_a": [("PA_dj", True)]}))
    assert _sessions(engine)["PA_l1"] == (1000, 1015)


def test_room_whose_participants_failed_keeps_its_sessions_open(engine: Engine) -> None:
    tracker = SessionTracker(engine, 1)
    tracker.apply(_snapshot(1015, {"RM_a": [("PA_dj", True), ("PA_l1", False)]}))
    snap = _snapshot(1030, {"RM_a": []})
    snap.rooms = [RoomRow("RM_a", "channel-RM_a", 1000, 2, 1)]
    snap.rooms_without_participants.add("RM_a")
    tracker.apply(snap)
    assert _sessions(engine)["PA_l1"] == (1000, None)


def test_webhook_end_time_is_not_overwritten(engine: Engine) -> None:
    tracker = SessionTracker(engine, 1)
    tracker.apply(_snapshot(1015, {"RM_a": [("PA_dj", True), ("PA_l1", False)]}))
    parts = schema.participant_sessions
    with engine.begin() as c:  # the webhook receiver learned the exact leave time
        c.execute(
            parts.update().where(parts.c.participant_sid == "PA_l1").values(left_ts=1021, origin="webhook")
        )
    tracker.apply(_snapshot(1030, {"RM_a": [("PA_dj", True)]}))
    assert _sessions(engine)["PA_l1"] == (1000, 1021)


def test_names_are_stored_as_they_are(engine: Engine) -> None:
    name = "channel-\"'; DROP TABLE rooms;--<script>🎵" + "x" * 10_000
    snap = RoomSnapshot(ts=1015, rooms=[RoomRow("RM_x", name, 1000, 0, 0)])
    SessionTracker(engine, 1).apply(snap)
    with engine.connect() as c:
        assert c.execute(select(schema.room_sessions.c.room_name)).scalar() == name


def test_egress_that_stops_being_listed_is_ended(engine: Engine) -> None:
    tracker = SessionTracker(engine, 1)
    snap = _snapshot(1015, {"RM_a": [("PA_dj", True)]})
    snap.egress = [
        EgressRow("EG_1", "RM_a", "channel-RM_a", "room_composite", "EGRESS_ACTIVE", 1001, None, 1010, None)
    ]
    tracker.apply(snap)
    later = _snapshot(1030, {"RM_a": [("PA_dj", True)]})
    later.egress = []
    tracker.apply(later)
    with engine.connect() as c:
        row = c.execute(select(schema.egress_status)).one()
    assert row.ended_ts == 1015 and row.status == "EGRESS_COMPLETE"
