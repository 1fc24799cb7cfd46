"""Bench: latency as felt in a browser — input to the last change of the page, every operator
page against an empty Streamlit page in the same run. Prints JSON.

    .venv/bin/python bench/browser_latency.py [--db URL] [--loads 3] [--steps 4] [--profile]

A real headless Chromium (Debian ``chromium`` driven by playwright) against a real
``streamlit run app.py`` on the 30-day platform-500 store (``--db``, ``$CASTMETER_BENCH_DB`` from
run_all.py, else the cached SQLite backfill), no password (loopback, as every benchmark), and a
second ``streamlit run`` of a baseline app with the same ``.streamlit/config.toml``: an empty
page and a page with one slider, one select box and one text input. Both servers run through
bench/_streamlit_timed.py (the same CLI, with a clock on each script run). How a step is timed
is in bench/_browser.py: from the input (navigation start for a load) to the last DOM change,
once a ``script_finished`` has arrived, no script runs, and the page has been quiet.

Measured, per page (Overview, Streams, Nodes, Costs, Planner, Billing, Alerts):

- ``first_load``: deep link (``/costs?range=30d&live=0``) in a new tab; the first visit (cold
  server caches, cold browser cache) is ``cold_s``; the later ones reuse the browser's cache of
  Streamlit's bundles (as an operator's browser does) and give the median and p90;
- ``sidebar_nav``: a click on the page's sidebar link, from the page before it in the menu;
- ``controls``: each kind of control the page has — slider, select box, text search, section
  switch, time-range change (the sidebar's "Time range", 30 ↔ 7 days) — alternating between
  two values;
- the Overview's **live refresh tick** (``tick``): with live refresh on, the main-thread time
  (CDP TaskDuration) of each unprompted fragment rerun, and its first-to-last change.

Every figure has a median, p90 and ``ratio`` to the baseline's (first load → the empty page's;
sidebar navigation → the baseline's; slider → its slider; select box, time range and section
switch → its select box; text search → its text input). Each sample also carries its split:
``before_server_s`` (input → the server starts the run: the browser's handling, for a load
the HTML, bundles and websocket), ``server_s`` (the runs: ``server_body_s`` the script,
``server_finish_s`` Streamlit's cleanup and forced gc), ``delivery_s`` (run end → the
``script_finished`` message in the page), ``browser_tail_s`` (that message → the last
change), main-thread time (script, layout, style), websocket bytes, and what is drawn
(plotly figures and points, Vega charts, data frames, DOM nodes).

``--profile`` (or ``$CASTMETER_BENCH_BROWSER_PROFILE=1``) adds a pass on a fresh server with
pyinstrument on every script run (cold loads, each control twice) and writes
``bench/out/browser_profile_<backend>.md`` and ``.json``: per step, the split and where the
server's time went (bench/_pyi_summary.py).

Bounded: counts by the arguments, time by ``--budget-s`` (after it, every remaining series
takes one sample) and ``--step-timeout-s`` per step.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._browser import INIT_SCRIPT, RunLog, Tab, summarise, timed_steps
from bench._common import OUT_DIR, REPO_ROOT, add_db_argument, backend, demo_db, emit, store_facts
from harness.served import PASSWORD, password_hash

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-extensions"]  # fmt: skip
VIEWPORT: Any = {"width": 1600, "height": 1000}
TARGETS = {
    "browser_interaction_ratio_max": 3.0,
    "browser_first_load_max_s": 1.5,
    "browser_sidebar_nav_max_s": 0.7,
    "browser_refresh_tick_main_thread_ms": 300.0,
}
RANGES = ("Last 7 days", "Last 30 days")  # the time-range change alternates (the page opens on 30 days)


@dataclass(frozen=True)
class Page:
    key: str
    title: str
    path: str  # URL path ("" = the default page)
    marker: str = ""  # text the page shows once it is done (its last element), if any


@dataclass(frozen=True)
class Control:
    kind: str  # slider | selectbox | text | section | time_range
    label: str
    values: tuple[str, str] = ("", "")  # empty: the select box's current option and another one
    section: str | None = None  # the planner section to show first (and leave afterwards)


PAGES = [
    # The Overview's last element; it reruns itself while its cost card is priced in the background.
    Page("overview", "Overview", "", "Rendered "),
    Page("streams", "Streams", "streams"),
    Page("nodes", "Nodes", "nodes"),
    Page("costs", "Costs", "costs"),
    Page("planner", "Planner", "planner"),
    Page("billing", "Billing", "billing"),
    Page("alerts", "Alerts", "alerts"),
]
TIME_RANGE = Control("time_range", "Time range", RANGES)
CONTROLS: dict[str, list[Control]] = {
    "overview": [TIME_RANGE],
    "streams": [
        Control("selectbox", "Status"),
        Control("text", "Search room or channel", ("channel-2", "channel-7")),
        TIME_RANGE,
    ],
    "nodes": [Control("selectbox", "Node"), Control("section", "Charts", ("Network", "Load")), TIME_RANGE],
    "costs": [Control("selectbox", "Model"), TIME_RANGE],
    "planner": [
        Control("slider", "Hours per day", ("ArrowRight", "ArrowLeft")),
        Control("selectbox", "Region"),
        Control("section", "Show", ("Headroom forecast", "Nodes and costs")),
        Control("text", "Scenario name", ("evening", "morning"), section="Save and compare"),
        TIME_RANGE,
    ],
    "billing": [TIME_RANGE],  # its only other control (the period) shows with a billing provider configured
    "alerts": [Control("selectbox", "Rule"), TIME_RANGE],
}
# Which baseline control each kind of control is compared with.
BASELINE_OF = {"slider": "slider", "selectbox": "selectbox", "time_range": "selectbox", "section": "selectbox",
               "text": "text"}  # fmt: skip

BASELINE_APP = """import streamlit as st

