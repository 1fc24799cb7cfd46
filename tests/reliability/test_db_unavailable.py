"""The store unavailable during collection: SQLite locked by another writer, PostgreSQL
stopped. Samples wait in the bounded spool and are written, in order, when it returns;
what overflows the bound is counted and reported, never silently dropped."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from collectors.runner import Collector
from collectors.spool import Spool
from collectors.webhook_sessions import read_counters
from core.settings import Settings
from harness.realparts import REPO_ROOT
from store import schema
from store.engine import open_store
from tests.reliability.helpers import StoppablePostgres, count, fleet, livekit_source, run

pytestmark = pytest.mark.slow  # waits out lock timeouts and backoff (3-14 s each)

T0 = 1_900_000_000
TICK_S = 15


def _sample_times(engine: Engine) -> list[int]:
    samples = schema.room_samples
    with engine.connect() as connection:
        return [
            int(ts)
            for ts in connection.execute(select(samples.c.ts).distinct().order_by(samples.c.ts)).scalars()
        ]


def _health(engine: Engine) -> tuple[str, str | None]:
    with engine.connect() as connection:
        row = connection.execute(
            select(schema.source_health.c.status, schema.source_health.c.last_error)
        ).one()
    return str(row.status), row.last_error


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    path = tmp_path / "castmeter.db"
    engine = open_store(f"sqlite:///{path}", busy_timeout_ms=200)
    yield str(path), engine
    engine.dispose()


def _lock(path: str) -> sqlite3.Connection:
    """Another writer holding a write transaction open."""
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    locker.execute("INSERT INTO collector_counters (name, value, updated_ts) VALUES ('other.writer', 1, 1)")
    return locker


def test_sqlite_locked_spools_then_replays_in_order(sqlite_db: tuple[str, Engine], tmp_path: Path) -> None:
    path, engine = sqlite_db
    spool = Spool(tmp_path / "spool")

    async def scenario() -> None:
        async with fleet() as server:
            collector = Collector(Settings(livekit=[livekit_source(server.api_url)]), engine, spool=spool)
            assert (await collector.tick(T0, force=True)).polled == {"sim": "ok"}
            locker = _lock(path)
            try:
                for step in (1, 2, 3):
                    report = await collector.tick(T0 + step * TICK_S, force=True)
                    assert report.polled == {"sim": "spooled"}, report
            finally:
                locker.rollback()
                locker.close()
            assert spool.pending() == 3
            report = await collector.tick(T0 + 4 * TICK_S, force=True)
            assert report.polled == {"sim": "partial"}

    run(scenario())
    assert _sample_times(engine) == [T0 + step * TICK_S for step in range(5)]  # nothing lost, in order
    assert spool.pending() == 0
    counters = read_counters(engine, "spool.")
    assert counters == {"spool.rooms.spooled_batches": 3, "spool.rooms.replayed_batches": 3}
    status, error = _health(engine)
    assert status == "partial" and error is not None and "3 spooled rooms batch(es) replayed" in error
    # The rollups saw the replayed samples (they were written after the rollups had moved on).
    assert count(engine, schema.room_samples_1m) > 0
    parts = schema.participant_sessions
    assert count(engine, parts, parts.c.left_ts < parts.c.joined_ts) == 0


def test_spool_overflow_is_counted_and_reported(
    sqlite_db: tuple[str, Engine], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, engine = sqlite_db
    spool = Spool(tmp_path / "spool", max_batches=2)

    async def scenario() -> int:
        async with fleet() as server:
            collector = Collector(Settings(livekit=[livekit_source(server.api_url)]), engine, spool=spool)
            await collector.tick(T0, force=True)
            locker = _lock(path)
            try:
                for step in (1, 2, 3, 4):
                    await collector.tick(T0 + step * TICK_S, force=True)
            finally:
                locker.rollback()
                locker.close()
            await collector.tick(T0 + 5 * TICK_S, force=True)
            return len(server.fleet.snapshot().rooms)

    run(scenario())
    # Ticks 3 and 4 did not fit: a visible gap, not a silent hole.
    assert _sample_times(engine) == [T0, T0 + TICK_S, T0 + 2 * TICK_S, T0 + 5 * TICK_S]
    counters = read_counters(engine, "spool.")
    assert counters["spool.rooms.overflow_batches"] == 2 and counters["spool.rooms.overflow_rows"] > 0
    assert counters["spool.rooms.spooled_batches"] == 2 and counters["spool.rooms.replayed_batches"] == 2
    with engine.connect() as connection:
        gaps = connection.execute(select(schema.collector_gaps)).all()
    assert [(g.start_ts, g.end_ts) for g in gaps] == [(T0 + 3 * TICK_S, T0 + 4 * TICK_S)]
    assert "spool full" in gaps[0].reason and "2 rooms batch(es)" in gaps[0].reason
    status, error = _health(engine)
    assert status == "partial" and error is not None and "spool full" in error
    assert "NOT kept" in caplog.text and "not stored" in caplog.text


@pytest.mark.postgres
def test_postgresql_stopped_and_started_again(tmp_path: Path) -> None:
    postgres = StoppablePostgres.start()
    try:
        url = postgres.server.create_database()
        engine = open_store(url, busy_timeout_ms=2000)
        spool = Spool(tmp_path / "spool")

        async def scenario() -> None:
            async with fleet() as server:
                collector = Collector(Settings(livekit=[livekit_source(server.api_url)]), engine, spool=spool)
                assert (await collector.tick(T0, force=True)).polled == {"sim": "ok"}
                postgres.stop_server()
                for step in (1, 2):
                    report = await collector.tick(T0 + step * TICK_S, force=True)
                    assert report.polled == {"sim": "spooled"}, report
                assert spool.pending() == 2
                postgres.start_server()
                report = await collector.tick(T0 + 3 * TICK_S, force=True)
                assert report.polled == {"sim": "partial"}, report

        run(scenario())
        assert _sample_times(engine) == [T0 + step * TICK_S for step in range(4)]
        assert read_counters(engine, "spool.") == {
            "spool.rooms.spooled_batches": 2,
            "spool.rooms.replayed_batches": 2,
        }
        engine.dispose()
    finally:
        postgres.close()


@pytest.mark.postgres
def test_collectors_run_waits_for_postgresql_that_is_down_at_start(tmp_path: Path) -> None:
    """`collectors run` started while PostgreSQL is down: it says so, retries with backoff, and
    collects once the server is up — it does not exit. (A one-off run gives up after 30 s.)"""
    postgres = StoppablePostgres.start()
    try:
        url = postgres.server.create_database()
        postgres.stop_server()
        config = tmp_path / "castmeter.toml"
        # A Prometheus source that does not answer: the tick runs (and reports it failed).
        config.write_text(
            f'[database]\nurl = "{url}"\n[[prometheus]]\nname = "p"\nurl = "http://127.0.0.1:9"\n'
        )
        env = {**os.environ, "CASTMETER_CONFIG": str(config), "PYTHONPATH": str(REPO_ROOT)}
        process = subprocess.Popen(
            [sys.executable, "-m", "collectors", "run", "--once", "--config", str(config)],
            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        # Start the server only once the collector has met it down (its start-up can take
        # seconds on a loaded machine: a fixed sleep let it find the server already up).
        lines: list[str] = []
        assert process.stderr is not None
        reader = threading.Thread(target=lambda: lines.extend(iter(process.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
        reader.start()
        deadline = time.monotonic() + 60
        while not any("database unavailable" in line for line in lines) and time.monotonic() < deadline:
            assert process.poll() is None, "".join(lines)
            time.sleep(0.2)
        assert process.poll() is None, "".join(lines)
        postgres.start_server()
        assert process.stdout is not None
        stdout = process.stdout.read()
        process.wait(timeout=60)
        reader.join(timeout=10)
        stderr = "".join(lines)
        assert process.returncode == 0, stderr
        assert "database unavailable" in stderr and "retrying in" in stderr
        assert "database available after" in stderr
        assert json.loads(stdout.strip().splitlines()[-1])["polled"] == {"p": "failed"}
        engine = open_store(url)
        assert count(engine, schema.source_health) == 1  # it got in and recorded the source
        engine.dispose()
    finally:
        postgres.close()
