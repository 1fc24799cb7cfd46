"""`python -m analytics seed-check`: recompute the seeds' cost tables, write docs/seed-check.md."""

from __future__ import annotations

import argparse
from pathlib import Path

from analytics.commands._common import catalogue_for
from analytics.seedcheck import check, render_markdown
from core.settings import load_settings

HELP = "recompute the seed documents' cost claims from the catalogue (writes docs/seed-check.md)"
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "docs" / "seed-check.md"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output Markdown file")
    parser.add_argument("--config", help="castmeter.toml (for [prices.overrides])")


def run(args: argparse.Namespace) -> int:
    catalogue = catalogue_for(load_settings(args.config))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render_markdown(catalogue), encoding="utf-8")
    frame = check(catalogue)
    print(f"{args.out}: {int(frame['holds'].sum())} of {len(frame)} claims hold")
    return 0