st.navigation([st.Page("empty_page.py", title="Empty", default=True),
               st.Page("controls_page.py", title="Controls"),
               st.Page("charts_page.py", title="Charts")]).run()
"""
EMPTY_PAGE = "import streamlit as st  # noqa: F401\n"
# Nothing but three plotly line charts of a day of minutes (4,320 points, about what the
# Overview and Nodes draw): the first load of any Streamlit page that draws a plotly chart
# includes loading and running plotly.js's 4.7 MB bundle in the new tab; this is that floor.
CHARTS_PAGE = """import plotly.graph_objects as go
import streamlit as st

minutes = list(range(1440))
for number in range(3):
    figure = go.Figure(go.Scatter(x=minutes, y=[(m * (number + 3)) % 97 for m in minutes], mode="lines"))
    figure.update_layout(height=360)
    st.plotly_chart(figure, key=f"chart_{number}")
"""
CONTROLS_PAGE = """import streamlit as st

value = st.slider("Value", 0, 100, 50)
choice = st.selectbox("Choice", ["first", "second", "third"])
text = st.text_input("Search")
st.write(f"Value {value}, choice {choice}, search {text!r}")
"""
BASELINE_CONTROLS = {
    "slider": Control("slider", "Value", ("ArrowRight", "ArrowLeft")),
    "selectbox": Control("selectbox", "Choice"),
    "text": Control("text", "Search", ("first", "second")),
}


# ---------------------------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def serve(
    script: str, cwd: Path, env: dict[str, str], workdir: Path, name: str, options: list[str] | None = None
) -> Iterator[tuple[str, RunLog, subprocess.Popen[bytes]]]:
    """``streamlit run script`` (through bench/_streamlit_timed.py) on a free loopback port."""
    from harness.realparts import free_port, stop_process, wait_http

    runlog = workdir / f"{name}.runs.jsonl"
    port = free_port()
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(REPO_ROOT / "bench" / "_streamlit_timed.py"), "run", script,
             "--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
             "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false", *(options or [])],
            cwd=cwd, env={**env, "CASTMETER_BENCH_RUNLOG": str(runlog)}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_http(f"{base}/_stcore/health", 90, process=process)
        except (TimeoutError, RuntimeError) as exc:
            tail = log_path.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"{name}: streamlit did not start ({exc}): {tail}") from exc
        yield base, RunLog(runlog), process
    finally:
        stop_process(process, grace_s=15)


def server_options(args: argparse.Namespace) -> list[str]:
    """Streamlit options for a what-if run (``--gc off``); none by default."""
    return ["--runner.postScriptGC", "false"] if args.gc == "off" else []


def rss_mb(process: subprocess.Popen[bytes]) -> float | None:
    try:
        import psutil

        return round(psutil.Process(process.pid).memory_info().rss / 1e6, 1)
    except Exception:
        return None


def write_baseline_app(directory: Path) -> None:
    (directory / ".streamlit").mkdir(parents=True)
    shutil.copy(REPO_ROOT / ".streamlit" / "config.toml", directory / ".streamlit" / "config.toml")
    (directory / "baseline.py").write_text(BASELINE_APP, encoding="utf-8")
    (directory / "empty_page.py").write_text(EMPTY_PAGE, encoding="utf-8")
    (directory / "controls_page.py").write_text(CONTROLS_PAGE, encoding="utf-8")
    (directory / "charts_page.py").write_text(CHARTS_PAGE, encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# Controls
# ---------------------------------------------------------------------------------------------


def _labelled(page: Any, testid: str, label: str, scope: str = "") -> Any:
    widgets = page.locator(f'{scope} [data-testid="{testid}"]'.strip())
    return widgets.filter(
        has=page.locator('[data-testid="stWidgetLabel"]').get_by_text(label, exact=True)
    ).first


def _open_select(page: Any, label: str, scope: str = "") -> list[str]:
    """Open a select box's list (Streamlit 1.67: a react-aria combobox); its options' texts."""
    box = _labelled(page, "stSelectbox", label, scope)
    # react-aria closes an open list when the page scrolls: scroll first, then open.
    box.scroll_into_view_if_needed()
    page.wait_for_timeout(150)
    box.get_by_role("button", name="Open").click()
    options = page.get_by_role("option")
    options.first.wait_for()
    return [text.strip() for text in options.all_inner_texts()]


def _selected(page: Any, label: str, scope: str = "") -> str:
    box = _labelled(page, "stSelectbox", label, scope)
    return str(box.get_by_role("combobox").input_value()).strip()


def show_section(page: Any, name: str, label: str = "Show") -> None:
    """Click one of a section switch's buttons (a segmented control: radio buttons); ``label``:
    the switch's ("Show" on the planner, "Charts" on the Nodes page)."""
    _labelled(page, "stButtonGroup", label).get_by_role("radio", name=name, exact=True).click()


