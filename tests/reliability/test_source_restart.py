"""Sources killed and restarted during collection: the gap is reported, collection resumes
by itself, and counters that restarted are neither counted twice nor negative."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from livekit import api
from sqlalchemy import Engine, select

from collectors.runner import Collector
from collectors.spool import Spool
from core.settings import CollectorSettings, LiveKitSource, PrometheusSource, Settings
from harness.realparts import free_port, wait_http
from simulator.model import FleetModel
from simulator.server import FleetServer
from store import schema
from store.engine import open_store
from tests.reliability.helpers import EVENING, KEY, SECRET, count, fleet, livekit_source, run

pytestmark = pytest.mark.slow
FAST = CollectorSettings(interval_s=0.3, max_backoff_s=0.6, rollup_every_s=5)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return open_store(f"sqlite:///{tmp_path / 'restart.db'}")


def _health(engine: Engine, name: str) -> Any:
    with engine.connect() as connection:
        return connection.execute(
            select(schema.source_health)
            .join(schema.sources, schema.sources.c.id == schema.source_health.c.source_id)
            .where(schema.sources.c.name == name)
        ).one_or_none()


def _gaps(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        return list(
            connection.execute(select(schema.collector_gaps).order_by(schema.collector_gaps.c.start_ts))
        )


async def _until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def _status(engine: Engine, name: str) -> str | None:
    row = _health(engine, name)
    return None if row is None else str(row.status)


def test_simulated_livekit_killed_and_restarted(engine: Engine, tmp_path: Path) -> None:
    port = free_port()

    async def scenario() -> None:
        settings = Settings(collectors=FAST, livekit=[livekit_source(f"http://127.0.0.1:{port}")])
        stop = asyncio.Event()
        async with fleet(api_port=port, speed=60):
            collector = Collector(settings, engine, spool=Spool(tmp_path / "spool"))
            loop = asyncio.create_task(collector.run_forever(stop))
            await _until(lambda: _status(engine, "sim") == "ok", 30, "first successful poll")
        # The server is gone (its port refuses connections).
        await _until(lambda: _status(engine, "sim") == "failing", 30, "the failure to be recorded")
        assert [gap.end_ts for gap in _gaps(engine)] == [None]
        await asyncio.sleep(1.0)
        async with fleet(api_port=port, speed=60):  # a new process on the same address
            await _until(lambda: _status(engine, "sim") == "ok", 30, "collection to resume by itself")
            stop.set()
            await asyncio.wait_for(loop, 30)

    run(scenario())
    [gap] = _gaps(engine)
    assert gap.end_ts is not None and gap.end_ts >= gap.start_ts and "cannot connect" in gap.reason
    rooms, parts = schema.room_sessions, schema.participant_sessions
    assert count(engine, rooms, rooms.c.ended_ts < rooms.c.started_ts) == 0
    assert count(engine, parts, parts.c.left_ts < parts.c.joined_ts) == 0


@pytest.mark.e2e
def test_real_livekit_server_killed_and_restarted(
    engine: Engine, tmp_path: Path, livekit_server_bin: Path
) -> None:
    from harness.livekit import start_livekit_server

    server = start_livekit_server(livekit_server_bin, tmp_path / "lk")
    restarted: subprocess.Popen[bytes] | None = None
    try:
        source = LiveKitSource(
            name="lk",
            url=server.http_url,
            api_key=server.api_key,
            api_secret=server.api_secret,  # type: ignore[arg-type]
            poll_egress=False,
            poll_ingress=False,
        )

        async def create_room(name: str) -> None:
            async with api.LiveKitAPI(server.http_url, server.api_key, server.api_secret) as lkapi:
                await lkapi.room.create_room(api.CreateRoomRequest(name=name, empty_timeout=600))

        async def scenario() -> None:
            nonlocal restarted
            await create_room("before-crash")
            stop = asyncio.Event()
            collector = Collector(
                Settings(collectors=FAST, livekit=[source]), engine, spool=Spool(tmp_path / "spool")
            )
            loop = asyncio.create_task(collector.run_forever(stop))
            await _until(lambda: count(engine, schema.room_sessions) == 1, 30, "the room to be collected")
            os.kill(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=10)
            await _until(lambda: _status(engine, "lk") == "failing", 30, "the failure to be recorded")
            with (tmp_path / "lk" / "restarted.log").open("ab") as log:
                restarted = subprocess.Popen(
                    [str(livekit_server_bin), "--config", str(server.config_path)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=tmp_path / "lk",
                )
            await asyncio.to_thread(wait_http, server.http_url + "/", 30, process=restarted)
            await create_room("after-restart")
            await _until(
                lambda: count(engine, schema.room_sessions) == 2 and _status(engine, "lk") == "ok",
                30,
                "collection to resume by itself",
            )
            stop.set()
            await asyncio.wait_for(loop, 30)

        run(scenario())
    finally:
        server.stop()
        if restarted is not None and restarted.poll() is None:
            restarted.terminate()
            restarted.wait(timeout=15)
    [gap] = _gaps(engine)
    assert gap.end_ts is not None and gap.end_ts >= gap.start_ts
    rooms = schema.room_sessions
    with engine.connect() as connection:
        by_name = {r.room_name: r for r in connection.execute(select(rooms))}
    # The room that died with the server ended at its last sighting, not before it began.
    assert by_name["before-crash"].ended_ts is not None
    assert by_name["before-crash"].ended_ts >= by_name["before-crash"].started_ts
    assert by_name["after-restart"].ended_ts is None


@pytest.mark.prometheus
def test_prometheus_and_the_node_killed_and_restarted(
    engine: Engine, tmp_path: Path, prometheus_server: Callable[..., Any]
) -> None:
    api_port, metrics_port = free_port(), free_port()

    def node(speed: float = 1.0) -> FleetServer:
        return FleetServer(
            FleetModel("dj-radio", nodes=1),
            api_port=api_port,
            metrics_port=metrics_port,
            api_key=KEY,
            api_secret=SECRET,
            sim_start=EVENING,
            speed=speed,
        )

    def bytes_out() -> list[float]:
        samples = schema.node_samples
        with engine.connect() as connection:
            return [
                float(v)
                for v in connection.execute(
                    select(samples.c.bytes_out_per_s)
                    .where(samples.c.bytes_out_per_s.is_not(None))
                    .order_by(samples.c.ts)
                ).scalars()
            ]

    async def scenario() -> tuple[float, list[float], int]:
        server = node()
        await server.start()
        prom = await asyncio.to_thread(prometheus_server, server.metrics_targets, scrape_interval="1s")
        settings = Settings(prometheus=[PrometheusSource(name="prom", url=prom.url, rate_window="10s")])
        collector = Collector(settings, engine, spool=Spool(tmp_path / "spool"))
        expected = float(server.fleet.snapshot().nodes["bytes_out_per_s"].iloc[0])
        await asyncio.sleep(11)  # a full rate() window of scrapes
        deadline = time.monotonic() + 40
        while not bytes_out() and time.monotonic() < deadline:
            await collector.tick(force=True)
            await asyncio.sleep(1)
        before_restart = len(bytes_out())
        assert before_restart, "no node samples before the restart"
        # The LiveKit node restarts: its counters start again from zero.
        await server.stop()
        await asyncio.sleep(2)
        server = node()
        await server.start()
        for _ in range(14):  # the whole rate() window straddles the reset
            await asyncio.sleep(1)
            await collector.tick(force=True)
        # Prometheus itself killed (SIGKILL) and restarted on the same address and storage.
        os.kill(prom.process.pid, signal.SIGKILL)
        prom.process.wait(timeout=10)
        report = await collector.tick(force=True)
        assert report.polled == {"prom": "failed"}
        assert _status(engine, "prom") == "failing" and [g.end_ts for g in _gaps(engine)] == [None]
        with prom.log_path.open("ab") as log:
            prom.process = subprocess.Popen(
                prom.process.args, stdout=log, stderr=subprocess.STDOUT, cwd=prom.config_path.parent
            )
        await asyncio.to_thread(wait_http, f"{prom.url}/-/ready", 60, process=prom.process)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            await asyncio.sleep(1)
            report = await collector.tick(force=True)
            if report.polled == {"prom": "ok"}:
                break
        assert report.polled == {"prom": "ok"}, report
        await server.stop()
        return expected, bytes_out(), before_restart

    expected, values, before_restart = run(scenario())
    assert len(values) > before_restart
    # rate() handles the reset: never negative, never the whole counter counted again.
    assert min(values) >= 0
    assert max(values) < 3 * expected, (expected, values)
    [gap] = _gaps(engine)
    assert gap.end_ts is not None and gap.end_ts >= gap.start_ts
