"""Slow, pure computations run off the script thread so a page renders at once and shows
the result on a later rerun (the Overview's 15 s fragment). Functions submitted here must
not call Streamlit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Generic, TypeVar

import streamlit as st

T = TypeVar("T")
MAX_WORKERS = 2


class Pending(Generic[T]):
    """Results by key, computed once per key and kept for ``ttl_s`` after they finish."""

    def __init__(self, max_workers: int = MAX_WORKERS) -> None:
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="castmeter-bg")
        self._futures: dict[Hashable, tuple[float, Future[T]]] = {}
        self._lock = threading.Lock()

    def get(
        self, key: Hashable, compute: Callable[[], T], *, ttl_s: float, wait_s: float = 0.0
    ) -> tuple[bool, T | None]:
        """(ready, value): start ``compute`` for ``key`` unless it ran within ``ttl_s``; wait
        up to ``wait_s`` for it. An exception inside ``compute`` is raised here once ready, and
        forgotten: the next call computes again (a store that was busy is not an error kept
        for ``ttl_s``)."""
        now = time.monotonic()
        with self._lock:
            for old_key, (started, future) in list(self._futures.items()):
                if future.done() and now - started > ttl_s:
                    del self._futures[old_key]
            entry = self._futures.get(key)
            if entry is None:
                entry = (now, self._executor.submit(compute))
                self._futures[key] = entry
        future = entry[1]
        try:
            return True, future.result(timeout=wait_s)
        except FutureTimeout:
            return False, None
        except Exception:
            with self._lock:
                if self._futures.get(key) is entry:
                    del self._futures[key]
            raise


@st.cache_resource(show_spinner=False)
def shared_pending() -> Pending[object]:
    """One pool for the whole server (all sessions share the results)."""
    return Pending()
