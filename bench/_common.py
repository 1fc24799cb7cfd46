"""Shared parts of the benchmarks (not a benchmark itself: run_all skips ``_``-prefixed files).

- ``machine()``: what the figures were measured on (CPU model, cores, load average), so every
  benchmark's JSON states it;
- ``demo_db(url)``: the 30-day platform-500 store the benchmarks read. ``--db URL`` (or
  ``CASTMETER_BENCH_DB``, which ``run_all.py`` sets for one shared store per run) names a filled
  store; otherwise the demo backfill is written once to ``bench/out/platform500_30d.db`` and
  reused while it is younger than ``MAX_AGE_S`` (the pages' windows end at "now");
- ``store_facts(url)``: rows per table and the data window, the data size each JSON reports.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = REPO_ROOT / "bench" / "out"
SHARED_DB = OUT_DIR / "platform500_30d.db"
DEMO_DAYS = 30
SCENARIO = "platform-500"
MAX_AGE_S = 3 * 3600
DB_ENV = "CASTMETER_BENCH_DB"

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_avg() -> list[float] | None:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict[str, Any]:
    """The machine and how busy it was (the team shares it: timings are noisy under load)."""
    memory_gb = round(psutil.virtual_memory().total / 1e9, 1)
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_1_5_15": load_avg(),
    }


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default=os.environ.get(DB_ENV) or None,
        help=f"URL of a store holding the {DEMO_DAYS}-day {SCENARIO} demo (e.g. postgresql+psycopg://...); "
        f"default ${DB_ENV}, else a cached SQLite backfill in bench/out/",
    )


def backend(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


def backfill_demo(url: str, days: float = DEMO_DAYS) -> float:
    """Run the demo backfill into ``url``; returns its wall time (s)."""
    started = time.perf_counter()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        [sys.executable, "-m", "collectors", "demo", "--days", str(days), "--backfill-only", "--db", url,
         "--scenario", SCENARIO, "--ready-file", str(OUT_DIR / "demo.ready")],
        cwd=REPO_ROOT, check=False, timeout=1800, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    if completed.returncode != 0:
        tail = completed.stderr.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"demo backfill failed (exit {completed.returncode}): {tail[0][:500]}")
    return time.perf_counter() - started


def demo_db(url: str | None) -> tuple[str, dict[str, Any]]:
    """(database URL, how it was obtained): the given store, or the shared SQLite backfill."""
    if url:
        return url, {"database": "given"}
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    shared = f"sqlite:///{SHARED_DB}"
    stamp = Path(f"{SHARED_DB}.schema")
    current = _schema_fingerprint()
    fresh = SHARED_DB.exists() and time.time() - SHARED_DB.stat().st_mtime < MAX_AGE_S
    # A store built before a migration lacks its tables and rollups (e.g. the daily usage
    # rollup the ledger reads): timing it would measure a store no collector leaves behind.
    if fresh and stamp.exists() and stamp.read_text(encoding="utf-8") == current:
        return shared, {
            "database": "cached demo backfill",
            "age_s": round(time.time() - SHARED_DB.stat().st_mtime),
        }
    for suffix in ("", "-wal", "-shm"):
        Path(f"{SHARED_DB}{suffix}").unlink(missing_ok=True)
    stamp.unlink(missing_ok=True)
    backfill_s = backfill_demo(shared)
    stamp.write_text(current, encoding="utf-8")
    return shared, {"database": "demo backfill", "backfill_s": round(backfill_s, 1)}


def _schema_fingerprint() -> str:
    """The migrations the code has: a cached store built with other ones is rebuilt."""
    versions = REPO_ROOT / "store" / "migrations" / "versions"
    return "\n".join(sorted(path.name for path in versions.glob("*.py")))


def store_facts(url: str) -> dict[str, Any]:
    """The data size: rows of the tables the pages read and the window they cover."""
    from sqlalchemy import func, select

    from store import schema
    from store.engine import make_engine

    engine = make_engine(url, read_only=True)
    facts: dict[str, Any] = {"backend": backend(url)}
    try:
        with engine.connect() as connection:
            rows = {}
            for table in (schema.room_sessions, schema.participant_sessions, schema.room_samples,
                          schema.room_samples_1m, schema.room_samples_1h, schema.node_samples,
                          schema.node_samples_1m, schema.node_samples_1h, schema.nodes):  # fmt: skip
                rows[table.name] = int(
                    connection.execute(select(func.count()).select_from(table)).scalar_one()
                )
            facts["rows"] = rows
            first = connection.execute(select(func.min(schema.room_samples_1h.c.bucket_ts))).scalar()
            last = connection.execute(select(func.max(schema.room_samples.c.ts))).scalar()
            facts["window_start_ts"] = None if first is None else int(first)
            facts["window_end_ts"] = None if last is None else int(last)
            if first is not None and last is not None:
                facts["window_days"] = round((int(last) - int(first)) / 86_400, 2)
    finally:
        engine.dispose()
    return facts


def emit(result: dict[str, Any]) -> None:
    """Print the benchmark's JSON (one line: run_all reads the last JSON line)."""
    result.setdefault("machine", machine())
    print(json.dumps(result, default=str))


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, float, Any]:
    """(wall s, CPU s of this process, result) of one call."""
    started, started_cpu = time.perf_counter(), time.process_time()
    value = fn(*args, **kwargs)
    return time.perf_counter() - started, time.process_time() - started_cpu, value
