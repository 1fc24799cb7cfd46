"""`collectors run`: poll every configured source on its interval until stopped."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import threading

from collectors.background import start_billing_thread
from collectors.commands.common import add_config_arguments, alert_hooks, settings_from
from collectors.runner import Collector
from core.settings import ConfigError
from store.engine import open_store

HELP = "poll every configured LiveKit and Prometheus source into the database"
log = logging.getLogger("collectors")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--once", action="store_true", help="run one tick of every source and exit")


async def _main(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if not settings.has_sources:
        raise ConfigError(
            f"no [[livekit]] or [[prometheus]] source configured ({settings.origin}); "
            "see castmeter.example.toml, or run `python -m collectors demo`"
        )
    engine = open_store(settings.database.url, busy_timeout_ms=settings.database.busy_timeout_ms)
    hooks, close_alerts = alert_hooks(settings, engine)
    collector = Collector(settings, engine, hooks=hooks)
    if args.once:
        report = await collector.tick(force=True)
        print(
            json.dumps(
                {
                    "ts": report.ts,
                    "polled": report.polled,
                    "rows": report.rows,
                    "duration_s": round(report.duration_s, 3),
                }
            )
        )
        return 0
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    webhook_task = None
    if settings.webhooks.enabled:
        from collectors.webhooks import serve_webhooks

        webhook_task = asyncio.create_task(serve_webhooks(settings, engine, stop))
    billing_stop = threading.Event()
    billing = start_billing_thread(settings, engine, billing_stop)
    try:
        await collector.run_forever(stop)
    finally:
        close_alerts()
    billing_stop.set()
    if webhook_task is not None:
        await webhook_task
    if billing is not None:
        billing.join(timeout=5)
    log.info("stopped")
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_main(args))
