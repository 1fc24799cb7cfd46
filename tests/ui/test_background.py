"""ui.background.Pending: results computed once per key, kept for their time to live; a failure is
reported once and not kept."""

from __future__ import annotations

import threading

import pytest

from ui.background import Pending

# Pending waits on futures with a timeout: under the clock-edge passes' libfaketime a timed
# wait never returns (tests/test_pause.py), so these run on the real clock only.
pytestmark = pytest.mark.realclock


def test_a_result_is_computed_once_per_key_and_kept() -> None:
    pending: Pending[int] = Pending(max_workers=1)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return 42

    assert pending.get("k", compute, ttl_s=60, wait_s=5) == (True, 42)
    assert pending.get("k", compute, ttl_s=60, wait_s=5) == (True, 42)
    assert len(calls) == 1


def test_a_slow_result_is_not_ready_until_it_is() -> None:
    pending: Pending[str] = Pending(max_workers=1)
    release = threading.Event()

    def compute() -> str:
        release.wait(10)
        return "done"

    assert pending.get("slow", compute, ttl_s=60, wait_s=0.01) == (False, None)
    release.set()
    assert pending.get("slow", compute, ttl_s=60, wait_s=5) == (True, "done")


def test_a_failure_is_raised_once_then_computed_again() -> None:
    pending: Pending[int] = Pending(max_workers=1)
    outcomes: list[int | Exception] = [RuntimeError("database is locked"), 7]

    def compute() -> int:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    with pytest.raises(RuntimeError, match="database is locked"):
        pending.get("flaky", compute, ttl_s=300, wait_s=5)
    # Not kept for the 300 s time to live: the next look computes again, and succeeds.
    assert pending.get("flaky", compute, ttl_s=300, wait_s=5) == (True, 7)
