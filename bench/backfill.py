"""Backfill of N days of a simulated fleet into a fresh store (issue 2's benchmark).

Prints JSON: wall time of the whole backfill (model + writes + rollups), rows written, and the
database size per day of history. Target for 30 days of platform-500: < 60 s.
Usage: python bench/backfill.py [--days 30] [--scenario platform-500] [--db URL]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import contextlib

from sqlalchemy import text

from collectors.health import ensure_source
from simulator.backfill import backfill
from simulator.model import FleetModel
from store.engine import open_store


def _machine() -> dict[str, object]:
    cpu = "unknown"
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


def _size_mb(engine_url: str, engine: object) -> float:
    if engine_url.startswith("sqlite"):
        path = Path(engine_url.split("///", 1)[1])
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        return sum(f.stat().st_size for f in files if f.exists()) / 1e6
    with engine.connect() as connection:  # type: ignore[attr-defined]
        return float(connection.execute(text("SELECT pg_database_size(current_database())")).scalar()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--scenario", default="platform-500")
    parser.add_argument("--db", default=None, help="default: a fresh SQLite file in a temp dir")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="castmeter-bench-")
    url = args.db or f"sqlite:///{workdir}/backfill.db"
    engine = open_store(url)
    source_id = ensure_source(engine, "bench-livekit", "livekit", "http://127.0.0.1:7880")
    model = FleetModel(args.scenario)
    started = time.perf_counter()
    cpu_started = time.process_time()
    report = backfill(engine, model, source_id, end_ts=int(time.time()), days=args.days)
    wall_s = time.perf_counter() - started
    size_mb = _size_mb(url, engine)
    backend = "postgresql" if url.startswith("postgresql") else "sqlite"
    print(
        json.dumps(
            {
                f"backfill_s_{args.scenario.replace('-', '')}_{int(args.days)}d": round(wall_s, 2),
                "backfill_cpu_s": round(time.process_time() - cpu_started, 2),
                f"backfill_store_mb_per_day_{backend}": round(size_mb / args.days, 2),
                "backfill_rows": report.rows,
                "data": {"scenario": args.scenario, "days": args.days, "backend": backend},
                "machine": _machine(),
                "target": {"backfill_s": 60},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
