"""A small, deterministic store for page and monitoring tests: two hours of a 10-channel
fleet (some with hostile names), three nodes (one down), one failing source."""

from __future__ import annotations

import math
from typing import Any

from store import schema
from store.engine import open_store
from store.rollups import refresh_rollups
from store.upsert import upsert

SAMPLE_EVERY_S = 15
LIVE_SPAN_S = 2 * 3600
LONG_NAME = "very-long-" + "x" * 9990  # 10,000 characters
HOSTILE_NAMES = (
    'quote "O\'Reilly" <b>bold</b> 🎧',
    "<script>alert('x')</script>",
    LONG_NAME,
)
CHANNELS = tuple(f"radio-{index}" for index in range(1, 8)) + HOSTILE_NAMES
MAIN_SOURCE_ID = 1
PROM_SOURCE_ID = 2
FAILING_SOURCE_ID = 3
NODE_IDS = ("node-a", "node-b", "node-c")  # node-c stopped reporting an hour ago


def listeners_at(channel_index: int, ts: int) -> int:
    """Deterministic listener count of channel ``channel_index`` at ``ts``."""
    base = (len(CHANNELS) - channel_index) * 10
    return int(base + 5 * math.sin(ts / 600 + channel_index))


def room_sid(channel_index: int, live: bool = True) -> str:
    return f"RM_{'live' if live else 'old'}_{channel_index:02d}"


