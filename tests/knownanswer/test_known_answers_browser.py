"""The known-answer fleet in a real headless Chromium, for what AppTest cannot see: the cards
as painted (including the Overview's background-priced cost card), the charts' plotted points,
and the Streams CSV as the browser downloads it. One live and one backfilled store (SQLite
and PostgreSQL respectively), each dashboard pinned with $CASTMETER_NOW."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.realparts import REPO_ROOT, streamlit_run
from tests.browser.test_pages_browser import TIMEOUT_MS, browser, metric_values, settle
from tests.knownanswer import answers as a
from tests.knownanswer.conftest import DASHBOARD_ZONE, dashboard_config, is_live
from tests.knownanswer.test_known_answers import berlin

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]
__all__ = ["browser"]  # the module-scoped Chromium of the browser tests, shared
BROWSER_STORES = ("live-sqlite", "backfill-postgresql")


@pytest.fixture(
    params=[
        pytest.param(k, marks=[pytest.mark.realclock] if k.startswith("live") else []) for k in BROWSER_STORES
    ]
)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextlib.contextmanager
def dashboard_at(store_url: str, now_ts: int, workdir: Path) -> Iterator[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CASTMETER_")},
        "CASTMETER_DB_URL": store_url,
        "CASTMETER_CONFIG": str(dashboard_config(workdir / "castmeter.toml")),
        "CASTMETER_NOW": str(now_ts),
    }
    log = workdir / f"streamlit-{now_ts}.log"
    with streamlit_run("app.py", cwd=REPO_ROOT, env=env, log_path=log) as (base, _process):
        yield base


def open_page(browser: Any, url: str, title: str) -> Any:
    page = browser.new_page(viewport={"width": 1600, "height": 1200}, accept_downloads=True)
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.get_by_role("heading", name=title, level=1).wait_for()
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    return page


def plotted(page: Any, index: int) -> list[dict[str, Any]]:
    """The traces the index-th plotly chart of the page has drawn: name, x (local wall time
    ``YYYY-MM-DDTHH:MM:SS``), y — as plotly.js holds them after decoding (``_fullData``)."""
    page.locator('[data-testid="stPlotlyChart"]').nth(index).locator(".js-plotly-plot").wait_for()
    traces: list[dict[str, Any]] = page.evaluate(
        """(index) => [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')][index]
            ._fullData.map(t => ({name: t.name, x: Array.from(t.x || []).map(String),
                                   y: Array.from(t.y || []).map(Number)}))""",
        index,
    )
    for trace in traces:
        trace["x"] = [x.replace(" ", "T")[:19] for x in trace["x"]]
    return traces


def at(offset_s: int) -> str:
    """T0 + offset as a chart's x value (the dashboard's zone, no fraction)."""
    return berlin(offset_s).replace(" ", "T")


def painted_text(page: Any) -> str:
    return str(page.locator('[data-testid="stMain"]').inner_text())


def test_overview_and_nodes_while_both_rooms_are_live(
    store_kind: str, store_url: str, browser: Any, tmp_path: Path
) -> None:
    with dashboard_at(store_url, a.MID_NOW, tmp_path) as base:
        page = open_page(browser, f"{base}/?range=1h", "Overview")
        page.wait_for_function(
            """() => [...document.querySelectorAll('[data-testid="stMetric"]')].some(
                m => m.innerText.includes('Cost per hour') && m.innerText.includes('$'))""",
            timeout=60_000,
        )
        values = metric_values(page)
        assert values["Live streams"] == str(a.LIVE_STREAMS) and values["Listeners"] == str(a.LIVE_LISTENERS)
        assert values["Publishers"] == str(a.LIVE_PUBLISHERS) and values["Nodes up"] == "2 / 2"
        assert values["Outgoing Mbit/s"] == f"{a.OUT_MBPS:.1f}"
        assert values["Cost per hour (LiveKit self-hosted)"] == f"${a.COST_PER_HOUR_USD:,.4f}"
        text = painted_text(page)
        assert "None" not in text.split() and "NaN" not in text
        assert "cost per hour: LiveKit self-hosted, last 1 hour" in text
        assert "CET" in text and DASHBOARD_ZONE in page.locator('[data-testid="stSidebar"]').inner_text()
        # The live-streams chart (the second chart): 2 streams over the minute before the end.
        streams = plotted(page, 1)[0]
        tail = [y for x, y in zip(streams["x"], streams["y"], strict=True) if x >= at(180)]
        assert tail and set(tail) == {2}, streams
        page.close()

        page = open_page(browser, f"{base}/nodes?range=1h&node=2:ND_ka_a", "Nodes")
        page.get_by_text("Node detail").first.wait_for()
        # The section title can be painted before the metrics above it: wait for the one read.
        page.locator('[data-testid="stMetricLabel"]', has_text="Nodes up").first.wait_for()
        assert metric_values(page)["Nodes up"] == "2 / 2"
        # The CPU chart of ND_ka_a: 20 % before T0+2 min, 90 % in the hot minutes after it.
        cpu = next(trace for trace in plotted(page, 0) if trace["name"] == "CPU % (avg)")
        points = dict(zip(cpu["x"], cpu["y"], strict=True))
        hot = [y for x, y in points.items() if at(150) <= x < at(225)]
        cool = [y for x, y in points.items() if x < at(90)]
        assert hot and min(hot) == pytest.approx(90.0, abs=0.5)
        assert cool and max(cool) == pytest.approx(20.0, abs=0.5 if not is_live(store_kind) else 1.0)
        page.close()


def test_streams_csv_costs_and_alerts_at_the_end(
    store_kind: str, store_url: str, browser: Any, tmp_path: Path
) -> None:
    with dashboard_at(store_url, a.END_NOW, tmp_path) as base:
        page = open_page(browser, f"{base}/streams?range=1h", "Streams")
        page.locator('[data-testid="stDataFrame"]').first.wait_for()
        assert "2 streams (0 live) in last 1 hour" in painted_text(page)
        with page.expect_download() as download:
            page.get_by_role("button", name="Download CSV").click()
        csv = pd.read_csv(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8")), dtype=str,
                          keep_default_na=False).set_index("Room")  # fmt: skip
        assert sorted(csv.index) == ["radio-1", "radio-2"]
        for room, (started, _ended, _minutes, peak_listeners, peak_participants) in a.STREAMS.items():
            assert csv.loc[room, f"Started ({DASHBOARD_ZONE})"] == berlin(started)
            assert (csv.loc[room, "Peak listeners"], csv.loc[room, "Peak participants"]) == (
                str(peak_listeners),
                str(peak_participants),
            )
        page.close()

        page = open_page(browser, f"{base}/costs?range=1h", "Costs")
        page.get_by_text("Cheapest model").first.wait_for()
        text = painted_text(page)
        assert "data covers 6 minutes of the 1.0 hours chosen" in text
        assert "Projected month: month to date plus the last 7 days' rate" in text
        assert metric_values(page, "Cheapest model")["Cheapest model"] == "LiveKit self-hosted"
        page.close()

        page = open_page(browser, f"{base}/alerts?range=1h", "Alerts")
        chart = plotted(page, 0)[0]  # HighCPU on ND_ka_a, candidate A
        values = dict(zip(chart["x"], chart["y"], strict=True))
        assert values[at(150)] == pytest.approx(90.0, abs=0.5)
        assert values[at(300)] == pytest.approx(20.0, abs=0.5)
        page.close()
