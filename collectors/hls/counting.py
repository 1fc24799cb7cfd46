"""From requests to an audience: per channel, per time bucket of the log's own clock.

The rules (the "method" the pages quote):

- **Concurrent viewers** at a bucket's end ``t`` (at the log's clock while the bucket is still
  open): distinct clients (IP + User-Agent) with a
  successful (2xx, 206 included) *segment* request in ``(t - window_s, t]``; ``window_s``
  defaults to 3 segment durations. Playlist requests never count: a player whose encoder died
  keeps reloading the playlist for minutes. This is how CDNs count HLS viewers from logs
  (Gcore: unique IP + User-Agent; Nimble: chunk requests, playlist-only connections skipped);
  viewers behind one NAT with one player count once (an undercount).
- **Viewer-seconds**: a client's first segment request of a session credits one segment
  duration; each later one credits the time since its previous one when that gap is at most
  ``window_s`` (else a new session starts). A session of requests from ``a`` to ``b`` is thus
  ``b - a + segment_s``, whatever the startup burst (ffmpeg fetches 3 segments at once). The
  credit lands in the bucket of the request that earned it.
- **Bytes delivered**: body bytes of 2xx responses (playlists and segments). **Requests**: every
  request on the stream's paths. **Errors**: 4xx / 5xx *segment* responses.
- **Playlist freshness**: a segment URI requested for the first time is the encoder's newest
  work. No new segment URI for 3 segment durations while requests continue: ``down``
  (``stale``); new segments: ``ok`` (``fresh``); no request at all for 3 segment durations:
  ``idle``.

**Clock skew.** Buckets follow the log's timestamps, never the collector's. A bucket is kept
open (and rewritten with its running totals each poll) until the log's newest timestamp is
``max_lateness_s`` past it. A line older than that (a late Logpush file, a clock step) is counted
once in viewer-seconds, bytes, requests and errors of the channel's newest bucket and never in a
concurrency. When the log falls silent the log clock moves on with the collector's clock, so an
idle stream reads ``idle`` rather than frozen.

A restart forgets which clients were listening: an open bucket keeps the viewers the previous
run stored for it as a floor (the one bucket may read the higher of its partial and its final
count).

Memory is bounded: open buckets span ``max_lateness_s``; a client is forgotten ``window_s``
after its last segment (at most ``max_clients`` are held; beyond that the oldest go, counted);
each channel remembers its last 256 segment names.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from collectors.hls.channels import ChannelMatcher
from collectors.hls.records import Request
from store.audience import AudienceSample, RelaySample

RECENT_SEGMENTS = 256
STALE_SEGMENTS = 3  # segment durations without a new segment: the playlist is stale


@dataclass
class Bucket:
    """Running totals of one channel's bucket ``(end - bucket_s, end]``."""

    end_ts: int
    viewer_s: float = 0.0
    bytes_delivered: int = 0
    requests: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    viewers_floor: int = 0  # the count a previous run stored (a restart's clients are unknown)
    clients: dict[tuple[str, str], float] = field(default_factory=dict)  # client -> last segment ts


@dataclass
class ChannelState:
    playlist_path: str = ""
    last_request_ts: float | None = None
    last_playlist_ts: float | None = None
    last_new_segment_ts: float | None = None
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT_SEGMENTS))
    recent_set: set[str] = field(default_factory=set)

    def saw_segment(self, name: str, ts: float) -> None:
        if name in self.recent_set:
            return
        if len(self.recent) == self.recent.maxlen:
            self.recent_set.discard(self.recent[0])
        self.recent.append(name)
        self.recent_set.add(name)
        if self.last_new_segment_ts is None or ts > self.last_new_segment_ts:
            self.last_new_segment_ts = ts


@dataclass
class CountStats:
    requests: int = 0
    unmatched: int = 0
    late: int = 0
    clients_dropped: int = 0


def stale_playlist_detail(age_s: float | None, segment_s: float) -> str:
    """Why a playlist reads stale: no new segment for ``age_s`` (None: never)."""
    age = "never" if age_s is None else f"for {age_s:.0f} s"
    return (
        f"no new segment {age} (stale after {STALE_SEGMENTS} segment durations = {STALE_SEGMENTS * segment_s:g} s) "
        "while players still request the playlist"
    )


