"""Start-up that waits for the database: `collectors run` started while PostgreSQL is still
coming up (or down for maintenance) retries with backoff instead of exiting, and says so."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    stop_never,
    wait_exponential,
)

from core.logs import redact

log = logging.getLogger("collectors")
T = TypeVar("T")
MAX_WAIT_S = 60.0  # the longest pause between two attempts


def _first_line(exc: BaseException | None) -> str:
    text = redact(str(exc)) if exc is not None else "unknown error"
    return text.strip().splitlines()[0][:300] if text.strip() else type(exc).__name__


def when_database_ready(connect: Callable[[], T], *, give_up_after_s: float | None) -> T:
    """``connect()`` (open the store, load what the collector needs from it), retried with
    exponential backoff (1 s doubling to MAX_WAIT_S) while the database refuses connections or
    is locked; forever when ``give_up_after_s`` is None. Other errors (a bad URL, a schema
    problem) are raised at once: waiting would not fix them."""

    def before_sleep(state: RetryCallState) -> None:
        wait_s = state.next_action.sleep if state.next_action is not None else 0.0
        error = state.outcome.exception() if state.outcome is not None else None
        log.warning("database unavailable (%s); retrying in %.0f s", _first_line(error), wait_s)

    retrying = Retrying(
        retry=retry_if_exception_type((OperationalError, InterfaceError)),
        wait=wait_exponential(multiplier=1, min=1, max=MAX_WAIT_S),
        stop=stop_never if give_up_after_s is None else stop_after_delay(give_up_after_s),
        before_sleep=before_sleep,
        reraise=True,
    )
    result = retrying(connect)
    if retrying.statistics.get("attempt_number", 1) > 1:
        log.info("database available after %d attempts", retrying.statistics["attempt_number"])
    return result
