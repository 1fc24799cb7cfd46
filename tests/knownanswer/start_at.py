"""``python -m tests.knownanswer.start_at TS collectors ARGS…``: ``python -m collectors ARGS…``
started when this process's clock (libfaketime's) reaches ``TS``, its imports done before.

The known answers allow a live store to miss up to 5 s of the fleet's start (one poll
interval); a collector launched at that instant on a loaded machine spent longer than that
importing pandas, SQLAlchemy and the LiveKit client, and the PostgreSQL store's first
observation came late. Importing first and waiting for the instant keeps the start exact.
"""

from __future__ import annotations

import sys
import time

import collectors.commands.run  # noqa: F401 (the slow imports, done before the wait)
from collectors.__main__ import COMMANDS
from core.cli import main

if __name__ == "__main__":
    start_ts = float(sys.argv[1])
    while time.time() < start_ts:
        time.sleep(0.02)
    sys.exit(main("collectors", "collectors.commands", COMMANDS, sys.argv[3:]))
