"""Bench: three `collectors run` processes on one PostgreSQL (issue 20): how long a source takes to
move to a survivor after its owner is SIGKILLed, and a tick's wall and CPU time per process.

    .venv/bin/python bench/ownership_failover.py [--trials 3] [--interval-s 5] [--scenario platform-500]

A throwaway PostgreSQL (harness/realparts.py) and the simulator (the demo's scenario, platform-500,
at a busy evening) in their own processes; three LiveKit sources (each the whole simulated fleet)
so that each collector owns one. Per trial: the owner of one source is killed with SIGKILL;
``ownership_failover_s`` is the time until the database shows a live lease for that source
held by another process, ``first_sample_after_kill_s`` until that survivor's first sample of it
is stored; a replacement process is started before the next trial. Tick figures come from the
collectors' own "tick N s" lines (wall) and their CPU time (psutil) over the steady minutes,
per tick. Prints JSON.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil
from sqlalchemy import Engine, text

from bench._common import REPO_ROOT, emit
from harness.realparts import PostgresServer, free_port, stop_process

KEY, SECRET = "benchkey", "bench-secret-0123456789-abcdefghijklmn"
SOURCES = ("lk-1", "lk-2", "lk-3")
EVENING_TS = 20_000 * 86_400 + 20 * 3600
TICK_RE = re.compile(r"tick (\d+\.\d+) s: (.*)")


def _start_simulator(scenario: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--scenario", scenario, "--api-port", str(port),
         "--metrics-port", "0", "--api-key", KEY, "--sim-start", str(EVENING_TS), "--log-level", "WARNING"],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "LIVEKIT_API_SECRET": SECRET},
    )  # fmt: skip
    import socket

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        time.sleep(0.2)
    raise TimeoutError("the simulator did not listen")


class Fleet:
    def __init__(self, workdir: Path, db_url: str, port: int, interval_s: float) -> None:
        self.workdir, self.db_url, self.port, self.interval_s = workdir, db_url, port, interval_s
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        n = len(self.processes)
        sources = "".join(
            f'[[livekit]]\nname = "{name}"\nurl = "http://127.0.0.1:{self.port}"\napi_key = "{KEY}"\n'
            f'api_secret = "{SECRET}"\npoll_egress = false\npoll_ingress = false\n'
            for name in SOURCES
        )
        config = self.workdir / f"c{n}.toml"
        config.write_text(
            f'[database]\nurl = "{self.db_url}"\n[collectors]\ninterval_s = {self.interval_s}\n'
            f"rollup_every_s = 60\n[alerts]\nenabled = false\n{sources}"
        )
        env = {**os.environ, "CASTMETER_CONFIG": str(config), "CASTMETER_METRICS_PORT": "0"}
        with (self.workdir / f"c{n}.log").open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "collectors", "run"], cwd=REPO_ROOT, env=env, stdout=log, stderr=log
            )
        self.processes.append(process)
        return process

    def live(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.processes if p.poll() is None]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            stop_process(process, grace_s=15)


def _owners(engine: Engine) -> dict[str, int]:
    """source name -> pid of its live owner."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT name, holder FROM collector_leases WHERE name LIKE 'source:%' "
                "AND expires_ts > extract(epoch from now())"
            )
        )
        return {str(n).removeprefix("source:"): int(str(h).split(":")[-2]) for n, h in rows}


