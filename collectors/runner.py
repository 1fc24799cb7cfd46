"""Runs every configured poller on its interval in one process.

Every source is a :class:`~collectors.pollers.base.Poller` (collectors/pollers/) and takes the
same path: scheduled and backed off by its own health (collectors/health.py), so a source that
is down is retried later while the others keep going; polled concurrently (asyncio); written
after its poll, through the spool while the store is unavailable (collectors/spool.py); counted
in castmeter's own metrics (collectors/self_metrics.py). After the polls, the once-per-tick
jobs: rollups and retention, then the hooks (live alert evaluation).

With several collectors on one PostgreSQL (``ownership``, collectors/ownership.py) a process
polls only the sources whose lease it holds, fences each write batch, and runs the once-per-tick
jobs only while it holds the leader lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Engine

from collectors import self_metrics
from collectors.health import SourceHealth, ensure_source
from collectors.ownership import LeaseKeeper, NotOwner, source_lease, store_unavailable
from collectors.pollers import Poller, pollers_from_settings
from collectors.pollers.base import decode_snapshot, encode_snapshot
from collectors.spool import Spool, default_spool_dir
from collectors.webhook_sessions import bump_counter
from core.logs import redact, register_secret
from core.settings import Settings, secret_values
from store import schema
from store.leases import LEADER, MEMBER_PREFIX
from store.partitions import ensure_day_partitions
from store.queries.sources import newest_sample_ts
from store.rollups import apply_retention, refresh_rollups, retention_hold_until, set_retention_hold
from store.upsert import upsert
from store.usage_rollup import refresh_usage_daily

log = logging.getLogger(__name__)

# Replaying a long outage from the spool is spread over ticks so that one tick stays short.
MAX_REPLAY_S = 20.0
# A tick this far behind the previous one means the wall clock was set back.
CLOCK_SLACK_S = 5
# A jump forward larger than this between two ticks may be a wrong clock (NTP, a VM restored
# with a bad time); retention then waits RETENTION_HOLD_S of steady ticks before it deletes
# anything, so a clock a year ahead cannot wipe the history in one pass.
CLOCK_FORWARD_JUMP_S = 6 * 3600
RETENTION_HOLD_S = 24 * 3600


# Called after every tick with (engine, now_ts); e.g. live alert evaluation. Must not raise.
TickHook = Callable[[Engine, int], None]
T = TypeVar("T")


@dataclass
class TickReport:
    ts: int
    # source name -> ok | partial | spooled (polled, store unavailable) | failed | skipped |
    # standby (another collector owns it) | handed over (lost its lease before the write)
    polled: dict[str, str] = field(default_factory=dict)
    leader: bool = True  # ran the once-per-tick jobs (False: another collector leads)
    rows: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0
    poll_s: dict[str, float] = field(default_factory=dict)  # source name -> poll wall time


@dataclass
class PolledSource:
    """One source the runner polls: its poller and its schedule/health."""

    poller: Poller[Any]
    health: SourceHealth


class Collector:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        hooks: list[TickHook] | None = None,
        *,
        spool: Spool | None = None,
        pollers: Sequence[Poller[Any]] | None = None,
        ownership: LeaseKeeper | None = None,
    ) -> None:
        """``pollers``: the sources to poll (default: every source the settings configure).
        ``ownership``: the leases of several collectors on one PostgreSQL (None: this process
        owns everything)."""
        self.settings = settings
        self.engine = engine
        self.ownership = ownership
        self._leading = False  # ran the once-only jobs at the last tick (for the log)
        self.hooks = list(hooks or [])
        # Where samples wait while the store is unavailable (created on first use only).
        self.spool = spool if spool is not None else Spool(default_spool_dir(engine.url))
        self._replayed_since_ts: int | None = None  # rollups must recompute from here
        self._last_tick_ts: int | None = None
        for secret in secret_values(settings):
            register_secret(secret)
        cfg = settings.collectors
        self.sources: list[PolledSource] = []
        for poller in pollers_from_settings(settings) if pollers is None else pollers:
            source_id = ensure_source(engine, poller.name, poller.kind, poller.url)
            poller.bind(engine, source_id)
            self.sources.append(
                PolledSource(
                    poller, SourceHealth(source_id, poller.name, poller.interval_s, cfg.max_backoff_s)
                )
            )
        self._last_rollup_ts = 0.0
        self._last_retention_ts = 0.0
        # A hold a jumping clock started survives a restart (it lives in the store).
        self._retention_held_until_ts: float | None = self._stored_hold()

    def _stored_hold(self) -> float | None:
        try:
            with self.engine.connect() as connection:
                held = retention_hold_until(connection)
        except Exception as exc:  # the store may be down at start: no hold known then
            log.warning(
                "retention hold unknown (store unavailable): %s", redact(str(exc)).splitlines()[0][:200]
            )
            return None
        return None if held is None else float(held)

    def _hold_retention(self, until_ts: int) -> None:
        self._retention_held_until_ts = until_ts
        try:
            set_retention_hold(self.engine, until_ts)
        except Exception as exc:  # kept in memory; written again at the next jump
            log.warning("could not store the retention hold: %s", redact(str(exc)).splitlines()[0][:200])

    def of_kind(self, kind: str) -> list[PolledSource]:
        return [source for source in self.sources if source.poller.kind == kind]

    async def _run(self, source: PolledSource, now_ts: int, report: TickReport) -> None:
        """Poll one source, then write what it saw (or spool it); record its health."""
        poller, health = source.poller, source.health
        try:
            polled = poller.poll(now_ts)
            bound = poller.poll_timeout_s
            snapshot = await (polled if bound is None else asyncio.wait_for(polled, timeout=bound))
        except Exception as exc:
            health.failed(self.engine, now_ts, poller.describe_error(exc))
            report.polled[poller.name] = "failed"
            return
        kind = poller.spool_kind
        key = f"{kind}:{health.source_id}"
        try:
            written, note = await asyncio.to_thread(
                self._store_through_spool, key, kind, snapshot.ts, snapshot.row_count,
                lambda: encode_snapshot(snapshot), lambda: self._fenced(poller.name, lambda: poller.write(snapshot)),
                lambda payload: self._fenced(
                    poller.name, lambda: poller.write(decode_snapshot(poller.snapshot_type, payload))
                ),
            )  # fmt: skip
        except NotOwner:  # another collector owns it now: it polls it; nothing of ours is written
            report.polled[poller.name] = "handed over"
            self.spool.discard(key, kind)
            return
        except Exception as exc:  # the store refused this data for good: say so, keep collecting
            health.failed(
                self.engine, now_ts, f"store refused the {kind} snapshot: {type(exc).__name__}: {exc}"
            )
            report.polled[poller.name] = "failed"
            return
        if written is not None:
            for table, rows in written.items():
                report.rows[f"{poller.name}.{table}"] = rows
        partial = "; ".join([*snapshot.warnings, *([note] if note else [])]) or None
        self._health_ok(health, now_ts, partial)
        report.polled[poller.name] = "spooled" if written is None else "partial" if partial else "ok"

    def _fenced(self, name: str, write: Callable[[], T]) -> T:
        """The write, after the database confirmed this process still owns the source."""
        if self.ownership is not None:
            self.ownership.fence(source_lease(name))
        return write()

    def _adopt(self, now_ts: int) -> None:
        """Leases gained since the last tick: reload each source's state from the store (its
        previous owner moved its sessions on) and poll it now; lost ones: drop their spool."""
        if self.ownership is None:
            return
        gained, lost = self.ownership.take_changes()
        for source in self.sources:
            name = source_lease(source.poller.name)
            if name in lost:
                self.spool.discard(
                    f"{source.poller.spool_kind}:{source.health.source_id}", source.poller.spool_kind
                )
            if name in gained:
                source.poller.bind(self.engine, source.health.source_id)
                source.health.next_attempt_ts = self._first_poll_ts(source, now_ts)
        for name in sorted(n for n in gained if not n.startswith(MEMBER_PREFIX)):
            log.info("now owns %s", name)
        for name in sorted(n for n in lost - gained if not n.startswith(MEMBER_PREFIX)):
            log.info("no longer owns %s", name)

    def _first_poll_ts(self, source: PolledSource, now_ts: int) -> float:
        """When a gained source is first polled: now, unless its previous owner already wrote
        this second's tick (a lease given back in the second it was written); then a tick later,
        so no tick is written by two collectors."""
        try:
            newest_ts = newest_sample_ts(self.engine, source.health.source_id)
        except Exception:  # the store is out of reach: poll now; the write's fence decides
            newest_ts = None
        interval_s = source.health.interval_s
        if newest_ts is not None and 0 <= newest_ts - now_ts < interval_s:  # not history from a backfill
            return float(newest_ts + interval_s)
        return min(source.health.next_attempt_ts, now_ts)

    def _leads(self) -> bool:
        """This process runs the once-per-tick jobs (always, without ``ownership``)."""
        if self.ownership is None:
            return True
        leads = self.ownership.owns(LEADER)
        if leads:
            try:
                self.ownership.fence(LEADER)
            except Exception:  # NotOwner, or the store is down: the jobs wait
                leads = False
        if leads != self._leading:  # said once per change: a silent stop would go unnoticed
            if leads:
                log.info("leads: runs the rollups, retention, alerts and billing fetches")
            else:
                log.warning("no longer leads: the leader lease is not confirmed (the once-only jobs wait)")
            self._leading = leads
        return leads

    def _health_ok(self, health: SourceHealth, now_ts: int, partial: str | None) -> None:
        try:
            health.succeeded(self.engine, now_ts, partial_error=partial)
        except Exception as exc:  # the store may be the thing that is down; the spool has the data
            log.warning(
                "%s: could not record health: %s", health.name, redact(str(exc)).splitlines()[0][:300]
            )

    # --- the store, or the spool when the store is unavailable ------------------------------

    def _store_through_spool(
        self,
        key: str,
        kind: str,
        ts: int,
        rows: int,
        payload: Callable[[], dict[str, Any]],
        write: Callable[[], T],
        replay: Callable[[dict[str, Any]], object],
    ) -> tuple[T | None, str | None]:
        """Write this tick's snapshot, after any spooled ones of the same source (order matters:
        sessions open and close by successive polls). Returns (write result, note); the result
        is None when the snapshot went to the spool instead."""
        replayed = 0
        if self.spool.pending(key):
            deadline = time.monotonic() + MAX_REPLAY_S
            for batch in self.spool.batches(key):
                if time.monotonic() > deadline:
                    break
                try:
                    replay(batch.payload)
                except Exception as exc:
                    if isinstance(exc, NotOwner):
                        raise
                    if store_unavailable(exc):
                        return None, self._hold(key, kind, ts, rows, payload(), exc)
                    # Bad data fails on every retry: drop it from the spool, counted and logged.
                    log.error(
                        "%s: spooled %s batch at %d refused by the store, dropped: %s",
                        key,
                        kind,
                        batch.ts,
                        redact(str(exc)).splitlines()[0][:300],
                    )
                    self.spool.remove(batch.id, kind, outcome="rejected")
                    continue
                self.spool.remove(batch.id, kind)
                replayed += 1
                self._replayed_since_ts = min(batch.ts, self._replayed_since_ts or batch.ts)
            if self.spool.pending(key):  # more to replay next tick; this snapshot waits its turn
                waiting = (
                    f"replaying spooled samples: {replayed} written, {self.spool.pending(key) + 1} waiting"
                )
                self.spool.push(key, kind, ts, rows, payload())
                log.info("%s: %s", key, waiting)
                return None, waiting
        try:
            result = write()
        except Exception as exc:
            if not store_unavailable(exc):
                raise
            return None, self._hold(key, kind, ts, rows, payload(), exc)
        note: str | None = None
        if replayed:
            note = f"database was unavailable: {replayed} spooled {kind} batch(es) replayed"
            log.info("%s: %s", key, note)
        lost = self._report_spool()
        if lost:
            note = "; ".join(filter(None, [note, lost]))
        return result, note

    def _hold(
        self, key: str, kind: str, ts: int, rows: int, payload: dict[str, Any], exc: BaseException
    ) -> str:
        reason = redact(str(getattr(exc, "orig", None) or exc)).splitlines()[0][:200]
        kept = self.spool.push(key, kind, ts, rows, payload)
        stats = self.spool.stats()
        if kept:
            note = f"database unavailable ({reason}): samples held in the spool ({stats.batches} batches)"
            log.warning("%s: %s", key, note)
        else:
            note = f"database unavailable ({reason}) and spool full: {kind} samples at {ts} NOT stored"
        return note

    def _report_spool(self) -> str | None:
        """Move the spool's counts into collector_counters and its overflow stretches into
        collector_gaps, now that the store answers. Returns a note when samples were lost."""
        counts = self.spool.unreported()
        if counts:
            now_ts = int(time.time())
            for name, value in sorted(counts.items()):
                bump_counter(self.engine, name, value, now_ts)
            self.spool.mark_reported(counts)
        notes = []
        for overflow in self.spool.overflows():
            kind, _, source_id = overflow.key.partition(":")
            reason = (
                f"database unavailable and spool full: {overflow.batches} {kind} batch(es), "
                f"{overflow.rows} rows not stored"
            )
            with self.engine.begin() as connection:
                upsert(
                    connection,
                    schema.collector_gaps,
                    [
                        {
                            "source_id": int(source_id),
                            "start_ts": overflow.first_ts,
                            "end_ts": overflow.last_ts,
                            "reason": reason,
                        }
                    ],
                    update=["end_ts", "reason"],
                )
            self.spool.clear_overflow(overflow)
            log.error("%s: %s (between %d and %d)", overflow.key, reason, overflow.first_ts, overflow.last_ts)
            notes.append(reason)
        return "; ".join(notes) or None

    async def tick(self, now_ts: int | None = None, *, force: bool = False) -> TickReport:
        """Poll every source that is due (all of them with ``force``), then run the hooks."""
        started = time.perf_counter()
        now_ts = int(now_ts if now_ts is not None else time.time())
        self._notice_clock(now_ts)
        self._adopt(now_ts)
        report = TickReport(ts=now_ts)
        tasks = []
        for source in self.sources:
            name = source.poller.name
            if self.ownership is not None and not self.ownership.may_poll(source_lease(name)):
                report.polled[name] = "standby"
            elif force or source.health.due(now_ts):
                tasks.append(self._timed(name, self._run(source, now_ts, report), report))
            else:
                report.polled[name] = "skipped"
        await asyncio.gather(*tasks)
        report.leader = await asyncio.to_thread(self._leads)
        if report.leader:
            await self._once_only(now_ts, force)
        report.duration_s = time.perf_counter() - started
        self._observe(report)
        return report

    async def _once_only(self, now_ts: int, force: bool) -> None:
        """Rollups, retention and the hooks (alerts): on the leader only."""
        await asyncio.to_thread(self._maintenance, now_ts, force)
        for hook in self.hooks:
            try:
                await asyncio.to_thread(hook, self.engine, now_ts)
            except Exception as exc:  # a hook never stops collection
                log.warning("tick hook %s failed: %s", getattr(hook, "__name__", hook), exc)

    @staticmethod
    async def _timed(name: str, poll: Awaitable[None], report: TickReport) -> None:
        started = time.perf_counter()
        try:
            await poll
        finally:
            report.poll_s[name] = time.perf_counter() - started

    def _observe(self, report: TickReport) -> None:
        """castmeter's own metrics (collectors/self_metrics.py) after a tick."""
        stats = self.spool.stats()
        self_metrics.observe_tick(
            report.duration_s, report.ts, report.rows, report.poll_s,
            [(source.health, source.poller.kind) for source in self.sources],
            self_metrics.SpoolState(stats.batches, stats.bytes, stats.oldest_ts, self.spool.max_batches, self.spool.max_bytes),
        )  # fmt: skip

    def _notice_clock(self, now_ts: int) -> None:
        """A wall clock set back would leave every schedule (next attempt, next rollup) far
        in the future: collection would silently stop until the clock caught up."""
        last = self._last_tick_ts
        if last is None:
            # After a restart the previous tick is the newest sample in the store: a clock that
            # jumped while castmeter was down is caught too (a long stop holds retention a day:
            # harmless).
            last = self._newest_stored_ts()
        self._last_tick_ts = now_ts
        if last is not None and now_ts - last > max(
            CLOCK_FORWARD_JUMP_S, 4 * self.settings.collectors.interval_s
        ):
            self._hold_retention(now_ts + RETENTION_HOLD_S)
            log.warning(
                "the clock jumped forward %d s (from %d to %d): retention is held for %d h of steady ticks",
                now_ts - last, last, now_ts, RETENTION_HOLD_S // 3600,
            )  # fmt: skip
            return
        if last is None or now_ts >= last - CLOCK_SLACK_S:
            return
        # Set back: whatever a forward jump held is moot; the clock is being corrected.
        if self._retention_held_until_ts is not None:
            self._release_hold()
        log.warning(
            "the clock went back %d s (from %d to %d): rescheduling every source", last - now_ts, last, now_ts
        )
        for source in self.sources:
            source.health.next_attempt_ts = min(source.health.next_attempt_ts, now_ts)
        self._last_rollup_ts = min(self._last_rollup_ts, now_ts)
        self._last_retention_ts = min(self._last_retention_ts, now_ts)

    def _release_hold(self) -> None:
        self._retention_held_until_ts = None
        try:
            set_retention_hold(self.engine, None)
        except Exception as exc:
            log.warning("could not release the retention hold: %s", redact(str(exc)).splitlines()[0][:200])

    def _newest_stored_ts(self) -> int | None:
        try:
            with self.engine.connect() as connection:
                return newest_sample_ts(connection)
        except Exception:  # the store is down: the spool and the next tick deal with that
            return None

    def _maintenance(self, now_ts: int, force: bool) -> None:
        cfg = self.settings.collectors
        try:
            if (
                force
                or self._replayed_since_ts is not None
                or now_ts - self._last_rollup_ts >= cfg.rollup_every_s
            ):
                # Replayed samples may be older than what the rollups already consider done.
                refresh_rollups(self.engine, now_ts, since_ts=self._replayed_since_ts)
                refresh_usage_daily(self.engine, now_ts, since_ts=self._replayed_since_ts)
                self._last_rollup_ts = now_ts
                self._replayed_since_ts = None
            # After a forward clock jump: keep everything until the clock proves steady.
            held = self._retention_held_until_ts is not None and now_ts < self._retention_held_until_ts
            if not held and (force or now_ts - self._last_retention_ts >= 3600):
                if self._retention_held_until_ts is not None:
                    self._release_hold()
                apply_retention(self.engine, now_ts, self.settings.retention)
                # PostgreSQL: the next days' partitions, made ahead (nothing on SQLite).
                ensure_day_partitions(self.engine, now_ts)
                self._last_retention_ts = now_ts
        except Exception as exc:  # retried next tick; never stops collection
            log.warning("rollups/retention postponed: %s", redact(str(exc)).splitlines()[0][:300])

    async def run_forever(self, stop: asyncio.Event) -> None:
        interval = self.settings.collectors.interval_s
        kinds = Counter(source.poller.kind for source in self.sources)
        log.info(
            "collecting from %d source(s) (%s) every %.0f s",
            len(self.sources),
            ", ".join(f"{kind}: {count}" for kind, count in kinds.items()),
            interval,
        )
        while not stop.is_set():
            report = await self.tick()
            polled = ", ".join(
                f"{name}={state}" for name, state in report.polled.items() if state != "skipped"
            )
            if polled:
                log.info("tick %.2f s: %s", report.duration_s, polled)
            owned = [
                source for source in self.sources
                if self.ownership is None or self.ownership.may_poll(source_lease(source.poller.name))
            ]  # fmt: skip
            next_due = min([source.health.next_attempt_ts for source in owned] + [time.time() + interval])
            await self._pause(stop, next_due)

    async def _pause(self, stop: asyncio.Event, until_ts: float) -> None:
        """Until the next source is due; cut short when a lease moves to or from this process."""
        step_s = math.inf if self.ownership is None else self.ownership.period_s
        while not stop.is_set():
            if self.ownership is not None and self.ownership.changed():
                return
            # At least 50 ms: a source due at X.5 is not due for a tick at int(now) = X.
            left_s = until_ts - time.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.05, min(left_s, step_s)))
            if time.time() >= until_ts:
                return
