"""Server-side rerun of the planner page after one slider move, against the rerun of an empty
Streamlit page measured in the same run. Target: the planner ≤ 3× the empty page and < 150 ms.
Prints JSON.

    .venv/bin/python bench/planner_rerun.py [--db sqlite:////tmp/plan.db] [--reruns 15]

Both pages are served by real ``streamlit run`` servers with the project's .streamlit/config.toml,
and driven the way a browser drives them (harness/streamlit_ws.py): a rerun request over the
``/_stcore/stream`` websocket carrying the moved slider's value (scoped to the planner's fragment,
as the browser scopes it), timed until ``script_finished`` arrives. The headline keys come from
that. The page goes through app.py (navigation, login gate, sidebar) exactly as an operator opens
it; the slider alternates between 6 and 8 hours a day, and the run checks that the listener-hours
on the page follow it.

For comparison it also reports the same rerun under ``streamlit.testing.v1.AppTest``
(``apptest_*`` keys): AppTest re-parses and re-compiles the page's source on every run (a fresh
ScriptCache per run) and builds its element tree in the same thread, so it charges a
350-line page several times what a server does.

Without --db (or $CASTMETER_BENCH_DB, set by bench/run_all.py) it uses a fresh empty store (the
planner then runs on the seed presets and the benchmark defaults); with a demo store it also
calibrates and forecasts (cached across reruns, as in the app).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))

from bench._common import machine  # noqa: E402
from harness import streamlit_ws as browser  # noqa: E402
from harness.realparts import streamlit_run  # noqa: E402

HOURS = (6.0, 8.0)  # the slider alternates between these
SLIDER_LABEL = "Hours per day"
TARGET = {"ratio_max": 3.0, "planner_rerun_s_max": 0.150}


def listener_hours(run: browser.Run) -> str | None:
    """The caption's "N listener-hours per month" figure: proof the move reached the outputs."""
    for text in run.texts:
        if "listener-hours per month" in text:
            return text.split(" listener-hours per month")[0].rsplit(" ", 1)[-1]
    return None


def served(args: argparse.Namespace, url: str, tmp: Path) -> dict[str, object]:
    env = {**os.environ, "CASTMETER_DB_URL": url, "CASTMETER_CONFIG": os.environ["CASTMETER_CONFIG"]}
    empty_dir = tmp / "empty"
    (empty_dir / ".streamlit").mkdir(parents=True)
    shutil.copy(REPO_ROOT / ".streamlit" / "config.toml", empty_dir / ".streamlit" / "config.toml")
    (empty_dir / "empty_page.py").write_text("import streamlit as st\n", encoding="utf-8")
    with (
        streamlit_run("app.py", cwd=REPO_ROOT, env=env, log_path=tmp / "app.log") as (app_url, _app),
        streamlit_run("empty_page.py", cwd=empty_dir, env=env, log_path=tmp / "empty.log") as (
            empty_url,
            _empty,
        ),
    ):
        planner = browser.Session(app_url, "planner", timeout_s=120)
        started = time.perf_counter()
        first = planner.run()  # the first visit: st.navigation picks the page
        first_s = time.perf_counter() - started
        if first.exception:
            raise SystemExit(f"planner failed: {first.exception}")
        widget_id, fragment_id = browser.slider(first, SLIDER_LABEL)
        empty = browser.Session(empty_url)
        empty.run()
        seen: dict[float, set[str | None]] = {hours: set() for hours in HOURS}
        for index in range(2):  # warm the caches of both slider positions
            hours = HOURS[index % 2]
            seen[hours].add(listener_hours(planner.run(browser.slider_move(widget_id, hours), fragment_id)))
        planner_times: list[float] = []
        empty_times: list[float] = []
        for index in range(args.reruns):  # interleaved: both see the same machine conditions
            hours = HOURS[index % 2]
            run = planner.run(browser.slider_move(widget_id, hours), fragment_id)
            if run.exception:
                raise SystemExit(f"planner failed after a slider move: {run.exception}")
            seen[hours].add(listener_hours(run))
            planner_times.append(run.elapsed_s)
            empty_times.append(empty.run().elapsed_s)
        planner.close()
        empty.close()
    if (
        any(len(values) != 1 or None in values for values in seen.values())
        or seen[HOURS[0]] == seen[HOURS[1]]
    ):
        raise SystemExit(f"the outputs did not follow the slider: {seen}")
    planner_s = statistics.median(planner_times)
    empty_s = statistics.median(empty_times)
    return {
        "planner_rerun_s": round(planner_s, 4),
        "empty_rerun_s": round(empty_s, 4),
        "planner_rerun_ratio": round(planner_s / empty_s, 2),
        "planner_rerun_p90_s": round(sorted(planner_times)[int(0.9 * (len(planner_times) - 1))], 4),
        "planner_first_visit_s": round(first_s, 3),
        "planner_rerun_is_fragment": bool(fragment_id),
        "listener_hours_seen": {str(hours): sorted(map(str, values)) for hours, values in seen.items()},
    }


def apptest(args: argparse.Namespace) -> dict[str, object]:
    from streamlit.testing.v1 import AppTest

    empty_page = Path(os.environ["CASTMETER_CONFIG"]).parent / "apptest_empty.py"
    empty_page.write_text("import streamlit as st\n", encoding="utf-8")
    empty = AppTest.from_file(str(empty_page), default_timeout=60)
    empty.run()
    planner = AppTest.from_file(str(REPO_ROOT / "pages" / "planner.py"), default_timeout=120)
    planner.run()
    planner_times: list[float] = []
    empty_times: list[float] = []
    for index in range(args.reruns + 2):
        planner.slider(key="pl_hours").set_value(HOURS[index % 2])
        started = time.perf_counter()
        planner.run()
        elapsed = time.perf_counter() - started
        if planner.exception:
            raise SystemExit(f"planner failed under AppTest: {planner.exception}")
        started = time.perf_counter()
        empty.run()
        if index >= 2:
            planner_times.append(elapsed)
            empty_times.append(time.perf_counter() - started)
    return {
        "apptest_planner_rerun_s": round(statistics.median(planner_times), 4),
        "apptest_empty_rerun_s": round(statistics.median(empty_times), 4),
        "apptest_planner_rerun_ratio": round(
            statistics.median(planner_times) / statistics.median(empty_times), 2
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db",
        default=os.environ.get("CASTMETER_BENCH_DB"),
        help="database URL (default: $CASTMETER_BENCH_DB from bench/run_all.py, else a fresh empty store)",
    )
    parser.add_argument("--reruns", type=int, default=15)
    parser.add_argument("--no-apptest", action="store_true", help="skip the AppTest comparison")
    args = parser.parse_args()
    if not 1 <= args.reruns <= 500:
        parser.error("--reruns must be between 1 and 500")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.db is None:
            from store.engine import open_store

            url = f"sqlite:///{tmp}/empty.db"
            open_store(url).dispose()
        else:
            url = args.db
        os.environ["CASTMETER_DB_URL"] = url
        os.environ.setdefault("CASTMETER_CONFIG", str(tmp / "none.toml"))
        Path(os.environ["CASTMETER_CONFIG"]).touch()
        result: dict[str, object] = served(args, url, tmp)
        if not args.no_apptest:
            result.update(apptest(args))
    result.update({
        "reruns": args.reruns, "store": "empty" if args.db is None else "given", "target": TARGET,
        "method": "real streamlit servers driven over the browser's websocket protocol (harness/streamlit_ws.py)",
        "machine": machine(),
    })  # fmt: skip
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
