"""Writing billing rows and collector status to the store.

A fetched part replaces, in one transaction, every stored row of that provider, part and day it
covered: a late correction overwrites the day, a re-run never doubles it, and a part that failed
writes nothing, so what was stored before stays."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import Engine, and_, delete, select

from collectors.billing.base import BillingRow, day_start_ts
from store import schema
from store.upsert import upsert


def source_name(provider: str) -> str:
    return f"billing:{provider}"


def replace_days(
    engine: Engine, provider: str, part: str, days: Sequence[date], rows: Sequence[BillingRow], now_ts: int
) -> int:
    """Replace ``provider``/``part`` rows on ``days`` with ``rows``; returns the rows written."""
    day_set = {day_start_ts(d) for d in days}
    records = [
        {
            "provider": provider,
            "day_ts": day_start_ts(row.day),
            "metric": row.metric,
            "dims_key": row.dims_key(),
            "part": part,
            "dimensions_json": row.dims_json(),
            "unit": row.unit,
            "quantity": float(row.quantity),
            "amount": row.amount,
            "currency": row.currency,
            "usd": row.usd,
            "fetched_ts": now_ts,
        }
        for row in rows
        if day_start_ts(row.day) in day_set
    ]
    per_day: dict[int, int] = dict.fromkeys(day_set, 0)
    for row in rows:
        if day_start_ts(row.day) in per_day:
            per_day[day_start_ts(row.day)] += 1
    table = schema.billing_usage
    with engine.begin() as conn:
        for chunk in _chunks(sorted(day_set), 500):
            conn.execute(
                delete(table).where(
                    and_(table.c.provider == provider, table.c.part == part, table.c.day_ts.in_(chunk))
                )
            )
        upsert(conn, table, records)
        upsert(
            conn,
            schema.billing_fetches,
            [
                {
                    "provider": provider,
                    "day_ts": day_ts,
                    "part": part,
                    "fetched_ts": now_ts,
                    "rows": count,
                    # A day fetched before it ended is partial; the next run re-fetches it.
                    "complete": now_ts >= day_ts + 86_400,
                }
                for day_ts, count in sorted(per_day.items())
            ],
        )
    return len(records)


def _chunks(values: list[int], size: int) -> list[list[int]]:
    return [values[i : i + size] for i in range(0, len(values), size)] or [[]]


def ensure_source(engine: Engine, provider: str, url: str, now_ts: int) -> int:
    name = source_name(provider)
    with engine.begin() as conn:
        # The sources key is an autoincrement id: match on the unique name.
        found = conn.execute(select(schema.sources.c.id).where(schema.sources.c.name == name)).scalar()
        if found is None:
            result = conn.execute(
                schema.sources.insert().values(name=name, kind=name, url=url, created_ts=now_ts)
            )
            return int(result.inserted_primary_key[0])  # type: ignore[index]
        conn.execute(schema.sources.update().where(schema.sources.c.id == found).values(url=url))
        return int(found)


def record_status(
    engine: Engine, source_id: int, *, ok: bool, partial: bool, error: str | None, now_ts: int
) -> None:
    """Last attempt, last success and last error of one billing collector (source_health)."""
    table = schema.source_health
    with engine.begin() as conn:
        previous = conn.execute(select(table).where(table.c.source_id == source_id)).mappings().first()
        failures = 0 if ok else int(previous["consecutive_failures"] if previous else 0) + 1
        last_success = now_ts if ok else (previous["last_success_ts"] if previous else None)
        failing_since = None
        if not ok:
            failing_since = (previous["failing_since_ts"] if previous else None) or now_ts
        status = "failing" if not ok else ("partial" if partial else "ok")
        upsert(
            conn,
            table,
            [
                {
                    "source_id": source_id,
                    "status": status,
                    "last_attempt_ts": now_ts,
                    "last_success_ts": last_success,
                    "consecutive_failures": failures,
                    # The last error stays visible after a recovery; ``status`` says it is over.
                    "last_error": error or (previous["last_error"] if previous else None),
                    "next_attempt_ts": None,
                    "failing_since_ts": failing_since,
                }
            ],
        )
