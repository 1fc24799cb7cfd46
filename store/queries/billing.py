"""What the billing collectors stored (collectors/billing/ → ``billing_usage``,
``billing_fetches``, their source health) and the collector gaps a reconciliation names."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
from sqlalchemy import Table, and_, select

from core.units import DAY_S
from store import schema
from store.queries.bind import Bind, connected, read_frame
from store.queries.results import BillingRecords

HEALTH_COLUMNS = [
    "name",
    "url",
    "status",
    "last_attempt_ts",
    "last_success_ts",
    "consecutive_failures",
    "last_error",
]


def _ts(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _rows_in_days(bind: Bind, table: Table, start_day: date, end_day: date) -> pd.DataFrame:
    """Every stored row of a billing table for [start_day, end_day] (inclusive)."""
    query = select(table).where(and_(table.c.day_ts >= _ts(start_day), table.c.day_ts < _ts(end_day) + DAY_S))
    return read_frame(bind, query, [c.name for c in table.columns])


def billed_rows(bind: Bind, start_day: date, end_day: date) -> pd.DataFrame:
    """Stored billing rows for [start_day, end_day] (inclusive), one row per stored row, with
    ``day`` (the UTC date of ``day_ts``)."""
    frame = _rows_in_days(bind, schema.billing_usage, start_day, end_day)
    frame["day"] = [datetime.fromtimestamp(int(ts), tz=UTC).date() for ts in frame["day_ts"]]
    return frame


def fetch_rows(bind: Bind, start_day: date, end_day: date) -> pd.DataFrame:
    """Stored billing fetches (provider, day_ts, part, fetched_ts, rows, complete) for the days."""
    return _rows_in_days(bind, schema.billing_fetches, start_day, end_day)


def collector_gaps(bind: Bind, start_ts: int, end_ts: int) -> pd.DataFrame:
    """``start_ts, end_ts`` of the collector gaps (LiveKit/Prometheus sources, not billing)
    overlapping [start_ts, end_ts); end_ts None: the gap is still open."""
    gaps, sources = schema.collector_gaps, schema.sources
    query = (
        select(gaps.c.start_ts, gaps.c.end_ts)
        .join(sources, sources.c.id == gaps.c.source_id, isouter=True)
        .where(and_(gaps.c.start_ts < end_ts, (gaps.c.end_ts.is_(None)) | (gaps.c.end_ts > start_ts)))
        .where((sources.c.kind.is_(None)) | (~sources.c.kind.like("billing:%")))
    )
    return read_frame(bind, query, ["start_ts", "end_ts"])


def billing_records(bind: Bind, since: date, until: date) -> BillingRecords:
    """Everything a reconciliation of [since, until] (whole UTC days) reads, in one connection."""
    with connected(bind) as connection:
        return BillingRecords(
            billed=billed_rows(connection, since, until),
            fetches=fetch_rows(connection, since, until),
            gaps=collector_gaps(connection, _ts(since), _ts(until) + DAY_S),
        )


def billing_collector_health(bind: Bind) -> pd.DataFrame:
    """Every billing collector that has run: provider, url, status, last attempt/success,
    consecutive failures, last error."""
    sources, health = schema.sources, schema.source_health
    query = (
        select(*(sources.c[name] if name in ("name", "url") else health.c[name] for name in HEALTH_COLUMNS))
        .join(health, health.c.source_id == sources.c.id, isouter=True)
        .where(sources.c.kind.like("billing:%"))
    )
    frame = read_frame(bind, query, HEALTH_COLUMNS)
    frame.insert(0, "provider", frame["name"].str.removeprefix("billing:"))
    return frame.drop(columns=["name"])
