"""What time it is, for everything that shows "now": the machine's clock, or the moment in
``$CASTMETER_NOW`` (an ISO date-time or Unix seconds) — the dashboard's equivalent of the
command lines' ``--now``, for reviewing a past moment and for tests that pin the clock."""

from __future__ import annotations

import os
import time

ENV_NOW = "CASTMETER_NOW"


def now_ts() -> int:
    """Now as Unix seconds (``$CASTMETER_NOW`` when set)."""
    pinned = os.environ.get(ENV_NOW, "").strip()
    if not pinned:
        return int(time.time())
    from core.timeargs import parse_instant_ts

    return parse_instant_ts(pinned, ENV_NOW)
