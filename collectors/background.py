"""Slow daily jobs (billing) on a worker thread, so they never delay a collection tick."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine

from collectors import self_metrics
from collectors.billing.runner import BillingScheduler
from core.pause import pause
from core.settings import Settings

log = logging.getLogger(__name__)

CHECK_EVERY_S = 60.0


def start_billing_thread(
    settings: Settings, engine: Engine, stop: threading.Event, leads: Callable[[], bool] = lambda: True
) -> threading.Thread | None:
    """Run the daily billing collection while ``stop`` is unset; None when no provider is configured.
    With several collectors, only the one that ``leads`` (the leader lease) fetches."""
    scheduler = BillingScheduler(settings, engine)
    if not scheduler.enabled:
        return None

    def loop() -> None:
        while not stop.is_set():
            try:
                if scheduler.due(time.time()) and leads():
                    summary = scheduler.run()
                    self_metrics.observe_billing(summary)
                    log.info("billing run: %s", {k: v.get("status") for k, v in summary["providers"].items()})
            except Exception as exc:  # a billing failure never stops the collectors
                log.warning("billing run failed: %s", exc)
            pause(stop, CHECK_EVERY_S)

    thread = threading.Thread(target=loop, name="billing", daemon=True)
    thread.start()
    return thread
