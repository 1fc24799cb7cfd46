"""ui/heap.py: the heap is frozen out of the post-run collection once per page, never again."""

from __future__ import annotations

import gc

import pytest

from ui import heap


def test_freezes_once_per_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap, "_FROZEN_AFTER", set())
    gc.unfreeze()
    try:
        assert gc.get_freeze_count() == 0
        assert heap.freeze_after_first_run("costs") is True
        frozen = gc.get_freeze_count()
        assert frozen > 0  # everything alive now: this test's modules at least
        assert heap.freeze_after_first_run("costs") is False
        # A second run of the page freezes nothing more. (Frozen objects can still die — a thread
        # of an earlier test dropping its last reference — so the count may only go down.)
        assert gc.get_freeze_count() <= frozen
        assert heap.freeze_after_first_run("nodes") is True
        assert heap.frozen_pages() == {"costs", "nodes"}
    finally:
        gc.unfreeze()


def test_freed_c_memory_goes_back_to_the_system_on_glibc() -> None:
    """After each run app.py hands glibc's free pages back (malloc_trim); elsewhere it is a no-op."""
    import platform

    from ui import heap

    expected = platform.libc_ver()[0] == "glibc"
    assert heap.release_free_memory() is expected
