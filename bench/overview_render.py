"""Server-side time to render the Overview (AppTest run) on 30 days of platform-500.

    .venv/bin/python bench/overview_render.py [--db URL] [--range 30d] [--runs 3]

Without --db it backfills the demo (`python -m collectors demo --days 30 --backfill-only`)
into a temporary SQLite file first (a few minutes). Prints JSON: overview_render_s is the
cold run (a warm process with empty caches: every query runs, the cost estimate starts
in the background); warm runs (cached reads) follow.
"""

from __future__ import annotations

import argparse
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


def render_once(range_key: str) -> float:
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(REPO_ROOT / "pages" / "overview.py"), default_timeout=120)
    app.query_params["range"] = range_key
    started = time.perf_counter()
    app.run()
    elapsed = time.perf_counter() - started
    if app.exception:
        raise RuntimeError(f"the Overview raised: {app.exception[0].message}")
    if not app.metric:
        raise RuntimeError("the Overview showed no figures (empty database?)")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", help="database URL of a filled store (default: backfill the demo)")
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
        import plotly.express  # noqa: F401

        import analytics.monitoring  # noqa: F401
        import ui.data  # noqa: F401

        cold_s = render_once(args.range)
        warm_s = [render_once(args.range) for _ in range(max(0, args.runs))]
    result = {
        "overview_render_s": round(cold_s, 3),
        "overview_render_warm_s": round(min(warm_s), 3) if warm_s else None,
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
