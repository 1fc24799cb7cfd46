"""Issue 13, finding 1: concurrent first visits to a freshly started dashboard never get past
the sign-in — directly, and through the shipped nginx front door, 20 rounds in a row.

Streamlit runs the first requests for ``/streams`` on a fresh server as bare files from
``pages/`` (skipping app.py and its gate) until some run calls ``st.navigation``; sessions racing
on that process-wide flag used to receive the page's data (21 of 24 sessions in three rounds of
8). Each round starts a new ``streamlit run app.py`` and nginx in front of it, and releases at
the same moment 8 first sessions to every page directly and 8 through nginx (8 + 8 clients,
2 × 56 sessions). No session may receive a data element or register a live fragment.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from harness import served as dash
from harness.realparts import NginxHandle, nginx_path, nginx_proxy, require, self_signed_certificate

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

ROUNDS = int(os.environ.get("CASTMETER_RACE_ROUNDS", "20"))
PER_PAGE = 8

Results = list[tuple[str, set[str], int]]


def _check(round_index: int, door: str, results: Results) -> None:
    assert len(results) == len(dash.PAGES) * PER_PAGE, (round_index, door, len(results))
    refused = [(page, kinds) for page, kinds, _ in results if any(k.startswith("refused") for k in kinds)]
    assert not refused, (round_index, door, refused)  # 7 sessions per client: within the proxy's limits
    leaked = [
        (page, sorted(kinds & dash.DATA_KINDS)) for page, kinds, _ in results if kinds & dash.DATA_KINDS
    ]
    assert not leaked, f"round {round_index} ({door}): {len(leaked)} sessions received data: {leaked[:5]}"
    live = [page for page, _kinds, fragments in results if fragments]
    assert not live, f"round {round_index} ({door}): live fragments registered for {live}"
    assert all("text_input" in kinds for _page, kinds, _ in results), (round_index, door)  # the form


def _visit(proxy: NginxHandle, into: Results) -> None:
    into.extend(dash.first_visits(proxy.https_base, proxy.ssl_context(), PER_PAGE))


def test_concurrent_first_visits_to_every_page_get_only_the_sign_in(tmp_path: Path) -> None:
    with_nginx = nginx_path() is not None
    certificate = self_signed_certificate(tmp_path) if with_nginx else None
    # The race is about routing, not the pace of the sign-in page (tests/security/
    # test_dashboard_attacks.py): 112 first sessions a round at the default 5 a second would
    # only make the 20 rounds slower.
    env = dash.dashboard_env(
        tmp_path, dash.hostile_store(tmp_path / "fleet.db"), dash.password_hash(),
        dashboard_toml="sign_in_runs_per_s = 200\nsign_in_burst = 200",
    )  # fmt: skip
    for round_index in range(ROUNDS):
        with dash.served(tmp_path, env, name=f"round{round_index}") as board:
            if not with_nginx:
                _check(round_index, "direct", dash.first_visits(board.base, None, PER_PAGE))
            else:
                with nginx_proxy(board.base, certificate) as proxy:
                    through: Results = []
                    # The proxy's clients are 127.0.0.10-17 too, but nginx is the dashboard's peer.
                    worker = threading.Thread(target=_visit, args=(proxy, through))
                    worker.start()
                    direct = dash.first_visits(board.base, None, PER_PAGE)
                    worker.join(timeout=300)
                _check(round_index, "direct", direct)
                _check(round_index, "nginx", through)
            log = board.log()
        assert "Traceback" not in log, log[-3000:]
    require(with_nginx, "nginx (apt package nginx): the race through the front door did not run")
