"""`python -m analytics prices audit [--older-than 180d] [--json]`: the catalogue's provenance audit."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from analytics.commands._common import catalogue_for
from analytics.prices.audit import audit
from analytics.prices.catalogue import STALE_AFTER_DAYS
from core.settings import ConfigError, load_settings
from core.timeargs import parse_duration_s

HELP = "the price catalogue: `audit` lists stale, unverified, single-source and disputed rates"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="prices_command", required=True, metavar="SUBCOMMAND")
    audit_parser = sub.add_parser(
        "audit", help="list the rates whose provenance needs a look (reports, exit 0)"
    )
    audit_parser.add_argument(
        "--older-than",
        default=f"{STALE_AFTER_DAYS}d",
        help=f"a rate is stale when its source was read longer ago than this: 180d, 26w (default {STALE_AFTER_DAYS}d)",
    )
    audit_parser.add_argument("--as-of", help="the day to audit, YYYY-MM-DD (default: today, UTC)")
    audit_parser.add_argument("--json", action="store_true", help="print JSON (default: text)")
    audit_parser.add_argument("--config", help="castmeter.toml (for [prices.overrides])")


def _days(text: str) -> int:
    stripped = text.strip()
    if stripped.isdigit():
        return int(stripped)
    try:
        seconds = parse_duration_s(stripped)
    except ConfigError:
        raise ConfigError(f"--older-than: expected days like 180d or 26w, got {text!r}") from None
    return seconds // 86_400


def run(args: argparse.Namespace) -> int:
    older_than = _days(args.older_than)
    try:
        as_of = dt.date.fromisoformat(args.as_of) if args.as_of else None
    except ValueError:
        raise ConfigError(f"--as-of: expected YYYY-MM-DD, got {args.as_of!r}") from None
    catalogue = catalogue_for(load_settings(args.config))
    if as_of is not None:
        catalogue = catalogue.at(as_of)
    report = audit(catalogue, older_than)
    if args.json:
        json.dump(report.as_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(report.as_text())
    return 0
