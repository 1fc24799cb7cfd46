"""Day partitions of the raw samples on a real PostgreSQL: the in-place migration loses nothing,
retention drops whole days, a one-day query reads one partition, rows of a day without a
partition land in the default one and move to their own day's partition later."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, insert, text

from core.settings import RetentionSettings
from store import schema
from store.bulk import bulk_upsert
from store.engine import MIGRATIONS_DIR, make_engine, migrate
from store.partitions import DAY_S, ensure_day_partitions
from store.rollups import apply_retention, refresh_rollups
from store.upsert import upsert

pytestmark = pytest.mark.postgres

DAY0 = 20_400  # 2025-11-08 (UTC day index)
NOW = (DAY0 + 5) * DAY_S + 12 * 3600  # noon of 2025-11-13


@pytest.fixture
def pg(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


def _upgrade(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _partitions(engine: Engine, table: str) -> list[str]:
    with engine.connect() as connection:
        return sorted(
            connection.execute(
                text(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                    "WHERE i.inhparent = to_regclass(:t)"
                ),
                {"t": table},
            ).scalars()
        )


def _room_rows(days: range, per_day: int) -> list[dict[str, Any]]:
    # Samples every 2 h from 01:00, `per_day` rooms; participants = room number + hour.
    return [
        {"source_id": 1, "room_sid": f"RM_{room}", "ts": day * DAY_S + hour * 3600,
         "participants": room + hour, "publishers": 1, "listeners": room + hour - 1}
        for day in days for hour in range(1, 24, 2) for room in range(per_day)
    ]  # fmt: skip


def _totals(engine: Engine) -> dict[str, tuple[int, int]]:
    with engine.connect() as connection:
        rooms = connection.execute(
            text("SELECT count(*), coalesce(sum(participants), 0) FROM room_samples")
        ).one()
        nodes = connection.execute(text("SELECT count(*), coalesce(sum(ts), 0) FROM node_samples")).one()
        sessions = connection.execute(
            text("SELECT count(*), coalesce(sum(joined_ts), 0) FROM participant_sessions")
        ).one()
    return {
        "room_samples": (int(rooms[0]), int(rooms[1])),
        "node_samples": (int(nodes[0]), int(nodes[1])),
        "participant_sessions": (int(sessions[0]), int(sessions[1])),
    }


def test_migration_converts_a_populated_database_in_place(pg: Engine) -> None:
    _upgrade(pg, "0006_alertmanager")
    rows = _room_rows(range(DAY0, DAY0 + 3), per_day=4)
    with pg.begin() as connection:
        connection.execute(insert(schema.room_samples), rows)
        connection.execute(
            insert(schema.node_samples),
            [
                {"source_id": 1, "node_id": "ND_a", "ts": DAY0 * DAY_S + m * 60, "cpu_pct": 50.0}
                for m in range(3000)
            ],
        )
        connection.execute(
            insert(schema.participant_sessions),
            [{"source_id": 1, "participant_sid": f"PA_{i}", "room_sid": "RM_0", "identity": f"u{i}",
              "joined_ts": DAY0 * DAY_S + i, "last_seen_ts": DAY0 * DAY_S + i + 60} for i in range(50)],
        )  # fmt: skip
    # Known answers, by hand: 3 days x 12 samples x 4 rooms; participants sum over
    # rooms 0..3 and hours 1,3,..,23 = 12*(0+1+2+3) + 4*144 = 72 + 576 = 648 per day.
    expected_nodes_ts_sum = 3000 * DAY0 * DAY_S + 60 * (2999 * 3000 // 2)
    expected_sessions_sum = 50 * DAY0 * DAY_S + 49 * 50 // 2
    before = _totals(pg)
    assert before == {
        "room_samples": (144, 3 * 648),
        "node_samples": (3000, expected_nodes_ts_sum),
        "participant_sessions": (50, expected_sessions_sum),
    }

    migrate(pg)

    assert _totals(pg) == before
    with pg.connect() as connection:
        kinds: dict[str, str] = dict(
            connection.execute(
                text(
                    "SELECT relname, relkind FROM pg_class WHERE relname IN ('room_samples', 'node_samples')"
                )
            ).all()
        )
    assert kinds == {"room_samples": "p", "node_samples": "p"}
    # 3000 minutes from DAY0 00:00 reach into the third day (2,880 minutes = 2 days).
    assert _partitions(pg, "room_samples") == [
        "room_samples_default", "room_samples_p20251108", "room_samples_p20251109", "room_samples_p20251110",
    ]  # fmt: skip
    assert _partitions(pg, "node_samples") == [
        "node_samples_default", "node_samples_p20251108", "node_samples_p20251109", "node_samples_p20251110",
    ]  # fmt: skip
    with pg.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM room_samples_p20251109")).scalar() == 48
        assert connection.execute(text("SELECT count(*) FROM room_samples_default")).scalar() == 0
    # The upserts keep their ON CONFLICT target (the primary key holds ts): a re-write replaces.
    with pg.begin() as connection:
        upsert(connection, schema.room_samples, [{**rows[0], "participants": 1000}])
    bulk_upsert(pg, schema.room_samples, pd.DataFrame([{**rows[1], "participants": 2000}]))
    after = _totals(pg)["room_samples"]
    assert after == (144, 3 * 648 - rows[0]["participants"] - rows[1]["participants"] + 3000)


def test_retention_drops_old_days_and_keeps_the_rest(pg: Engine) -> None:
    migrate(pg)
    created = ensure_day_partitions(pg, NOW)
    # yesterday .. today + 2, for both tables
    assert created == [f"room_samples_p202511{d}" for d in (12, 13, 14, 15)] + [
        f"node_samples_p202511{d}" for d in (12, 13, 14, 15)
    ]
    with pg.begin() as connection:
        upsert(connection, schema.room_samples, _room_rows(range(DAY0, DAY0 + 6), per_day=2))
    assert ensure_day_partitions(pg, NOW) == [f"room_samples_p202511{d:02d}" for d in (8, 9, 10, 11)]
    # raw_days=2 at noon of the 13th: the cutoff is noon of the 11th. The 8th, 9th and 10th
    # are wholly older (dropped); the 11th is cut in the middle (its morning deleted).
    deleted = apply_retention(pg, NOW, RetentionSettings(raw_days=2))
    assert _partitions(pg, "room_samples") == [
        "room_samples_default",
        *(f"room_samples_p202511{d}" for d in (11, 12, 13, 14, 15)),
    ]
    # The 11th: samples at 01:00..11:00 (6 hours x 2 rooms) deleted, 13:00..23:00 kept.
    assert deleted["room_samples"] == 12
    with pg.connect() as connection:
        days: dict[int, int] = dict(
            connection.execute(text("SELECT ts / 86400, count(*) FROM room_samples GROUP BY 1")).all()
        )
    assert days == {DAY0 + 3: 12, DAY0 + 4: 24, DAY0 + 5: 24}


def _relations(plan: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(plan, dict):
        if "Relation Name" in plan:
            found.add(plan["Relation Name"])
        for value in plan.values():
            found |= _relations(value)
    elif isinstance(plan, list):
        for value in plan:
            found |= _relations(value)
    return found


def test_a_one_day_query_reads_only_that_days_partition(pg: Engine) -> None:
    migrate(pg)
    with pg.begin() as connection:
        upsert(connection, schema.room_samples, _room_rows(range(DAY0, DAY0 + 4), per_day=2))
    ensure_day_partitions(pg, NOW)
    day = DAY0 + 2  # 2025-11-10
    with pg.connect() as connection:
        plan = connection.execute(
            text(
                "EXPLAIN (FORMAT JSON) SELECT room_sid, avg(participants) FROM room_samples "
                f"WHERE ts >= {day * DAY_S} AND ts < {(day + 1) * DAY_S} GROUP BY room_sid"
            )
        ).scalar()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    assert _relations(plan) == {"room_samples_p20251110"}
    # The rollups read the same way: an hour of the 10th touches only the 10th.
    with pg.connect() as connection:
        plan = connection.execute(
            text(
                "EXPLAIN (FORMAT JSON) SELECT source_id, room_sid, ts - ts % 60, max(participants) "
                f"FROM room_samples WHERE ts >= {day * DAY_S + 3600} AND ts < {day * DAY_S + 7200} "
                "GROUP BY source_id, room_sid, ts - ts % 60"
            )
        ).scalar()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    assert _relations(plan) == {"room_samples_p20251110"}
    written = refresh_rollups(pg, (DAY0 + 4) * DAY_S)
    assert written["room_samples_1h"] == 4 * 12 * 2


def test_rows_of_a_day_without_partition_land_in_default_and_move_later(pg: Engine) -> None:
    migrate(pg)
    far = DAY0 + 40  # no partition for it: made neither by the migration nor ahead
    with pg.begin() as connection:
        upsert(connection, schema.room_samples, _room_rows(range(far, far + 1), per_day=3))
    with pg.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM room_samples_default")).scalar() == 36
    created = ensure_day_partitions(pg, NOW)
    assert "room_samples_p20251218" in created
    with pg.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM room_samples_default")).scalar() == 0
        assert connection.execute(text("SELECT count(*) FROM room_samples_p20251218")).scalar() == 36
        assert connection.execute(text("SELECT count(*) FROM room_samples")).scalar() == 36