def _wait_balanced(engine: Engine, pids: set[int], timeout_s: float = 120) -> dict[str, int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        owners = _owners(engine)
        if len(owners) == len(SOURCES) and set(owners.values()) == pids:
            return owners
        time.sleep(0.2)
    raise TimeoutError(f"the leases did not settle one source per process: {_owners(engine)}")


def _newest_sample(engine: Engine, source: str) -> int:
    with engine.connect() as connection:
        value = connection.execute(
            text(
                "SELECT max(r.ts) FROM room_samples r JOIN sources s ON s.id = r.source_id WHERE s.name = :n"
            ),
            {"n": source},
        ).scalar_one()
    return int(value or 0)


def _polled_ticks(path: Path, skip_lines: int) -> list[float]:
    """Wall times of the ticks that polled a source (ok or partial) after ``skip_lines``."""
    lines = path.read_text().splitlines()[skip_lines:]
    return [
        float(m.group(1))
        for line in lines
        if (m := TICK_RE.search(line)) and ("=ok" in m.group(2) or "=partial" in m.group(2))
    ]


def _tick_figures(fleet: Fleet, ticks_wanted: int, timeout_s: float) -> dict[str, Any]:
    """Wall (from each process's log) and CPU (psutil, all threads) per tick, in steady state:
    until every process has ``ticks_wanted`` polling ticks (or ``timeout_s``)."""
    processes = {p.pid: psutil.Process(p.pid) for p in fleet.live()}
    logs = {p.pid: fleet.workdir / f"c{fleet.processes.index(p)}.log" for p in fleet.live()}
    before_cpu = {pid: sum(proc.cpu_times()[:2]) for pid, proc in processes.items()}
    before_lines = {pid: len(path.read_text().splitlines()) for pid, path in logs.items()}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(len(_polled_ticks(logs[pid], before_lines[pid])) >= ticks_wanted for pid in processes):
            break
        time.sleep(0.5)
    per_process = []
    for pid, proc in processes.items():
        cpu_s = sum(proc.cpu_times()[:2]) - before_cpu[pid]
        walls = _polled_ticks(logs[pid], before_lines[pid])
        ticks = len(walls)
        per_process.append(
            {
                "ticks": ticks,
                "tick_wall_s_median": round(statistics.median(walls), 3) if walls else None,
                "cpu_s_per_tick": round(cpu_s / ticks, 3) if ticks else None,
            }
        )
    walls = [p["tick_wall_s_median"] for p in per_process if p["tick_wall_s_median"] is not None]
    cpus = [p["cpu_s_per_tick"] for p in per_process if p["cpu_s_per_tick"] is not None]
    return {
        "per_process": per_process,
        # The slowest process's median: what decides whether every source keeps its interval.
        "tick_s_3collectors": round(max(walls), 3) if walls else None,
        "tick_cpu_s_3collectors": round(max(cpus), 3) if cpus else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--interval-s", type=float, default=5.0)
    parser.add_argument("--scenario", default="platform-500")
    args = parser.parse_args()
    from store.engine import make_engine, open_store

    server = PostgresServer.start()
    simulator, port = _start_simulator(args.scenario)
    workdir = Path(tempfile.mkdtemp(prefix="castmeter-failover-"))
    fleet: Fleet | None = None
    try:
        db_url = server.create_database()
        open_store(db_url).dispose()
        engine = make_engine(db_url)
        fleet = Fleet(workdir, db_url, port, args.interval_s)
        for _ in range(3):
            fleet.start()
        _wait_balanced(engine, {p.pid for p in fleet.live()})
        time.sleep(2 * args.interval_s)  # past the first ticks (every session opened)
        ticks = _tick_figures(fleet, ticks_wanted=4, timeout_s=40 * args.interval_s)
        failovers, first_samples = [], []
        for trial in range(args.trials):
            owners = _wait_balanced(engine, {p.pid for p in fleet.live()})
            source = SOURCES[trial % len(SOURCES)]
            victim = owners[source]
            newest = _newest_sample(engine, source)
            killed = time.monotonic()
            os.kill(victim, signal.SIGKILL)
            moved = sampled = None
            deadline = killed + 20 * args.interval_s
            while time.monotonic() < deadline and sampled is None:
                now = time.monotonic()
                if moved is None and _owners(engine).get(source, victim) != victim:
                    moved = now - killed
                if moved is not None and _newest_sample(engine, source) > newest:
                    sampled = now - killed
                time.sleep(0.02)
            failovers.append(moved)
            first_samples.append(sampled)
            for process in fleet.processes:
                if process.pid == victim:
                    process.wait(timeout=10)
            fleet.start()
        engine.dispose()
    finally:
        if fleet is not None:
            fleet.stop()
        stop_process(simulator)
        server.stop()
    measured = [f for f in failovers if f is not None]
    sampled_ok = [f for f in first_samples if f is not None]
    ttl_s = 0.4 * args.interval_s
    emit(
        {
            "benchmark": "ownership_failover",
            "scenario": args.scenario,
            "collectors": 3,
            "sources": f"{len(SOURCES)} LiveKit sources, each the whole simulated {args.scenario} fleet",
            "interval_s": args.interval_s,
            "lease_ttl_s": ttl_s,
            "ownership_failover_s": round(statistics.median(measured), 3) if measured else None,
            "ownership_failover_s_trials": [None if f is None else round(f, 3) for f in failovers],
            "ownership_failover_intervals": round(statistics.median(measured) / args.interval_s, 2)
            if measured
            else None,
            "first_sample_after_kill_s": round(statistics.median(sampled_ok), 3) if sampled_ok else None,
            "first_sample_after_kill_s_trials": [None if f is None else round(f, 3) for f in first_samples],
            **ticks,
            "note": "failover: SIGKILL -> a live lease for the source held by another process (database clock); "
            "first sample: SIGKILL -> that source's next stored sample; ticks: steady state, per process",
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