def build_fixture(url: str, now_ts: int) -> dict[str, Any]:
    """Fill a fresh store at ``url``; returns facts the tests check against."""
    engine = open_store(url)
    start_ts = now_ts - LIVE_SPAN_S
    sample_times = list(range(start_ts - start_ts % SAMPLE_EVERY_S, now_ts + 1, SAMPLE_EVERY_S))
    last_tick_ts = sample_times[-1]
    sessions: list[dict[str, Any]] = []
    room_rows: list[dict[str, Any]] = []
    participants: list[dict[str, Any]] = []
    for index, channel in enumerate(CHANNELS):
        live_sid = room_sid(index)
        sessions.append(
            {
                "source_id": MAIN_SOURCE_ID,
                "room_sid": live_sid,
                "room_name": channel,
                "channel": channel,
                "started_ts": start_ts,
                "ended_ts": None,
                "last_seen_ts": last_tick_ts,
                "max_participants": listeners_at(index, 0) + 6,
                "max_listeners": listeners_at(index, 0) + 5,
            }
        )
        for ts in sample_times:
            listeners = listeners_at(index, ts)
            room_rows.append(
                {
                    "source_id": MAIN_SOURCE_ID,
                    "room_sid": live_sid,
                    "ts": ts,
                    "participants": listeners + 1,
                    "publishers": 1,
                    "listeners": listeners,
                }
            )
        # Yesterday's session of the same channel, ended after an hour.
        old_start = now_ts - 86_400
        sessions.append(
            {
                "source_id": MAIN_SOURCE_ID,
                "room_sid": room_sid(index, live=False),
                "room_name": channel,
                "channel": channel,
                "started_ts": old_start,
                "ended_ts": old_start + 3600,
                "last_seen_ts": old_start + 3600,
                "max_participants": 3,
                "max_listeners": 2,
            }
        )
        for ts in range(old_start, old_start + 3600, 60):
            room_rows.append(
                {
                    "source_id": MAIN_SOURCE_ID,
                    "room_sid": room_sid(index, live=False),
                    "ts": ts,
                    "participants": 3,
                    "publishers": 1,
                    "listeners": 2,
                }
            )
        participants.append(
            {
                "source_id": MAIN_SOURCE_ID,
                "participant_sid": f"PA_{live_sid}_host",
                "room_sid": live_sid,
                "identity": f"host-{index}",
                "name": f"Host {index}",
                "kind": "STANDARD",
                "is_publisher": True,
                "joined_ts": start_ts,
                "left_ts": None,
                "last_seen_ts": last_tick_ts,
                "origin": "webhook",
            }
        )
        # Three listeners: 61 s (2 min), 120 s (2 min), 1 s (1 min).
        for number, (offset_s, duration_s) in enumerate(((60, 61), (300, 120), (900, 1))):
            participants.append(
                {
                    "source_id": MAIN_SOURCE_ID,
                    "participant_sid": f"PA_{live_sid}_l{number}",
                    "room_sid": live_sid,
                    "identity": f"listener-{number}",
                    "name": "",
                    "kind": "STANDARD",
                    "is_publisher": False,
                    "joined_ts": start_ts + offset_s,
                    "left_ts": start_ts + offset_s + duration_s,
                    "last_seen_ts": start_ts + offset_s + duration_s,
                    "origin": "poll",
                }
            )

    node_rows: list[dict[str, Any]] = []
    for node_index, node_id in enumerate(NODE_IDS):
        node_end = now_ts - 3600 if node_id == "node-c" else now_ts
        for ts in sample_times:
            if ts > node_end:
                break
            wave = math.sin(ts / 900 + node_index)
            row: dict[str, Any] = {name: None for name in schema.NODE_METRICS}
            row.update(
                source_id=PROM_SOURCE_ID,
                node_id=node_id,
                ts=ts,
                cpu_pct=40 + 15 * node_index + 5 * wave,
                memory_bytes=4e9,
                memory_pct=35.0,
                bytes_in_per_s=2e5,
                bytes_out_per_s=5e6 + 1e6 * node_index,
                packets_in_per_s=400.0,
                packets_out_per_s=9000.0,
                packet_loss_pct=0.2,
                jitter_p95_ms=12.0,
                rtt_p95_ms=45.0,
                rooms=3.0,
                participants=100.0 + 20 * node_index,
                join_success_ratio=0.995,
                api_requests_per_s=10.0,
                api_errors_per_s=0.1,
                quality_score=4.5,
            )
            node_rows.append(row)

    with engine.begin() as connection:
        upsert(
            connection,
            schema.sources,
            [
                {"id": MAIN_SOURCE_ID, "name": "main", "kind": "livekit", "url": "http://127.0.0.1:7880", "created_ts": start_ts},
                {"id": PROM_SOURCE_ID, "name": "prom", "kind": "prometheus", "url": "http://127.0.0.1:9090", "created_ts": start_ts},
                {"id": FAILING_SOURCE_ID, "name": "backup", "kind": "livekit", "url": "http://127.0.0.1:7881", "created_ts": start_ts},
            ],
        )  # fmt: skip
        upsert(
            connection,
            schema.source_health,
            [
                {"source_id": MAIN_SOURCE_ID, "status": "ok", "last_attempt_ts": now_ts, "last_success_ts": now_ts,
                 "consecutive_failures": 0, "last_error": None, "next_attempt_ts": now_ts + 15, "failing_since_ts": None},
                {"source_id": PROM_SOURCE_ID, "status": "ok", "last_attempt_ts": now_ts, "last_success_ts": now_ts,
                 "consecutive_failures": 0, "last_error": None, "next_attempt_ts": now_ts + 15, "failing_since_ts": None},
                {"source_id": FAILING_SOURCE_ID, "status": "failing", "last_attempt_ts": now_ts,
                 "last_success_ts": now_ts - 7200, "consecutive_failures": 9,
                 "last_error": "connection refused <127.0.0.1:7881>", "next_attempt_ts": now_ts + 300,
                 "failing_since_ts": now_ts - 7000},
            ],
        )  # fmt: skip
        upsert(connection, schema.room_sessions, sessions)
        upsert(connection, schema.room_samples, room_rows)
        upsert(connection, schema.participant_sessions, participants)
        upsert(
            connection,
            schema.nodes,
            [
                {"source_id": PROM_SOURCE_ID, "node_id": node_id, "node_type": "SERVER",
                 "first_seen_ts": start_ts, "last_seen_ts": now_ts - 3600 if node_id == "node-c" else last_tick_ts}
                for node_id in NODE_IDS
            ],
        )  # fmt: skip
        upsert(connection, schema.node_samples, node_rows)
        upsert(
            connection,
            schema.egress_status,
            [
                {"source_id": MAIN_SOURCE_ID, "egress_id": "EG_1", "room_sid": room_sid(0), "room_name": CHANNELS[0],
                 "kind": "room_composite", "status": "EGRESS_ACTIVE", "started_ts": start_ts, "ended_ts": None,
                 "updated_ts": now_ts, "last_seen_ts": now_ts, "error": None},
            ],
        )  # fmt: skip
        upsert(
            connection,
            schema.ingress_status,
            [
                {"source_id": MAIN_SOURCE_ID, "ingress_id": "IN_1", "name": "studio encoder", "room_name": CHANNELS[0],
                 "input_type": "RTMP_INPUT", "status": "ENDPOINT_PUBLISHING", "started_ts": start_ts,
                 "ended_ts": None, "last_seen_ts": now_ts, "error": None},
            ],
        )  # fmt: skip
    refresh_rollups(engine, now_ts, since_ts=now_ts - 3 * 86_400)
    engine.dispose()
    current = [listeners_at(index, last_tick_ts) for index in range(len(CHANNELS))]
    # The fleet's simultaneous peak at minute resolution (what a 1-minute rollup keeps): per
    # minute, each room's highest sample, summed over the rooms; the highest minute.
    per_minute: dict[int, dict[str, int]] = {}
    for row in room_rows:
        minute = per_minute.setdefault(int(row["ts"]) - int(row["ts"]) % 60, {})
        minute[row["room_sid"]] = max(minute.get(row["room_sid"], 0), int(row["listeners"]))
    return {
        "fleet_peak_listeners": max(sum(rooms.values()) for rooms in per_minute.values()),
        "last_tick_ts": last_tick_ts,
        "live_streams": len(CHANNELS),
        "listeners_now": sum(current),
        "publishers_now": len(CHANNELS),
        "nodes_up": 2,
        "nodes_total": 3,
        "bytes_out_per_s": 5e6 + 6e6,
        "busiest_channel": CHANNELS[0],
    }