def control_step(tab: Tab, control: Control, index: int, memory: dict[str, str]) -> dict[str, Any]:
    """One timed use of ``control``: its preparation (opening a list, typing, focusing) is done
    before the clock starts; the input is the click, Enter or key press that sends the change."""
    page = tab.page
    prepare: Callable[[], None] | None = None
    act: Callable[[], None]
    if control.kind in ("selectbox", "time_range"):
        scope = '[data-testid="stSidebar"]' if control.kind == "time_range" else '[data-testid="stMain"]'
        if control.values[0]:
            wanted = control.values[index % 2]
        else:
            if index == 0:
                memory["a"] = _selected(page, control.label, scope)
            wanted = memory.get("b", "") if index % 2 == 0 else memory["a"]

        def prepare() -> None:
            options = _open_select(page, control.label, scope)
            if not control.values[0] and "b" not in memory:
                memory["b"] = next(option for option in options if option != memory["a"])

        def act() -> None:
            choice = wanted or memory["b"]
            page.get_by_role("option", name=choice, exact=True).click()

    elif control.kind == "slider":
        thumb = _labelled(page, "stSlider", control.label).get_by_role("slider")

        def prepare() -> None:
            thumb.focus()

        def act() -> None:
            page.keyboard.press(control.values[index % 2])

    elif control.kind == "text":
        field = _labelled(page, "stTextInput", control.label).locator("input")

        def prepare() -> None:
            field.fill(control.values[index % 2])

        def act() -> None:
            field.press("Enter")

    elif control.kind == "section":

        def act() -> None:
            show_section(page, control.values[index % 2], control.label)

    else:
        raise ValueError(f"unknown control kind {control.kind}")
    return tab.step(act, prepare)


def nav_at(tab: Tab, title: str, _index: int) -> dict[str, Any]:
    return nav_step(tab, title)


def nav_step(tab: Tab, title: str) -> dict[str, Any]:
    link = tab.page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]').filter(
        has_text=title
    )
    marker = next((page.marker for page in PAGES if page.title == title), "")
    return tab.step(lambda: link.first.click(), marker=marker)


