"""Keep Streamlit's forced garbage collection after each script run cheap.

Streamlit runs ``gc.collect(2)`` after every script run (``runner.postScriptGC``), while it
holds the GIL: the page's ``script_finished`` waits behind it. A full collection walks every
tracked object in the process, and almost all of them are long-lived — the modules of
Streamlit, pandas, plotly, SQLAlchemy and castmeter, imported once. bench/browser_latency.py
measured that collection at 0.1–0.6 s per rerun (more under load), most of a slider move.

``gc.freeze()`` moves every object alive at that moment into a permanent generation the
collector never scans again (reference counting still frees them). It is called once after the
first signed-in run of each page, when that page's imports are loaded: at most one freeze per
page, so what it keeps from collection is bounded by the pages' first visits (their module
objects and the caches of that run). The post-run collection then only scans what runs
created since. Streamlit's collection stays on: per-run garbage with reference cycles is
still collected after every run.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading
from functools import cache

_LOCK = threading.Lock()
_FROZEN_AFTER: set[str] = set()


def freeze_after_first_run(page_key: str) -> bool:
    """Freeze the heap the first time ``page_key`` has run in this process; True when it did."""
    with _LOCK:
        if page_key in _FROZEN_AFTER:
            return False
        _FROZEN_AFTER.add(page_key)
        gc.collect()  # what is garbage now must not be frozen
        gc.freeze()
        return True


def frozen_pages() -> frozenset[str]:
    with _LOCK:
        return frozenset(_FROZEN_AFTER)


@cache
def _libc() -> ctypes.CDLL | None:
    """glibc, when this process runs on it (malloc_trim is glibc's)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def release_free_memory() -> bool:
    """Hand the C heap's free pages back to the system after a run; True when it could.

    A page run allocates its frames, Arrow buffers and SQLite pages outside Python's own
    allocator; freed, glibc keeps them for reuse, so the process's RSS stays at the largest
    page's peak, per malloc arena (one per thread that allocated, e.g. the ledger's parallel
    readers). ``malloc_trim(0)`` returns what is free (a few ms)."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
