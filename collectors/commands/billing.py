"""`python -m collectors billing [--since DATE] [--once]` — fetch provider usage/billing APIs.

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
from core.settings import ConfigError, load_settings
from store.engine import open_store

HELP = (
    "fetch usage and billing from the configured providers (LiveKit Cloud, Agora, Cloudflare, AWS, Hetzner)"
)
TICK_S = 60.0

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since",
        metavar="DATE",
        help="first UTC day to fetch (YYYY-MM-DD); default: since the last complete day",
    )
    parser.add_argument("--once", action="store_true", help="fetch once and exit (a backfill)")
    parser.add_argument("--db", metavar="URL", help="database URL (default: from the settings)")
    parser.add_argument(
        "--config", metavar="FILE", help="settings file (default: $CASTMETER_CONFIG or ./castmeter.toml)"
    )
    parser.add_argument("--json", action="store_true", help="print the run summary as JSON")


def _since(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ConfigError(f"--since: not a date (YYYY-MM-DD): {value!r}") from None


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    since = _since(args.since)
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
            summary = run_billing_once(settings, engine, since)
            _report(summary, args.json)
            return 1 if any(p["status"] == "failing" for p in summary["providers"].values()) else 0
        scheduler = BillingScheduler(settings, engine)
        if since is not None:
            _report(run_billing_once(settings, engine, since), args.json)
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
