"""Server-side time to render the Overview (AppTest run) on 30 days of platform-500.

    .venv/bin/python bench/overview_render.py [--db URL] [--range 30d] [--runs 3]

Without --db it backfills the demo (`python -m collectors demo --days 30 --backfill-only`)
into a temporary SQLite file first (a few minutes). Prints JSON: overview_render_s is the
cold run (a warm process with empty caches: every query runs, the cost estimate starts
in the background); warm runs (cached reads) follow.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TARGET_S = 1.0


def backfill_demo(workdir: Path, days: int) -> str:
    url = f"sqlite:///{workdir / 'castmeter.db'}"
    subprocess.run(
        [sys.executable, "-m", "collectors", "demo", "--days", str(days), "--backfill-only", "--db", url],
        cwd=REPO_ROOT,
        check=True,
        timeout=1800,
        stdout=subprocess.DEVNULL,
    )
    return url


def render_once(range_key: str) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one Overview run."""
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(REPO_ROOT / "pages" / "overview.py"), default_timeout=120)
    app.query_params["range"] = range_key
    started, cpu_started = time.perf_counter(), time.process_time()
    app.run()
    elapsed, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
    if app.exception:
        raise RuntimeError(f"the Overview raised: {app.exception[0].message}")
    if not app.metric:
        raise RuntimeError("the Overview showed no figures (empty database?)")
    return elapsed, cpu_s


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--db",
        default=os.environ.get("CASTMETER_BENCH_DB") or None,
        help="database URL of a filled store (default: $CASTMETER_BENCH_DB, else backfill the demo)",
    )
    parser.add_argument("--days", type=int, default=30, help="days to backfill without --db")
    parser.add_argument("--range", default="30d", choices=["1h", "6h", "24h", "7d", "30d"])
    parser.add_argument("--runs", type=int, default=3, help="warm runs after the cold one")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO_ROOT))
    os.chdir(REPO_ROOT)
    with tempfile.TemporaryDirectory(prefix="castmeter-bench-") as workdir:
        backfill_s = None
        if args.db:
            url = args.db
        else:
            started = time.perf_counter()
            url = backfill_demo(Path(workdir), args.days)
            backfill_s = round(time.perf_counter() - started, 1)
        os.environ["CASTMETER_DB_URL"] = url
        # A serving process has imported its modules already: time the render, not imports.
        for module in ("plotly.graph_objects", "analytics.monitoring", "ui.charts", "ui.data", "ui.page"):
            importlib.import_module(module)

        cold_s, cold_cpu_s = render_once(args.range)
        warm_s = [render_once(args.range)[0] for _ in range(max(0, args.runs))]
    result = {
        "overview_render_s": round(cold_s, 3),
        "overview_render_cpu_s": round(cold_cpu_s, 3),
        "overview_render_warm_s": round(min(warm_s), 3) if warm_s else None,
        # Timings on a shared machine: the load says how much to trust them.
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "range": args.range,
        "target_s": TARGET_S,
        "meets_target": cold_s < TARGET_S,
        "database": "demo backfill" if backfill_s is not None else "given",
        "backfill_s": backfill_s,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
