"""store.queries (fleet, streams, nodes, sources) and analytics.monitoring on the fixture fleet:
figures, tiers, SQL aggregation, metering."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from analytics import monitoring
from harness.fixture_store import CHANNELS, HOSTILE_NAMES, NODE_IDS, build_fixture, room_sid
from store import schema
from store.engine import make_engine, open_store
from store.queries import fleet as fleet_queries
from store.queries import nodes as node_queries
from store.queries import sources, tiers
from store.queries import streams as stream_queries
from store.queries.bind import Bind
from store.upsert import upsert

NOW_TS = int(time.time())


def stream_detail(bind: Bind, source_id: int, room_sid: str, now_ts: int) -> monitoring.StreamDetail | None:
    """A stream's drill-down as the Streams page reads it (ui.data.stream_detail)."""
    record = stream_queries.stream_record(bind, source_id, room_sid, now_ts)
    return None if record is None else monitoring.stream_detail(record)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, dict[str, Any]]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('monitoring') / 'fleet.db'}"
    facts = build_fixture(url, NOW_TS)
    engine = make_engine(url, read_only=True)
    yield engine, facts
    engine.dispose()


@pytest.mark.parametrize(
    "span_s", [60, 3600, 6 * 3600, 12 * 3600, 86_400, 3 * 86_400, 7 * 86_400, 30 * 86_400, 400 * 86_400]
)
def test_tier_keeps_series_under_the_point_limit(span_s: int) -> None:
    tier = tiers.pick_tier(NOW_TS - span_s, NOW_TS)
    assert span_s / tier.step_s <= tiers.MAX_POINTS
    expected = "raw" if span_s <= 2 * 3600 else "1m" if span_s <= 2 * 86_400 else "1h"
    assert tier.name == expected
    assert tier.step_s % max(1, tier.bucket_s) == 0  # whole rollup buckets per point


def test_headline_is_the_newest_picture(fleet: tuple[Engine, dict[str, Any]]) -> None:
    engine, facts = fleet
    with engine.connect() as connection:
        figures = fleet_queries.headline(connection, NOW_TS - 3600, NOW_TS + 1)
        only_nodes = fleet_queries.headline(connection, NOW_TS - 3600, NOW_TS + 1, source_id=2)
    assert figures.as_of_ts == facts["last_tick_ts"]
    assert figures.live_streams == facts["live_streams"]
    assert figures.listeners == facts["listeners_now"]
    assert figures.publishers == facts["publishers_now"]
    assert (figures.nodes_up, figures.nodes_total) == (facts["nodes_up"], facts["nodes_total"])
    assert figures.bytes_out_per_s == pytest.approx(facts["bytes_out_per_s"])
    assert only_nodes.live_streams == 0 and only_nodes.nodes_up == 2


def test_headline_of_an_earlier_window_is_that_window_s_last_picture(
    fleet: tuple[Engine, dict[str, Any]],
) -> None:
    engine, _facts = fleet
    yesterday_end = NOW_TS - 86_400 + 3600
    with engine.connect() as connection:
        figures = fleet_queries.headline(connection, yesterday_end - 600, yesterday_end + 30)
    assert figures.as_of_ts == yesterday_end - 60  # the last sample before the sessions ended
    assert (figures.live_streams, figures.listeners) == (len(CHANNELS), 2 * len(CHANNELS))
    assert figures.nodes_up == 0  # no node reported then


def test_listeners_by_channel_keeps_top_n_plus_other(fleet: tuple[Engine, dict[str, Any]]) -> None:
    engine, _facts = fleet
    with engine.connect() as connection:
        by_channel = monitoring.listeners_by_channel(
            fleet_queries.fleet_history_frames(connection, NOW_TS - 3600, NOW_TS + 1, top_n=3)
        )
        fleet_series = fleet_queries.fleet_series(connection, NOW_TS - 3600, NOW_TS + 1)
    assert list(dict.fromkeys(by_channel["channel"])) == [*CHANNELS[:3], monitoring.OTHER_CHANNELS]
    per_bucket = by_channel.groupby("bucket_ts")["listeners"].sum()
    totals = fleet_series.set_index("bucket_ts")["listeners"]
    assert per_bucket.to_dict() == pytest.approx(totals.to_dict())
    assert set(fleet_series["live_streams"]) == {len(CHANNELS)}


def _statements(engine: Engine) -> list[str]:
    captured: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: captured.append(args[2]))
    return captured


