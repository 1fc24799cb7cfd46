"""Bulk backfill: consistent tiers, nothing in the future, idempotent re-runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from collectors.health import ensure_source
from simulator.backfill import backfill
from simulator.model import DAY_S, FleetModel
from store import schema
from store.engine import open_store

pytestmark = pytest.mark.slow  # backfills days of the simulated fleet (1.2 s)

END_TS = 20_000 * DAY_S + 21 * 3600  # an evening: live rooms at the end of the backfill


def _count(engine: Engine, table: object) -> int:
    with engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def _backfill(engine: Engine) -> dict[str, int]:
    source = ensure_source(engine, "demo-livekit", "livekit", "http://127.0.0.1:7880")
    report = backfill(
        engine, FleetModel("dj-radio"), source, end_ts=END_TS, days=2, minute_days=1, raw_hours=1
    )
    return report.rows


def test_backfill_is_idempotent_and_never_in_the_future(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'b.db'}")
    first = _backfill(engine)
    tables = {
        name: schema.metadata.tables[{"egress": "egress_status", "ingress": "ingress_status"}.get(name, name)]
        for name in first
    }
    counts = {name: _count(engine, table) for name, table in tables.items()}
    assert counts["participant_sessions"] > 1000 and counts["room_samples_1h"] > 0
    _backfill(engine)  # a re-run replaces, never duplicates
    assert {name: _count(engine, table) for name, table in tables.items()} == counts
    rooms, parts, egress = schema.room_sessions, schema.participant_sessions, schema.egress_status
    with engine.connect() as c:
        assert c.execute(select(func.max(rooms.c.ended_ts))).scalar_one() <= END_TS
        assert c.execute(select(func.max(parts.c.left_ts))).scalar_one() <= END_TS
        assert c.execute(select(func.max(parts.c.last_seen_ts))).scalar_one() <= END_TS
        live = c.execute(
            select(func.count()).select_from(rooms).where(rooms.c.ended_ts.is_(None))
        ).scalar_one()
        active = c.execute(
            select(func.count()).select_from(egress).where(egress.c.status == "EGRESS_ACTIVE")
        ).scalar_one()
        last_ts = c.execute(select(func.max(schema.room_samples.c.ts))).scalar_one()
        stored_listeners = c.execute(
            select(func.sum(schema.room_samples.c.listeners)).where(schema.room_samples.c.ts == last_ts)
        ).scalar_one()
    assert live > 0 and active > 0
    # The raw tail is the model itself at that instant.
    assert stored_listeners == int(FleetModel("dj-radio").snapshot(last_ts).rooms["listeners"].sum())
