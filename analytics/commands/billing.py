"""`python -m analytics billing [--since 30d] [--until DAY] [--now WHEN] --json` — reconcile
provider bills with the model, over whole UTC days."""

from __future__ import annotations

import argparse
import json

from analytics.reconcile import reconcile
from analytics.usage import measured_ledger
from core.settings import load_settings
from core.timeargs import add_window_arguments, day_window_from
from store.engine import make_engine, migrate
from store.queries.billing import billing_records
from store.queries.usage import usage_parts

HELP = "reconcile what providers billed (python -m collectors billing) with the cost model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_window_arguments(parser, since_default="30d", since_help="first UTC day")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--db", metavar="URL", help="database URL (default: from the settings)")
    parser.add_argument("--config", metavar="FILE", help="settings file")


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    since, until, _ = day_window_from(args)
    engine = make_engine(args.db or settings.database.url, busy_timeout_ms=settings.database.busy_timeout_ms)
    try:
        migrate(engine)  # the billing tables may not exist yet on an older store
        result = reconcile(
            billing_records(engine, since, until),
            since,
            until,
            ledger_source=lambda start_ts, end_ts: measured_ledger(
                usage_parts(engine, start_ts, end_ts), start_ts, end_ts
            ),
            warn_share=settings.billing.variance_warn_share,
            overrides=settings.prices.overrides,
        )
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(result.to_json(), indent=2, sort_keys=True))
        return 0
    if result.is_empty:
        print("no billing data: configure [billing.<provider>] and run `python -m collectors billing --once`")
        return 0
    for note in result.notes:
        print(f"note: {note}")
    for row in result.to_json()["monthly"]:
        usd = (
            "n/a" if row["billed_usd"] is None else f"${row['billed_usd']:,.2f} ({row['billed_usd_source']})"
        )
        model_usd = "n/a" if row["modeled_usd"] is None else f"${row['modeled_usd']:,.2f}"
        modeled = "n/a" if row["modeled"] is None else f"{row['modeled']:,.2f}"
        flag = "  (over the warning share)" if row["warn"] else ""
        print(
            f"{row['provider']} {row['month']} {row['measure']}: billed {row['billed']:,.2f} {row['unit']}, "
            f"modeled {modeled}; money {usd} vs {model_usd}{flag}"
        )
        for cause in row["causes"]:
            print(f"    - {cause}")
    return 0
