"""The planner on a real `streamlit run app.py`, driven over the browser's websocket protocol
(harness/streamlit_ws.py): a slider move reruns only the planner's fragment — not the sidebar,
the navigation or the title — and the outputs follow the slider."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Iterator

import pytest

from harness import streamlit_ws as browser
from harness.realparts import REPO_ROOT, streamlit_run
from store.engine import open_store

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]  # a real Streamlit server and websocket (4 s)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("planner-server")
    url = f"sqlite:///{workdir / 'empty.db'}"
    open_store(url).dispose()
    config = workdir / "castmeter.toml"
    config.write_text("")
    env = {**os.environ, "CASTMETER_DB_URL": url, "CASTMETER_CONFIG": str(config)}
    with streamlit_run("app.py", cwd=REPO_ROOT, env=env, log_path=workdir / "app.log") as (base, _process):
        yield base


def caption_with(run: browser.Run, needle: str) -> str:
    matches = [text for text in run.texts if needle in text]
    assert matches, (needle, run.texts)
    return matches[0]


def test_a_slider_move_reruns_the_planner_fragment_and_its_outputs(app_url: str) -> None:
    session = browser.Session(app_url, "planner")
    try:
        first = session.run()
        assert first.exception is None
        assert "Capacity planner" in first.texts
        kinds = [element.WhichOneof("type") for element in first.elements]
        assert kinds.count("metric") >= 4  # SFU nodes, egress nodes, traffic, cheapest
        widget_id, fragment_id = browser.slider(first, "Hours per day")
        assert fragment_id, "the planner's inputs are not in a fragment"
        before = caption_with(first, "listener-hours per month")

        moved = session.run(browser.slider_move(widget_id, 12.0), fragment_id)
        assert moved.exception is None
        after = caption_with(moved, "listener-hours per month")
        assert after != before
        # platform-500 (the default preset) at 12 h a day: 500 streams × 10 listeners × 12 h × 30 days.
        assert "1,800,000 listener-hours" in after
        # Only the fragment ran: no sidebar, no page title.
        labels = {
            getattr(element, element.WhichOneof("type")).label
            for element in moved.elements
            if hasattr(getattr(element, element.WhichOneof("type")), "label")
        }
        assert "Data source" not in labels and "Time range" not in labels
        assert "Capacity planner" not in moved.texts
        assert "Hours per day" in labels
        # The shareable address follows the move (the `plan` parameter holds the inputs).
        assert moved.query_string is not None and "plan=" in moved.query_string
        shared = urllib.parse.parse_qs(moved.query_string)["plan"][0]
        assert "h=12" in shared.split(";")

        # A full rerun (a reload) keeps the moved value: session state holds it.
        reloaded = session.run()
        assert "1,800,000 listener-hours" in caption_with(reloaded, "listener-hours per month")
        assert "Capacity planner" in reloaded.texts
    finally:
        session.close()
