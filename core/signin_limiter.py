"""Sign-in attempts limited across every session of the process: per client address and in all.

A few failures are free; after that each further attempt waits twice as long as the one before
(since the last failure), per address and — against guessing spread over many addresses — for
everyone at once. An attempt that has to wait is refused *without checking the password*, so
the right password does not get in during a lockout either. One instance serves the whole
dashboard process (every browser session); it is not a Streamlit cache, which any session
could clear.

Pure and thread-safe: the clock is injected, and memory is bounded (the oldest addresses are
forgotten first).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LimiterPolicy:
    free_failures_per_address: int = 5
    address_window_s: float = 900.0  # failures older than this no longer count
    backoff_base_s: float = 2.0  # the first wait after the free failures; doubles each time
    backoff_max_s: float = 900.0
    free_failures_in_all: int = 50  # across every address within global_window_s
    global_window_s: float = 600.0
    global_backoff_max_s: float = 60.0  # short: everyone, honest users included, waits this
    max_addresses: int = 10_000


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: float = 0.0
    scope: str = ""  # "" | "address" | "everyone": which limit refused


@dataclass(frozen=True)
class Failure:
    """A counted failure, for the log line."""

    address_failures: int  # from this address within the address window
    all_failures: int  # from every address within the global window
    next_allowed_in_s: float  # until this address may try again


def _backoff_s(failures: int, free: int, base_s: float, max_s: float) -> float:
    if failures < free:
        return 0.0
    return float(min(max_s, base_s * 2.0 ** min(failures - free, 30)))


class SignInLimiter:
    def __init__(
        self, policy: LimiterPolicy | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy or LimiterPolicy()
        self._clock = clock
        self._lock = threading.Lock()
        self._by_address: OrderedDict[str, deque[float]] = OrderedDict()
        self._all: deque[float] = deque(maxlen=max(4 * self.policy.free_failures_in_all, 64))

    def reset(self) -> None:
        with self._lock:
            self._by_address.clear()
            self._all.clear()

    def _recent(self, failures: deque[float], window_s: float, now: float) -> int:
        while failures and failures[0] <= now - window_s:
            failures.popleft()
        return len(failures)

    def _waits(self, address: str, now: float) -> tuple[float, float]:
        """(seconds until ``address`` may try, seconds until anyone may try); lock held."""
        policy = self.policy
        mine = self._by_address.get(address)
        address_wait = 0.0
        if mine is not None:
            count = self._recent(mine, policy.address_window_s, now)
            backoff = _backoff_s(
                count, policy.free_failures_per_address, policy.backoff_base_s, policy.backoff_max_s
            )
            if count and backoff:
                address_wait = max(0.0, mine[-1] + backoff - now)
        count_all = self._recent(self._all, policy.global_window_s, now)
        backoff_all = _backoff_s(count_all, policy.free_failures_in_all, 1.0, policy.global_backoff_max_s)
        global_wait = max(0.0, self._all[-1] + backoff_all - now) if count_all and backoff_all else 0.0
        return address_wait, global_wait

    def check(self, address: str) -> Verdict:
        """May ``address`` try a password now?"""
        with self._lock:
            address_wait, global_wait = self._waits(address, self._clock())
        if address_wait <= 0 and global_wait <= 0:
            return Verdict(True)
        if address_wait >= global_wait:
            return Verdict(False, address_wait, "address")
        return Verdict(False, global_wait, "everyone")

    def failed(self, address: str) -> Failure:
        """Count a wrong password from ``address``."""
        with self._lock:
            now = self._clock()
            mine = self._by_address.pop(address, None)
            if mine is None:
                mine = deque(maxlen=max(4 * self.policy.free_failures_per_address, 64))
            mine.append(now)
            self._by_address[address] = mine  # most recently failed last
            while len(self._by_address) > self.policy.max_addresses:
                self._by_address.popitem(last=False)
            self._all.append(now)
            address_wait, _global_wait = self._waits(address, now)
            return Failure(len(mine), len(self._all), address_wait)

    def succeeded(self, address: str) -> None:
        """The right password: this address starts afresh (the global count stays)."""
        with self._lock:
            self._by_address.pop(address, None)
