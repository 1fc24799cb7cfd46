"""Runs every configured poller on its interval in one process.

Each source has its own schedule and backoff (collectors/health.py): a source that is down
is retried later while the others keep going. Network work is concurrent (asyncio for the
LiveKit API, a worker thread per Prometheus query batch); writes happen after each poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from collectors.health import SourceHealth, ensure_source
from collectors.livekit_rooms import RoomPoller, describe_error
from collectors.prometheus_poller import PrometheusPoller, store_node_snapshot
from collectors.sessions import SessionTracker
from core.logs import register_secret
from core.settings import Settings, secret_values
from store.rollups import apply_retention, refresh_rollups

log = logging.getLogger(__name__)

# Called after every tick with (engine, now_ts); e.g. live alert evaluation. Must not raise.
TickHook = Callable[[Engine, int], None]


@dataclass
class TickReport:
    ts: int
    polled: dict[str, str] = field(default_factory=dict)  # source name -> ok | partial | failed | skipped
    rows: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0


@dataclass
class _LiveKitJob:
    poller: RoomPoller
    health: SourceHealth
    tracker: SessionTracker


@dataclass
class _PrometheusJob:
    poller: PrometheusPoller
    health: SourceHealth
    source_id: int


class Collector:
    def __init__(self, settings: Settings, engine: Engine, hooks: list[TickHook] | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.hooks = list(hooks or [])
        for secret in secret_values(settings):
            register_secret(secret)
        cfg = settings.collectors
        self.livekit_jobs: list[_LiveKitJob] = []
        for lk in settings.livekit:
            source_id = ensure_source(engine, lk.name, "livekit", lk.url)
            self.livekit_jobs.append(
                _LiveKitJob(
                    RoomPoller(lk, timeout_s=cfg.http_timeout_s, max_concurrency=cfg.max_concurrent_requests),
                    SourceHealth(source_id, lk.name, cfg.interval_s, cfg.max_backoff_s),
                    SessionTracker(engine, source_id),
                )
            )
        self.prometheus_jobs: list[_PrometheusJob] = []
        for prom in settings.prometheus:
            source_id = ensure_source(engine, prom.name, "prometheus", prom.url)
            self.prometheus_jobs.append(
                _PrometheusJob(
                    PrometheusPoller(prom, timeout_s=cfg.http_timeout_s),
                    SourceHealth(source_id, prom.name, cfg.interval_s, cfg.max_backoff_s),
                    source_id,
                )
            )
        self._last_rollup_ts = 0.0
        self._last_retention_ts = 0.0

    async def _run_livekit(self, job: _LiveKitJob, now_ts: int, report: TickReport) -> None:
        name = job.poller.source.name
        try:
            snapshot = await job.poller.poll(now_ts)
        except Exception as exc:
            job.health.failed(self.engine, now_ts, describe_error(exc))
            report.polled[name] = "failed"
            return
        counts = await asyncio.to_thread(job.tracker.apply, snapshot)
        report.rows[f"{name}.rooms"] = counts["rooms"]
        report.rows[f"{name}.participants"] = counts["participants"]
        partial = "; ".join(sorted(set(snapshot.warnings))) or None
        job.health.succeeded(self.engine, now_ts, partial_error=partial)
        report.polled[name] = "partial" if partial else "ok"

    async def _run_prometheus(self, job: _PrometheusJob, now_ts: int, report: TickReport) -> None:
        name = job.poller.source.name
        try:
            snapshot = await asyncio.to_thread(job.poller.poll, now_ts)
        except Exception as exc:
            job.health.failed(self.engine, now_ts, exc)
            report.polled[name] = "failed"
            return
        report.rows[f"{name}.nodes"] = await asyncio.to_thread(store_node_snapshot, self.engine, job.source_id, snapshot)
        partial = "; ".join(snapshot.warnings) or None
        job.health.succeeded(self.engine, now_ts, partial_error=partial)
        report.polled[name] = "partial" if partial else "ok"

    async def tick(self, now_ts: int | None = None, *, force: bool = False) -> TickReport:
        """Poll every source that is due (all of them with ``force``), then run the hooks."""
        started = time.perf_counter()
        now_ts = int(now_ts if now_ts is not None else time.time())
        report = TickReport(ts=now_ts)
        tasks = []
        for lk_job in self.livekit_jobs:
            if force or lk_job.health.due(now_ts):
                tasks.append(self._run_livekit(lk_job, now_ts, report))
            else:
                report.polled[lk_job.poller.source.name] = "skipped"
        for prom_job in self.prometheus_jobs:
            if force or prom_job.health.due(now_ts):
                tasks.append(self._run_prometheus(prom_job, now_ts, report))
            else:
                report.polled[prom_job.poller.source.name] = "skipped"
        await asyncio.gather(*tasks)
        await asyncio.to_thread(self._maintenance, now_ts, force)
        for hook in self.hooks:
            try:
                await asyncio.to_thread(hook, self.engine, now_ts)
            except Exception as exc:  # a hook never stops collection
                log.warning("tick hook %s failed: %s", getattr(hook, "__name__", hook), exc)
        report.duration_s = time.perf_counter() - started
        return report

    def _maintenance(self, now_ts: int, force: bool) -> None:
        cfg = self.settings.collectors
        if force or now_ts - self._last_rollup_ts >= cfg.rollup_every_s:
            refresh_rollups(self.engine, now_ts)
            self._last_rollup_ts = now_ts
        if force or now_ts - self._last_retention_ts >= 3600:
            apply_retention(self.engine, now_ts, self.settings.retention)
            self._last_retention_ts = now_ts

    async def run_forever(self, stop: asyncio.Event) -> None:
        interval = self.settings.collectors.interval_s
        log.info(
            "collecting from %d LiveKit and %d Prometheus source(s) every %.0f s",
            len(self.livekit_jobs), len(self.prometheus_jobs), interval,
        )
        while not stop.is_set():
            report = await self.tick()
            polled = ", ".join(f"{name}={state}" for name, state in report.polled.items() if state != "skipped")
            if polled:
                log.info("tick %.2f s: %s", report.duration_s, polled)
            next_due = min(
                [job.health.next_attempt_ts for job in self.livekit_jobs]
                + [job.health.next_attempt_ts for job in self.prometheus_jobs]
                + [time.time() + interval]
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.05, next_due - time.time()))


async def run_once(settings: Settings, engine: Engine) -> TickReport:
    """One forced tick of every source (``collectors run --once``)."""
    return await Collector(settings, engine).tick(force=True)
