"""The counting rules on the hand-built log of tests/collectors/hls/logs.py. Every figure below
is worked out by hand in the comments, from the rules in collectors/hls/counting.py."""

from __future__ import annotations

from collectors.hls.channels import ChannelMatcher
from collectors.hls.combined import parse_combined
from collectors.hls.counting import AudienceCounter
from collectors.hls.records import BadLine
from store.audience import AudienceSample, RelaySample
from tests.collectors.hls.logs import SCENARIO, E, combined


def counter(lateness_s: float = 20) -> AudienceCounter:
    return AudienceCounter(ChannelMatcher(), segment_s=2, window_s=6, bucket_s=10, max_lateness_s=lateness_s)


def feed(target: AudienceCounter, lines: list[str], now_ts: int) -> int:
    bad = 0
    for line in lines:
        try:
            target.add(parse_combined(line), now_ts)
        except BadLine:
            bad += 1
    return bad


# Bucket (E, E+10]:
#   viewer-seconds: A 2 (+1, new session) + 0 + 0 (same second) + 2 (+3) + 2 (+5) + 2 (+7) + 2 (+9)
#   = 10; B 2 (+4) + 2 (+6) = 4; C 2 (+9; its 404 earns nothing) = 2: 16.
#   bytes: A's 7 segment requests +1..+9 (s1-s7) = 7 000, B 2 000, C 1 000 (the 404 is not delivered), playlists +2 and +10: 600: 10 600.
#   requests: A 7 segments + 2 playlists, B 2, C 2: 13; 4xx: C's 404.
#   viewers at E+10, window (E+4, E+10]: A (+9), B (+6), C (+9): 3.
# Bucket (E+10, E+20]:
#   viewer-seconds: A +11: 2 (gap 2); B +18: 2 (gap 12 > 6: a new session): 4.
#   bytes: A's s8 1 000, B's s8 1 000, playlists +12 +14 +16 +18: 1 200: 3 200.
#   requests: 2 segments, 4 playlists, 9.9.9.9's 404, B's 503: 8; 4xx 1, 5xx 1.
#   viewers at E+20, window (E+14, E+20]: B (+18): 1.
FIRST = AudienceSample("ch1", "hls", E + 10, viewers=3, viewer_s=16.0, bytes_delivered=10_600, requests=13,
                       errors_4xx=1, errors_5xx=0)  # fmt: skip
SECOND = AudienceSample("ch1", "hls", E + 20, viewers=1, viewer_s=4.0, bytes_delivered=3_200, requests=8,
                        errors_4xx=1, errors_5xx=1)  # fmt: skip
# The newest new segment URI is s8 at +11; at +19 (the log's clock) that is 8 s > 3 x 2 s while
# the playlist is still requested: stale.
STALE = RelaySample(
    relay_id="/ch1/live.m3u8", ts=E + 19, channel="ch1", kind="hls_playlist", health="down", status="stale",
    sink="hls_viewers", last_activity_ts=E + 11, segment_s=2.0,
    detail="no new segment for 8 s (stale after 3 segment durations = 6 s) while players still request the playlist",
)  # fmt: skip


def test_the_hand_built_log_gives_the_hand_counted_samples() -> None:
    target = counter()
    assert feed(target, SCENARIO, E + 19) == 2  # the garbage and the truncated line
    samples, relays = target.emit(E + 19)
    assert samples == [FIRST, SECOND]
    assert relays == [STALE]
    assert target.stats.unmatched == 1  # /index.html


def test_playlist_fresh_then_idle_on_the_log_clock() -> None:
    target = counter()
    feed(target, SCENARIO[:16], E + 11)  # up to A's s8 at +11: new 0 s ago
    assert [(r.health, r.status) for r in target.emit(E + 11)[1]] == [("ok", "fresh")]
    # The log falls silent at +11; the collector's clock moves on 7 s: more than 3 segment
    # durations without any request is idle.
    assert [(r.health, r.status, r.ts) for r in target.emit(E + 18)[1]] == [("idle", "no requests", E + 18)]


def test_a_line_older_than_the_lateness_counts_once_in_viewer_seconds_never_in_concurrency() -> None:
    target = counter(lateness_s=5)
    feed(target, [combined(30, "/ch1/s20.ts")], E + 30)
    # +30 puts the log clock at E+30; buckets ending at or before E+20 are closed (30 - 5 = 25,
    # its bucket ends at 30, minus one bucket). A line at +2 is late: its client (new) earns one
    # segment duration in the newest bucket (E+30), and is no viewer of it.
    feed(target, [combined(2, "/ch1/s1.ts", ip="7.7.7.7", ua="late")], E + 30)
    samples, _ = target.emit(E + 30)
    assert samples == [
        AudienceSample(
            "ch1",
            "hls",
            E + 30,
            viewers=1,
            viewer_s=4.0,
            bytes_delivered=2_000,
            requests=2,
            errors_4xx=0,
            errors_5xx=0,
        )
    ]
    assert target.stats.late == 1


def test_closed_buckets_are_reported_once_and_forgotten() -> None:
    target = counter(lateness_s=5)
    feed(target, SCENARIO, E + 19)
    first, _ = target.emit(E + 19)
    # At +19 with 5 s lateness: horizon = end of bucket(14) - 10 = 10: E+10 is closed.
    assert [s.ts for s in first] == [E + 10, E + 20]
    assert first[0] == FIRST
    again, _ = target.emit(E + 19)
    assert [s.ts for s in again] == [E + 20]
    assert E + 10 not in target.buckets["ch1"]


def test_a_log_clock_an_hour_behind_the_collector_changes_nothing() -> None:
    # The origin's clock is an hour behind the collector's (or its log reaches us an hour late):
    # buckets and freshness follow the log's own timestamps, so the samples are the same.
    target = counter()
    feed(target, SCENARIO, E + 3600 + 19)
    samples, relays = target.emit(E + 3600 + 19)
    assert samples == [FIRST, SECOND]
    assert relays == [STALE]
    # Then the log falls silent: from the collector's next polls its clock ages with theirs.
    _, later = target.emit(E + 3600 + 19 + 30)
    assert [(r.health, r.ts) for r in later] == [("idle", E + 19 + 30)]


def test_a_restored_log_clock_has_aged_by_the_time_since_it_was_stored() -> None:
    """After a restart (or a backfilled history) three hours after the newest stored playlist
    sample, a silent log reads now, not three hours ago: the idle relay and the zero bucket are
    at the collector's time."""
    target = counter()
    stored = RelaySample("/ch1/live.m3u8", E, "ch1", "hls_playlist", "ok", "fresh", sink="hls_viewers",
                         last_activity_ts=E - 1, segment_s=2.0)  # fmt: skip
    target.restore([], [stored])
    samples, relays = target.emit(E + 3 * 3600)
    assert [(r.ts, r.health) for r in relays] == [(E + 3 * 3600, "idle")]
    assert [s.ts for s in samples] == [E + 3 * 3600]  # the open bucket at now (10 s buckets)
