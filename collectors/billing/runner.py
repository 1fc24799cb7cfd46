"""Running the billing collectors: once (backfill / CLI) or on a daily schedule inside
``python -m collectors run``.

API for the collectors runner::

    scheduler = BillingScheduler(settings, engine)
    if scheduler.due(now_ts):
        summary = scheduler.run(now_ts)   # = run_billing_once(...), never raises for a provider

``run_billing_once(settings, engine, since_day=None) -> dict`` fetches every configured provider,
part by part; a failing part is logged and recorded, the others are stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, select

from collectors.billing.agora import AgoraCollector
from collectors.billing.aws import AwsCollector
from collectors.billing.base import (
    BillingAuthError,
    BillingCollector,
    BillingError,
    PartUnavailable,
    RetryPolicy,
    utc_day,
)
from collectors.billing.cloudflare import CloudflareCollector
from collectors.billing.hetzner import HetznerCollector
from collectors.billing.livekit_cloud import LiveKitCloudCollector
from collectors.billing.persist import ensure_source, record_status, replace_days, source_name
from core.logs import register_secret
from core.settings import BillingSettings, Settings, secret_values
from store import schema

log = logging.getLogger(__name__)

# After a failed run, try again this soon rather than a whole interval later.
RETRY_AFTER_FAILURE_S = 3600.0

CollectorFactory = Callable[[BillingSettings], list[BillingCollector]]


def build_collectors(billing: BillingSettings, policy: RetryPolicy | None = None) -> list[BillingCollector]:
    """One collector per provider whose credentials are configured."""
    policy = policy or RetryPolicy(max_attempts=billing.max_attempts, max_backoff_s=billing.max_backoff_s)
    timeout_s = billing.http_timeout_s
    collectors: list[BillingCollector] = []
    if billing.livekit_cloud:
        collectors.append(LiveKitCloudCollector(billing.livekit_cloud, timeout_s=timeout_s, policy=policy))
    if billing.agora:
        collectors.append(AgoraCollector(billing.agora, timeout_s=timeout_s, policy=policy))
    if billing.cloudflare:
        collectors.append(CloudflareCollector(billing.cloudflare, timeout_s=timeout_s, policy=policy))
    if billing.aws:
        collectors.append(AwsCollector(billing.aws, timeout_s=timeout_s, max_attempts=billing.max_attempts))
    if billing.hetzner:
        collectors.append(HetznerCollector(billing.hetzner, timeout_s=timeout_s, policy=policy))
    return collectors


def default_start(engine: Engine, provider: str, billing: BillingSettings, today: date) -> date:
    """Where a run without --since starts: the day after the last complete day fetched (so an
    outage is filled in), at least ``lookback_days`` back (late corrections), at most
    ``backfill_days`` back."""
    earliest = today - timedelta(days=billing.backfill_days - 1)
    lookback = today - timedelta(days=billing.lookback_days - 1)
    fetches = schema.billing_fetches
    with engine.connect() as conn:
        last_complete = conn.execute(
            select(func.max(fetches.c.day_ts)).where(and_(fetches.c.provider == provider, fetches.c.complete))
        ).scalar()
        any_fetch = conn.execute(select(func.count()).where(fetches.c.provider == provider)).scalar()
    if not any_fetch:
        return earliest
    if last_complete is None:
        return max(earliest, min(lookback, today))
    after_complete = utc_day(int(last_complete)) + timedelta(days=1)
    return max(earliest, min(lookback, after_complete))


def run_billing_once(
    settings: Settings,
    engine: Engine,
    since_day: date | None = None,
    *,
    now_ts: int | None = None,
    collectors: Sequence[BillingCollector] | None = None,
) -> dict[str, Any]:
    """Fetch every configured provider from ``since_day`` (or its default start) to today and
    store the rows. Returns a JSON-ready summary per provider; never raises for a provider."""
    for secret in secret_values(settings):
        register_secret(secret)
    now_ts = int(time.time()) if now_ts is None else now_ts
    today = utc_day(now_ts)
    if collectors is None:
        collectors = build_collectors(settings.billing)
    summary: dict[str, Any] = {"started_ts": now_ts, "providers": {}}
    for collector in collectors:
        summary["providers"][collector.provider] = _run_provider(
            collector, settings, engine, since_day, today, now_ts
        )
    summary["finished_ts"] = int(time.time())
    return summary


def _run_provider(
    collector: BillingCollector,
    settings: Settings,
    engine: Engine,
    since_day: date | None,
    today: date,
    now_ts: int,
) -> dict[str, Any]:
    provider = collector.provider
    source_id = ensure_source(engine, provider, collector.describe_url(), now_ts)
    start = since_day or default_start(engine, provider, settings.billing, today)
    start = min(start, today)
    result: dict[str, Any] = {"start": start.isoformat(), "end": today.isoformat(), "rows": 0, "parts": {}}
    errors: list[str] = []
    succeeded = 0
    for part in collector.parts:
        part_result: dict[str, Any] = {}
        try:
            fetched = collector.fetch_part(part.name, start, today, now_ts)
            written = replace_days(engine, provider, part.name, fetched.days, fetched.rows, now_ts)
            part_result = {"rows": written, "days": len(fetched.days)}
            result["rows"] += written
            succeeded += 1
        except PartUnavailable as exc:
            log.info("%s", exc)
            part_result = {"skipped": str(exc)}
            succeeded += 1
        except BillingAuthError as exc:
            # Every part shares the credentials: no point trying the others.
            log.error("%s", exc)
            errors.append(str(exc))
            result["parts"][part.name] = {"error": str(exc)}
            break
        except BillingError as exc:
            log.error("%s (part %s): stored rows kept", exc, part.name)
            errors.append(f"{part.name}: {exc}")
            part_result = {"error": str(exc)}
        except Exception as exc:  # a bug or an unforeseen shape must not stop the other providers
            log.exception("%s: unexpected failure in part %s", provider, part.name)
            message = f"{provider}: {part.name}: unexpected {type(exc).__name__}"
            errors.append(message)
            part_result = {"error": message}
        result["parts"][part.name] = part_result
    ok = succeeded > 0
    partial = ok and bool(errors)
    status = "failing" if not ok else ("partial" if partial else "ok")
    error_text = "; ".join(errors)[:2000] if errors else None
    record_status(engine, source_id, ok=ok, partial=partial, error=error_text, now_ts=now_ts)
    result.update(status=status, error=error_text)
    log.info("%s: %s, %d rows for %s..%s", provider, status, result["rows"], start, today)
    return result


class BillingScheduler:
    """Decides when the daily billing run is due; the collectors runner calls ``due`` on its tick."""

    def __init__(
        self, settings: Settings, engine: Engine, *, collectors: Sequence[BillingCollector] | None = None
    ):
        self.settings = settings
        self.engine = engine
        self.interval_s = settings.billing.interval_h * 3600.0
        self._collectors = collectors
        self._last_run_ts: float | None = None
        self._last_failed = False
        self._loaded = False

    @property
    def enabled(self) -> bool:
        return bool(self._collectors) or bool(self.settings.billing.configured())

    def _load(self) -> None:
        """Pick up the last attempt from the store, so a restart does not re-run at once."""
        self._loaded = True
        names = [source_name(p) for p in self.settings.billing.configured()]
        if not names:
            return
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(schema.source_health.c.last_attempt_ts, schema.source_health.c.status)
                .join(schema.sources, schema.sources.c.id == schema.source_health.c.source_id)
                .where(schema.sources.c.name.in_(names))
            ).all()
        if len(rows) < len(names):
            return  # a provider never ran: due now
        self._last_run_ts = float(min(row[0] for row in rows))
        self._last_failed = any(row[1] == "failing" for row in rows)

    def due(self, now_ts: float) -> bool:
        if not self.enabled:
            return False
        if not self._loaded:
            self._load()
        if self._last_run_ts is None:
            return True
        wait_s = min(self.interval_s, RETRY_AFTER_FAILURE_S) if self._last_failed else self.interval_s
        return now_ts - self._last_run_ts >= wait_s

    def run(self, now_ts: float | None = None) -> dict[str, Any]:
        now = int(time.time() if now_ts is None else now_ts)
        if self._collectors is None:
            self._collectors = build_collectors(self.settings.billing)
        summary = run_billing_once(self.settings, self.engine, now_ts=now, collectors=self._collectors)
        self._last_run_ts = float(now)
        self._last_failed = any(p["status"] == "failing" for p in summary["providers"].values())
        self._loaded = True
        return summary