def test_month_view_reads_hourly_rollups_and_aggregates_in_sql(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    build_fixture(url, NOW_TS)
    engine = make_engine(url, read_only=True)
    statements = _statements(engine)
    with engine.connect() as connection:
        by_channel = monitoring.listeners_by_channel(
            fleet_queries.fleet_history_frames(connection, NOW_TS - 30 * 86_400, NOW_TS)
        )
        fleet_series = fleet_queries.fleet_series(connection, NOW_TS - 30 * 86_400, NOW_TS)
    engine.dispose()
    sql = " ".join(statements)
    assert "room_samples_1h" in sql and "GROUP BY" in sql
    assert "FROM room_samples " not in sql and "FROM room_samples_1m" not in sql
    assert len(fleet_series) <= 30 * 24
    assert len(by_channel) <= 30 * 24 * 9


def test_stream_search_is_literal_and_case_insensitive(fleet: tuple[Engine, dict[str, Any]]) -> None:
    engine, _facts = fleet
    with engine.connect() as connection:
        found = stream_queries.streams(connection, NOW_TS - 7 * 86_400, NOW_TS + 1, search="O'REILLY")
        wildcard = stream_queries.streams(connection, NOW_TS - 7 * 86_400, NOW_TS + 1, search="%")
        live_only = stream_queries.streams(connection, NOW_TS - 7 * 86_400, NOW_TS + 1, status="live")
        limited = stream_queries.streams(connection, NOW_TS - 7 * 86_400, NOW_TS + 1, limit=5)
    assert set(found.rows["room_name"]) == {HOSTILE_NAMES[0]}
    assert len(found.rows) == 2  # today's live session and yesterday's
    assert wildcard.rows.empty
    assert set(live_only.rows["status"]) == {"live"} and len(live_only.rows) == len(CHANNELS)
    assert len(limited.rows) == 5 and limited.truncated


def test_stream_detail_meters_each_connection_in_whole_minutes(fleet: tuple[Engine, dict[str, Any]]) -> None:
    engine, _facts = fleet
    with engine.connect() as connection:
        detail = stream_detail(connection, 1, room_sid(0), NOW_TS)
        missing = stream_detail(connection, 1, "RM_nope", NOW_TS)
    assert missing is None
    assert detail is not None
    assert detail.connection_minutes == 120 + 2 + 2 + 1
    assert list(detail.participants["connection_min"]) == [120, 2, 2, 1]
    assert detail.publishers == 1 and detail.participants_total == 4
    assert 95 <= detail.peak_listeners <= 105
    assert 95 <= detail.avg_listeners <= 105
    assert detail.listener_minutes == pytest.approx(
        detail.avg_listeners * (detail.until_ts - detail.started_ts) / 60
    )
    expected_gb = detail.listener_minutes * 60 * monitoring.DEFAULT_LISTENER_KBPS * 1000 / 8 / 1e9
    assert detail.downstream_gb == pytest.approx(expected_gb)
    assert list(detail.egress["status"]) == ["EGRESS_ACTIVE"]
    assert list(detail.ingress["input_type"]) == ["RTMP_INPUT"]


def test_stream_detail_measures_the_listener_bitrate_from_the_fleet(tmp_path: Path) -> None:
    """Downstream GB uses the fleet's bytes per subscribed track during the stream (here two
    nodes at 8,000 B/s per track = 64 kbps) × the stream's publishers; 128 kbps is only the
    fallback when no node sample has subscribed tracks."""
    engine = open_store(f"sqlite:///{tmp_path / 'kbps.db'}")
    start = NOW_TS - NOW_TS % 60 - 3_600
    with engine.begin() as connection:
        upsert(connection, schema.room_sessions, [{
            "source_id": 1, "room_sid": "RM_k", "room_name": "radio", "channel": "radio",
            "started_ts": start, "ended_ts": start + 1_800, "last_seen_ts": start + 1_800}])  # fmt: skip
        upsert(connection, schema.room_samples, [
            {"source_id": 1, "room_sid": "RM_k", "ts": start + 15 * i, "participants": 21, "publishers": 1,
             "listeners": 20} for i in range(120)])  # fmt: skip
        nodes = []
        for node_id, tracks in (("node-a", 30.0), ("node-b", 10.0)):
            for i in range(120):
                row: dict[str, Any] = dict.fromkeys(schema.NODE_METRICS)
                row.update(source_id=2, node_id=node_id, ts=start + 15 * i, tracks_subscribed=tracks,
                           bytes_out_per_s=8_000.0 * tracks)  # fmt: skip
                nodes.append(row)
        upsert(connection, schema.node_samples, nodes)
    with engine.connect() as connection:
        detail = stream_detail(connection, 1, "RM_k", NOW_TS)
    assert detail is not None and detail.listener_kbps_measured
    assert detail.listener_kbps == pytest.approx(64.0)
    assert detail.downstream_gb == pytest.approx(detail.listener_minutes * 60 * 8_000 / 1e9)
    with engine.begin() as connection:
        connection.execute(schema.node_samples.delete())
    with engine.connect() as connection:
        assumed = stream_detail(connection, 1, "RM_k", NOW_TS)
    assert assumed is not None and not assumed.listener_kbps_measured
    assert assumed.listener_kbps == monitoring.DEFAULT_LISTENER_KBPS


def test_nodes_table_headroom_and_rates(fleet: tuple[Engine, dict[str, Any]]) -> None:
    engine, _facts = fleet
    with engine.connect() as connection:
        nodes = monitoring.nodes_table(
            node_queries.node_state(connection, NOW_TS - 3600 * 2, NOW_TS + 1)
        ).set_index("node_id")
        series = node_queries.node_series(connection, 2, "node-a", NOW_TS - 86_400, NOW_TS + 1)
    assert set(nodes.index) == set(NODE_IDS)
    assert not nodes.loc["node-c", "up"] and nodes.loc["node-c", "cpu_status"] == "down"
    node_b = nodes.loc["node-b"]
    assert node_b["headroom_70_pp"] == pytest.approx(70 - node_b["cpu_peak_pct"])
    assert node_b["headroom_80_pp"] == pytest.approx(80 - node_b["cpu_peak_pct"])
    expected_extra = node_b["participants"] * 70 / node_b["cpu_pct"] - node_b["participants"]
    assert node_b["participants_to_70"] == pytest.approx(round(expected_extra))
    assert node_b["api_error_pct"] == pytest.approx(1.0)
    assert node_b["out_mbps"] == pytest.approx(48.0)
    assert 0 < len(series) <= tiers.MAX_POINTS
    assert {"cpu_pct", "cpu_pct_max", "rtt_p95_ms", "quality_score"} <= set(series.columns)


def test_empty_store_gives_empty_answers(tmp_path: Path) -> None:
    from store.engine import open_store

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    open_store(url).dispose()
    engine = make_engine(url, read_only=True)
    with engine.connect() as connection:
        assert not sources.has_any_data(connection)
        assert fleet_queries.headline(connection, NOW_TS - 3600, NOW_TS).live_streams == 0
        assert monitoring.listeners_by_channel(
            fleet_queries.fleet_history_frames(connection, NOW_TS - 3600, NOW_TS)
        ).empty
        assert fleet_queries.busiest_channels(connection, NOW_TS).empty
        assert stream_queries.streams(connection, NOW_TS - 3600, NOW_TS).rows.empty
        assert monitoring.nodes_table(node_queries.node_state(connection, NOW_TS - 3600, NOW_TS)).empty
        assert monitoring.failing_sources(sources.list_sources(connection)).empty
    engine.dispose()


@pytest.mark.postgres
def test_the_same_queries_run_on_postgresql(pg_url: str) -> None:
    facts = build_fixture(pg_url, NOW_TS)
    engine = make_engine(pg_url, read_only=True)
    try:
        with engine.connect() as connection:
            figures = fleet_queries.headline(connection, NOW_TS - 3600, NOW_TS + 1)
            assert figures.listeners == facts["listeners_now"]
            assert not monitoring.listeners_by_channel(
                fleet_queries.fleet_history_frames(connection, NOW_TS - 30 * 86_400, NOW_TS + 1)
            ).empty
            detail = stream_detail(connection, 1, room_sid(0), NOW_TS)
            assert detail is not None and detail.connection_minutes == 125
            assert (
                len(
                    stream_queries.streams(
                        connection, NOW_TS - 86_400 * 2, NOW_TS + 1, search="o'reilly"
                    ).rows
                )
                == 2
            )
            assert (
                len(monitoring.nodes_table(node_queries.node_state(connection, NOW_TS - 7200, NOW_TS + 1)))
                == 3
            )
    finally:
        engine.dispose()


def test_an_end_time_after_now_is_not_an_end(fleet: tuple[Engine, dict[str, Any]]) -> None:
    engine, _facts = fleet
    midway_ts = NOW_TS - 86_400 + 1800  # yesterday's sessions ran from -24 h to -23 h
    with engine.connect() as connection:
        listing = stream_queries.streams(connection, midway_ts - 3600, midway_ts, now_ts=midway_ts)
        detail = stream_detail(connection, 1, room_sid(0, live=False), midway_ts)
    assert len(listing.rows) == len(CHANNELS)
    assert set(listing.rows["status"]) == {"live"} and listing.rows["ended_ts"].isna().all()
    assert detail is not None and detail.status == "live" and detail.ended_ts is None


def test_a_live_session_never_lasts_beyond_now(fleet: tuple[Engine, dict[str, Any]]) -> None:
    engine, facts = fleet
    earlier_ts = facts["last_tick_ts"] - 1800  # last_seen_ts is after this "now"
    with engine.connect() as connection:
        listing = stream_queries.streams(
            connection, earlier_ts - 3600, earlier_ts, status="live", now_ts=earlier_ts
        )
        detail = stream_detail(connection, 1, room_sid(0), earlier_ts)
    started_ts = int(listing.rows["started_ts"].iloc[0])
    assert set(listing.rows["duration_s"]) == {earlier_ts - started_ts}
    assert detail is not None and detail.until_ts == earlier_ts


def test_stream_detail_lists_only_its_own_sessions_egress_and_ingress(tmp_path: Path) -> None:
    """Finding 9 of issue 14: a 9-minute-old stream listed 15 egress jobs of earlier broadcasts
    of the same room name (one failed); only the jobs of this room session, or — without a
    room sid — that ran during it, belong to it."""
    engine = open_store(f"sqlite:///{tmp_path / 'egress.db'}")
    now = 1_795_176_000
    yesterday = now - 86_400
    with engine.begin() as connection:
        upsert(connection, schema.room_sessions, [
            {"source_id": 1, "room_sid": "RM_old", "room_name": "radio", "channel": "radio",
             "started_ts": yesterday, "ended_ts": yesterday + 3600, "last_seen_ts": yesterday + 3600},
            {"source_id": 1, "room_sid": "RM_now", "room_name": "radio", "channel": "radio",
             "started_ts": now - 540, "ended_ts": None, "last_seen_ts": now},
        ])  # fmt: skip
        upsert(connection, schema.egress_status, [
            {"source_id": 1, "egress_id": "EG_old_failed", "room_sid": "RM_old", "room_name": "radio",
             "kind": "room_composite", "status": "EGRESS_FAILED", "started_ts": yesterday + 5,
             "ended_ts": yesterday + 60, "last_seen_ts": yesterday + 60, "error": "upload failed"},
            {"source_id": 1, "egress_id": "EG_old", "room_sid": None, "room_name": "radio", "kind": "track",
             "status": "EGRESS_COMPLETE", "started_ts": yesterday + 100, "ended_ts": yesterday + 3600,
             "last_seen_ts": yesterday + 3600, "error": None},
            {"source_id": 1, "egress_id": "EG_now", "room_sid": "RM_now", "room_name": "radio",
             "kind": "room_composite", "status": "EGRESS_ACTIVE", "started_ts": now - 537, "ended_ts": None,
             "last_seen_ts": now, "error": None},
        ])  # fmt: skip
        upsert(connection, schema.ingress_status, [
            {"source_id": 1, "ingress_id": "IN_radio", "name": "OBS", "room_name": "radio", "input_type": "RTMP_INPUT",
             "status": "ENDPOINT_INACTIVE", "started_ts": yesterday, "ended_ts": yesterday + 3600,
             "last_seen_ts": now},
        ])  # fmt: skip
    with engine.connect() as connection:
        detail = stream_detail(connection, 1, "RM_now", now)
        old = stream_detail(connection, 1, "RM_old", now)
    engine.dispose()
    assert detail is not None and old is not None
    assert list(detail.egress["egress_id"]) == ["EG_now"]
    assert list(old.egress["egress_id"]) == ["EG_old_failed", "EG_old"]
    assert detail.ingress.empty  # the channel's RTMP ingress last published yesterday
    assert list(old.ingress["ingress_id"]) == ["IN_radio"]
