"""Server-side rerun of the planner page after one slider move, against the rerun of an empty
Streamlit page in the same run (both with streamlit.testing.v1.AppTest). Target: the planner
≤ 3× the empty page and < 150 ms. Prints JSON.

    .venv/bin/python bench/planner_rerun.py [--db sqlite:////tmp/plan.db] [--reruns 15]

Without --db (or $CASTMETER_BENCH_DB, set by bench/run_all.py) it uses a fresh empty store (the planner then runs on the seed presets and the
benchmark defaults); with a demo store (python -m collectors demo --days 30 --backfill-only)
it also calibrates and forecasts (cached across reruns, as in the app).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))

from streamlit.testing.v1 import AppTest  # noqa: E402

HOURS = (6.0, 8.0)  # the slider alternates between these
# The planner's input widgets alone, nothing computed: the floor any page with these inputs pays.
WIDGETS_ONLY = """
import streamlit as st
st.selectbox("Preset", ["a", "b"])
st.radio("Broadcasts", ["concurrent", "weekly"], horizontal=True)
for label in ("Concurrent broadcasts", "Average listeners", "Peak listeners", "Publishers", "Audio kbps"):
    st.number_input(label, value=1.0)
st.pills("Bitrate presets", [32, 64, 128, 192])
st.selectbox("Video", ["none", "hd"])
st.slider("Hours per day", 0.0, 24.0, key="pl_hours", value=6.0, step=0.25)
st.slider("Days per month", 1.0, 31.0, value=30.0)
st.slider("Growth", -50.0, 200.0, value=0.0)
st.slider("HLS", 0.0, 100.0, value=0.0)
st.selectbox("Region", ["eu", "na"])
st.selectbox("Server", ["auto", "cx33"])
st.radio("Target CPU", [70, 80], horizontal=True)
st.toggle("Record")
st.radio("Coefficients", ["fleet", "benchmark"], horizontal=True)
st.segmented_control("Show", ["a", "b"], default="a")
"""


def timed_reruns(app: AppTest, reruns: int, move: bool) -> list[float]:
    times = []
    for index in range(reruns):
        if move:
            app.slider(key="pl_hours").set_value(HOURS[index % 2])
        start = time.perf_counter()
        app.run()
        times.append(time.perf_counter() - start)
        if app.exception:
            raise SystemExit(f"page failed: {app.exception}")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db",
        default=os.environ.get("CASTMETER_BENCH_DB"),
        help="database URL (default: $CASTMETER_BENCH_DB from bench/run_all.py, else a fresh empty store)",
    )
    parser.add_argument("--reruns", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.db is None:
            from store.engine import open_store

            url = f"sqlite:///{tmp}/empty.db"
            open_store(url).dispose()
        else:
            url = args.db
        os.environ["CASTMETER_DB_URL"] = url
        os.environ.setdefault("CASTMETER_CONFIG", str(Path(tmp) / "none.toml"))
        Path(os.environ["CASTMETER_CONFIG"]).touch()
        empty_page = Path(tmp) / "empty_page.py"
        empty_page.write_text("import streamlit as st\n", encoding="utf-8")

        empty = AppTest.from_file(str(empty_page), default_timeout=60)
        empty.run()
        widgets_page = Path(tmp) / "widgets_page.py"
        widgets_page.write_text(WIDGETS_ONLY, encoding="utf-8")
        widgets = AppTest.from_file(str(widgets_page), default_timeout=60)
        widgets.run()
        planner = AppTest.from_file(str(REPO_ROOT / "pages" / "planner.py"), default_timeout=120)
        first_start = time.perf_counter()
        planner.run()
        first_s = time.perf_counter() - first_start
        if planner.exception:
            raise SystemExit(f"page failed: {planner.exception}")
        timed_reruns(planner, 2, move=True)  # warm caches of both slider positions
        # Interleave so both see the same machine conditions.
        planner_times: list[float] = []
        empty_times: list[float] = []
        widget_times: list[float] = []
        for _ in range(args.reruns):
            planner_times += timed_reruns(planner, 1, move=True)
            empty_times += timed_reruns(empty, 1, move=False)
            widget_times += timed_reruns(widgets, 1, move=True)
    planner_s = statistics.median(planner_times)
    empty_s = statistics.median(empty_times)
    print(
        json.dumps(
            {
                "planner_rerun_s": round(planner_s, 4),
                "empty_rerun_s": round(empty_s, 4),
                "planner_rerun_ratio": round(planner_s / empty_s, 2),
                "planner_first_run_s": round(first_s, 3),
                "widgets_only_rerun_s": round(statistics.median(widget_times), 4),
                "reruns": args.reruns,
                "store": "empty" if args.db is None else "given",
                "target": {"ratio_max": 3.0, "planner_rerun_s_max": 0.150},
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
