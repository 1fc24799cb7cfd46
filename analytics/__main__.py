"""`python -m analytics COMMAND` — pure analytics over the store or a scenario file."""

from __future__ import annotations

import sys

from core.cli import main

# Each name is a module in analytics/commands/ exposing HELP, add_arguments() and run().
COMMANDS: list[str] = ["alerts", "billing", "plan", "costs", "seed-check", "capacity", "prices"]

if __name__ == "__main__":
    sys.exit(main("analytics", "analytics.commands", COMMANDS))
