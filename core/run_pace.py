"""A process-wide pace for work anyone can trigger without signing in.

Every Streamlit rerun costs the server ~70–120 ms of CPU before the script does anything (this
machine, Streamlit 1.67), and a rerun of the sign-in page is one websocket message away: fifty
unauthenticated sessions re-running it starve the signed-in ones. A token bucket (``burst``
runs at once, then ``rate_per_s``) makes each such run wait for its turn, sleeping in its own
script thread — a sleeping thread costs no CPU, and Streamlit does not start that session's
next run until this one ends. The wait is capped, so a long queue cannot stall a caller for
ever; beyond the cap the bucket is overdrawn rather than the wait lengthened.

Pure and thread-safe: clock and sleep are injected.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RunPace:
    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        max_wait_s: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_s <= 0 or burst < 1 or max_wait_s < 0:
            raise ValueError("rate_per_s > 0, burst >= 1 and max_wait_s >= 0 are required")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._updated = clock()

    def reserve(self) -> float:
        """Take a turn; returns how long the caller must wait for it (0 when free)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate_per_s)
            self._updated = now
            floor = -self.max_wait_s * self.rate_per_s  # never owe more than max_wait_s of turns
            self._tokens = max(floor, self._tokens - 1.0)
            return 0.0 if self._tokens >= 0 else min(self.max_wait_s, -self._tokens / self.rate_per_s)

    def wait(self) -> float:
        """Take a turn and sleep until it comes; returns the seconds slept."""
        delay = self.reserve()
        if delay > 0:
            self._sleep(delay)
        return delay

    def reset(self) -> None:
        with self._lock:
            self._tokens = float(self.burst)
            self._updated = self._clock()
