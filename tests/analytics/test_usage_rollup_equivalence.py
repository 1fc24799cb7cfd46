"""connection_minutes with the daily usage rollup answers exactly what the raw-only query answers, over
windows aligned and unaligned to days, before and after late corrections, on both backends."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, update

from store import schema
from store.engine import open_store
from store.queries.usage import connection_minutes, connection_minutes_raw
from store.upsert import upsert
from store.usage_rollup import coverage, refresh_usage_daily
from tests.analytics.stored import stored_ledger

pytestmark = pytest.mark.slow  # many windows over a month of rollups (1-2.5 s each)

DAY = 86_400
H = 3600
D0 = int(dt.datetime(2026, 11, 2, tzinfo=dt.UTC).timestamp())
NOW = D0 + 6 * DAY + 5 * H
ROOMS = {"RM_a": "radio", "RM_b": "talk", "RM_c": "radio"}  # two rooms of one channel
KEYS = ["day_ts", "channel"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'usage.db'}"
    return str(request.getfixturevalue("pg_url"))


def _session(sid: str, room: str, joined: int, left: int | None, *, last_seen: int | None = None,
             publisher: bool = False, kind: str = "STANDARD", source_id: int = 1) -> dict[str, Any]:  # fmt: skip
    return {
        "source_id": source_id, "participant_sid": sid, "room_sid": room, "identity": sid, "name": sid,
        "kind": kind, "is_publisher": publisher, "joined_ts": joined, "left_ts": left,
        "last_seen_ts": last_seen if last_seen is not None else (left if left is not None else joined),
        "origin": "poll",
    }  # fmt: skip


def _sessions_fixture() -> list[dict[str, Any]]:
    rng = random.Random(7)  # fixed: the same fleet every run
    rows = [
        _session("PA_midnight", "RM_a", D0 + DAY - 600, D0 + DAY + 900),  # spans midnight
        _session("PA_days", "RM_b", D0 + H, D0 + 3 * DAY + H, publisher=True),  # spans three days
        _session("PA_open", "RM_a", D0 + 2 * DAY + 10, None, last_seen=NOW - 30),  # still open
        _session("PA_stale", "RM_c", D0 + DAY + 50, None, last_seen=D0 + DAY + 4000),  # never closed
        _session("PA_before", "RM_a", D0 - 2 * DAY, D0 + 2 * H),  # joined before most windows
        _session("PA_backwards", "RM_b", D0 + 2 * DAY + 500, D0 + 2 * DAY + 100),  # left < joined
        _session("PA_before_day", "RM_b", D0 + 2 * DAY + 30, D0 + 2 * DAY - 100),  # left before its join day
        _session("PA_once", "RM_c", D0 + 3 * DAY + 7, D0 + 3 * DAY + 7),  # seen once: 1 min
        _session("PA_at_midnight", "RM_c", D0 + 3 * DAY, D0 + 3 * DAY + 200),  # joined on a day boundary
        _session("PA_at_midnight2", "RM_a", D0 + DAY, D0 + DAY + 61, publisher=True),
        _session("PA_last_second", "RM_a", D0 + 2 * DAY - 1, D0 + 2 * DAY + 300),  # a second before midnight
        _session("EG_rec", "RM_a", D0 + 2 * H, D0 + 3 * H, kind="EGRESS"),  # not a connection
        _session("PA_noroom", "RM_none", D0 + 2 * H, D0 + 3 * H),  # no room row: dropped
        _session("PA_today", "RM_a", NOW - 2 * H, NOW - H),  # today: not rolled up yet
        _session("PA_src2", "RM_a", D0 + 2 * DAY, D0 + 2 * DAY + 125, source_id=2),
    ]
    for index in range(400):
        joined = D0 - DAY + rng.randrange(0, 7 * DAY - 6 * H)
        length = rng.choice([rng.randrange(0, 120), rng.randrange(60, 3 * H), rng.randrange(H, 30 * H)])
        left = joined + length
        if left >= NOW:
            left = NOW - 1
        rows.append(
            _session(
                f"PA_{index}",
                rng.choice(list(ROOMS)),
                joined,
                left,
                last_seen=left + rng.choice([0, 0, 5, 40]),
                publisher=rng.random() < 0.2,
                kind=rng.choice(["STANDARD"] * 8 + ["AGENT", "SIP"]),
            )
        )
    return rows


@pytest.fixture
def store(db_url: str) -> Iterator[Engine]:
    engine = open_store(db_url)
    with engine.begin() as c:
        upsert(c, schema.sources, [
            {"id": 1, "name": "main", "kind": "livekit", "url": "", "created_ts": D0},
            {"id": 2, "name": "other", "kind": "livekit", "url": "", "created_ts": D0},
        ])  # fmt: skip
        upsert(c, schema.room_sessions, [
            {"source_id": source_id, "room_sid": room, "room_name": channel, "channel": channel,
             "started_ts": D0 - 3 * DAY, "ended_ts": None, "last_seen_ts": NOW, "max_participants": 9,
             "max_listeners": 8}
            for source_id in (1, 2) for room, channel in ROOMS.items()
        ])  # fmt: skip
        upsert(c, schema.participant_sessions, _sessions_fixture())
    yield engine
    engine.dispose()


# Aligned and unaligned windows; some start before the data, some end after the horizon.
WINDOWS = [
    (D0, D0 + 3 * DAY),
    (D0 - DAY, NOW),
    (D0 + 5 * H, D0 + 4 * DAY + 7 * H),
    (D0 + DAY, D0 + 2 * DAY),
    (D0 + DAY + 1, D0 + 3 * DAY - 1),
    (D0 + 2 * DAY - 1, D0 + 2 * DAY + 1),
    (D0 - 3 * DAY, NOW + DAY),
    (D0 + 2 * DAY - 50, D0 + 4 * DAY),
    (D0 + DAY, D0 + 3 * DAY + H),
]


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype({"day_ts": "int64", "channel": str}).sort_values(KEYS, ignore_index=True)


def _assert_same(engine: Engine, since_ts: int, until_ts: int, source_id: int | None) -> None:
    got = _sorted(connection_minutes(engine, since_ts, until_ts, source_id))
    want = _sorted(connection_minutes_raw(engine, since_ts, until_ts, source_id))
    assert list(got.columns) == list(want.columns)
    assert got[KEYS].to_dict("records") == want[KEYS].to_dict("records"), (since_ts, until_ts, source_id)
    for name in ("publisher_minutes", "listener_minutes"):
        assert got[name].astype(float).tolist() == want[name].astype(float).tolist(), (
            name,
            since_ts,
            until_ts,
        )
    for name in ("publisher_minutes_unrounded", "listener_minutes_unrounded"):
        np.testing.assert_allclose(
            got[name].astype(float).to_numpy(), want[name].astype(float).to_numpy(), rtol=1e-12, atol=1e-9
        )


def _assert_all_windows(engine: Engine) -> None:
    for since_ts, until_ts in WINDOWS:
        for source_id in (None, 1, 2):
            _assert_same(engine, since_ts, until_ts, source_id)


def test_rollup_reads_equal_raw_reads_over_many_windows(store: Engine) -> None:
    _assert_all_windows(store)  # before any refresh: the raw path
    refresh_usage_daily(store, NOW)
    with store.connect() as connection:
        covered = coverage(connection)
    assert covered is not None and covered.horizon_ts == NOW - NOW % DAY
    _assert_all_windows(store)


def test_late_changes_after_a_refresh(store: Engine) -> None:
    refresh_usage_daily(store, NOW)
    p = schema.participant_sessions
    # A poll closes the open session and sees a new one: last_seen_ts passes the watermark, so
    # the reader takes their keys from raw before the next refresh.
    with store.begin() as c:
        c.execute(
            update(p).where(p.c.participant_sid == "PA_open").values(left_ts=NOW, last_seen_ts=NOW + 60)
        )
        upsert(c, p, [_session("PA_late", "RM_b", D0 + DAY + 10, D0 + DAY + 70, last_seen=NOW + 60)])
    _assert_all_windows(store)
    # A late webhook corrects an already-counted session's left_ts, its event time below the
    # watermark (last_seen_ts stays): the next refresh recomputes it (within LATE_S).
    with store.begin() as c:
        c.execute(
            update(p)
            .where(p.c.participant_sid == "PA_midnight")
            .values(left_ts=D0 + DAY + 100, last_seen_ts=NOW)
        )
    refresh_usage_daily(store, NOW + 120)
    _assert_all_windows(store)


def test_measured_ledger_is_unchanged_by_the_rollup(store: Engine) -> None:
    before = [stored_ledger(store, since_ts, until_ts).frame for since_ts, until_ts in WINDOWS[:3]]
    refresh_usage_daily(store, NOW)
    after = [stored_ledger(store, since_ts, until_ts).frame for since_ts, until_ts in WINDOWS[:3]]
    for old, new in zip(before, after, strict=True):
        pd.testing.assert_frame_equal(old, new, check_exact=False, rtol=1e-12, atol=1e-9)


def test_too_many_keys_to_reread_falls_back_to_raw(store: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    refresh_usage_daily(store, NOW)
    monkeypatch.setattr("store.queries.usage.MAX_KEYS_REREAD", 0)
    _assert_all_windows(store)
