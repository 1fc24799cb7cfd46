"""``python -m castmeter`` — the same as the ``castmeter`` command (used by `make run`)."""

from __future__ import annotations

import sys

from castmeter.cli import main

if __name__ == "__main__":
    sys.exit(main())
