"""A new source kind is one class: the runner gives it a source row, backs it off when it is
down, spools its snapshots while the store refuses them and replays them in order, through the
same path as LiveKit and Prometheus (collectors/pollers/base.py, collectors/runner.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from collectors.pollers.base import Poller
from collectors.runner import Collector
from collectors.spool import Spool
from core.settings import Settings
from store import schema
from store.engine import open_store

T0 = 1_900_000_000
INTERVAL_S = 15.0


@dataclass
class CountSnapshot:
    ts: int
    counts: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def row_count(self) -> int:
        return len(self.counts)


class CountPoller:
    """A made-up kind: what it reads and writes is held in memory, so the test sees both."""

    name = "counts"
    kind = "fake"
    url = "http://127.0.0.1:9"
    interval_s = INTERVAL_S
    poll_timeout_s: float | None = None
    spool_kind = "counts"
    snapshot_type = CountSnapshot

    def __init__(self) -> None:
        self.source_down = False
        self.store_down = False
        self.source_id: int | None = None
        self.written: list[CountSnapshot] = []

    def bind(self, engine: object, source_id: int) -> None:
        self.source_id = source_id

    async def poll(self, now_ts: int) -> CountSnapshot:
        if self.source_down:
            raise ConnectionError("refused")
        return CountSnapshot(ts=now_ts, counts={"viewers": 3, "streams": 1})

    def write(self, snapshot: CountSnapshot) -> Mapping[str, int]:
        if self.store_down:
            raise OperationalError("INSERT INTO counts", {}, Exception("database is locked"))
        self.written.append(snapshot)
        return {"counts": len(snapshot.counts)}

    def describe_error(self, exc: BaseException) -> str:
        return f"cannot read the counts: {exc}"


def test_a_new_kind_is_scheduled_backed_off_and_spooled_by_the_runner(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'castmeter.db'}")
    poller = CountPoller()
    pollers: list[Poller[CountSnapshot]] = [poller]
    collector = Collector(Settings(), engine, spool=Spool(tmp_path / "spool"), pollers=pollers)
    with engine.connect() as connection:
        row = connection.execute(select(schema.sources.c.id, schema.sources.c.kind)).one()
    assert (row.id, row.kind) == (poller.source_id, "fake")

    first = asyncio.run(collector.tick(T0))
    assert first.polled == {"counts": "ok"}
    assert first.rows == {"counts.counts": 2}

    poller.source_down = True
    down = asyncio.run(collector.tick(T0 + 15))
    assert down.polled == {"counts": "failed"}
    with engine.connect() as connection:
        health = connection.execute(
            select(schema.source_health.c.status, schema.source_health.c.last_error)
        ).one()
    assert (health.status, health.last_error) == ("failing", "cannot read the counts: refused")
    # Backoff after one failure: 15 s ± 20 % jitter, so one second later it is not due.
    assert asyncio.run(collector.tick(T0 + 16)).polled == {"counts": "skipped"}

    poller.source_down, poller.store_down = False, True
    held = asyncio.run(collector.tick(T0 + 40))
    assert held.polled == {"counts": "spooled"}
    assert collector.spool.pending(f"counts:{poller.source_id}") == 1

    poller.store_down = False
    back = asyncio.run(collector.tick(T0 + 55))
    assert back.polled == {"counts": "partial"}  # the note says a spooled batch was replayed
    assert [snapshot.ts for snapshot in poller.written] == [T0, T0 + 40, T0 + 55]
    assert poller.written[1] == CountSnapshot(ts=T0 + 40, counts={"viewers": 3, "streams": 1})
    assert collector.spool.pending() == 0
    engine.dispose()
