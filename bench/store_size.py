"""Bench: how much the store grows per day of platform-500, on SQLite and on PostgreSQL.

    .venv/bin/python bench/store_size.py [--db URL] [--pg-url URL | --no-postgres] [--pg-days 3]

Bytes per row of every table (data + its indexes: SQLite's ``dbstat``, PostgreSQL's
``pg_total_relation_size`` after VACUUM) are measured on a demo backfill; rows per day come
from the 30-day store (raw rows/day = the 15 s samples the hourly rollups count). The store
grows per day by Σ bytes/row × rows/day over every tier a live collector writes (raw 15 s
samples, 1-minute and 1-hour rollups, sessions): ``store_mb_per_day_platform500``. With the
default retention (raw 7 d, 1-minute 35 d, 1-hour 400 d) the store then levels off at
``steady_state_mb``. PostgreSQL: ``--pg-url`` (an empty database), else a throwaway server
from harness/realparts.py with a ``--pg-days`` backfill.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import add_db_argument, backend, backfill_demo, demo_db, emit, store_facts

TIERS = {  # table -> retention tier
    "room_samples": "raw", "node_samples": "raw",
    "room_samples_1m": "minute", "node_samples_1m": "minute",
    "room_samples_1h": "hour", "node_samples_1h": "hour",
    "room_sessions": "hour", "participant_sessions": "hour", "egress_status": "hour", "ingress_status": "hour",
}  # fmt: skip
RETENTION_DAYS = {"raw": 7, "minute": 35, "hour": 400}  # core.settings.RetentionSettings defaults


def table_bytes(url: str) -> dict[str, int]:
    """Bytes on disk per table, its indexes included."""
    from sqlalchemy import text

    from store.engine import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if backend(url) == "postgresql":
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
                return {name: int(connection.execute(text("SELECT pg_total_relation_size(:t)"), {"t": name}).scalar_one())
                        for name in TIERS}  # fmt: skip
            connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            owner: dict[str, str] = dict(
                connection.execute(
                    text("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table','index')")
                ).all()
            )
            sizes: dict[str, int] = {}
            for name, size in connection.execute(text("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name")):
                table = owner.get(name, name)
                sizes[table] = sizes.get(table, 0) + int(size)
            return {name: sizes.get(name, 0) for name in TIERS}
    finally:
        engine.dispose()


def table_rows(url: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from store import schema
    from store.engine import make_engine

    engine = make_engine(url, read_only=True)
    try:
        with engine.connect() as connection:
            return {name: int(connection.execute(select(func.count()).select_from(schema.metadata.tables[name])).scalar_one())
                    for name in TIERS}  # fmt: skip
    finally:
        engine.dispose()


def rows_per_day(url: str, days: float) -> dict[str, float]:
    """Rows a live platform-500 collector writes per day, per table."""
    from sqlalchemy import func, select

    from store import schema
    from store.engine import make_engine

    engine = make_engine(url, read_only=True)
    try:
        with engine.connect() as connection:
            out: dict[str, float] = {}
            for kind in ("room", "node"):
                hourly = schema.metadata.tables[f"{kind}_samples_1h"]
                rows, samples = connection.execute(select(func.count(), func.sum(hourly.c.samples))).one()
                out[f"{kind}_samples"] = float(samples or 0) / days  # 15 s samples
                out[f"{kind}_samples_1m"] = float(samples or 0) / 4 / days  # one row per key-minute
                out[f"{kind}_samples_1h"] = float(rows) / days
            for name in ("room_sessions", "participant_sessions", "egress_status", "ingress_status"):
                table = schema.metadata.tables[name]
                out[name] = (
                    float(connection.execute(select(func.count()).select_from(table)).scalar_one()) / days
                )
            return out
    finally:
        engine.dispose()


def growth(url: str, per_day: dict[str, float]) -> dict[str, Any]:
    sizes, rows = table_bytes(url), table_rows(url)
    bytes_per_row = {name: sizes[name] / rows[name] for name in TIERS if rows[name]}
    daily = {name: bytes_per_row.get(name, 0.0) * per_day[name] for name in TIERS}
    steady = sum(daily[name] * RETENTION_DAYS[TIERS[name]] for name in TIERS)
    return {
        "store_mb_per_day": round(sum(daily.values()) / 1e6, 2),
        "steady_state_mb": round(steady / 1e6, 1),
        "mb_per_day_by_table": {name: round(value / 1e6, 3) for name, value in daily.items()},
        "bytes_per_row": {name: round(value, 1) for name, value in bytes_per_row.items()},
        "measured_on": {"total_mb": round(sum(sizes.values()) / 1e6, 1), "rows": rows},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_db_argument(parser)
    parser.add_argument("--pg-url", help="an EMPTY PostgreSQL database to backfill and measure")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--pg-days", type=float, default=3.0)
    args = parser.parse_args()
    result: dict[str, Any] = {
        "bench": "store_size",
        "scenario": "platform-500",
        "retention_days": RETENTION_DAYS,
    }
    try:
        url, how = demo_db(args.db)
        facts = store_facts(url)
        days = float(facts.get("window_days") or 30)
        per_day = rows_per_day(url, days)
        result.update(how, store=facts, rows_per_day={k: round(v) for k, v in per_day.items()})
        measured = growth(url, per_day)
        result[backend(url)] = measured
    except Exception as exc:
        emit(
            {
                **result,
                "store_mb_per_day_platform500": None,
                "reason": f"store unavailable: {type(exc).__name__}: {exc}",
            }
        )
        return 0
    if backend(url) == "sqlite" and not args.no_postgres:
        server = None
        try:
            pg_url = args.pg_url
            if not pg_url:
                from harness.realparts import PostgresServer

                server = PostgresServer.start()
                pg_url = server.create_database()
            started = time.perf_counter()
            backfill_demo(pg_url, args.pg_days)
            result["postgresql"] = {**growth(pg_url, per_day), "backfill_days": args.pg_days,
                                    "backfill_s": round(time.perf_counter() - started, 1)}  # fmt: skip
        except Exception as exc:
            result["postgresql"] = None
            result["postgresql_reason"] = f"{type(exc).__name__}: {exc}"
        finally:
            if server is not None:
                server.stop()
    by_backend = {
        name: (result[name] or {}).get("store_mb_per_day")
        for name in ("sqlite", "postgresql")
        if name in result
    }
    result["store_mb_per_day_platform500"] = by_backend
    for name, value in by_backend.items():
        result[f"store_mb_per_day_platform500_{name}"] = value
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
