"""HLS audience from delivery logs as a source (issue 17): an nginx/Caddy access log, or
Cloudflare Logpush files in a directory or objects in an R2/S3 bucket, read by collectors/hls/.

Each poll reads what was appended since the last one (at most ``read_budget_mb``), and returns
one sample per channel and open bucket of the log's clock (running totals) plus the buckets
closed since, one ``hls_playlist`` relay sample per channel, and the files' new cursors.
``write`` stores all of it in one transaction, so the cursors never run ahead of the counts.

Restart: ``bind`` loads the cursors and the open buckets' stored totals; reading goes on from
the cursors and the totals from the stored ones, so nothing is counted twice or lost. What a
restart forgets is which clients were mid-session: their next segment request credits one
segment duration instead of the gap since their previous one (the same amount in steady state).

Replay: a snapshot whose ``ts`` is older than the cursors' last move is skipped (a newer one,
with running totals that include its lines, was already written).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from sqlalchemy import Engine

from collectors.audience_metrics import publish_audience
from collectors.hls.channels import ChannelMatcher
from collectors.hls.combined import parse_combined
from collectors.hls.counting import AudienceCounter
from collectors.hls.jsonlog import CADDY_JSON_FIELDS, NGINX_JSON_FIELDS, parse_json_line
from collectors.hls.logpush import LogpushDirectory
from collectors.hls.logpush_bucket import LogpushBucket
from collectors.hls.records import BadLine, Request
from collectors.hls.tailer import FileCursor, FileTailer, TailStats
from collectors.pollers.base import ConfiguredPoller, describe_exception
from core.logs import redact
from core.settings import CollectorSettings, HlsLogSource
from store.audience import AudienceSample, RelaySample, write_audience_samples, write_relay_samples
from store.log_cursors import LogCursor, write_log_cursors
from store.queries.hls_logs import hls_open_state, log_cursors, newest_cursor_ts

log = logging.getLogger(__name__)


@dataclass
class HlsSnapshot:
    """One poll of an HLS log source (JSON-able: the spool keeps it when the store is down)."""

    ts: int
    audience: list[AudienceSample] = field(default_factory=list)
    relays: list[RelaySample] = field(default_factory=list)
    cursors: list[LogCursor] = field(default_factory=list)
    lines: int = 0
    bytes_read: int = 0
    bad_lines: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def row_count(self) -> int:
        return len(self.audience) + len(self.relays) + len(self.cursors)


class HlsLogPoller(ConfiguredPoller[HlsLogSource]):
    kind = "hls_logs"
    spool_kind = "hls"
    snapshot_type = HlsSnapshot
    # Reading is local and bounded by read_budget_mb per poll.
    poll_timeout_s: float | None = None

    def __init__(self, source: HlsLogSource, collectors: CollectorSettings) -> None:
        super().__init__(source, collectors)
        self._engine: Engine | None = None
        self._source_id = 0
        budget_bytes = int(source.read_budget_mb * 1_048_576)
        self.tailer: FileTailer | None = None
        self.logpush: LogpushDirectory | LogpushBucket | None = None
        if source.is_bucket:  # network reads: each call bounded by the HTTP timeout and retries
            self.logpush = LogpushBucket(
                source, budget_bytes=budget_bytes, timeout_s=collectors.http_timeout_s
            )
        elif source.format == "cloudflare_logpush":
            self.logpush = LogpushDirectory(source.path, budget_bytes=budget_bytes)
        else:
            self.tailer = FileTailer(source.path, budget_bytes=budget_bytes)
        self.fields = {"nginx_json": NGINX_JSON_FIELDS, "caddy_json": CADDY_JSON_FIELDS}.get(
            source.format, source.json_fields
        )
        self.counter = self._new_counter()

    def _new_counter(self) -> AudienceCounter:
        source = self.source
        return AudienceCounter(
            ChannelMatcher(source.playlist_pattern, source.segment_pattern, tuple(source.segment_extensions)),
            segment_s=source.segment_s,
            window_s=source.effective_window_s,
            bucket_s=source.bucket_s,
            max_lateness_s=source.effective_lateness_s,
            max_clients=source.max_clients,
        )

    def bind(self, engine: Engine, source_id: int) -> None:
        self._engine, self._source_id = engine, source_id
        stored = log_cursors(engine, source_id)
        cursors = [FileCursor(c.file_key, c.path, c.fingerprint, c.offset_bytes, c.done) for c in stored]
        if self.tailer is not None:
            self.tailer.load(cursors)
        if self.logpush is not None:
            self.logpush.load(cursors)
        self.counter = self._new_counter()
        samples, relays = hls_open_state(
            engine, source_id, self.source.effective_lateness_s + self.source.bucket_s
        )
        self.counter.restore(samples, relays)

    def _requests(self, warnings: list[str], counts: dict[str, int]) -> Iterator[Request]:
        if self.logpush is not None:
            yield from self.logpush.read(warnings, counts)
            return
        assert self.tailer is not None
        parse = parse_combined if self.source.format == "nginx_combined" else None
        stats = TailStats()
        for line in self.tailer.read(warnings, stats):
            try:
                yield parse(line) if parse is not None else parse_json_line(line, self.fields)
            except BadLine:
                counts["bad_lines"] = counts.get("bad_lines", 0) + 1
        counts["lines"] = stats.lines
        counts["bytes_read"] = stats.bytes_read
        if stats.skipped_overlong or stats.skipped_truncated:
            warnings.append(
                f"skipped {stats.skipped_overlong} overlong and {stats.skipped_truncated} truncated line(s)"
            )

    def read(self, now_ts: int) -> HlsSnapshot:
        """The synchronous poll (the runner calls it in a worker thread; the bench directly)."""
        warnings: list[str] = []
        counts: dict[str, int] = {}
        late_before = self.counter.stats.late
        dropped_before = self.counter.stats.clients_dropped
        for request in self._requests(warnings, counts):
            self.counter.add(request, now_ts)
        audience, relays = self.counter.emit(now_ts)
        bad = counts.get("bad_lines", 0)
        if bad:
            warnings.append(f"{self.name}: skipped {bad} line(s) that are not {self.source.format} requests")
            log.warning("%s: skipped %d unreadable line(s) in %s", self.name, bad, self.source.path)
        if counts.get("duplicate_records"):
            warnings.append(f"skipped {counts['duplicate_records']} repeated Logpush record(s) (same RayID)")
        late = self.counter.stats.late - late_before
        if late:
            warnings.append(
                f"{late} request(s) older than {self.source.effective_lateness_s:g} s behind the log's newest: "
                "counted in viewer-seconds and bytes of the newest bucket, not in concurrency"
            )
        if self.counter.stats.clients_dropped > dropped_before:
            warnings.append(f"more than {self.source.max_clients} clients at once: the oldest were forgotten")
        touched = (
            self.logpush.touched()
            if self.logpush is not None
            else self.tailer.touched()
            if self.tailer
            else []
        )
        for warning in warnings:
            log.info("%s: %s", self.name, warning)
        return HlsSnapshot(
            ts=now_ts,
            audience=audience,
            relays=relays,
            cursors=[LogCursor(c.file_key, c.path, c.fingerprint, c.offset_bytes, c.done) for c in touched],
            lines=counts.get("lines", 0),
            bytes_read=counts.get("bytes_read", 0),
            bad_lines=bad,
            warnings=warnings,
        )

    async def poll(self, now_ts: int) -> HlsSnapshot:
        snapshot = await asyncio.to_thread(self.read, now_ts)
        # For the exported relay / HLS error rules (collectors/audience_metrics.py).
        publish_audience(
            self.name, self.interval_s, snapshot.relays, snapshot.audience, hls_bucket_s=self.source.bucket_s
        )
        return snapshot

    def write(self, snapshot: HlsSnapshot) -> Mapping[str, int]:
        assert self._engine is not None, "bind() first"
        with self._engine.begin() as connection:
            newest = newest_cursor_ts(connection, self._source_id)
            if newest is not None and snapshot.ts < newest:
                log.info(
                    "%s: snapshot of %d older than the stored cursors (%d): skipped",
                    self.name,
                    snapshot.ts,
                    newest,
                )
                return {"audience": 0, "relays": 0, "cursors": 0}
            return {
                "audience": write_audience_samples(connection, self._source_id, snapshot.audience),
                "relays": write_relay_samples(connection, self._source_id, snapshot.relays),
                "cursors": write_log_cursors(connection, self._source_id, snapshot.cursors, snapshot.ts),
            }

    def describe_error(self, exc: BaseException) -> str:
        if isinstance(exc, PermissionError):
            # Debian's nginx logs are 0640 www-data:adm.
            return (
                f"cannot read {exc.filename or self.source.path}: permission denied "
                "(give the collector's user read access, e.g. the adm group for /var/log/nginx)"
            )
        return redact(describe_exception(exc))[:500]