# ---------------------------------------------------------------------------------------------
# The measurement
# ---------------------------------------------------------------------------------------------


@dataclass
class Budget:
    deadline: float  # monotonic

    def count(self, wanted: int) -> int:
        """``wanted`` while there is time, one sample after the deadline."""
        return wanted if time.monotonic() < self.deadline else 1


def ratio(value: float | None, base: float | None) -> float | None:
    if value is None or not base:
        return None
    return round(value / base, 2)


def measure_app(
    args: argparse.Namespace, context: Any, base: str, runlog: RunLog, budget: Budget
) -> dict[str, Any]:
    """Every castmeter page: first loads, sidebar navigation, controls; and the live tick."""
    quiet_ms, timeout_ms = args.quiet_ms, int(args.step_timeout_s * 1000)

    def new_tab() -> Tab:
        return Tab(context, runlog, quiet_ms, timeout_ms, PASSWORD)

    pages: dict[str, dict[str, Any]] = {page.key: {} for page in PAGES}
    # First loads: round-robin, so every page sees the same conditions; a new tab each time.
    loads: dict[str, list[dict[str, Any]]] = {page.key: [] for page in PAGES}
    for round_index in range(budget.count(args.loads)):
        for page in PAGES:

            def load(_index: int, page: Page = page) -> dict[str, Any]:
                tab = new_tab()
                try:
                    return tab.load(f"{base}/{page.path}?range=30d&live=0", page.marker)
                finally:
                    tab.close()

            loads[page.key] += timed_steps(1, budget.deadline if round_index else float("inf"), load)
    for page in PAGES:
        samples = loads[page.key]
        cold = samples[:1]
        warm = samples[1:] or cold
        pages[page.key]["first_load"] = {
            **summarise(warm),
            "cold_s": cold[0].get("total_s") if cold else None,
            "cold": cold[0] if cold else None,
        }
    # Sidebar navigation: around the menu, from the Overview.
    tab = new_tab()
    try:
        tab.load(f"{base}/?range=30d&live=0", "Rendered ")
        navs: dict[str, list[dict[str, Any]]] = {page.key: [] for page in PAGES}
        for _round in range(budget.count(args.navs)):
            for page in [*PAGES[1:], PAGES[0]]:
                navs[page.key] += timed_steps(1, float("inf"), functools.partial(nav_at, tab, page.title))
        for page in PAGES:
            pages[page.key]["sidebar_nav"] = summarise(navs[page.key])
    finally:
        tab.close()
    # Controls: one tab per page.
    for page in PAGES:
        tab = new_tab()
        controls: dict[str, Any] = {}
        try:
            tab.load(f"{base}/{page.path}?range=30d&live=0", page.marker)
            for control in CONTROLS[page.key]:
                memory: dict[str, str] = {}
                if control.section:
                    show_section(tab.page, control.section)
                    tab.page.wait_for_timeout(1500)
                samples = timed_steps(
                    budget.count(args.steps),
                    float("inf"),
                    functools.partial(control_step, tab, control, memory=memory),
                )
                if control.section:
                    show_section(tab.page, "Nodes and costs")
                    tab.page.wait_for_timeout(1500)
                name = control.kind if control.kind not in controls else f"{control.kind}:{control.label}"
                controls[name] = {"label": control.label, **summarise(samples)}
        except Exception as exc:
            controls["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        finally:
            tab.close()
        pages[page.key]["controls"] = controls
    # The live refresh tick on the Overview (live refresh on).
    ticks: list[dict[str, Any]] = []
    if args.no_tick:
        return {"pages": pages, "tick": {"n": 0, "reason": "--no-tick"}}
    tab = new_tab()
    try:
        tab.load(f"{base}/?range=30d", "Rendered ")
        window_end = time.monotonic() + args.tick_window_s
        while len(ticks) < args.ticks and time.monotonic() < window_end:
            tick = tab.watch(max(1.0, window_end - time.monotonic()))
            if tick is None:
                break
            ticks.append(tick)
    finally:
        tab.close()
    return {"pages": pages, "tick": tick_summary(ticks, args.tick_window_s)}


def tick_summary(ticks: list[dict[str, Any]], window_s: float) -> dict[str, Any]:
    if not ticks:
        return {"n": 0, "reason": f"no live refresh tick within {window_s:g} s"}
    main = [t["main_thread_ms"] for t in ticks]
    return {
        "n": len(ticks),
        "window_s": window_s,
        "main_thread_ms_median": round(statistics.median(main), 1),
        "main_thread_ms_max": round(max(main), 1),
        "samples": [
            {
                key: t.get(key)
                for key in (
                    "main_thread_ms",
                    "script_ms",
                    "layout_ms",
                    "style_ms",
                    "long_task_ms",
                    "tick_wall_s",
                    "server_runs",
                    "server_s",
                    "server_body_s",
                    "server_finish_s",
                    "server_gc_s",
                    "ws_received_bytes",
                    "plotly_figures",
                    "plotly_points",
                )
            }
            for t in ticks
        ],
    }


def measure_baseline(
    args: argparse.Namespace, context: Any, base: str, runlog: RunLog, budget: Budget
) -> dict[str, Any]:
    quiet_ms, timeout_ms = args.quiet_ms, int(args.step_timeout_s * 1000)
    result: dict[str, Any] = {}
    for key, path in (("first_load", ""), ("charts_first_load", "charts_page")):
        loads: list[dict[str, Any]] = []
        for _round in range(budget.count(args.loads)):

            def load(_index: int, path: str = path) -> dict[str, Any]:
                tab = Tab(context, runlog, quiet_ms, timeout_ms)
                try:
                    return tab.load(f"{base}/{path}")
                finally:
                    tab.close()

            loads += timed_steps(1, float("inf"), load)
        result[key] = {**summarise(loads[1:] or loads), "cold_s": loads[0].get("total_s")}
    tab = Tab(context, runlog, quiet_ms, timeout_ms)
    try:
        tab.load(f"{base}/controls_page")
        navs: list[dict[str, Any]] = []
        for _round in range(budget.count(args.navs)):
            for title in ("Empty", "Controls"):
                navs += timed_steps(1, float("inf"), functools.partial(nav_at, tab, title))
        result["sidebar_nav"] = summarise(navs)
        for kind, control in BASELINE_CONTROLS.items():
            memory: dict[str, str] = {}
            result[kind] = summarise(
                timed_steps(
                    budget.count(args.steps) + 1,  # the baseline is cheap: one more sample
                    float("inf"),
                    functools.partial(control_step, tab, control, memory=memory),
                )
            )
    finally:
        tab.close()
    return result


def add_ratios(app: dict[str, Any], baseline: dict[str, Any]) -> None:
    for page_result in app["pages"].values():
        for what in ("first_load", "sidebar_nav"):
            entry = page_result.get(what)
            if entry is not None:
                entry["ratio"] = ratio(entry.get("median_s"), baseline.get(what, {}).get("median_s"))
        for name, entry in page_result.get("controls", {}).items():
            if isinstance(entry, dict):
                kind = name.split(":", 1)[0]
                base_entry = baseline.get(BASELINE_OF.get(kind, ""), {})
                entry["compared_with"] = f"baseline {BASELINE_OF.get(kind)}"
                entry["ratio"] = ratio(entry.get("median_s"), base_entry.get("median_s"))


def headline(app: dict[str, Any], baseline: dict[str, Any]) -> dict[str, Any]:
    """The issue's keys: worst page / interaction, with where it is."""
    pages = app["pages"]

    def worst(values: dict[str, float | None]) -> tuple[float | None, str | None]:
        known = {k: v for k, v in values.items() if v is not None}
        if not known:
            return None, None
        where = max(known, key=lambda k: known[k])
        return known[where], where

    loads = {key: p.get("first_load", {}).get("median_s") for key, p in pages.items()}
    navs = {key: p.get("sidebar_nav", {}).get("median_s") for key, p in pages.items()}
    interactions = {
        f"{key}/{name}": entry.get("ratio")
        for key, p in pages.items()
        for name, entry in p.get("controls", {}).items()
        if isinstance(entry, dict)
    }
    load_max, load_where = worst(loads)
    nav_max, nav_where = worst(navs)
    ratio_max, ratio_where = worst(interactions)
    slider = pages.get("planner", {}).get("controls", {}).get("slider", {})
    tick = app.get("tick", {})
    keys: dict[str, Any] = {
        "browser_first_load_max_s": load_max,
        "browser_first_load_max_page": load_where,
        "browser_sidebar_nav_max_s": nav_max,
        "browser_sidebar_nav_max_page": nav_where,
        "browser_interaction_ratio_max": ratio_max,
        "browser_interaction_ratio_max_where": ratio_where,
        "browser_slider_ratio": slider.get("ratio"),
        "browser_slider_s": slider.get("median_s"),
        "browser_refresh_tick_main_thread_ms": tick.get("main_thread_ms_max"),
        "browser_empty_first_load_s": baseline.get("first_load", {}).get("median_s"),
        # The floor for a page with plotly charts: three charts and nothing else (no sign-in).
        "browser_plotly_page_first_load_s": baseline.get("charts_first_load", {}).get("median_s"),
        "browser_empty_slider_s": baseline.get("slider", {}).get("median_s"),
        "browser_empty_selectbox_s": baseline.get("selectbox", {}).get("median_s"),
    }
    keys["targets"] = TARGETS
    keys["meets_targets"] = {
        key: (None if keys.get(key) is None else keys[key] <= target) for key, target in TARGETS.items()
    }
    return keys


# ---------------------------------------------------------------------------------------------
# Profiling pass
# ---------------------------------------------------------------------------------------------


def profile_pass(
    args: argparse.Namespace, browser: Any, env: dict[str, str], workdir: Path, backend_name: str
) -> dict[str, Any]:
    """A fresh server with pyinstrument on every run: cold loads and each control twice."""
    from bench._pyi_summary import summarise_sessions

    profile_dir = workdir / "profiles"
    profile_dir.mkdir()
    flag = workdir / "profile.on"
    flag.touch()
    env = {**env, "CASTMETER_BENCH_PROFILE_FLAG": str(flag), "CASTMETER_BENCH_PROFILE_DIR": str(profile_dir)}
    cases: dict[str, Any] = {}

    def profiled(name: str, sample: dict[str, Any], runlog: RunLog) -> None:
        runs = runlog.runs(
            sample["last_change_ms"] / 1000 - sample["total_s"] - 0.05, sample["last_change_ms"] / 1000
        )
        sessions = [profile_dir / run["profile"] for run in runs if run.get("profile")]
        cases[name] = {
            "split": {
                k: v for k, v in sample.items() if k not in ("last_change_ms", "first_change_ms", "js")
            },
            "server": summarise_sessions(sessions),
            "browser_js": sample.get("js"),
        }

    Tab.js_profile = True
    with serve("app.py", REPO_ROOT, env, workdir, "profiled", server_options(args)) as (
        base,
        runlog,
        _process,
    ):
        context = browser.new_context(viewport=VIEWPORT)
        context.add_init_script(INIT_SCRIPT)
        timeout_ms = int(args.step_timeout_s * 1000)
        try:
            for page in PAGES:
                tab = Tab(context, runlog, args.quiet_ms, timeout_ms, PASSWORD)
                try:
                    profiled(
                        f"{page.key} first load (cold)",
                        tab.load(f"{base}/{page.path}?range=30d&live=0", page.marker),
                        runlog,
                    )
                    for control in CONTROLS[page.key]:
                        if control.section:
                            show_section(tab.page, control.section)
                            tab.page.wait_for_timeout(1500)
                        memory: dict[str, str] = {}
                        for index in range(2):
                            sample = control_step(tab, control, index, memory)
                            profiled(
                                f"{page.key} {control.kind} '{control.label}' #{index + 1}", sample, runlog
                            )
                        if control.section:
                            show_section(tab.page, "Nodes and costs")
                            tab.page.wait_for_timeout(1500)
                except Exception as exc:
                    cases[f"{page.key} error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
                finally:
                    tab.close()
            tab = Tab(context, runlog, args.quiet_ms, timeout_ms, PASSWORD)
            try:
                tab.load(f"{base}/?range=30d&live=0", "Rendered ")
                for page in [*PAGES[1:], PAGES[0]]:
                    profiled(f"{page.key} sidebar nav", nav_step(tab, page.title), runlog)
            finally:
                tab.close()
        finally:
            context.close()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    json_path = OUT_DIR / f"browser_profile_{backend_name}.json"
    json_path.write_text(json.dumps(cases, indent=1, default=str) + "\n", encoding="utf-8")
    md_path = OUT_DIR / f"browser_profile_{backend_name}.md"
    md_path.write_text(profile_markdown(cases, backend_name), encoding="utf-8")
    return {"cases": len(cases), "json": str(json_path), "markdown": str(md_path)}


def profile_markdown(cases: dict[str, Any], backend_name: str) -> str:
    lines = [f"# Browser latency profile ({backend_name}, generated by bench/browser_latency.py --profile)", "",
             "Per step: total (input → last change) = before the server + server (script body + finish/gc) + "
             "delivery + browser tail; main thread from CDP. Server time under pyinstrument (slower than "
             "unprofiled).", ""]  # fmt: skip
    lines += ["| step | total s | before server s | server s (body / finish) | delivery s | browser tail s | "
              "main thread ms (script / layout) | ws KB | plotly figs / points |",
              "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, case in cases.items():
        if not isinstance(case, dict):
            lines.append(f"| {name} | {case} | | | | | | | |")
            continue
        s = case["split"]
        lines.append(
            f"| {name} | {s.get('total_s')} | {s.get('before_server_s')} | {s.get('server_s')} "
            f"({s.get('server_body_s')} / {s.get('server_finish_s')}) | {s.get('delivery_s')} | "
            f"{s.get('browser_tail_s')} | {s.get('main_thread_ms')} ({s.get('script_ms')} / {s.get('layout_ms')}) | "
            f"{round((s.get('ws_received_bytes') or 0) / 1024)} | {s.get('plotly_figures')} / {s.get('plotly_points')} |"
        )
    lines.append("")
    for name, case in cases.items():
        if not isinstance(case, dict) or not case.get("server"):
            continue
        server = case["server"]
        lines += [f"## {name}", "", f"Profiled server time {server['profiled_s']} s in {server['runs']} run(s).", "",
                  "Self time by what does the work: " + ", ".join(f"{k} {v:.3f} s" for k, v in server["buckets"]), "",
                  "castmeter functions (cumulative):", ""]  # fmt: skip
        lines += [f"- `{k}` {v:.3f} s" for k, v in server["functions"][:10]]
        lines += ["", "Calls out of castmeter (cumulative):", ""]
        lines += [f"- `{k}` {v:.3f} s" for k, v in server["calls_out"][:8]]
        js = case.get("browser_js") or {}
        if js.get("by_bundle_ms"):
            lines += ["", f"Browser main thread (CPU profile, {js['busy_ms']} ms busy): "
                      + ", ".join(f"{k} {v:.0f} ms" for k, v in js["by_bundle_ms"]),
                      "", "Busiest browser functions: " + ", ".join(f"`{k}` {v:.0f} ms" for k, v in js["functions_ms"][:6])]  # fmt: skip
        lines.append("")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_db_argument(parser)
    parser.add_argument("--loads", type=int, default=3, help="first loads per page (the first is cold)")
    parser.add_argument("--navs", type=int, default=2, help="rounds of sidebar navigation")
    parser.add_argument("--steps", type=int, default=3, help="samples per control")
    parser.add_argument("--ticks", type=int, default=2, help="live refresh ticks to time")
    parser.add_argument("--tick-window-s", type=float, default=35.0, help="how long to wait for them")
    parser.add_argument("--quiet-ms", type=int, default=500, help="no change for this long = done")
    parser.add_argument("--step-timeout-s", type=float, default=60.0)
    parser.add_argument("--budget-s", type=float, default=180.0, help="after this, one sample per series")
    parser.add_argument("--pages", nargs="*", choices=[page.key for page in PAGES], help="only these pages")
    parser.add_argument("--no-tick", action="store_true", help="skip the live refresh tick")
    parser.add_argument(
        "--gc",
        choices=["default", "off", "freeze"],
        default="default",
        help="what-if for Streamlit's forced gc.collect(2) after each run (both servers): default (as shipped), "
        "off (--runner.postScriptGC false), freeze (gc.freeze() after each collection)",
    )
    parser.add_argument(
        "--profile-only", action="store_true", help="only the profiling pass (implies --profile)"
    )
    parser.add_argument(
        "--profile", action="store_true", default=os.environ.get("CASTMETER_BENCH_BROWSER_PROFILE") == "1"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a quick pass for the test suite: Overview and Planner, one sample each, no tick, no profile",
    )
    args = parser.parse_args()
    if args.smoke:
        args.loads = args.navs = args.steps = 1
        args.no_tick, args.profile, args.profile_only = True, False, False
        args.pages = args.pages or ["overview", "planner"]
        args.quiet_ms = min(args.quiet_ms, 300)
    args.profile = args.profile or args.profile_only
    if args.pages:
        PAGES[:] = [page for page in PAGES if page.key in args.pages]
    for name in ("loads", "navs", "steps", "ticks"):
        if not 1 <= getattr(args, name) <= 50:
            parser.error(f"--{name} must be between 1 and 50")
    result: dict[str, Any] = {"bench": "browser_latency", "targets": TARGETS, "smoke": args.smoke,
                              "signed_in": "password (bcrypt hash in CASTMETER_PASSWORD_HASH)"}  # fmt: skip
    try:
        from playwright.sync_api import sync_playwright

        from harness.realparts import chromium_path

        chromium = chromium_path()
        if chromium is None:
            raise FileNotFoundError("Debian chromium not installed")
        url, how = demo_db(args.db)
        result.update(how, backend=backend(url), store=store_facts(url))
    except Exception as exc:
        emit({**result, "browser_first_load_max_s": None, "reason": f"{type(exc).__name__}: {exc}"})
        return 0
    started = time.monotonic()
    budget = Budget(started + args.budget_s)
    workdir = Path(tempfile.mkdtemp(prefix="castmeter-bench-browser-"))
    config = workdir / "castmeter.toml"
    config.write_text("[dashboard]\nstale_after_s = 1800\n", encoding="utf-8")
    env = {**os.environ, "CASTMETER_DB_URL": url, "CASTMETER_CONFIG": str(config),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}  # fmt: skip
    # Signed in as an operator is: every castmeter tab signs in with the password first.
    env["CASTMETER_PASSWORD_HASH"] = password_hash(PASSWORD)
    if args.gc == "freeze":
        env["CASTMETER_BENCH_GC"] = "freeze"
    result["gc"] = args.gc
    baseline_dir = workdir / "baseline"
    write_baseline_app(baseline_dir)
    try:
        with (
            sync_playwright() as playwright,
            serve("app.py", REPO_ROOT, env, workdir, "castmeter", server_options(args)) as (
                app_base,
                app_runs,
                app_process,
            ),
            serve("baseline.py", baseline_dir, env, workdir, "baseline", server_options(args)) as (
                baseline_base,
                baseline_runs,
                baseline_process,
            ),
        ):
            browser = playwright.chromium.launch(
                executable_path=str(chromium), args=CHROMIUM_ARGS, timeout=60_000
            )
            try:
                if not args.profile_only:
                    context = browser.new_context(viewport=VIEWPORT)
                    context.add_init_script(INIT_SCRIPT)
                    baseline = measure_baseline(args, context, baseline_base, baseline_runs, budget)
                    app = measure_app(args, context, app_base, app_runs, budget)
                    context.close()
                    add_ratios(app, baseline)
                    result.update(headline(app, baseline))
                    result.update(baseline=baseline, pages=app["pages"], tick=app["tick"])
                    result["measure_s"] = round(time.monotonic() - started, 1)
                    result["server_rss_mb"] = {
                        "castmeter": rss_mb(app_process),
                        "baseline": rss_mb(baseline_process),
                    }
                if args.profile:
                    result["profile"] = profile_pass(args, browser, env, workdir, backend(url))
            finally:
                browser.close()
        result.update(
            settings={k: getattr(args, k) for k in ("loads", "navs", "steps", "ticks", "tick_window_s", "quiet_ms",
                                                     "step_timeout_s", "budget_s")},
            method="headless Chromium (playwright) against `streamlit run`; input → last DOM change (bench/_browser.py)",
            duration_s=round(time.monotonic() - started, 1),
        )  # fmt: skip
    except Exception as exc:
        logs = {path.name: path.read_text(errors="replace")[-1500:] for path in workdir.glob("*.log")}
        result.update(browser_first_load_max_s=None, reason=f"{type(exc).__name__}: {exc}", logs=logs)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
