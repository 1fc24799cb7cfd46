"""Several dashboard replicas on one PostgreSQL behind the shipped nginx (issue 20, item 3): the
dashboard keeps nothing but a tab's session in memory, so two replicas show the same figures,
nginx spreads the tabs over both, and when one dies the dashboard keeps answering through the
other (a tab signs in again: its session was in the dead process). docs/deploy.md, "Several
dashboards"."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from harness import served as dash
from harness.fixture_store import build_fixture
from harness.realparts import NginxHandle, nginx_path, nginx_proxy, require, stop_process
from tests.browser.test_pages_browser import TIMEOUT_MS, browser, metric_values, settle  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]


def _overview(browser: Any, base: str) -> dict[str, str]:  # noqa: F811
    """A new tab on ``base`` (the proxy or one replica): sign in, read the Overview's cards,
    close the tab (so nginx logs its websocket and the replica that served it)."""
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{base}/")
        page.get_by_label("Password", exact=True).fill(dash.PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="Overview", level=1).wait_for()
        page.locator('[data-testid="stMetricLabel"]', has_text="Nodes up").wait_for()
        settle(page)
        assert page.locator('[data-testid="stException"]').count() == 0
        return metric_values(page)
    finally:
        context.close()


def _upstreams(proxy: NginxHandle, websockets_at_least: int) -> list[str]:
    """The replica (the last one tried) of every proxied request so far, in order, once nginx
    has logged at least ``websockets_at_least`` dashboard websockets (a websocket is logged
    when it closes, a moment after its tab)."""
    deadline = time.monotonic() + 15
    while True:
        lines = proxy.access_log().splitlines()
        if (
            sum("/_stcore/stream" in line for line in lines) >= websockets_at_least
            or time.monotonic() > deadline
        ):
            break
        time.sleep(0.2)
    return [match.group(1).split(", ")[-1] for line in lines if (match := re.search(r"upstream=(.+)$", line))]


def test_two_replicas_serve_the_same_figures_and_one_survives_the_other(
    tmp_path: Path,
    pg_url: str,
    browser: Any,  # noqa: F811 (the Chromium fixture of test_pages_browser)
) -> None:
    require(nginx_path() is not None, "nginx (apt package nginx)")
    facts = build_fixture(pg_url, int(time.time()))
    env = dash.dashboard_env(tmp_path, pg_url, dash.password_hash())
    with (
        dash.served(tmp_path, env, name="replica-a") as replica_a,
        dash.served(tmp_path, env, name="replica-b") as replica_b,
        nginx_proxy([replica_a.base, replica_b.base]) as proxy,
    ):
        address_a, address_b = (base.removeprefix("http://") for base in (replica_a.base, replica_b.base))
        # Each replica on its own shows the same cards, the three checked by hand among them.
        direct_a, direct_b = _overview(browser, replica_a.base), _overview(browser, replica_b.base)
        expected = {
            "Live streams": str(facts["live_streams"]),
            "Listeners": f"{facts['listeners_now']:,}",
            "Nodes up": f"{facts['nodes_up']} / {facts['nodes_total']}",
        }
        assert {label: direct_a.get(label) for label in expected} == expected
        assert direct_b == direct_a
        # Through the proxy: the same cards, and nginx spreads the requests over both replicas.
        assert _overview(browser, proxy.https_base) == direct_a
        before = _upstreams(proxy, websockets_at_least=1)
        assert set(before) == {address_a, address_b}, before

        stop_process(replica_a.process)  # a replica dies
        after = [_overview(browser, proxy.https_base) for _ in range(2)]
        assert after == [direct_a, direct_a]
        served_after = _upstreams(proxy, websockets_at_least=3)[len(before) :]
        assert served_after and set(served_after) == {address_b}, served_after
        assert replica_b.process.poll() is None
