"""Per-source backoff and gap reports."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from collectors.health import SourceHealth, ensure_source
from core.logs import register_secret
from store import schema
from store.engine import open_store


def test_backoff_grows_and_resets(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    source_id = ensure_source(engine, "lk", "livekit", "http://127.0.0.1:1")
    assert ensure_source(engine, "lk", "livekit", "http://127.0.0.1:1") == source_id
    health = SourceHealth(source_id, "lk", interval_s=10, max_backoff_s=60)
    delays = []
    for attempt in range(6):
        health.failed(engine, 1000 + attempt, ConnectionError("refused"))
        delays.append(health.next_attempt_ts - (1000 + attempt))
    assert delays[0] < delays[2] < delays[4]
    assert max(delays) <= 60 * 1.2
    with engine.connect() as c:
        row = c.execute(select(schema.source_health)).one()
        gap = c.execute(select(schema.collector_gaps)).one()
    assert row.status == "failing" and row.consecutive_failures == 6 and "refused" in row.last_error
    assert gap.start_ts == 1000 and gap.end_ts is None
    health.succeeded(engine, 2000)
    assert health.next_attempt_ts == 2010
    with engine.connect() as c:
        row = c.execute(select(schema.source_health)).one()
        gap = c.execute(select(schema.collector_gaps)).one()
    assert row.status == "ok" and row.consecutive_failures == 0 and row.last_error is None
    assert gap.end_ts == 2000


def test_errors_are_recorded_without_secrets(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'h.db'}")
    register_secret("hunter2-very-secret")
    health = SourceHealth(ensure_source(engine, "lk", "livekit", "x"), "lk", 10, 60)
    health.failed(engine, 1000, RuntimeError("auth failed for hunter2-very-secret"))
    with engine.connect() as c:
        error = c.execute(select(schema.source_health.c.last_error)).scalar_one()
    assert "hunter2" not in error and "***" in error
