"""`collectors run`: poll every configured source on its interval until stopped."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import threading
from collections.abc import Callable
from typing import IO

from sqlalchemy import Engine

from collectors.background import start_billing_thread
from collectors.commands.common import add_config_arguments, alert_hooks, settings_from, start_metrics
from collectors.ownership import LeaseKeeper, hold_sqlite_lock, lease_ttl_s, new_holder_id
from collectors.pollers import pollers_from_settings
from collectors.runner import Collector
from collectors.spool import Spool, default_spool_dir
from collectors.startup import when_database_ready
from collectors.webhooks import serve_webhooks
from core.logs import register_secret
from core.settings import ConfigError, secret_values
from store.engine import is_sqlite, open_store
from store.leases import LEADER

HELP = "poll every configured LiveKit and Prometheus source into the database"
log = logging.getLogger("collectors")
STARTUP_WAIT_ONCE_S = 30.0
_HELD: list[IO[str]] = []  # the SQLite lock file of this process


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--once", action="store_true", help="run one tick of every source and exit")


async def _main(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if not settings.has_sources:
        raise ConfigError(
            f"no [[livekit]], [[prometheus]] or [[hls_logs]] source configured ({settings.origin}); "
            "see castmeter.example.toml, or run `python -m collectors demo`"
        )
    for secret in secret_values(settings):  # before the first "database unavailable" line
        register_secret(secret)
    url = settings.database.url
    # SQLite: one collector process (a second one stops here). PostgreSQL: any number, sharing
    # the sources through leases (collectors/ownership.py).
    if is_sqlite(url):
        lock = hold_sqlite_lock(url)
        if lock is not None:
            _HELD.append(lock)  # open for the process's lifetime: closing it would release the lock
    # `--once` polls every source itself (a one-off check), without leases.
    holder = None if is_sqlite(url) or args.once else new_holder_id()

    def connect() -> tuple[Engine, Collector, Callable[[], None]]:
        engine = open_store(url, busy_timeout_ms=settings.database.busy_timeout_ms, application_name=holder)
        try:
            hooks, close_alerts = alert_hooks(settings, engine)
            keeper = spool = None
            if holder is not None:
                pollers = pollers_from_settings(settings)
                ttl_s = lease_ttl_s(settings.collectors.interval_s, settings.collectors.lease_ttl_s)
                keeper = LeaseKeeper(engine, [poller.name for poller in pollers], ttl_s, holder=holder)
                keeper.start()
                # A spool of its own: what it holds is replayed only under its own leases.
                spool = Spool(default_spool_dir(engine.url), f"collectors-{holder.replace(':', '-')}")
                log.info("collector %s: sharing %d source(s) through PostgreSQL leases (ttl %.1f s)",
                         holder, len(pollers), ttl_s)  # fmt: skip
                collector = Collector(
                    settings, engine, hooks=hooks, pollers=pollers, ownership=keeper, spool=spool
                )
            else:
                collector = Collector(settings, engine, hooks=hooks)
            return engine, collector, close_alerts
        except Exception:
            engine.dispose()
            raise

    # Started before the database is up (a host boot, a failover): wait for it. A one-off run
    # gives up after STARTUP_WAIT_ONCE_S with the database's own error. Blocking is fine here:
    # nothing else runs yet, and Ctrl-C interrupts the pause at once.
    engine, collector, close_alerts = when_database_ready(
        connect, give_up_after_s=STARTUP_WAIT_ONCE_S if args.once else None
    )
    metrics = None if args.once else start_metrics(settings, engine, collector, required=True)
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
        webhook_task = asyncio.create_task(serve_webhooks(settings, engine, stop))
    billing_stop = threading.Event()
    keeper = collector.ownership
    leads = (lambda: True) if keeper is None else (lambda: keeper.owns(LEADER))
    billing = start_billing_thread(settings, engine, billing_stop, leads)
    try:
        await collector.run_forever(stop)
    finally:
        close_alerts()
        if keeper is not None:
            keeper.stop()  # hands every lease over at once
            if not collector.spool.pending():
                collector.spool.path.unlink(missing_ok=True)
    billing_stop.set()
    if webhook_task is not None:
        await webhook_task
    if billing is not None:
        billing.join(timeout=5)
    if metrics is not None:
        metrics.stop()
    log.info("stopped")
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_main(args))
