"""Every operator page in a real headless Chromium against `streamlit run app.py`.

Uses the fixture fleet by default, or the database in CASTMETER_BROWSER_DB_URL (e.g. a demo
backfill). Screenshots go to tests/artifacts/; with CASTMETER_UPDATE_SCREENSHOTS=1 the
Overview's also replaces docs/screenshots/overview.png (the README's picture).
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.fixture_store import build_fixture
from harness.realparts import REPO_ROOT, streamlit_run

ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
README_SCREENSHOT = REPO_ROOT / "docs" / "screenshots" / "overview.png"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000
pytestmark = pytest.mark.browser


@contextlib.contextmanager
def serve(workdir: Path, url: str) -> Iterator[str]:
    """A fresh `streamlit run app.py` on ``url``'s store; yields its base URL."""
    config = workdir / "castmeter.toml"
    config.write_text('[dashboard]\ntimezone = "Europe/Berlin"\nstale_after_s = 1800\n')
    env = {**os.environ, "CASTMETER_DB_URL": url, "CASTMETER_CONFIG": str(config)}
    env.pop("CASTMETER_PASSWORD_HASH", None)
    log_path = workdir / "streamlit.log"
    try:
        with streamlit_run("app.py", cwd=REPO_ROOT, env=env, log_path=log_path) as (base, _process):
            yield base
    finally:
        print(log_path.read_text(errors="replace")[-3000:])


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """(base URL, fixture facts or None for an external database) of a running dashboard."""
    workdir = tmp_path_factory.mktemp("browser")
    external = os.environ.get("CASTMETER_BROWSER_DB_URL")
    facts: dict[str, Any] | None = None
    if external:
        url = external
    else:
        url = f"sqlite:///{workdir / 'fleet.db'}"
        facts = build_fixture(url, int(time.time()))
    with serve(workdir, url) as base:
        yield base, facts


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, timeout=TIMEOUT_MS
        )
        yield instance
        instance.close()


def open_page(browser: Any, url: str, title: str) -> Any:
    page = browser.new_page(viewport={"width": 1600, "height": 1000}, accept_downloads=True)
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.get_by_role("heading", name=title, level=1).wait_for()
    settle(page)
    return page


def settle(page: Any) -> None:
    """Wait until the script run is over (no running indicator) and the DOM is quiet."""
    page.wait_for_load_state("networkidle")
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')"
    )
    page.wait_for_timeout(500)


def metric_values(page: Any, *needed: str) -> dict[str, str]:
    """The page's metric cards, label → value, once every label in ``needed`` is painted (after a
    page switch the title can be painted, and the run reported over, before the cards are)."""
    for label in needed:
        page.locator('[data-testid="stMetricLabel"]', has_text=label).first.wait_for()
    values: dict[str, str] = {}
    for metric in page.locator('[data-testid="stMetric"]').all():
        label = metric.locator('[data-testid="stMetricLabel"]').inner_text().strip()
        values[label] = metric.locator('[data-testid="stMetricValue"]').inner_text().strip()
    return values


def check_and_capture(page: Any, name: str) -> None:
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]'
    ).first.inner_text()
    assert page.title() in ("castmeter", name.capitalize()) or "castmeter" in page.title()
    capture(page, ARTIFACTS / f"{name}.png")


def capture(page: Any, path: Path) -> None:
    """A screenshot of the whole page: Streamlit scrolls inside its main block, so grow the
    viewport to the content's height first (full_page alone would cut it at the fold)."""
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": width, "height": max(800, min(int(height) + 40, 8000))})
    page.wait_for_timeout(800)  # let charts re-layout to the new size
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))


