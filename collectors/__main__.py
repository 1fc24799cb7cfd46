"""`python -m collectors COMMAND` — everything that talks to the outside world."""

from __future__ import annotations

import sys

from core.cli import main

# Each name is a module in collectors/commands/ exposing HELP, add_arguments() and run().
COMMANDS: list[str] = ["run", "demo", "billing"]

if __name__ == "__main__":
    sys.exit(main("collectors", "collectors.commands", COMMANDS))
