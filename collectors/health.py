"""Per-source health: exponential backoff after failures, gap reports, and the health table.

A failing source is retried with backoff (interval · 2^failures, capped) while the other
sources keep their own schedule. Each failure stretch is recorded as a gap so pages can
say "no data from X between A and B" instead of drawing a silent hole.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field

from sqlalchemy import Engine, select, update

from core.logs import redact
from store import schema
from store.upsert import upsert

log = logging.getLogger(__name__)

MAX_ERROR_CHARS = 500


def ensure_source(engine: Engine, name: str, kind: str, url: str) -> int:
    """The id of the source row named ``name`` (created on first use; url refreshed)."""
    now_ts = int(time.time())
    with engine.begin() as connection:
        upsert(
            connection,
            schema.sources,
            [{"name": name, "kind": kind, "url": url, "created_ts": now_ts}],
            update=["kind", "url"],
            conflict=["name"],
        )
    with engine.connect() as connection:
        source_id = connection.execute(
            select(schema.sources.c.id).where(schema.sources.c.name == name)
        ).scalar_one()
    return int(source_id)


@dataclass
class SourceHealth:
    """In-memory schedule of one source; persisted to ``source_health`` after each attempt."""

    source_id: int
    name: str
    interval_s: float
    max_backoff_s: float
    consecutive_failures: int = 0
    next_attempt_ts: float = 0.0
    failing_since_ts: float | None = None
    last_success_ts: float | None = None
    last_error: str | None = None
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def due(self, now_ts: float) -> bool:
        return now_ts >= self.next_attempt_ts

    def backoff_s(self) -> float:
        if self.consecutive_failures == 0:
            return self.interval_s
        base = min(self.max_backoff_s, self.interval_s * 2 ** (self.consecutive_failures - 1))
        # Jitter keeps many failing sources from retrying in lockstep.
        return float(base * (0.8 + 0.4 * self._rng.random()))

    def succeeded(self, engine: Engine, now_ts: float, *, partial_error: str | None = None) -> None:
        recovered_from = self.failing_since_ts
        if recovered_from is not None:
            log.info("%s: recovered after %.0f s without data", self.name, now_ts - recovered_from)
        self.consecutive_failures = 0
        self.failing_since_ts = None
        self.last_success_ts = now_ts
        self.last_error = _clean(partial_error) if partial_error else None
        self.next_attempt_ts = now_ts + self.interval_s
        self._persist(
            engine,
            now_ts,
            "partial" if partial_error else "ok",
            closed_gap_at=now_ts if recovered_from else None,
        )

    def failed(self, engine: Engine | None, now_ts: float, error: BaseException | str) -> None:
        self.consecutive_failures += 1
        self.last_error = _clean(error)
        if self.failing_since_ts is None:
            self.failing_since_ts = now_ts
        delay = self.backoff_s()
        self.next_attempt_ts = now_ts + delay
        log.warning(
            "%s: %s (failure %d, retrying in %.0f s)",
            self.name,
            self.last_error,
            self.consecutive_failures,
            delay,
        )
        if engine is not None:
            try:
                self._persist(engine, now_ts, "failing")
            except Exception as exc:  # the database may be the thing that is down
                log.warning("%s: could not record health: %s", self.name, _clean(exc))

    def _persist(
        self, engine: Engine, now_ts: float, status: str, *, closed_gap_at: float | None = None
    ) -> None:
        row = {
            "source_id": self.source_id,
            "status": status,
            "last_attempt_ts": int(now_ts),
            "last_success_ts": int(self.last_success_ts) if self.last_success_ts else None,
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
            "next_attempt_ts": int(self.next_attempt_ts),
            "failing_since_ts": int(self.failing_since_ts) if self.failing_since_ts else None,
        }
        with engine.begin() as connection:
            upsert(connection, schema.source_health, [row])
            if self.failing_since_ts is not None:
                upsert(
                    connection,
                    schema.collector_gaps,
                    [
                        {
                            "source_id": self.source_id,
                            "start_ts": int(self.failing_since_ts),
                            "end_ts": None,
                            "reason": self.last_error,
                        }
                    ],
                    update=["reason"],
                )
            if closed_gap_at is not None:
                gaps = schema.collector_gaps
                connection.execute(
                    update(gaps)
                    .where(gaps.c.source_id == self.source_id, gaps.c.end_ts.is_(None))
                    .values(end_ts=int(closed_gap_at))
                )


def _clean(error: BaseException | str) -> str:
    """A one-line, secret-free, bounded description of an error."""
    if isinstance(error, BaseException):
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    else:
        text = error
    text = redact(" ".join(text.split()))
    return text[:MAX_ERROR_CHARS]