def test_overview_in_chromium(dashboard: tuple[str, dict[str, Any] | None], browser: Any) -> None:
    base, facts = dashboard
    page = open_page(browser, base, "Overview")
    page.locator('[data-testid="stPlotlyChart"]').nth(1).wait_for()
    values = metric_values(page, "Live streams", "Listeners", "Publishers", "Nodes up")
    assert {"Live streams", "Listeners", "Publishers", "Nodes up"} <= set(values)
    assert any(label.startswith("Outgoing ") for label in values)
    if facts is not None:
        assert values["Live streams"] == str(facts["live_streams"])
        assert values["Listeners"] == f"{facts['listeners_now']:,}"
        assert values["Nodes up"] == f"{facts['nodes_up']} / {facts['nodes_total']}"
        assert page.get_by_text("is failing").count() >= 1  # the fixture's failing source
    else:
        assert int(values["Live streams"].replace(",", "")) > 0
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 2
    assert page.get_by_text("Europe/Berlin").count() >= 1
    # Priced in the background; the card re-runs until the estimate is there.
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="stMetric"]')].some(
            m => m.innerText.includes('Cost per hour') && m.innerText.includes('$'))""",
        timeout=60_000,
    )
    check_and_capture(page, "overview")
    if os.environ.get("CASTMETER_UPDATE_SCREENSHOTS") == "1":
        capture(page, README_SCREENSHOT)
    page.close()


def test_sidebar_range_goes_to_the_url(dashboard: tuple[str, dict[str, Any] | None], browser: Any) -> None:
    base, _facts = dashboard
    page = open_page(browser, f"{base}/?range=1h&evil=%3Cscript%3E", "Overview")
    page.wait_for_url("**range=1h**")
    assert "evil" not in page.url  # not allow-listed: dropped from the address
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(
        has_text="Time range"
    ).click()
    page.get_by_role("option", name="Last 24 hours").click()
    page.wait_for_url("**range=24h**")
    settle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


def test_streams_in_chromium(dashboard: tuple[str, dict[str, Any] | None], browser: Any) -> None:
    base, facts = dashboard
    page = open_page(browser, f"{base}/streams", "Streams")
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").click()
    csv_text = Path(download_info.value.path()).read_text(encoding="utf-8")
    exported = pd.read_csv(io.StringIO(csv_text), keep_default_na=False)
    assert "Started (Europe/Berlin)" in exported.columns
    caption = page.get_by_text(" streams (").first.inner_text()
    assert len(exported) == int(caption.split(" ")[0].replace(",", ""))
    if facts is not None:
        assert len(exported) == facts["live_streams"]
        # Hostile names arrive intact in the CSV and never as HTML in the page.
        assert "<script>alert('x')</script>" in set(exported["Room"])
        assert page.locator("script:text('alert')").count() == 0
        page.goto(f"{base}/streams?stream=1:RM_live_07")
        page.get_by_text("Stream detail").wait_for()
        settle(page)
        assert page.get_by_text('Room: quote "O\'Reilly" <b>bold</b> 🎧').count() == 1
        assert page.locator("b", has_text="bold").count() == 0
        assert metric_values(page)["Connection minutes"] == "125"
    check_and_capture(page, "streams")
    page.close()


def test_nodes_in_chromium(dashboard: tuple[str, dict[str, Any] | None], browser: Any) -> None:
    base, facts = dashboard
    page = open_page(browser, f"{base}/nodes", "Nodes")
    page.get_by_text("Node detail").first.wait_for()
    page.locator('[data-testid="stPlotlyChart"]').nth(2).wait_for()  # the Load section: three charts
    values = metric_values(page, "Nodes up")
    assert "Nodes up" in values
    if facts is not None:
        assert values["Nodes up"] == "2 / 3"
    check_and_capture(page, "nodes")
    # Another section of charts: the detail reruns alone (a fragment) and draws only that section.
    charts = page.locator('[data-testid="stPlotlyChart"]')
    assert charts.count() == 3
    page.locator('[data-testid="stButtonGroup"]').get_by_role("radio", name="Network", exact=True).click()
    page.get_by_text("Bandwidth").first.wait_for()
    settle(page)
    assert charts.count() == 3 and page.locator('[data-testid="stException"]').count() == 0
    page.close()


def test_first_visit_by_deep_link_gets_the_app_navigation(tmp_path: Path, browser: Any) -> None:
    """A server's first visit being /planner must still run inside app.py (sidebar pages,
    wide layout), not as a bare file from the pages/ folder."""
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    build_fixture(url, int(time.time()))
    with serve(tmp_path, url) as base:
        page = open_page(browser, f"{base}/planner", "Capacity planner")
        try:
            nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
            assert "Overview" in nav and "Planner" in nav
            assert "app" not in nav.split()  # the file-based listing would show "app"
            assert page.locator('[data-testid="stException"]').count() == 0
        finally:
            page.close()
