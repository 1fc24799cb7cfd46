"""A background thread's pause between rounds that a stop ends early.

``threading.Event.wait(seconds)`` would do, but under libfaketime (the tests that move a
process's clock back or forward: the known-answer fleet, the clock-edge pass) a timed wait on a
condition variable never returns, so a lease keeper or a metrics refresher would silently stop
after its first round. ``time.sleep`` in short steps works under it and on a real clock alike.
"""

from __future__ import annotations

import threading
import time

STEP_S = 0.1  # how late a stop is noticed, at most


def pause(stop: threading.Event, seconds: float) -> bool:
    """Sleep ``seconds``, or until ``stop`` is set; True when stopped."""
    deadline = time.monotonic() + seconds
    while not stop.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(STEP_S, left))
    return True