class AudienceCounter:
    """Feed it requests (:meth:`add`), then ask for the samples (:meth:`emit`)."""

    def __init__(
        self,
        matcher: ChannelMatcher,
        *,
        segment_s: float,
        window_s: float,
        bucket_s: int,
        max_lateness_s: float,
        max_clients: int = 200_000,
        max_channels: int = 1000,
    ) -> None:
        self.matcher = matcher
        self.segment_s = segment_s
        self.window_s = window_s
        self.bucket_s = bucket_s
        self.max_lateness_s = max_lateness_s
        self.max_clients = max_clients
        self.max_channels = max_channels
        self.buckets: dict[str, dict[int, Bucket]] = {}
        self.retired: dict[str, dict[int, dict[tuple[str, str], float]]] = {}  # closed buckets' clients
        self.finished: list[AudienceSample] = []  # closed since the last emit
        self.sessions: dict[tuple[str, str, str], float] = {}  # (channel, ip, ua) -> last segment ts
        self.channels: dict[str, ChannelState] = {}
        self.watermark_ts: float | None = None  # the log's newest timestamp
        self.watermark_seen_at: int | None = None  # collector time it last moved
        self.stats = CountStats()
        self._horizon_end = -math.inf  # buckets ending at or before this are closed

    # --- state carried over a restart -----------------------------------------------------

    def restore(self, samples: Iterable[AudienceSample], relays: Iterable[RelaySample]) -> None:
        """Open buckets and channel state as the previous run stored them: totals go on from
        there (the rows are rewritten with running totals, so nothing is counted twice)."""
        for relay in relays:
            state = self.channels.setdefault(relay.channel, ChannelState(playlist_path=relay.relay_id))
            if relay.last_activity_ts is not None:
                state.last_new_segment_ts = float(relay.last_activity_ts)
            if self.watermark_ts is None or relay.ts > self.watermark_ts:
                self.watermark_ts = float(relay.ts)
        for sample in samples:
            self.channels.setdefault(sample.channel, ChannelState())
            self.buckets.setdefault(sample.channel, {})[sample.ts] = Bucket(
                end_ts=sample.ts,
                viewer_s=sample.viewer_s or 0.0,
                bytes_delivered=sample.bytes_delivered or 0,
                requests=sample.requests or 0,
                errors_4xx=sample.errors_4xx or 0,
                errors_5xx=sample.errors_5xx or 0,
                viewers_floor=sample.viewers,
            )
        if self.watermark_ts is not None:
            self._horizon_end = self._bucket_end(self.watermark_ts - self.max_lateness_s) - self.bucket_s
            # The stored clock was the log's at that poll: a log silent since then has aged by
            # the time since (a restart hours later, or after a backfilled history, reads now).
            self.watermark_seen_at = int(self.watermark_ts)

    # --- counting ---------------------------------------------------------------------------

    def _bucket_end(self, ts: float) -> int:
        return int(math.ceil(ts / self.bucket_s) * self.bucket_s)

    def add(self, request: Request, now_ts: int) -> None:
        self.stats.requests += 1
        matched = self.matcher.match(request.path)
        if matched is None:
            self.stats.unmatched += 1
            return
        channel, kind = matched
        ts = request.ts
        if self.watermark_ts is None or ts > self.watermark_ts:
            self.watermark_ts, self.watermark_seen_at = ts, now_ts
            self._close_buckets(ts)
        state = self.channels.get(channel)
        if state is None:
            if len(self.channels) >= self.max_channels:
                self.stats.unmatched += 1
                return
            state = self.channels[channel] = ChannelState()
        end_ts = self._bucket_end(ts)
        late = end_ts <= self._horizon_end
        if late:  # counted once, in the newest bucket, never in a concurrency
            self.stats.late += 1
            assert self.watermark_ts is not None
            end_ts = self._bucket_end(self.watermark_ts)
        channel_buckets = self.buckets.setdefault(channel, {})
        bucket = channel_buckets.get(end_ts)
        if bucket is None:
            bucket = channel_buckets[end_ts] = Bucket(end_ts)
        bucket.requests += 1
        success = 200 <= request.status < 300
        if success and request.method != "HEAD":
            bucket.bytes_delivered += request.body_bytes
        if state.last_request_ts is None or ts > state.last_request_ts:
            state.last_request_ts = ts
        if kind == "playlist":
            state.playlist_path = request.path
            if state.last_playlist_ts is None or ts > state.last_playlist_ts:
                state.last_playlist_ts = ts
            return
        if request.status >= 500:
            bucket.errors_5xx += 1
        elif request.status >= 400:
            bucket.errors_4xx += 1
        if not success or request.method == "HEAD":
            return
        state.saw_segment(request.path.rsplit("/", 1)[-1], ts)
        key = (channel, request.client, request.user_agent)
        last = self.sessions.get(key)
        if last is None or ts - last > self.window_s:
            bucket.viewer_s += self.segment_s
            self.sessions[key] = ts
        elif ts > last:
            bucket.viewer_s += ts - last
            self.sessions[key] = ts
        if not late:
            client = (request.client, request.user_agent)
            if bucket.clients.get(client, -math.inf) < ts:
                bucket.clients[client] = ts

    def _close_buckets(self, clock_ts: float) -> None:
        """Close the buckets the log clock (``clock_ts``) has left ``max_lateness_s`` behind
        (their samples wait in :attr:`finished`), and forget what can no longer count."""
        horizon = self._bucket_end(clock_ts - self.max_lateness_s) - self.bucket_s
        if horizon <= self._horizon_end:
            return
        self._horizon_end = horizon
        for channel, channel_buckets in self.buckets.items():
            closing = sorted(end for end in channel_buckets if end <= horizon)
            for end in closing:
                self.finished.append(self._sample(channel, channel_buckets[end], end))
            retired = self.retired.setdefault(channel, {})
            for end in closing:
                retired[end] = channel_buckets.pop(end).clients
            for end in [end for end in retired if end <= horizon - self.window_s - self.bucket_s]:
                del retired[end]
        oldest = clock_ts - self.window_s - self.max_lateness_s
        self.sessions = {key: ts for key, ts in self.sessions.items() if ts > oldest}
        if len(self.sessions) > self.max_clients:
            keep = sorted(self.sessions.items(), key=lambda item: item[1])[-self.max_clients :]
            self.stats.clients_dropped += len(self.sessions) - len(keep)
            self.sessions = dict(keep)

    def _viewers(self, channel: str, end_ts: float) -> int:
        since = end_ts - self.window_s
        present: set[tuple[str, str]] = set()
        for source in (self.buckets.get(channel, {}), self.retired.get(channel, {})):
            for other_end, value in source.items():
                if other_end - self.bucket_s >= end_ts or other_end <= since:
                    continue
                clients = value.clients if isinstance(value, Bucket) else value
                present.update(client for client, ts in clients.items() if since < ts <= end_ts)
        return len(present)

    def _sample(self, channel: str, bucket: Bucket, at_ts: float) -> AudienceSample:
        """The bucket's totals, its viewers counted at ``at_ts``: its end once closed, the log's
        clock while it is open (the newest row says who listens now, not at a future end)."""
        return AudienceSample(
            channel=channel,
            path="hls",
            ts=bucket.end_ts,
            viewers=max(self._viewers(channel, at_ts), bucket.viewers_floor),
            viewer_s=round(bucket.viewer_s, 3),
            bytes_delivered=bucket.bytes_delivered,
            requests=bucket.requests,
            errors_4xx=bucket.errors_4xx,
            errors_5xx=bucket.errors_5xx,
        )

    # --- what a poll reports ------------------------------------------------------------------

    def log_now(self, now_ts: int) -> float | None:
        """The log's clock now: its newest timestamp, moved on by the collector's time since that
        timestamp was read (a silent log still ages)."""
        if self.watermark_ts is None:
            return None
        seen_at = self.watermark_seen_at if self.watermark_seen_at is not None else now_ts
        return self.watermark_ts + max(0, now_ts - seen_at)

    def emit(self, now_ts: int) -> tuple[list[AudienceSample], list[RelaySample]]:
        """The closed buckets since the last emit, every open bucket with its running totals (a
        zero one for a channel with nothing in the current bucket), and each channel's playlist
        state."""
        log_now = self.log_now(now_ts)
        if log_now is None:
            return [], []
        if self.watermark_seen_at is None:
            self.watermark_seen_at = now_ts
        self._close_buckets(log_now)  # a silent log's buckets close on the log clock too
        current_end = self._bucket_end(log_now)
        samples, self.finished = self.finished, []
        relays: list[RelaySample] = []
        for channel, state in sorted(self.channels.items()):
            channel_buckets = self.buckets.setdefault(channel, {})
            if current_end not in channel_buckets and current_end > self._horizon_end:
                channel_buckets[current_end] = Bucket(current_end)
            samples.extend(
                self._sample(channel, channel_buckets[end], min(end, log_now))
                for end in sorted(channel_buckets)
            )
            relays.append(self._relay(channel, state, log_now))
        return samples, relays

    def _relay(self, channel: str, state: ChannelState, log_now: float) -> RelaySample:
        """The playlist's health, with the segment duration its staleness is counted in."""
        stale_s = STALE_SEGMENTS * self.segment_s
        newest = state.last_new_segment_ts
        common = {
            "relay_id": state.playlist_path or f"/{channel}",
            "ts": int(log_now),
            "channel": channel,
            "kind": "hls_playlist",
            "sink": "hls_viewers",
            "last_activity_ts": None if newest is None else int(newest),
            "segment_s": float(self.segment_s),
        }
        if state.last_request_ts is None or log_now - state.last_request_ts > stale_s:
            return RelaySample(**common, health="idle", status="no requests", detail=None)  # type: ignore[arg-type]
        if newest is None or log_now - newest >= stale_s:
            detail = stale_playlist_detail(None if newest is None else log_now - newest, self.segment_s)
            return RelaySample(**common, health="down", status="stale", detail=detail)  # type: ignore[arg-type]
        return RelaySample(**common, health="ok", status="fresh", detail=None)  # type: ignore[arg-type]
