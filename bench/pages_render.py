"""Bench: server-side render time of the Overview and Costs pages (Streamlit AppTest) on 30 days
of platform-500, with a 30-day range selected.

    .venv/bin/python bench/pages_render.py [--db URL] [--runs 3] [--profile DIR]

Cold = the first run in a process whose modules are imported but whose caches are empty
(every query runs); warm = later runs (st.cache_data hits). ``--profile DIR`` writes a
pyinstrument HTML profile of each cold run. Prints JSON with overview_render_s and
costs_render_s (the cold runs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import REPO_ROOT, add_db_argument, backend, demo_db, emit, store_facts

TARGET_S = 1.0
PAGES = {"overview": "pages/overview.py", "costs": "pages/costs.py"}


def render_once(page: str, range_key: str) -> float:
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(REPO_ROOT / PAGES[page]), default_timeout=120)
    app.query_params["range"] = range_key
    started = time.perf_counter()
    app.run()
    elapsed = time.perf_counter() - started
    if app.exception:
        raise RuntimeError(f"{page} raised: {app.exception[0].message}")
    if not app.metric:
        raise RuntimeError(f"{page} showed no figures (empty database?)")
    return elapsed


def clear_caches() -> None:
    import streamlit as st

    st.cache_data.clear()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_db_argument(parser)
    parser.add_argument("--range", default="30d", choices=["1h", "6h", "24h", "7d", "30d"])
    parser.add_argument("--runs", type=int, default=3, help="warm runs after the cold one")
    parser.add_argument("--profile", type=Path, help="write pyinstrument HTML of the cold runs here")
    args = parser.parse_args()
    result: dict[str, Any] = {"bench": "pages_render", "range": args.range, "target_s": TARGET_S}
    try:
        url, how = demo_db(args.db)
        result.update(how, backend=backend(url), store=store_facts(url))
    except Exception as exc:
        emit(
            {
                **result,
                "overview_render_s": None,
                "costs_render_s": None,
                "reason": f"store unavailable: {exc}",
            }
        )
        return 0
    os.chdir(REPO_ROOT)
    os.environ["CASTMETER_DB_URL"] = url
    # A serving process has these imported already: time the render, not the imports.
    import plotly.express  # noqa: F401

    import analytics.costs
    import analytics.monitoring
    import analytics.usage  # noqa: F401
    import ui.data  # noqa: F401

    try:  # imports the page's own modules and Streamlit's runtime
        render_once("overview", "1h")
    except Exception as exc:  # reported; the timed runs below say whether the 30-day view works
        result["warmup_reason"] = f"{type(exc).__name__}: {exc}"
    for page in PAGES:
        key = f"{page}_render_s"
        try:
            clear_caches()
            if args.profile:
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.002)
                profiler.start()
                cold_s = render_once(page, args.range)
                profiler.stop()
                args.profile.mkdir(parents=True, exist_ok=True)
                (args.profile / f"{page}_{backend(url)}.html").write_text(profiler.output_html())
                (args.profile / f"{page}_{backend(url)}.txt").write_text(
                    profiler.output_text(unicode=False, color=False)
                )
            else:
                cold_s = render_once(page, args.range)
            warm = [render_once(page, args.range) for _ in range(max(0, args.runs))]
            result[key] = round(cold_s, 3)
            result[f"{page}_render_warm_s"] = round(statistics.median(warm), 3) if warm else None
            result[f"{page}_meets_target"] = cold_s < TARGET_S
        except Exception as exc:
            result[key] = None
            result[f"{page}_reason"] = f"{type(exc).__name__}: {exc}"
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
