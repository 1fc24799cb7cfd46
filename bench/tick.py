"""Bench: one collector tick at platform scale, and the collector process's RSS after several.

    .venv/bin/python bench/tick.py [--db URL] [--ticks 8] [--no-prometheus]

The simulator runs platform-500 in a SEPARATE process (bench/_sim_peak.py), its clock set to
yesterday's busiest point (most listeners). When Debian's ``prometheus`` is installed, a real
Prometheus scrapes the simulated nodes and the collector polls it too, as in production.
This process is the collector (it imports only what ``collectors run`` imports, plus psutil
and the small Prometheus launcher): ticks are spaced one collection interval apart on the
collector's clock (``now_ts`` advanced by ``interval_s``, so every source is due), with
rollups every ``rollup_every_s`` as configured. Wall time and this process's CPU time (all
threads) are measured per tick. The first tick opens every session (inserts); the figure
reported is the median of the later, steady ones, with the first and the worst beside it.

The store is a fresh SQLite file by default (the collector's steady state does not depend on
history), or ``--db`` (e.g. an empty PostgreSQL database). Prints JSON with
tick_s_platform500, tick_cpu_s_platform500 and collector_rss_mb.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import REPO_ROOT, backend, emit

TARGET_WALL_S, TARGET_CPU_S, TARGET_RSS_MB = 2.0, 1.0, 150.0
# The simulator's default key pair (livekit-server --dev's), spelled out: importing
# simulator.server here would load the simulator's modules into the collector process and
# inflate collector_rss_mb.
DEV_API_KEY, DEV_API_SECRET = "devkey", "secret"
BENCH_DB_ENV = "CASTMETER_BENCH_TICK_DB"


def start_simulator() -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "bench" / "_sim_peak.py")],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    deadline = time.monotonic() + 180
    facts: dict[str, str] = {}  # key=value pairs of the PEAK and READY lines
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the simulator exited ({process.poll()})")
        if line.startswith(("PEAK", "READY")):
            facts.update(re.findall(r"(\w+)=(\S+)", line))
        if line.startswith("READY"):
            return process, facts
    raise TimeoutError("the simulator did not print READY")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 1e6


async def run_ticks(url: str, api_url: str, prometheus_url: str | None, ticks: int) -> list[dict[str, Any]]:
    from collectors.runner import Collector
    from core.settings import LiveKitSource, PrometheusSource, Settings
    from store.engine import open_store

    settings = Settings(
        database={"url": url},  # type: ignore[arg-type]
        livekit=[
            LiveKitSource(
                name="bench-livekit",
                url=api_url,
                api_key=DEV_API_KEY,
                api_secret=DEV_API_SECRET,  # type: ignore[arg-type]
            )
        ],
        prometheus=[PrometheusSource(name="bench-prometheus", url=prometheus_url)] if prometheus_url else [],
    )
    engine = open_store(url)
    with tempfile.TemporaryDirectory(prefix="castmeter-bench-spool-") as spool_dir:
        from collectors.spool import Spool

        collector = Collector(settings, engine, spool=Spool(Path(spool_dir)))
        interval_s = settings.collectors.interval_s
        now_ts = int(time.time())
        out = []
        for index in range(ticks):
            started, started_cpu = time.perf_counter(), time.process_time()
            report = await collector.tick(now_ts + int(index * interval_s))
            out.append({
                "wall_s": time.perf_counter() - started,
                "cpu_s": time.process_time() - started_cpu,
                "polled": report.polled,
                "rows": report.rows,
                "rss_mb": rss_mb(),
            })  # fmt: skip
    engine.dispose()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=os.environ.get(BENCH_DB_ENV) or None,
                        help=f"an EMPTY store for the collector (default ${BENCH_DB_ENV}, else a temporary SQLite file)")  # fmt: skip
    parser.add_argument("--ticks", type=int, default=8)
    parser.add_argument("--no-prometheus", action="store_true")
    args = parser.parse_args()
    result: dict[str, Any] = {"bench": "tick", "scenario": "platform-500",
                              "targets": {"wall_s": TARGET_WALL_S, "cpu_s": TARGET_CPU_S, "rss_mb": TARGET_RSS_MB}}  # fmt: skip
    simulator: subprocess.Popen[str] | None = None
    prometheus: Any = None
    workdir = Path(tempfile.mkdtemp(prefix="castmeter-bench-tick-"))
    try:
        simulator, ready = start_simulator()
        result["simulator"] = {"sim_start_ts": int(ready.get("sim_start", 0)), "rooms_at_start": int(ready.get("rooms", 0)),
                               "listeners_at_start": int(ready.get("listeners", 0)), "pid": simulator.pid}  # fmt: skip
        prometheus_url = None
        if not args.no_prometheus:
            from simulator.demo_prometheus import DemoPrometheus, prometheus_binary

            if prometheus_binary() is not None:
                livekit_job: dict[str, object] = {
                    "job_name": "livekit",
                    "static_configs": [{"targets": ready["metrics"].split(",")}],
                }
                prometheus = DemoPrometheus(free_port(), [livekit_job], workdir / "prometheus")
                prometheus.start()
                time.sleep(2.5 * prometheus.scrape_interval_s)  # two scrapes: rate() needs them
                prometheus_url = prometheus.url
            else:
                result["prometheus_note"] = "no prometheus binary: LiveKit API only"
        url = args.db or f"sqlite:///{workdir / 'collector.db'}"
        result["backend"] = backend(url)
        result["prometheus_polled"] = prometheus_url is not None
        ticks = asyncio.run(run_ticks(url, ready["api"], prometheus_url, max(3, args.ticks)))
    except Exception as exc:
        emit({**result, "tick_s_platform500": None, "tick_cpu_s_platform500": None, "collector_rss_mb": None,
              "reason": f"{type(exc).__name__}: {exc}"})  # fmt: skip
        return 0
    finally:
        if prometheus is not None:
            prometheus.stop()
        if simulator is not None:
            simulator.terminate()
            simulator.wait(timeout=20)
        shutil.rmtree(workdir, ignore_errors=True)
    steady = ticks[1:]
    result.update(
        tick_s_platform500=round(statistics.median(t["wall_s"] for t in steady), 3),
        tick_cpu_s_platform500=round(statistics.median(t["cpu_s"] for t in steady), 3),
        tick_first_s=round(ticks[0]["wall_s"], 3),
        tick_first_cpu_s=round(ticks[0]["cpu_s"], 3),
        tick_max_s=round(max(t["wall_s"] for t in steady), 3),
        tick_max_cpu_s=round(max(t["cpu_s"] for t in steady), 3),
        collector_rss_mb=round(ticks[-1]["rss_mb"], 1),
        ticks=len(ticks),
        rows_per_tick=ticks[-1]["rows"],
        polled=ticks[-1]["polled"],
        per_tick=[{"wall_s": round(t["wall_s"], 3), "cpu_s": round(t["cpu_s"], 3)} for t in ticks],
    )
    result["meets_target"] = (
        result["tick_s_platform500"] < TARGET_WALL_S and result["tick_cpu_s_platform500"] < TARGET_CPU_S
    )
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
