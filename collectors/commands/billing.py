"""`python -m collectors billing [--since WHEN] [--now WHEN] [--once]` — fetch provider usage/billing APIs.

Without ``--once`` it keeps running and fetches on the daily schedule (``billing.interval_h``);
``python -m collectors run`` does the same alongside the other collectors."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from datetime import date

from collectors.billing import BillingScheduler, run_billing_once
from core.settings import load_settings
from core.timeargs import DURATION_HELP, INSTANT_HELP, add_now_argument, day_window_from, now_ts
from store.engine import open_store

HELP = (
    "fetch usage and billing from the configured providers (LiveKit Cloud, Agora, Cloudflare, AWS, Hetzner)"
)
TICK_S = 60.0

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since",
        metavar="WHEN",
        help=f"first UTC day to fetch: {DURATION_HELP} back from today, or {INSTANT_HELP}; "
        "default: since the last complete day",
    )
    add_now_argument(parser)
    parser.add_argument("--once", action="store_true", help="fetch once and exit (a backfill)")
    parser.add_argument("--db", metavar="URL", help="database URL (default: from the settings)")
    parser.add_argument(
        "--config", metavar="FILE", help="settings file (default: $CASTMETER_CONFIG or ./castmeter.toml)"
    )
    parser.add_argument("--json", action="store_true", help="print the run summary as JSON")


def _since(args: argparse.Namespace) -> date | None:
    if not args.since:
        return None
    first_day, _, _ = day_window_from(args)
    return first_day


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    since = _since(args)
    started_ts = now_ts(args)
    configured = settings.billing.configured()
    if not configured:
        print(
            "no billing provider configured: add a [billing.<provider>] section with its credentials to "
            "castmeter.toml (see castmeter.example.toml; providers: livekit_cloud, agora, cloudflare, aws, hetzner)",
            file=sys.stderr,
        )
        return 0
    engine = open_store(args.db or settings.database.url, busy_timeout_ms=settings.database.busy_timeout_ms)
    try:
        if args.once:
            summary = run_billing_once(settings, engine, since, now_ts=started_ts)
            _report(summary, args.json)
            return 1 if any(p["status"] == "failing" for p in summary["providers"].values()) else 0
        scheduler = BillingScheduler(settings, engine)
        if since is not None:
            _report(run_billing_once(settings, engine, since, now_ts=started_ts), args.json)
        while True:
            now = time.time()
            if scheduler.due(now):
                _report(scheduler.run(now), args.json)
            time.sleep(TICK_S)
    finally:
        engine.dispose()


def _report(summary: dict[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2, sort_keys=True))
        return
    providers = summary.get("providers")
    assert isinstance(providers, dict)
    for name, result in providers.items():
        line = f"{name}: {result['status']}, {result['rows']} rows, {result['start']}..{result['end']}"
        if result.get("error"):
            line += f" — {result['error']}"
        print(line)
