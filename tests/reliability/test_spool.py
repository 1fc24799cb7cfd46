"""The bounded on-disk spool on its own: order, bounds, overflow accounting, restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.livekit_rooms import EgressRow, ParticipantRow, RoomRow, RoomSnapshot
from collectors.pollers.base import decode_snapshot, encode_snapshot
from collectors.prometheus_poller import NodeSnapshot
from collectors.spool import Spool, default_spool_dir


def test_batches_come_back_in_order_per_key_and_survive_a_reopen(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for ts in (30, 10, 20):  # push order, not ts order, is replay order
        assert spool.push("rooms:1", "rooms", ts, 2, {"ts": ts})
    spool.push("nodes:2", "nodes", 15, 1, {"ts": 15})
    spool.close()
    reopened = Spool(tmp_path)
    assert [b.payload["ts"] for b in reopened.batches("rooms:1")] == [30, 10, 20]
    assert reopened.pending() == 4 and reopened.pending("nodes:2") == 1
    first = next(iter(reopened.batches("rooms:1")))
    reopened.remove(first.id, "rooms")
    assert [b.ts for b in reopened.batches("rooms:1")] == [10, 20]
    assert reopened.unreported() == {
        "spool.rooms.spooled_batches": 3,
        "spool.nodes.spooled_batches": 1,
        "spool.rooms.replayed_batches": 1,
    }


def test_no_file_until_needed(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    assert spool.pending() == 0 and spool.unreported() == {} and spool.stats().batches == 0
    assert not (tmp_path / "spool").exists()


def test_overflow_is_refused_counted_and_remembered(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path, max_batches=2)
    results = [spool.push("rooms:7", "rooms", ts, 100, {"ts": ts}) for ts in (1, 2, 3, 4)]
    assert results == [True, True, False, False]
    assert [b.ts for b in spool.batches("rooms:7")] == [1, 2]  # the oldest are kept: replay stays contiguous
    counts = spool.unreported()
    assert counts["spool.rooms.overflow_batches"] == 2 and counts["spool.rooms.overflow_rows"] == 200
    [overflow] = spool.overflows()
    assert (overflow.key, overflow.first_ts, overflow.last_ts, overflow.batches) == ("rooms:7", 3, 4, 2)
    assert "spool full" in caplog.text and "NOT kept" in caplog.text
    spool.mark_reported(counts)
    assert spool.unreported() == {}
    spool.clear_overflow(overflow)
    assert spool.overflows() == []


def test_byte_bound(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1000)
    assert spool.push("k", "nodes", 1, 1, {"blob": "x" * 600})
    assert not spool.push("k", "nodes", 2, 1, {"blob": "x" * 600})
    assert spool.stats().bytes <= 1000


def test_invalid_bounds_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        Spool(tmp_path, max_bytes=0)


def test_default_dir_sits_beside_a_sqlite_database(tmp_path: Path) -> None:
    assert default_spool_dir(f"sqlite:///{tmp_path}/castmeter.db") == tmp_path.resolve() / "spool"
    assert default_spool_dir("postgresql+psycopg://u@h/db") == Path("data/spool")


def test_snapshots_round_trip_through_json() -> None:
    room = RoomSnapshot(
        ts=100,
        rooms=[RoomRow("RM_1", "a 'quoted' <name> 🎧", 90, 2, 1)],
        participants=[ParticipantRow("PA_1", "RM_1", "id", "n", "STANDARD", True, 95)],
        egress=[EgressRow("EG_1", "RM_1", "a", "room_composite", "EGRESS_ACTIVE", 91, None, 99, None)],
        ingress=None,
        rooms_without_participants={"RM_2"},
        warnings=["w"],
    )
    assert decode_snapshot(RoomSnapshot, encode_snapshot(room)) == room
    nodes = NodeSnapshot(ts=5, values={"n1": {"cpu_pct": 1.5, "rooms": None}}, node_types={"n1": "SERVER"})
    assert decode_snapshot(NodeSnapshot, encode_snapshot(nodes)) == nodes
