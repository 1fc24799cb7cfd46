"""`python -m collectors demo`: the demo fleet's command, which lives in simulator/demo.py (the
demo is not part of the product; this entry point keeps the old command line working)."""

from __future__ import annotations

from simulator.demo import HELP, add_arguments, run

__all__ = ["HELP", "add_arguments", "run"]
