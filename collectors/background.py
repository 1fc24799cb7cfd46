"""Slow daily jobs (billing) on a worker thread, so they never delay a collection tick."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Engine

from collectors import self_metrics
from collectors.billing.runner import BillingScheduler
from core.settings import Settings

log = logging.getLogger(__name__)

CHECK_EVERY_S = 60.0


def start_billing_thread(
    settings: Settings, engine: Engine, stop: threading.Event
) -> threading.Thread | None:
    """Run the daily billing collection while ``stop`` is unset; None when no provider is configured."""
    scheduler = BillingScheduler(settings, engine)
    if not scheduler.enabled:
        return None

    def loop() -> None:
        while not stop.is_set():
            try:
                if scheduler.due(time.time()):
                    summary = scheduler.run()
                    self_metrics.observe_billing(summary)
                    log.info("billing run: %s", {k: v.get("status") for k, v in summary["providers"].items()})
            except Exception as exc:  # a billing failure never stops the collectors
                log.warning("billing run failed: %s", exc)
            stop.wait(CHECK_EVERY_S)

    thread = threading.Thread(target=loop, name="billing", daemon=True)
    thread.start()
    return thread
