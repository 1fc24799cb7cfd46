"""A small store with the whole audience, built by hand (issue 17): one LiveKit room whose
egress feeds a stale HLS playlist, and one Agora channel pushed into a disconnected Cloudflare
Stream live input. Tests and the browser check read the figures written here; ``AUDIENCE_FACTS``
says what every page must show, worked out by hand.

    python -m harness.audience_store sqlite:///path.db NOW_TS   # fill a store for `make run`
"""

from __future__ import annotations

import sys

from sqlalchemy import insert

from store import schema
from store.audience import AudienceSample, RelaySample, write_audience_samples, write_relay_samples
from store.engine import open_store

LIVEKIT_SOURCE_ID, HLS_SOURCE_ID, AGORA_SOURCE_ID = 1, 7, 8

# What the pages show at ``now_ts`` (the figures below, by hand):
AUDIENCE_FACTS = {
    "webrtc_now": 5,  # radio-1's room: 5 listeners, 1 publisher at now
    "hls_now": 120,  # radio-1 on HLS: the newest sample (now)
    "agora_now": 9,  # shop-1's Agora audience (2 hosts) at now - 10
    "cloudflare_now": 30,  # shop-1 on Cloudflare Stream at now - 10
    "playlist_age_s": 40,  # radio-1's playlist last gained a segment 40 s ago (> 3 × 6 s)
    # The hour [now - 3600, now): 9 HLS samples 30 s apart of 120 viewers (the one at now is
    # the next window's); the first has no interval: 8 × 30 s × 120 = 28,800 viewer-s = 480 min.
    "hls_viewer_min_hour": 480.0,
}


def fill(url: str, now_ts: int) -> None:
    engine = open_store(url)
    with engine.begin() as c:
        c.execute(insert(schema.sources), [
            {"id": LIVEKIT_SOURCE_ID, "name": "main", "kind": "livekit", "url": "http://127.0.0.1:7880", "created_ts": now_ts - 7200},
            {"id": HLS_SOURCE_ID, "name": "hls-origin", "kind": "hls", "url": "/var/log/nginx", "created_ts": now_ts - 7200},
            {"id": AGORA_SOURCE_ID, "name": "agora", "kind": "agora", "url": "http://127.0.0.1:9000", "created_ts": now_ts - 7200},
        ])  # fmt: skip
        c.execute(insert(schema.room_sessions), [
            {"source_id": LIVEKIT_SOURCE_ID, "room_sid": "RM_radio1", "room_name": "radio-1", "channel": "radio-1",
             "started_ts": now_ts - 3600, "ended_ts": None, "last_seen_ts": now_ts, "max_participants": 6,
             "max_listeners": 5},
        ])  # fmt: skip
        c.execute(insert(schema.participant_sessions), [
            {"source_id": LIVEKIT_SOURCE_ID, "participant_sid": f"PA_{k}", "room_sid": "RM_radio1",
             "identity": f"user-{k}", "is_publisher": k == 0, "joined_ts": now_ts - 3600, "left_ts": None,
             "last_seen_ts": now_ts}
            for k in range(6)
        ])  # fmt: skip
        c.execute(insert(schema.room_samples), [
            {"source_id": LIVEKIT_SOURCE_ID, "room_sid": "RM_radio1", "ts": now_ts - 15 * k, "participants": 6,
             "publishers": 1, "listeners": 5}
            for k in range(0, 40)
        ])  # fmt: skip
        c.execute(insert(schema.egress_status), [
            {"source_id": LIVEKIT_SOURCE_ID, "egress_id": "EG_radio1_hls", "room_sid": "RM_radio1",
             "room_name": "radio-1", "kind": "room_composite", "status": "EGRESS_ACTIVE",
             "started_ts": now_ts - 3500, "ended_ts": None, "updated_ts": now_ts - 3500, "last_seen_ts": now_ts},
        ])  # fmt: skip
        write_audience_samples(c, HLS_SOURCE_ID, [
            AudienceSample("radio-1", "hls", now_ts - 30 * k, viewers=120, bytes_delivered=1_000_000,
                           requests=100, errors_5xx=2)
            for k in range(10)
        ])  # fmt: skip
        write_relay_samples(c, HLS_SOURCE_ID, [
            RelaySample("radio-1/live.m3u8", now_ts, "radio-1", "hls_playlist", "ok", "serving",
                        sink="https://cdn.example/radio-1/live.m3u8", last_activity_ts=now_ts - 40, segment_s=6.0),
        ])  # fmt: skip
        write_audience_samples(c, AGORA_SOURCE_ID, [
            AudienceSample("shop-1", "agora", now_ts - 10, viewers=9, hosts=2),
            AudienceSample("shop-1", "cloudflare_stream", now_ts - 10, viewers=30),
        ])  # fmt: skip
        write_relay_samples(c, AGORA_SOURCE_ID, [
            RelaySample("conv-shop-1", now_ts - 10, "shop-1", "agora_media_push", "ok", "running"),
        ])  # fmt: skip
        # The Cloudflare input has reported "disconnected" every 15 s for the last 5 minutes.
        write_relay_samples(c, AGORA_SOURCE_ID, [
            RelaySample("cf-input-shop-1", now_ts - 15 * k, "shop-1", "cloudflare_live_input", "down",
                        "disconnected", detail="no RTMP connection")
            for k in range(20)
        ])  # fmt: skip
    engine.dispose()


if __name__ == "__main__":
    fill(sys.argv[1], int(sys.argv[2]))
