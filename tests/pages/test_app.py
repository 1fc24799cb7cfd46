"""app.py: navigation, the shared sidebar and the login gate (AppTest)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bcrypt
import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.conftest import REPO_ROOT, page_path
from ui import heap

TIMEOUT_S = 30
APP = str(REPO_ROOT / "app.py")


@pytest.mark.slow
def test_app_opens_on_the_overview_and_switches_pages(populated_store: dict[str, Any]) -> None:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    app.run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Overview"
    assert {m.label for m in app.metric} >= {"Live streams", "Listeners", "Nodes up"}
    for name, title in (("streams", "Streams"), ("nodes", "Nodes")):
        app.switch_page(str(Path("pages") / f"{name}.py"))
        app.run()
        assert not app.exception, app.exception
        assert app.title[0].value == title
    # Each page's first full run froze the heap once (ui/heap.py).
    assert heap.frozen_pages() >= {"streams", "nodes"}


@pytest.mark.slow
def test_sidebar_state_goes_to_the_url(populated_store: dict[str, Any]) -> None:
    # A page on its own draws the same sidebar. (AppTest loses the entry point's sidebar
    # on reruns under st.navigation, so widget changes are driven here; the browser test
    # covers the full app.)
    app = AppTest.from_file(page_path("overview"), default_timeout=TIMEOUT_S)
    app.run()
    app.selectbox(key="sb_range").set_value("24h").run()
    app.selectbox(key="sb_source").set_value("main").run()
    app.toggle(key="sb_live").set_value(False).run()
    assert not app.exception, app.exception
    assert dict(app.query_params) == {"range": "24h", "source": "main", "live": "0"}
    assert any("live refresh off" in caption.value for caption in app.caption)


def test_custom_range_is_read_back_from_the_url(populated_store: dict[str, Any]) -> None:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    app.query_params.update({"range": "custom", "from": "2026-01-01", "to": "2026-01-07"})
    app.run()
    assert not app.exception, app.exception
    assert app.query_params["from"] == "2026-01-01" and app.query_params["to"] == "2026-01-07"
    assert any("2026-01-01 – 2026-01-07" in caption.value for caption in app.caption)


@pytest.fixture
def password_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASTMETER_PASSWORD_HASH", bcrypt.hashpw(b"open sesame", bcrypt.gensalt(4)).decode())


def test_login_gate_blocks_until_the_password_matches(
    populated_store: dict[str, Any], password_hash: None
) -> None:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    app.run()
    assert not app.metric
    app.text_input[0].input("wrong")
    app.button[0].click().run()
    assert any("Wrong password" in error.value for error in app.error)
    assert not app.metric
    app.text_input[0].input("open sesame")
    app.button[0].click().run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Overview"
    assert app.metric
