"""The Costs page on a real `streamlit run app.py`, over the browser's websocket protocol
(harness/streamlit_ws.py): the break-even baseline and the by-channel model are each in their
own fragment, so picking one reruns that section on the page's ledger — not the whole page,
whose window end moves every 15 s and would read every ledger again."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from harness import streamlit_ws as browser
from harness.fixture_store import build_fixture
from harness.realparts import REPO_ROOT, streamlit_run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]  # a real Streamlit server and websocket


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("costs-server")
    url = f"sqlite:///{workdir / 'fleet.db'}"
    build_fixture(url, int(time.time()))
    config = workdir / "castmeter.toml"
    config.write_text("[dashboard]\nstale_after_s = 1800\n")
    env = {**os.environ, "CASTMETER_DB_URL": url, "CASTMETER_CONFIG": str(config)}
    env.pop("CASTMETER_PASSWORD_HASH", None)
    with streamlit_run("app.py", cwd=REPO_ROOT, env=env, log_path=workdir / "app.log") as (base, _process):
        yield base


def test_the_section_pickers_are_fragments(app_url: str) -> None:
    session = browser.Session(app_url, "costs")
    try:
        run = session.run()
        assert run.exception is None, run.exception
        model = browser.widget(run, "selectbox", "Model")
        baseline = browser.widget(run, "selectbox", "Baseline")
        source = browser.widget(run, "selectbox", "Data source")  # the sidebar: the whole app
        assert run.fragment_ids.get(model.id), "the by-channel model picker is not in a fragment"
        assert run.fragment_ids.get(baseline.id), "the break-even baseline picker is not in a fragment"
        assert run.fragment_ids[model.id] != run.fragment_ids[baseline.id]
        assert not run.fragment_ids.get(source.id)
    finally:
        session.close()
