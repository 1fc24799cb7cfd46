"""Issue 13, finding 3: password guessing is limited across every session — per client address
and in all, with backoff — and every failure is logged without the guess. Also the pace of the
sign-in page itself (finding 4's flood). The limiter and the pace are pure (core/), so their
arithmetic is checked here with a hand-driven clock; the dashboard's use of them in AppTest and
on a real server."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from core.run_pace import RunPace
from core.signin_limiter import LimiterPolicy, SignInLimiter
from harness import served as dash
from tests.pages.conftest import REPO_ROOT

APP = str(REPO_ROOT / "app.py")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the limiter, by hand --------------------------------------------------------------------


def test_five_failures_are_free_then_each_wait_doubles() -> None:
    clock = Clock()
    limiter = SignInLimiter(clock=clock)
    for _ in range(5):
        assert limiter.check("10.0.0.1").allowed
        limiter.failed("10.0.0.1")
    verdict = limiter.check("10.0.0.1")
    assert not verdict.allowed and verdict.scope == "address" and verdict.retry_after_s == 2.0
    clock.now += 2.0
    assert limiter.check("10.0.0.1").allowed
    failure = limiter.failed("10.0.0.1")  # the 6th
    assert (failure.address_failures, failure.next_allowed_in_s) == (6, 4.0)
    clock.now += 3.9
    assert not limiter.check("10.0.0.1").allowed
    clock.now += 0.1
    assert limiter.check("10.0.0.1").allowed


def test_nine_failures_mean_a_32_second_wait_whatever_the_password() -> None:
    clock = Clock()
    limiter = SignInLimiter(clock=clock)
    for _ in range(9):
        clock.now += 60  # slow enough for every backoff so far: 2, 4, 8, 16 s
        assert limiter.check("10.0.0.2").allowed
        limiter.failed("10.0.0.2")
    verdict = limiter.check("10.0.0.2")  # the 10th try is refused before any password check
    assert not verdict.allowed and verdict.retry_after_s == 32.0  # 2 s × 2^(9 − 5)


def test_other_addresses_are_not_held_back_by_one_guesser() -> None:
    limiter = SignInLimiter(clock=Clock())
    for _ in range(8):
        limiter.failed("10.0.0.3")
    assert not limiter.check("10.0.0.3").allowed
    assert limiter.check("10.0.0.4").allowed


def test_guessing_spread_over_many_addresses_hits_the_global_limit() -> None:
    clock = Clock()
    limiter = SignInLimiter(LimiterPolicy(free_failures_in_all=50), clock=clock)
    for index in range(50):  # one guess from each of 50 addresses: every address within its free 5
        limiter.failed(f"10.1.0.{index}")
    verdict = limiter.check("10.9.9.9")  # a 51st address that never failed
    assert not verdict.allowed and verdict.scope == "everyone" and verdict.retry_after_s == 1.0
    for index in range(50, 56):
        limiter.failed(f"10.1.0.{index}")
    assert limiter.check("10.9.9.9").retry_after_s == 60.0  # doubling, capped at a minute


def test_a_success_forgives_the_address_and_old_failures_expire() -> None:
    clock = Clock()
    limiter = SignInLimiter(clock=clock)
    for _ in range(7):
        limiter.failed("10.0.0.5")
    limiter.succeeded("10.0.0.5")
    assert limiter.check("10.0.0.5").allowed
    for _ in range(7):
        limiter.failed("10.0.0.6")
    clock.now += 901  # past the 15-minute window
    assert limiter.check("10.0.0.6").allowed


def test_memory_is_bounded_by_forgetting_the_oldest_addresses() -> None:
    limiter = SignInLimiter(LimiterPolicy(max_addresses=100, free_failures_in_all=10**6), clock=Clock())
    for index in range(1000):
        for _ in range(6):
            limiter.failed(f"10.2.{index // 250}.{index % 250}")
    assert len(limiter._by_address) == 100
    assert limiter.check("10.2.0.0").allowed  # the first, forgotten
    assert not limiter.check("10.2.3.249").allowed  # the last, remembered


def test_the_pace_gives_a_burst_then_a_steady_rate_and_caps_the_wait() -> None:
    clock = Clock()
    slept: list[float] = []
    pace = RunPace(rate_per_s=5.0, burst=3, max_wait_s=2.0, clock=clock, sleep=slept.append)
    assert [pace.wait() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert [round(pace.reserve(), 3) for _ in range(4)] == [0.2, 0.4, 0.6, 0.8]
    clock.now += 0.8  # the queue drains in real time
    assert round(pace.reserve(), 3) == 0.2
    assert max(pace.reserve() for _ in range(50)) == 2.0  # a long queue waits at most max_wait_s
    clock.now += 10
    assert pace.wait() == 0.0 and slept == []


# --- the dashboard's use of them (AppTest) -------------------------------------------------------


@pytest.fixture
def password_env(populated_store: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASTMETER_PASSWORD_HASH", dash.password_hash())


def _submit(app: AppTest, password: str) -> AppTest:
    app.text_input[0].input(password)
    app.button[0].click().run()
    return app


def test_the_right_password_after_nine_wrong_ones_waits_and_failures_are_logged(
    password_env: None, caplog: pytest.LogCaptureFixture
) -> None:
    app = AppTest.from_file(APP, default_timeout=30)
    app.run()
    castmeter_logs = logging.getLogger("castmeter")  # its own handler, not the root's (ui/hardening)
    castmeter_logs.addHandler(caplog.handler)
    try:
        for attempt in range(9):
            _submit(app, f"guess-number-{attempt}")
        _submit(app, dash.PASSWORD)
    finally:
        castmeter_logs.removeHandler(caplog.handler)
    assert not app.metric  # the right password is not even checked during the backoff
    assert any("Too many failed sign-ins from your address" in e.value for e in app.error)
    records = [r.getMessage() for r in caplog.records if r.name == "castmeter.auth"]
    failed = [m for m in records if "sign-in failed for 127.0.0.1: wrong password" in m]
    assert len(failed) == 5  # the sixth try already had to wait: refused unchecked
    assert failed[-1].startswith("sign-in failed for 127.0.0.1: wrong password (5 failed from this address")
    refused = [m for m in records if m.startswith("sign-in refused for 127.0.0.1: too many failed sign-ins")]
    assert len(refused) == 5  # attempts 6 to 9 and the right password
    assert not [m for m in records if "guess-number" in m or dash.PASSWORD in m]


def test_a_forged_session_flag_is_no_sign_in(password_env: None) -> None:
    app = AppTest.from_file(APP, default_timeout=30)
    app.session_state["castmeter_sign_in"] = True  # what a widget value could at most be
    app.session_state["castmeter_authenticated"] = True  # the old flag
    app.run()
    assert not app.metric and app.text_input


@pytest.mark.parametrize("page", dash.PAGES)
def test_every_page_checks_the_sign_in_itself(password_env: None, page: str) -> None:
    """A page file run on its own (as Streamlit's pages/ routing runs it on a fresh server):
    the sign-in and nothing else."""
    app = AppTest.from_file(str(REPO_ROOT / "pages" / f"{page}.py"), default_timeout=30)
    app.run()
    assert not app.exception, app.exception
    assert [t.value for t in app.title] == ["castmeter"]
    assert app.text_input and not app.metric and not app.dataframe and not app.get("plotly_chart")


# --- shared across sessions, on a real server ----------------------------------------------


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dash.Dashboard]:
    with dash.protected(tmp_path_factory.mktemp("signin-limits")) as (served, _proxy):
        yield served


@pytest.mark.slow
def test_new_sessions_do_not_reset_the_count_and_other_clients_still_get_in(board: dash.Dashboard) -> None:
    guesser, bystander = dash.client_address(70), dash.client_address(71)
    outcomes: list[str] = []
    lock = threading.Lock()

    def guess(index: int) -> None:
        outcome = dash.guess(board.base, guesser, f"parallel-guess-{index}")
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=guess, args=(index,)) for index in range(10)]
    first_guess_at = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(outcomes) == 10
    assert sum("Wrong password" in o for o in outcomes) <= 6, outcomes  # 5 free (+1 racing its count)
    assert sum("Too many failed sign-ins from your address" in o for o in outcomes) >= 4, outcomes
    # Even the right password waits out the address's backoff (LimiterPolicy: 5 free failures,
    # then 2 s doubling per failure, from the last one). On a loaded machine the guess itself can
    # outlast that wait: admitted is then correct, and only if the backoff can have passed.
    backoff_s = 2.0 * 2 ** (sum("Wrong password" in o for o in outcomes) - 5)
    right = dash.guess(board.base, guesser, dash.PASSWORD)
    if right == "admitted":
        assert time.monotonic() - first_guess_at >= backoff_s, (right, backoff_s)
    else:
        assert right.startswith("Too many"), right
    assert dash.guess(board.base, bystander, dash.PASSWORD) == "admitted"
    log = board.log()
    assert log.count(f"sign-in failed for {guesser}: wrong password") == sum("Wrong" in o for o in outcomes)
    assert f"sign-in refused for {guesser}: too many failed sign-ins from this address" in log
    assert f"sign-in for {bystander}" in log
    assert "parallel-guess" not in log and dash.PASSWORD not in log
