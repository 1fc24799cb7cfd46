"""measured_ledger() over the parts store.queries.usage reads from a small store built with open_store
+ upsert, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from store import schema
from store.engine import open_store
from store.upsert import upsert
from tests.analytics.stored import stored_ledger

D0 = int(dt.datetime(2026, 11, 2, tzinfo=dt.UTC).timestamp())
DAY = 86_400
H = 3600


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'usage.db'}"
    return str(request.getfixturevalue("pg_url"))


def _participant(sid: str, room: str, joined: int, left: int | None, *, last_seen: int | None = None,
                 publisher: bool = False, kind: str = "STANDARD") -> dict[str, object]:  # fmt: skip
    return {
        "source_id": 1, "participant_sid": sid, "room_sid": room, "identity": sid, "name": sid, "kind": kind,
        "is_publisher": publisher, "joined_ts": joined, "left_ts": left,
        "last_seen_ts": last_seen if last_seen is not None else (left or joined), "origin": "webhook",
    }  # fmt: skip


def _room_rollup(room: str, bucket: int, listeners: int, publishers: int) -> dict[str, object]:
    return {
        "source_id": 1, "room_sid": room, "bucket_ts": bucket, "samples": 60,
        "participants_avg": float(listeners + publishers), "participants_max": listeners + publishers,
        "publishers_avg": float(publishers), "publishers_max": publishers,
        "listeners_avg": float(listeners), "listeners_max": listeners,
    }  # fmt: skip


@pytest.fixture
def store(db_url: str) -> Iterator[Engine]:
    engine = open_store(db_url)
    with engine.begin() as c:
        upsert(c, schema.sources, [{"id": 1, "name": "main", "kind": "livekit", "url": "", "created_ts": D0}])
        upsert(c, schema.room_sessions, [
            {"source_id": 1, "room_sid": "RM_1", "room_name": "radio", "channel": "radio", "started_ts": D0 - 600,
             "ended_ts": D0 + H + 2 * H, "last_seen_ts": D0 + 3 * H, "max_participants": 3, "max_listeners": 2},
            {"source_id": 1, "room_sid": "RM_2", "room_name": "talk", "channel": "talk", "started_ts": D0 + DAY,
             "ended_ts": D0 + DAY + H, "last_seen_ts": D0 + DAY + H, "max_participants": 2, "max_listeners": 1},
        ])  # fmt: skip
        upsert(c, schema.participant_sessions, [
            _participant("PA_dj", "RM_1", D0 + H, D0 + 3 * H, publisher=True),  # 120 min
            _participant("PA_l1", "RM_1", D0 + H + 10, D0 + H + 80),  # 70 s -> 2 min
            _participant("PA_l2", "RM_1", D0 + H + 100, None, last_seen=D0 + H + 700),  # still open: 10 min
            _participant("PA_l3", "RM_1", D0 - 120, D0 + 30),  # clipped to 30 s -> 1 min
            _participant("PA_l5", "RM_1", D0 + H + 5, D0 + H + 5),  # seen once: still 1 min
            _participant("EG_rec", "RM_1", D0 + H, D0 + 2 * H, kind="EGRESS"),  # not a connection
            _participant("PA_host", "RM_2", D0 + DAY, D0 + DAY + 61, publisher=True),  # 61 s -> 2 min
            _participant("PA_l4", "RM_2", D0 + DAY, D0 + DAY + H),  # 60 min
            _participant("PA_old", "RM_1", D0 - 2 * H, D0 - H),  # before the window
        ])  # fmt: skip
        upsert(c, schema.egress_status, [
            {"source_id": 1, "egress_id": "EG_1", "room_sid": "RM_1", "room_name": "radio", "kind": "room_composite",
             "status": "EGRESS_COMPLETE", "started_ts": D0 + H, "ended_ts": D0 + 2 * H, "updated_ts": D0 + 2 * H,
             "last_seen_ts": D0 + 2 * H},
            {"source_id": 1, "egress_id": "EG_2", "room_sid": "RM_1", "room_name": "radio", "kind": "track",
             "status": "EGRESS_COMPLETE", "started_ts": D0 + H + 1800, "ended_ts": D0 + 2 * H + 1800,
             "updated_ts": D0 + 2 * H + 1800, "last_seen_ts": D0 + 2 * H + 1800},
        ])  # fmt: skip
        upsert(c, schema.ingress_status, [
            {"source_id": 1, "ingress_id": "IN_1", "name": "obs", "room_name": "radio", "input_type": "RTMP_INPUT",
             "status": "COMPLETE", "started_ts": D0 + H, "ended_ts": D0 + H + 1800, "last_seen_ts": D0 + H + 1800},
            {"source_id": 1, "ingress_id": "IN_2", "name": "whip", "room_name": "talk", "input_type": "WHIP_INPUT",
             "status": "COMPLETE", "started_ts": D0 + DAY, "ended_ts": D0 + DAY + 600, "last_seen_ts": D0 + DAY + 600},
        ])  # fmt: skip
        upsert(
            c,
            schema.room_samples_1h,
            [
                _room_rollup("RM_1", D0 + H, 2, 1),
                _room_rollup("RM_1", D0 + 2 * H, 3, 1),
                _room_rollup("RM_2", D0 + DAY, 1, 1),
            ],
        )
        node_row = {f"{m}_{agg}": None for m in schema.NODE_METRICS for agg in ("avg", "max")}
        upsert(c, schema.node_samples_1h, [
            {**node_row, "source_id": 1, "node_id": "n1", "bucket_ts": D0 + H, "samples": 240,
             "bytes_out_per_s_avg": 1e6, "bytes_in_per_s_avg": 1e5},
            {**node_row, "source_id": 1, "node_id": "n1", "bucket_ts": D0 + DAY, "samples": 240,
             "bytes_out_per_s_avg": 5e5, "bytes_in_per_s_avg": 0.0},
        ])  # fmt: skip
    yield engine
    engine.dispose()


def test_connection_minutes_rounded_per_session_and_clipped(store: Engine) -> None:
    ledger = stored_ledger(store, D0, D0 + 3 * DAY)
    frame = ledger.frame.set_index(["day_ts", "channel"]).to_dict("index")
    radio = frame[(D0, "radio")]
    assert radio["publisher_minutes"] == 120
    assert radio["listener_minutes"] == 2 + 10 + 1 + 1
    assert radio["listener_minutes_unrounded"] == pytest.approx(70 / 60 + 10 + 0.5)
    talk = frame[(D0 + DAY, "talk")]
    assert talk["publisher_minutes"] == 2
    assert talk["listener_minutes"] == 60


def test_stream_egress_ingress_minutes(store: Engine) -> None:
    ledger = stored_ledger(store, D0, D0 + 3 * DAY)
    frame = ledger.frame.set_index(["day_ts", "channel"]).to_dict("index")
    radio = frame[(D0, "radio")]
    assert radio["stream_minutes"] == pytest.approx(180)  # clipped to the window start
    assert radio["egress_minutes"] == 120
    assert radio["recording_minutes"] == 120
    assert radio["ingress_minutes"] == 30
    assert ledger.fleet_peak_egress == 2


def test_transcode_and_track_egress_minutes_by_type(store: Engine) -> None:
    """LiveKit's two meters: the room composite (60 min) and the RTMP ingress (30 min) transcode;
    the track egress (60 min) is track-egress minutes; WHIP ingress forwards media unchanged."""
    ledger = stored_ledger(store, D0, D0 + 3 * DAY, audience_product="interactive")
    frame = ledger.frame.set_index(["day_ts", "channel"]).to_dict("index")
    radio, talk = frame[(D0, "radio")], frame[(D0 + DAY, "talk")]
    assert radio["transcode_minutes"] == 60 + 30
    assert radio["track_egress_minutes"] == 60
    assert talk["ingress_minutes"] == 10
    assert talk["transcode_minutes"] == 0
    assert ledger.audience_product == "interactive"
    assert ledger.usage_summary()["audience_product"] == "interactive"


def test_traffic_from_hour_rollup_shared_by_listener_minutes(store: Engine) -> None:
    ledger = stored_ledger(store, D0, D0 + 3 * DAY)
    frame = ledger.frame.set_index(["day_ts", "channel"]).to_dict("index")
    assert frame[(D0, "radio")]["downstream_gb"] == pytest.approx(3.6)
    assert frame[(D0, "radio")]["upstream_gb"] == pytest.approx(0.36)
    assert frame[(D0 + DAY, "talk")]["downstream_gb"] == pytest.approx(1.8)
    assert ledger.totals()["downstream_gb"] == pytest.approx(5.4)


def test_peaks_per_channel_and_fleet(store: Engine) -> None:
    ledger = stored_ledger(store, D0, D0 + 3 * DAY)
    frame = ledger.frame.set_index(["day_ts", "channel"]).to_dict("index")
    assert frame[(D0, "radio")]["peak_listeners"] == 3
    assert frame[(D0, "radio")]["peak_streams"] == 1
    assert ledger.fleet_peak_listeners == 3
    assert ledger.fleet_peak_publishers == 1


@pytest.mark.slow
def test_month_scale_and_source_filter(store: Engine) -> None:
    ledger = stored_ledger(store, D0, D0 + 3 * DAY)
    assert ledger.month_scale == pytest.approx(10.0)
    assert ledger.monthly_totals()["publisher_minutes"] == pytest.approx(1220)
    other = stored_ledger(store, D0, D0 + 3 * DAY, source_id=2)
    assert other.is_empty
    assert other.frame.empty


def test_empty_store_gives_empty_ledger(db_url: str) -> None:
    engine = open_store(db_url)
    try:
        ledger = stored_ledger(engine, D0, D0 + DAY)
        assert ledger.is_empty
        assert ledger.totals()["listener_minutes"] == 0
    finally:
        engine.dispose()


def test_agora_audience_is_priced_as_configured_everywhere(store: Engine, db_url: str) -> None:
    """``[prices] audience_product`` reaches every pricing of the ledger: the Overview's card
    (ui.data.cost_per_hour) and the collector's cost metrics price Agora's audience as the Costs
    page does (they used to price Broadcast Streaming whatever was configured)."""
    from analytics.costs import estimate_cost_per_hour_usd
    from analytics.prices import load_catalogue
    from collectors.self_metrics import compute_cost_figures
    from ui import data

    # An audience past Agora's packages' included minutes: 200 listeners for 2 hours a day.
    with store.begin() as c:
        upsert(c, schema.participant_sessions, [
            _participant(f"PA_many_{day}_{n}", "RM_1", D0 + day * DAY + H, D0 + day * DAY + 3 * H)
            for day in range(3) for n in range(200)
        ])  # fmt: skip
    window = (D0, D0 + 3 * DAY)
    card: dict[str, float | None] = {}
    for product in ("broadcast", "interactive"):
        card[product], _coverage = data.cost_per_hour(db_url, *window, None, "agora", (), product)
        costs_page = estimate_cost_per_hour_usd(
            None, *window, None, model_id="agora", catalogue=load_catalogue(),
            ledger=stored_ledger(store, *window, audience_product=product),
        )  # fmt: skip
        assert card[product] == pytest.approx(costs_page)
        figures = compute_cost_figures(
            store, [], window[1], window[1] - window[0], load_catalogue(), ["agora"], product
        )
        assert figures.usd_per_hour[("agora", "all")] == pytest.approx(costs_page)
    # Audio audiences: 0.57 standard minutes a minute on Broadcast Streaming, 1 on Interactive.
    assert card["interactive"] is not None and card["broadcast"] is not None
    assert card["interactive"] > card["broadcast"]
