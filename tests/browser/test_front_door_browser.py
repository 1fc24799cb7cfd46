"""The shipped front door in a real headless Chromium: the password-protected dashboard behind
docs/proxy/castmeter.nginx.conf over TLS. Proves the proxy lets through everything the browser
needs (it blocks the rest of /_stcore/), that a deep link survives the sign-in, and that a
wrong password is refused there too."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest

from harness import served as dash
from harness.realparts import NginxHandle
from tests.browser.test_pages_browser import TIMEOUT_MS, browser, metric_values, settle  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def front_door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dash.Dashboard, NginxHandle]]:
    with dash.behind_nginx(tmp_path_factory.mktemp("front-door-browser")) as (board, proxy):
        yield board, proxy


def test_sign_in_through_the_proxy_lands_on_the_deep_link(
    front_door: tuple[dash.Dashboard, NginxHandle],
    browser: Any,  # noqa: F811 (the Chromium fixture of test_pages_browser)
) -> None:
    board, proxy = front_door
    # The test's own certificate: Chromium has no CA file option, so it skips verification
    # (the websocket client tests verify it against the generated certificate).
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    failed: list[str] = []

    def note_failure(response: Any) -> None:
        # Streamlit's frontend first probes for a base path (/streams/_stcore/health), which
        # 404s with or without a proxy; what it then uses lives at the root.
        path = urlparse(response.url).path
        if response.status >= 400 and "/_stcore/" not in path[1:]:
            failed.append(f"{response.status} {path}")

    page.on("response", note_failure)
    page.goto(f"{proxy.https_base}/streams?range=24h")
    page.get_by_role("heading", name="castmeter", level=1).wait_for()
    settle(page)
    assert page.locator('[data-testid="stDataFrame"]').count() == 0  # nothing before signing in
    password = page.get_by_label("Password", exact=True)
    password.fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Wrong password.").wait_for()
    password.fill(dash.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Streams", level=1).wait_for()
    settle(page)
    assert "/streams" in page.url and "range=24h" in page.url  # the deep link survived
    page.locator('[data-testid="stDataFrame"]').first.wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    assert failed == [], failed  # nothing the page needs is blocked by the proxy
    # Another page in the same session (a reload is a new Streamlit session: signed out).
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Overview").click()
    page.get_by_role("heading", name="Overview", level=1).wait_for()
    settle(page)
    assert {"Live streams", "Listeners"} <= set(metric_values(page, "Live streams", "Listeners"))
    context.close()
    assert "[error]" not in proxy.error_log() or "upstream" not in proxy.error_log(), proxy.error_log()
    assert board.process.poll() is None
