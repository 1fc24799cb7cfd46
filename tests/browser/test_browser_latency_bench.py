"""bench/browser_latency.py --smoke in a real Chromium on the fixture fleet: the JSON it prints has
the shape `make bench` and the README read (keys, sample counts, no errors) — timings are the
benchmark's business, never asserted here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.fixture_store import build_fixture
from harness.realparts import REPO_ROOT

pytestmark = pytest.mark.browser

HEADLINE_KEYS = {
    "browser_first_load_max_s",
    "browser_first_load_max_page",
    "browser_sidebar_nav_max_s",
    "browser_interaction_ratio_max",
    "browser_interaction_ratio_max_where",
    "browser_slider_ratio",
    "browser_slider_s",
    "browser_refresh_tick_main_thread_ms",
    "browser_empty_first_load_s",
    "browser_plotly_page_first_load_s",
    "browser_empty_slider_s",
    "browser_empty_selectbox_s",
    "meets_targets",
}


def test_smoke_run_prints_every_key(chromium: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    build_fixture(url, int(time.time()))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "CHROMIUM_BIN": str(chromium)}
    env.pop("CASTMETER_BENCH_DB", None)
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "browser_latency.py"), "--smoke", "--db", url],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=420, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-2000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert "reason" not in result, (result.get("reason"), result.get("logs"))
    assert result["bench"] == "browser_latency" and result["smoke"] is True
    assert result["backend"] == "sqlite"
    assert set(result) >= HEADLINE_KEYS
    assert set(result["targets"]) == set(result["meets_targets"])
    # The smoke pass covers the Overview and the Planner: one signed-in deep link, one sidebar
    # navigation and one use of each of their controls, every one of them settled.
    assert set(result["pages"]) == {"overview", "planner"}
    for key, page in result["pages"].items():
        assert page["first_load"]["n"] == 1 and page["first_load"]["errors"] == [], (key, page["first_load"])
        assert page["first_load"]["split_median"]["sign_in_form_s"] > 0, key
        assert page["sidebar_nav"]["n"] == 1 and page["sidebar_nav"]["errors"] == [], key
        assert "error" not in page["controls"], (key, page["controls"])
        for name, control in page["controls"].items():
            assert control["n"] == 1 and control["errors"] == [], (key, name, control)
            assert control["compared_with"].startswith("baseline "), (key, name)
            assert control["ratio"] is not None, (key, name)
    assert set(result["pages"]["planner"]["controls"]) >= {
        "slider",
        "selectbox",
        "section",
        "text",
        "time_range",
    }
    # The empty Streamlit page of the same run: a load, a navigation and its three controls.
    for kind in ("first_load", "charts_first_load", "sidebar_nav", "slider", "selectbox", "text"):
        assert result["baseline"][kind]["n"] >= 1 and result["baseline"][kind]["errors"] == [], kind
    # The plotly floor page: its three charts drawn by the end of its load.
    assert result["baseline"]["charts_first_load"]["drawn"]["plotly_figures"] == 3
    assert result["tick"] == {"n": 0, "reason": "--no-tick"}
    # Every castmeter figure drawn by the end of the Overview's load (the chart marker waited for).
    assert result["pages"]["overview"]["first_load"]["drawn"]["plotly_figures"] >= 1
