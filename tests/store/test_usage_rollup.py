"""The daily usage rollup: per-room sums of closed sessions of closed days, kept up to date by
a last_seen_ts watermark, idempotent; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, update

from store import schema
from store.upsert import upsert
from store.usage_rollup import DAY_S, LATE_S, coverage, refresh_usage_daily
from tests.store.conftest import fetch

D0 = 1_700_000_000 - 1_700_000_000 % DAY_S  # a UTC midnight
NOW = D0 + 2 * DAY_S + 3600  # days D0 and D0 + 1 are closed; D0 + 2 is today
P = schema.participant_sessions


def _session(sid: str, joined: int, left: int | None, *, room: str = "RM_a", publisher: bool = False,
             kind: str = "STANDARD", last_seen: int | None = None) -> dict[str, Any]:  # fmt: skip
    return {
        "source_id": 1, "participant_sid": sid, "room_sid": room, "identity": sid, "name": sid, "kind": kind,
        "is_publisher": publisher, "joined_ts": joined, "left_ts": left,
        "last_seen_ts": last_seen if last_seen is not None else (left if left is not None else joined),
        "origin": "poll",
    }  # fmt: skip


SESSIONS = [
    _session("PA_host", D0 + 100, D0 + 161, publisher=True),  # 61 s -> 2 min
    _session("PA_l1", D0 + 200, D0 + 230),  # 30 s -> 1 min
    _session("PA_l2", D0 + 300, D0 + 300),  # seen once -> 1 min, 0 s
    _session("PA_open", D0 + 400, None, last_seen=NOW - 60),  # open: not in the rollup
    _session("EG_rec", D0 + 100, D0 + 900, kind="EGRESS"),  # not a connection
    _session("PA_night", D0 + DAY_S - 10, D0 + DAY_S + 50),  # counts on its join day: 60 s -> 1 min
    _session("PA_b", D0 + DAY_S + 5, D0 + DAY_S + 125, room="RM_b"),  # 120 s -> 2 min
    _session("PA_today", D0 + 2 * DAY_S + 5, D0 + 2 * DAY_S + 65),  # today: not rolled up yet
]


def _write(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as connection:
        upsert(connection, P, rows)


def _rows(engine: Engine) -> dict[tuple[str, int], tuple[int, ...]]:
    return {
        (row["room_sid"], row["day_ts"]): (
            row["sessions"],
            row["publisher_minutes"],
            row["listener_minutes"],
            row["publisher_seconds"],
            row["listener_seconds"],
            row["min_left_ts"],
            row["max_left_ts"],
        )
        for row in fetch(engine, schema.room_usage_daily)
    }


def test_rows_hold_closed_sessions_of_closed_days(store: Engine) -> None:
    _write(store, SESSIONS)
    written = refresh_usage_daily(store, NOW)
    assert written == 2
    got = _rows(store)
    # PA_night joined on D0 (it is counted there, whole); PA_l2's 0 s is still one minute.
    assert got == {
        ("RM_a", D0): (4, 2, 3, 61, 90, D0 + 161, D0 + DAY_S + 50),
        ("RM_b", D0 + DAY_S): (1, 0, 2, 0, 120, D0 + DAY_S + 125, D0 + DAY_S + 125),
    }
    with store.connect() as connection:
        covered = coverage(connection)
    assert covered is not None
    assert (covered.horizon_ts, covered.watermark_ts) == (D0 + 2 * DAY_S, NOW - 60)


def test_refresh_is_idempotent(store: Engine) -> None:
    _write(store, SESSIONS)
    refresh_usage_daily(store, NOW)
    first = fetch(store, schema.room_usage_daily)
    refresh_usage_daily(store, NOW)
    assert fetch(store, schema.room_usage_daily) == first
    refresh_usage_daily(store, NOW, since_ts=D0 - DAY_S)
    assert fetch(store, schema.room_usage_daily) == first


def test_empty_store_then_sessions(store: Engine) -> None:
    assert refresh_usage_daily(store, NOW) == 0
    assert fetch(store, schema.room_usage_daily) == []
    # Sessions written after the first refresh, last seen past its watermark (0): picked up.
    _write(store, SESSIONS)
    refresh_usage_daily(store, NOW)
    assert set(_rows(store)) == {("RM_a", D0), ("RM_b", D0 + DAY_S)}


def test_changes_after_the_watermark_are_recomputed(store: Engine) -> None:
    _write(store, SESSIONS)
    refresh_usage_daily(store, NOW)
    with store.begin() as connection:
        # A poll closes the open session (last_seen_ts moves past the watermark) ...
        connection.execute(
            update(P).where(P.c.participant_sid == "PA_open").values(left_ts=NOW, last_seen_ts=NOW)
        )
        # ... and a late webhook moves PA_b's end earlier, its event time below the watermark.
        connection.execute(
            update(P)
            .where(P.c.participant_sid == "PA_b")
            .values(left_ts=D0 + DAY_S + 65, last_seen_ts=NOW - 90)
        )
    refresh_usage_daily(store, NOW + 60)
    got = _rows(store)
    open_s = NOW - (D0 + 400)
    assert got[("RM_a", D0)] == (5, 2, 3 + (open_s + 59) // 60, 61, 90 + open_s, D0 + 161, NOW)
    assert got[("RM_b", D0 + DAY_S)] == (1, 0, 1, 0, 60, D0 + DAY_S + 65, D0 + DAY_S + 65)


def test_a_key_whose_sessions_stop_counting_disappears(store: Engine) -> None:
    _write(store, SESSIONS)
    refresh_usage_daily(store, NOW)
    with store.begin() as connection:
        connection.execute(
            update(P).where(P.c.participant_sid == "PA_b").values(kind="EGRESS", last_seen_ts=NOW)
        )
    refresh_usage_daily(store, NOW)
    assert ("RM_b", D0 + DAY_S) not in _rows(store)


def test_days_roll_up_when_they_close(store: Engine) -> None:
    _write(store, SESSIONS)
    refresh_usage_daily(store, NOW)
    assert ("RM_a", D0 + 2 * DAY_S) not in _rows(store)
    refresh_usage_daily(store, NOW + DAY_S)
    assert _rows(store)[("RM_a", D0 + 2 * DAY_S)] == (
        1,
        0,
        1,
        0,
        60,
        D0 + 2 * DAY_S + 65,
        D0 + 2 * DAY_S + 65,
    )


def test_old_sessions_need_since_ts(store: Engine) -> None:
    """A backfill writes sessions last seen long before the watermark: only a refresh from
    ``since_ts`` (what simulator/backfill.py passes) sees them."""
    _write(store, SESSIONS)
    refresh_usage_daily(store, NOW)
    old = _session("PA_old", D0 - DAY_S + 10, D0 - DAY_S + 70)
    assert old["last_seen_ts"] < NOW - 60 - LATE_S
    _write(store, [old])
    refresh_usage_daily(store, NOW)
    assert ("RM_a", D0 - DAY_S) not in _rows(store)
    refresh_usage_daily(store, NOW, since_ts=D0 - DAY_S + 3600)
    assert _rows(store)[("RM_a", D0 - DAY_S)] == (1, 0, 1, 0, 60, D0 - DAY_S + 70, D0 - DAY_S + 70)


def test_refresh_inside_the_callers_transaction(store: Engine) -> None:
    _write(store, SESSIONS)
    with store.begin() as connection:
        refresh_usage_daily(connection, NOW)
    assert set(_rows(store)) == {("RM_a", D0), ("RM_b", D0 + DAY_S)}
