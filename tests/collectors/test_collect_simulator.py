"""The collectors against the simulator (real Twirp protocol) and a real Prometheus server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from collectors.runner import Collector
from core.settings import LiveKitSource, PrometheusSource, Settings
from harness.realparts import clock_env, free_port
from simulator.model import DAY_S, FleetModel
from simulator.server import FleetServer
from store import schema
from store.engine import open_store

KEY, SECRET = "collectkey", "collect-secret-0123456789-0123456789"
EVENING = 20_000 * DAY_S + 20 * 3600  # live rooms in every audio scenario
ROOT = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def fleet(scenario: str = "dj-radio", **kwargs: Any) -> AsyncIterator[FleetServer]:
    server = FleetServer(
        FleetModel(scenario, nodes=kwargs.pop("nodes", None)),
        api_port=0,
        metrics_port=0,
        api_key=KEY,
        api_secret=SECRET,
        sim_start=EVENING,
        **kwargs,
    )
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def _source(url: str, name: str = "sim", secret: str = SECRET) -> LiveKitSource:
    return LiveKitSource(name=name, url=url, api_key=KEY, api_secret=secret)  # type: ignore[arg-type]


def _count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return open_store(f"sqlite:///{tmp_path / 'collect.db'}")


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=120))


def test_tick_fills_rooms_participants_and_egress(engine: Engine) -> None:
    async def scenario() -> None:
        async with fleet("dj-radio") as server:
            snap = server.fleet.snapshot()
            collector = Collector(Settings(livekit=[_source(server.api_url)]), engine)
            report = await collector.tick(force=True)
            assert report.polled == {"sim": "ok"}
            assert _count(engine, schema.room_sessions) == len(snap.rooms)
            standard = snap.participants[snap.participants["kind"] == "STANDARD"]
            assert _count(
                engine, schema.participant_sessions, schema.participant_sessions.c.kind == "STANDARD"
            ) == len(standard)
            # num_publishers counts every publisher, the RTMP ingress participant included.
            publishers = int(snap.participants["is_publisher"].sum())
            with engine.connect() as c:
                totals = c.execute(
                    select(
                        func.sum(schema.room_samples.c.publishers), func.sum(schema.room_samples.c.listeners)
                    )
                ).one()
            assert totals[0] == publishers
            assert totals[1] == len(standard) - int(standard["is_publisher"].sum())
            # ListEgress(active=True): the egress that are live now.
            assert _count(engine, schema.egress_status) == int(snap.egress["ended_ts"].isna().sum())
            assert _count(engine, schema.ingress_status) == len(snap.ingress)

    run(scenario())


def test_a_failing_source_does_not_stop_the_others(engine: Engine) -> None:
    dead_port = free_port()

    async def scenario() -> None:
        async with fleet("dj-radio") as server:
            settings = Settings(
                livekit=[
                    _source(server.api_url, "good"),
                    _source(f"http://127.0.0.1:{dead_port}", "down"),
                    _source(server.api_url, "badkey", secret="wrong-secret-wrong-secret-wrong-secret"),
                ]
            )
            collector = Collector(settings, engine)
            report = await collector.tick(force=True)
            assert report.polled == {"good": "ok", "down": "failed", "badkey": "failed"}
            with engine.connect() as c:
                health = {
                    row.name: row
                    for row in c.execute(
                        select(
                            schema.sources.c.name,
                            schema.source_health.c.status,
                            schema.source_health.c.last_error,
                        ).join(schema.source_health, schema.sources.c.id == schema.source_health.c.source_id)
                    )
                }
            assert health["good"].status == "ok"
            assert health["down"].status == "failing" and "cannot connect" in health["down"].last_error
            assert "401" in health["badkey"].last_error and "check api_key" in health["badkey"].last_error
            assert "wrong-secret" not in health["badkey"].last_error
            assert _count(engine, schema.room_sessions) > 0

    run(scenario())


def test_server_without_redis_is_partial_not_failed(engine: Engine) -> None:
    async def scenario() -> None:
        async with fleet("dj-radio", no_redis=True) as server:
            collector = Collector(Settings(livekit=[_source(server.api_url)]), engine)
            report = await collector.tick(force=True)
            assert report.polled == {"sim": "partial"}
            assert _count(engine, schema.room_sessions) > 0
            with engine.connect() as c:
                error = c.execute(select(schema.source_health.c.last_error)).scalar_one()
            assert "redis required" in error

    run(scenario())


@pytest.mark.slow
def test_sessions_end_when_participants_leave(engine: Engine) -> None:
    async def scenario() -> None:
        # 600x: ten simulated minutes per real second, so sessions end between two ticks.
        async with fleet("dj-radio", speed=600) as server:
            collector = Collector(Settings(livekit=[_source(server.api_url)]), engine)
            await collector.tick(force=True)
            await asyncio.sleep(2.0)
            await collector.tick(force=True)
            parts = schema.participant_sessions
            assert _count(engine, parts, parts.c.left_ts.is_not(None)) > 0
            with engine.connect() as c:
                bad = c.execute(
                    select(func.count()).select_from(parts).where(parts.c.left_ts < parts.c.joined_ts)
                )
                assert bad.scalar_one() == 0

    run(scenario())


def test_prometheus_poller_reads_the_simulated_nodes(
    engine: Engine, prometheus_server: Callable[..., Any]
) -> None:
    async def scenario() -> None:
        async with fleet("dj-radio", nodes=2) as server:
            prom = await asyncio.to_thread(prometheus_server, server.metrics_targets, scrape_interval="1s")
            # No node_cpu_cores: CPU % is normalized by go_sched_gomaxprocs_threads, as on a real server.
            settings = Settings(prometheus=[PrometheusSource(name="prom", url=prom.url, rate_window="10s")])
            collector = Collector(settings, engine)
            started = time.monotonic()
            deadline = started + 60
            while time.monotonic() < deadline:
                await asyncio.sleep(2)
                if time.monotonic() - started < 12:  # a full rate() window of scrapes first
                    continue
                report = await collector.tick(force=True)
                with engine.connect() as c:
                    rows = c.execute(
                        select(schema.node_samples)
                        .where(
                            schema.node_samples.c.bytes_out_per_s.is_not(None),
                            schema.node_samples.c.cpu_pct.is_not(None),
                        )
                        .order_by(schema.node_samples.c.ts.desc())
                    ).all()
                if report.polled.get("prom") == "ok" and len({r.node_id for r in rows}) == 2:
                    break
            assert len({r.node_id for r in rows}) == 2, report
            expected = server.fleet.snapshot().nodes.set_index("node_id")
            for row in rows[:2]:
                assert row.rooms == pytest.approx(expected.loc[row.node_id, "rooms"], abs=2)
                # rate() over a 10 s window vs the model's value at a later instant, with listeners
                # churning in between: within 40 %. (tests/simulator/test_prometheus.py pins the
                # counters to the model within 5 % at a fixed instant.)
                want = float(expected.loc[row.node_id, "bytes_out_per_s"])
                assert row.bytes_out_per_s == pytest.approx(want, rel=0.4)
                assert 0 < row.cpu_pct < 100

    run(scenario())


@pytest.mark.slow
def test_cli_once_against_the_simulator(tmp_path: Path) -> None:
    api_port = free_port()
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator",
            "--scenario",
            "tours",
            "--api-port",
            str(api_port),
            "--metrics-port",
            "0",
            "--api-key",
            KEY,
        ],
        cwd=ROOT,
        env={**os.environ, "LIVEKIT_API_SECRET": SECRET},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        db = tmp_path / "cli.db"
        env = {
            **clock_env(),
            "PATH": "/usr/bin:/bin",
            "LIVEKIT_URL": f"http://127.0.0.1:{api_port}",
            "LIVEKIT_API_KEY": KEY,
            "LIVEKIT_API_SECRET": SECRET,
            "CASTMETER_DB_URL": f"sqlite:///{db}",
            "HOME": str(tmp_path),
        }
        deadline = time.monotonic() + 60
        while True:
            result = subprocess.run(
                [sys.executable, "-m", "collectors", "run", "--once"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if '"livekit": "ok"' in result.stdout or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert result.returncode == 0, result.stderr
        assert '"livekit": "ok"' in result.stdout
        assert SECRET not in result.stdout + result.stderr
        assert _count(open_store(f"sqlite:///{db}"), schema.sources) == 1
    finally:
        sim.terminate()
        sim.wait(timeout=10)


@pytest.mark.slow
def test_an_egress_that_ended_keeps_its_final_state(engine: Engine) -> None:
    """The collector lists active egress; one that is no longer listed is asked for by id, so a
    failed recording is stored as EGRESS_FAILED with its error, not closed as complete."""
    from simulator.scripted import ScriptedFleet, load_script

    script = load_script(ROOT / "tests" / "knownanswer" / "fleet.yaml")
    model = ScriptedFleet(script)

    async def scenario() -> None:
        # radio-2's recorder fails at T0+180: start the fleet 2 s before that.
        server = FleetServer(model, api_port=0, metrics_port=0, api_key=KEY, api_secret=SECRET,
                             sim_start=script.start_ts + 178)  # fmt: skip
        await server.start()
        try:
            collector = Collector(Settings(livekit=[_source(server.api_url)]), engine)
            await collector.tick(force=True)
            await asyncio.sleep(3)
            await collector.tick(force=True)
        finally:
            await server.stop()

    run(scenario())
    with engine.connect() as connection:
        rows = {r.egress_id: r for r in connection.execute(select(schema.egress_status)).all()}
    assert rows["EG_ka_rec2"].status == "EGRESS_FAILED" and rows["EG_ka_rec2"].error == "pipeline frozen"
    assert rows["EG_ka_rec1"].status == "EGRESS_ACTIVE"
