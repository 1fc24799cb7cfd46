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


def test_the_alertmanager_senders_idle_wait_ends_under_libfaketime() -> None:
    """Shutdown waits for the Alertmanager sender with wait_idle: a timed condition wait there
    would hang a collector under libfaketime for good; a busy sender must time out, an idle one
    return at once."""
    require(libfaketime_path() is not None, "libfaketime (apt package faketime)")
    script = (
        "import threading\nfrom collectors.alertmanager import AlertmanagerForwarder\n"
        "sender = AlertmanagerForwarder.__new__(AlertmanagerForwarder)\n"
        "sender._wake, sender._pending, sender._busy = threading.Condition(), None, True\n"
        "busy = sender.wait_idle(0.2)\nsender._busy = False\nprint(busy, sender.wait_idle(5))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=faketime_env(1_795_168_800),
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False True"
