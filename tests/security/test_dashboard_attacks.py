"""Issue 13's attacks on a running dashboard (a real ``streamlit run app.py`` with a password),
over the browser's websocket protocol: a session resumed by its id from another client, a live
fragment re-run by a hijacker, ``clear_cache`` and uploads from a visitor who is not signed in,
the CSV export of formula-like names, a deep link through the sign-in, a future custom range,
and one session hammering the sign-in page. Each of these got data, or got through, before.

Attackers connect from their own loopback addresses (127.0.0.0/8) so that the sign-in
limiter's per-address counts do not mix between tests.
"""

from __future__ import annotations

import csv
import io
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from harness import served as dash
from harness import streamlit_ws as browser

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dash.Dashboard]:
    with dash.protected(tmp_path_factory.mktemp("dashboard-attacks")) as (served, _proxy):
        yield served


def _has_data(run: browser.Run) -> bool:
    return bool(browser.element_kinds(run) & dash.DATA_KINDS)


def test_a_session_resumed_by_its_id_from_another_client_is_not_signed_in(board: dash.Dashboard) -> None:
    owner, first = dash.sign_in(board.base, "streams", source_address=dash.client_address(40))
    assert _has_data(first)
    session_id = owner.session_id
    owner.close()
    time.sleep(0.5)  # the session is kept for server.disconnectedSessionTTL, to be resumed
    with browser.Session(
        board.base, "streams", resume=session_id, source_address=dash.client_address(41)
    ) as thief:
        stolen = thief.run()
        assert thief.session_id == session_id  # Streamlit did hand over the session ...
        assert not _has_data(stolen) and "text_input" in browser.element_kinds(stolen)  # ... not the sign-in


def test_the_owner_resumes_its_own_session_still_signed_in(board: dash.Dashboard) -> None:
    owner, _first = dash.sign_in(board.base, "streams", source_address=dash.client_address(42))
    session_id = owner.session_id
    owner.close()
    time.sleep(0.5)
    with browser.Session(
        board.base, "streams", resume=session_id, source_address=dash.client_address(42)
    ) as back:
        assert _has_data(back.run()) and back.session_id == session_id


def test_a_hijacker_rerunning_a_live_fragment_gets_no_data(board: dash.Dashboard) -> None:
    owner, first = dash.sign_in(board.base, "overview", source_address=dash.client_address(43))
    fragments = sorted(set(first.fragment_ids.values()))
    assert fragments, "the Overview's live fragments are gone"
    session_id = owner.session_id
    # Taking over a connected session's id (Streamlit moves it to the new client).
    with browser.Session(
        board.base, "overview", resume=session_id, source_address=dash.client_address(44)
    ) as thief:
        for fragment_id in fragments:  # what the browser's 15 s timer sends: the fragment alone
            run = thief.run(fragment_id=fragment_id)
            assert not _has_data(run), fragment_id
    owner.close()


def test_clear_cache_from_a_visitor_who_is_not_signed_in_is_refused(board: dash.Dashboard) -> None:
    user, _first = dash.sign_in(board.base, "overview", source_address=dash.client_address(45))
    try:
        user.run()
        before = _cache_misses(board.base)
        with browser.Session(board.base, "", source_address=dash.client_address(46)) as visitor:
            visitor.run()
            message = browser.BackMsg()
            message.clear_cache = True
            visitor.send(message)
            time.sleep(1.0)
        user.run()
        # Emptied caches make every cached reader of the Overview miss (10 before the fix);
        # a short ttl (15 s) may expire meanwhile for one or two.
        assert _cache_misses(board.base) - before <= 3
    finally:
        user.close()
    assert "refused websocket messages" in board.log() and "clear_cache=1" in board.log()


def _cache_misses(base: str) -> int:
    with urllib.request.urlopen(f"{base}/_stcore/metrics", timeout=10) as response:
        lines = response.read().decode().splitlines()
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in lines
        if line.startswith("cache_lookups_total{") and 'result="miss"' in line
    )


def test_uploads_are_refused(board: dash.Dashboard) -> None:
    with browser.Session(board.base, "", source_address=dash.client_address(47)) as visitor:
        visitor.run()
        with urllib.request.urlopen(f"{board.base}/_stcore/health", timeout=10) as response:
            cookie = next(
                c for c in response.headers.get_all("Set-Cookie") if c.startswith("_streamlit_xsrf=")
            )
        token = cookie.split(";", 1)[0].split("=", 1)[1]
        body = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.bin"\r\n'
                b"Content-Type: application/octet-stream\r\n\r\n" + os.urandom(100_000) + b"\r\n--b--\r\n")  # fmt: skip
        request = urllib.request.Request(
            f"{board.base}/_stcore/upload_file/{visitor.session_id}/f1", data=body, method="PUT",
            headers={"Content-Type": "multipart/form-data; boundary=b", "X-Xsrftoken": token,
                     "Cookie": f"_streamlit_xsrf={token}"},
        )  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 413  # server.maxUploadSize = 0 (204 before)


def test_the_csv_export_neutralises_formulas_the_table_does_not(board: dash.Dashboard) -> None:
    session, run = dash.sign_in(board.base, "streams", source_address=dash.client_address(48))
    session.close()
    button = next(e.download_button for e in run.elements if e.WhichOneof("type") == "download_button")
    with urllib.request.urlopen(board.base + button.url, timeout=30) as response:
        text = response.read().decode("utf-8")
    cells = [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]
    for name in dash.FORMULA_NAMES:
        assert "'" + name in cells, name  # kept whole, behind a quote the spreadsheet hides
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert text.startswith('"Room","Status"')  # every cell quoted


def test_a_deep_link_survives_the_sign_in(board: dash.Dashboard) -> None:
    with browser.Session(board.base, "streams", query_string="range=7d&status=live",
                         source_address=dash.client_address(49)) as session:  # fmt: skip
        form = session.run()
        assert not _has_data(form)
        run = session.run(browser.sign_in_states(form, dash.PASSWORD))
        if not _has_data(run):
            run = session.run()
        assert run.page == "streams" and "Streams" in run.texts  # not the Overview
        assert "range=7d" in session.query_string and "status=live" in session.query_string


def test_a_custom_range_ending_in_the_future_is_clamped_with_a_reason(board: dash.Dashboard) -> None:
    query = "range=custom&from=2026-11-01&to=2999-12-31"
    with browser.Session(
        board.base, "overview", query_string=query, source_address=dash.client_address(50)
    ) as session:
        form = session.run()
        run = session.run(browser.sign_in_states(form, dash.PASSWORD))
        if not _has_data(run):
            run = session.run()
        assert run.exception is None, run.exception  # a StreamlitValueAboveMaxError before
        assert any("2999-12-31 is in the future" in text for text in run.texts), run.texts
        assert "to=2999" not in session.query_string


def test_one_session_hammering_the_sign_in_page_is_paced(board: dash.Dashboard) -> None:
    """At most one run of the sign-in page a second per session (each costs the server ~0.1 s
    of CPU; one session used to get ~10 a second). A bound, not a timing: a slower machine
    only serves fewer."""
    seconds = 4.0
    with browser.Session(board.base, "", source_address=dash.client_address(51)) as visitor:
        visitor.run()
        served, started = 0, time.monotonic()
        while time.monotonic() - started < seconds:
            visitor.run()
            served += 1
    assert served <= seconds + 1, served
