"""`python -m analytics costs --since 30d --json [--db URL]`: price measured usage from the store at
the prices in force on each day of the window (the JSON's ``prices`` names the periods and changes)."""

from __future__ import annotations

import argparse
import time

from analytics.commands._common import catalogue_for, parse_duration_s
from analytics.commands.plan import print_result
from analytics.costs import costs_json
from analytics.ledger import AUDIENCE_PRODUCTS, REGIONS, VIDEO_TIERS
from analytics.usage import measured_ledger
from core.settings import load_settings
from store.engine import make_engine

HELP = "price the measured usage in the store under every provider model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since", default="30d", help="window length back from now: 30d, 12h, 2w (default 30d)"
    )
    parser.add_argument("--until-ts", type=int, default=None, help="window end, Unix seconds (default: now)")
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
    until_ts = args.until_ts if args.until_ts is not None else int(time.time())
    since_ts = until_ts - parse_duration_s(args.since)
    engine = make_engine(args.db or settings.database.url, read_only=True)
    try:
        ledger = measured_ledger(
            engine,
            since_ts,
            until_ts,
            args.source_id,
            audio_kbps=args.audio_kbps,
            video=args.video,
            region=args.region,
            audience_product=args.audience_product or settings.prices.audience_product,
        )
    finally:
        engine.dispose()
    print_result(costs_json(ledger, catalogue), as_json=args.json)
    return 0
