"""The whole audience's reads (issue 17) on hand-built rows, SQLite and PostgreSQL; every
expected figure is worked out by hand in the comments."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, insert

from store import schema
from store.audience import AudienceSample, RelaySample, write_audience_samples, write_relay_samples
from store.queries import audience as q

DAY0 = 1_767_225_600  # 2026-01-01 00:00 UTC
T = DAY0 + 12 * 3600  # noon


def _fill(store: Engine) -> None:
    with store.begin() as c:
        # HLS poller (source 7) on "radio-1": concurrency only at T-60, T-30, T (gaps 30 s, 30 s)
        write_audience_samples(c, 7, [
            AudienceSample("radio-1", "hls", T - 60, viewers=4),
            AudienceSample("radio-1", "hls", T - 30, viewers=6, bytes_delivered=1_000_000, errors_5xx=1),
            AudienceSample("radio-1", "hls", T, viewers=8, bytes_delivered=3_000_000),
        ])  # fmt: skip
        # Agora poller (source 8) on "shop-1": measured viewer-seconds, hosts; its newest sample
        # is 200 s old at T (beyond the 120 s stale window: not live), one more in the window.
        write_audience_samples(c, 8, [
            AudienceSample("shop-1", "agora", T - 400, viewers=10, hosts=2, viewer_s=500.0),
            AudienceSample("shop-1", "agora", T - 200, viewers=12, hosts=2, viewer_s=2200.0),
            AudienceSample("shop-1", "cloudflare_stream", T - 10, viewers=30, viewer_s=900.0),
        ])  # fmt: skip
        # The previous day: 1 sample, 100 viewer-seconds measured.
        write_audience_samples(
            c, 7, [AudienceSample("radio-1", "hls", DAY0 - 100, viewers=1, viewer_s=100.0)]
        )
        write_relay_samples(c, 7, [
            RelaySample("radio-1/live.m3u8", T - 60, "radio-1", "hls_playlist", "ok", "fresh", last_activity_ts=T - 62),
            RelaySample("radio-1/live.m3u8", T, "radio-1", "hls_playlist", "degraded", "stale", last_activity_ts=T - 62),
            RelaySample("radio-1/live.m3u8", T + 30, "radio-1", "hls_playlist", "down", "future"),
        ])  # fmt: skip
        write_relay_samples(c, 8, [
            RelaySample("cf-input-1", T - 5, "shop-1", "cloudflare_live_input", "down", "disconnected"),
        ])  # fmt: skip
        c.execute(insert(schema.room_sessions), [
            {"source_id": 1, "room_sid": "RM_a", "room_name": "radio-1", "channel": "radio-1",
             "started_ts": T - 3600, "ended_ts": None, "last_seen_ts": T},
        ])  # fmt: skip
        c.execute(insert(schema.room_samples), [
            {"source_id": 1, "room_sid": "RM_a", "ts": T - 15, "participants": 5, "publishers": 1, "listeners": 4},
            {"source_id": 1, "room_sid": "RM_a", "ts": T, "participants": 6, "publishers": 1, "listeners": 5},
        ])  # fmt: skip
        c.execute(insert(schema.egress_status), [
            {"source_id": 1, "egress_id": "EG_1", "room_sid": "RM_a", "room_name": "radio-1", "kind": "room_composite",
             "status": "EGRESS_ACTIVE", "started_ts": T - 3000, "ended_ts": None, "updated_ts": T - 3000,
             "last_seen_ts": T},
            # ended two hours ago: not in the chain any more
            {"source_id": 1, "egress_id": "EG_old", "room_sid": "RM_a", "room_name": "radio-1", "kind": "track",
             "status": "EGRESS_COMPLETE", "started_ts": T - 9000, "ended_ts": T - 7200, "updated_ts": T - 7200,
             "last_seen_ts": T - 7200},
        ])  # fmt: skip


def test_live_audience_is_the_newest_fresh_sample_per_channel_and_path(store: Engine) -> None:
    _fill(store)
    live = q.live_audience(store, T)
    # radio-1 hls: the T sample (8); shop-1 agora: T-200 is stale; cloudflare: T-10 (30).
    assert [tuple(r) for r in live[["channel", "path", "viewers"]].itertuples(index=False)] == [
        ("radio-1", "hls", 8),
        ("shop-1", "cloudflare_stream", 30),
    ]
    # Half a minute earlier the Agora sample (T-200 → 170 s before T-30) is still stale; at T-150 it is live.
    at = q.live_audience(store, T - 150)
    assert at.set_index("path").loc["agora", "hosts"] == 2
    # A LiveKit source's view: its channels' audience (radio-1), not shop-1's.
    assert list(q.live_audience(store, T, source_id=1)["channel"]) == ["radio-1"]


def test_webrtc_live_by_channel(store: Engine) -> None:
    _fill(store)
    webrtc = q.live_webrtc_by_channel(store, T)
    assert [tuple(r) for r in webrtc.itertuples(index=False)] == [("radio-1", 5, 1, T)]
    assert q.live_webrtc_by_channel(store, T - 3 * 3600).empty


def test_relay_states_take_each_relays_newest_report_up_to_the_moment(store: Engine) -> None:
    _fill(store)
    relays = q.relay_states(store, T)
    # The T+30 report is after the moment: the T report (degraded) stands.
    assert [tuple(r) for r in relays[["relay_id", "health", "status"]].itertuples(index=False)] == [
        ("radio-1/live.m3u8", "degraded", "stale"),
        ("cf-input-1", "down", "disconnected"),
    ]
    assert list(q.relay_states(store, T, channel="shop-1")["relay_id"]) == ["cf-input-1"]
    # The newest report is at T + 30: a day and a second after it, no relay state at all.
    assert q.relay_states(store, T + 30 + 86_400).empty
    egress = q.egress_states(store, T)
    assert [tuple(r) for r in egress[["egress_id", "channel", "status"]].itertuples(index=False)] == [
        ("EG_1", "radio-1", "EGRESS_ACTIVE")
    ]
    assert q.egress_states(store, T, channel="shop-1").empty


def test_usage_integrates_concurrency_and_sums_measured_seconds(store: Engine) -> None:
    _fill(store)
    usage = q.audience_usage(store, DAY0, DAY0 + 86400).set_index(["channel", "path"])
    # radio-1 hls: T-60 follows the previous day's sample by 12 h (a gap: 0) + 6 × 30 + 8 × 30
    # = 420 viewer-s; bytes 1 + 3 = 4 MB.
    assert usage.loc[("radio-1", "hls"), "viewer_s"] == pytest.approx(420.0)
    assert usage.loc[("radio-1", "hls"), "bytes_delivered"] == 4_000_000
    # shop-1 agora: measured 500 + 2200; cloudflare 900; no bytes reported (null).
    assert usage.loc[("shop-1", "agora"), "viewer_s"] == pytest.approx(2700.0)
    assert usage.loc[("shop-1", "cloudflare_stream"), "viewer_s"] == pytest.approx(900.0)
    assert usage["day_ts"].unique().tolist() == [DAY0]
    # The day before holds its one measured sample: 100 viewer-s.
    before = q.audience_usage(store, DAY0 - 86400, DAY0)
    assert before["viewer_s"].tolist() == [100.0]


def test_history_averages_each_stream_per_bucket(store: Engine) -> None:
    _fill(store)
    history = q.audience_history(store, T - 3600, T + 1)  # raw tier, 30 s step
    hls = history[history["path"] == "hls"]
    assert set(zip(hls["source_id"], hls["channel"], strict=True)) == {(7, "radio-1")}
    # Buckets of 30 s: T-60 → 4, T-30 → 6, T → 8 (T is a multiple of 30).
    assert hls.set_index("bucket_ts")["viewers"].to_dict() == {T - 60: 4.0, T - 30: 6.0, T: 8.0}
    agora = history[history["path"] == "agora"].set_index("bucket_ts")["viewers"]
    assert agora.to_dict() == {T - 420: 10.0, T - 210: 12.0}  # T-400 and T-200 in their 30 s buckets
    assert q.audience_history(store, T - 7 * 86400, T - 6 * 86400).empty
