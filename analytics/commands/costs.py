"""`python -m analytics costs --since 30d [--until WHEN] [--now WHEN] --json [--db URL]`: price
measured usage from the store at the prices in force on each day of the window (the JSON's
``prices`` names the periods and changes)."""

from __future__ import annotations

import argparse

from analytics.commands._common import catalogue_for
from analytics.commands.plan import print_result
from analytics.costs import PROJECTION_TRAILING_DAYS, costs_json, month_bounds, month_outlook
from analytics.ledger import AUDIENCE_PRODUCTS, DAY_S, REGIONS, VIDEO_TIERS, UsageLedger
from analytics.usage import measured_ledger
from core.settings import load_settings
from core.timeargs import add_window_arguments, window_from
from store.engine import make_engine
from store.queries.usage import usage_parts

HELP = "price the measured usage in the store under every provider model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_window_arguments(parser, since_default="30d")
    parser.add_argument("--db", help="database URL (default: [database].url from the config)")
    parser.add_argument("--config", help="castmeter.toml")
    parser.add_argument("--source-id", type=int, default=None, help="only this source")
    parser.add_argument(
        "--audio-kbps", type=float, default=128.0, help="audio bitrate for models that need it"
    )
    parser.add_argument("--video", choices=VIDEO_TIERS, default="none")
    parser.add_argument("--region", choices=REGIONS, default="eu")
    parser.add_argument(
        "--audience-product",
        choices=AUDIENCE_PRODUCTS,
        default=None,
        help="Agora audience product (default: [prices] audience_product, else broadcast)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON (default: a table)")


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    catalogue = catalogue_for(settings)
    window = window_from(args)
    since_ts, until_ts = window.start_ts, window.end_ts
    engine = make_engine(args.db or settings.database.url, read_only=True)

    def ledger_for(start_ts: int, end_ts: int) -> UsageLedger:
        return measured_ledger(
            usage_parts(engine, start_ts, end_ts, args.source_id),
            start_ts,
            end_ts,
            audio_kbps=args.audio_kbps,
            video=args.video,
            region=args.region,
            audience_product=args.audience_product or settings.prices.audience_product,
        )

    try:
        ledger = ledger_for(since_ts, until_ts)
        # This month as of --now: month to date, projection and run rate (the Costs page's method).
        now_ts = window.now_ts
        month_start, _month_end = month_bounds(now_ts)
        trailing_from = now_ts - PROJECTION_TRAILING_DAYS * DAY_S
        outlook = month_outlook(
            ledger_for(month_start, now_ts), ledger_for(trailing_from, now_ts), now_ts, catalogue
        )
    finally:
        engine.dispose()
    result = costs_json(ledger, catalogue)
    result["current_model"] = settings.prices.current_model
    result["month"] = outlook.as_json()
    print_result(result, as_json=args.json)
    return 0
