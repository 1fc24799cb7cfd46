"""core.pause: a background thread's pause, which a stop ends and libfaketime does not freeze."""

from __future__ import annotations

import subprocess
import sys
import threading

from core.pause import pause
from harness.realparts import REPO_ROOT, faketime_env, libfaketime_path, require


def test_a_stop_ends_the_pause_and_an_unstopped_pause_runs_out() -> None:
    stop = threading.Event()
    assert pause(stop, 0.05) is False
    stop.set()
    assert pause(stop, 3600) is True  # returns at once: a stopped thread is not held an hour


def test_pauses_end_under_libfaketime_with_the_clock_moved_back() -> None:
    """Under libfaketime with the clock ~12 days back (the known-answer fleet's), a timed
    Event.wait never returned: the lease keeper renewed once and the leader stopped its jobs."""
    require(libfaketime_path() is not None, "libfaketime (apt package faketime)")
    script = "import threading\nfrom core.pause import pause\nstop = threading.Event()\n" \
             "print(sum(not pause(stop, 0.05) for _ in range(3)))"  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=faketime_env(1_795_168_800),
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3"
