"""castmeter's own metrics (collectors/self_metrics.py): what a tick, the spool, webhooks,
alerting and billing report, and cost series that are the cost engine's own figures."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from analytics.costs import MODELS, estimate_cost_per_hour_usd
from analytics.prices import load_catalogue
from collectors import self_metrics
from collectors.runner import Collector
from collectors.spool import Spool
from core.settings import LiveKitSource, Settings
from harness.realparts import free_port
from store import schema
from store.engine import open_store
from store.upsert import upsert
from tests.analytics.stored import stored_ledger

HOUR_S = 3600
END_TS = 1_790_000_000 - 1_790_000_000 % HOUR_S  # 2026-09-21 14:00 UTC, a whole hour
START_TS = END_TS - HOUR_S


def value(name: str, **labels: str) -> float:
    found = self_metrics.REGISTRY.get_sample_value(name, labels)
    return 0.0 if found is None else float(found)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return open_store(f"sqlite:///{tmp_path / 'metrics.db'}")


def _known_hour(engine: Engine) -> None:
    """Source "radio" (id 1): one room live all hour, its DJ connected all hour, and ten
    listeners connected 30 minutes each inside the hour; source "tours" (id 2): one room,
    its guide connected the last 20 minutes and 3 listeners for the last 10 minutes."""
    with engine.begin() as connection:
        upsert(connection, schema.sources, [
            {"id": 1, "name": "radio", "kind": "livekit", "url": "http://radio", "created_ts": START_TS},
            {"id": 2, "name": "tours", "kind": "livekit", "url": "http://tours", "created_ts": START_TS},
        ])  # fmt: skip
        upsert(connection, schema.room_sessions, [
            {"source_id": 1, "room_sid": "RM_radio", "room_name": "radio", "channel": "radio",
             "started_ts": START_TS - 600, "ended_ts": None, "last_seen_ts": END_TS + 30,
             "max_participants": 11, "max_listeners": 10},
            {"source_id": 2, "room_sid": "RM_tour", "room_name": "tour", "channel": "tour",
             "started_ts": END_TS - 1200, "ended_ts": None, "last_seen_ts": END_TS + 30,
             "max_participants": 4, "max_listeners": 3},
        ])  # fmt: skip
        rows = [
            {"source_id": 1, "participant_sid": "PA_dj", "room_sid": "RM_radio", "identity": "dj",
             "is_publisher": True, "joined_ts": START_TS - 600, "left_ts": None, "last_seen_ts": END_TS + 30},
            {"source_id": 2, "participant_sid": "PA_guide", "room_sid": "RM_tour", "identity": "guide",
             "is_publisher": True, "joined_ts": END_TS - 1200, "left_ts": None, "last_seen_ts": END_TS + 30},
        ]  # fmt: skip
        rows += [
            {"source_id": 1, "participant_sid": f"PA_l{i}", "room_sid": "RM_radio", "identity": f"l{i}",
             "is_publisher": False, "joined_ts": START_TS + 60 * i, "left_ts": START_TS + 60 * i + 1800,
             "last_seen_ts": START_TS + 60 * i + 1800}
            for i in range(10)
        ]  # fmt: skip
        rows += [
            {"source_id": 2, "participant_sid": f"PA_t{i}", "room_sid": "RM_tour", "identity": f"t{i}",
             "is_publisher": False, "joined_ts": END_TS - 600, "left_ts": END_TS, "last_seen_ts": END_TS}
            for i in range(3)
        ]  # fmt: skip
        upsert(connection, schema.participant_sessions, rows)


@pytest.mark.slow
def test_cost_series_are_the_cost_engines_figures_with_hand_counted_usage(engine: Engine) -> None:
    _known_hour(engine)
    refresher = self_metrics.CostRefresher(engine, Settings(), [("radio", 1), ("tours", 2)])
    refresher.refresh(end_ts=END_TS)
    # Usage counted by hand: 10 listeners × 30 min; the DJ 60 min (inside the window);
    # 3 listeners × 10 min; the guide 20 min.
    assert value("castmeter_listener_hours", source="radio") == pytest.approx(5.0)
    assert value("castmeter_connection_minutes", source="radio", role="listener") == pytest.approx(300)
    assert value("castmeter_connection_minutes", source="radio", role="publisher") == pytest.approx(60)
    assert value("castmeter_listener_hours", source="tours") == pytest.approx(0.5)
    assert value("castmeter_connection_minutes", source="tours", role="publisher") == pytest.approx(20)
    assert value("castmeter_listener_hours", source="all") == pytest.approx(5.5)
    assert value("castmeter_connection_minutes", source="all", role="listener") == pytest.approx(330)
    assert value("castmeter_cost_window_seconds") == HOUR_S
    assert value("castmeter_cost_window_end_timestamp_seconds") == END_TS
    # Every model, every source: exactly the Overview's "cost per hour" for the same window.
    catalogue = load_catalogue()
    for model in MODELS:
        for name, source_id in (("radio", 1), ("tours", 2), ("all", None)):
            ledger = stored_ledger(engine, START_TS, END_TS, source_id)
            expected = estimate_cost_per_hour_usd(
                engine, START_TS, END_TS, source_id, model_id=model, catalogue=catalogue, ledger=ledger
            )
            assert expected is not None  # some models are free at this volume (free tiers)
            assert value("castmeter_cost_usd_per_hour", model=model, source=name) == pytest.approx(
                expected, rel=1e-12
            ), (model, name)
    assert value("castmeter_cost_current_model", model="livekit_cloud") == 1
    assert value("castmeter_cost_current_model", model="agora") == 0


def test_a_tick_reports_source_health_poll_time_rows_and_the_spool(engine: Engine, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: every poll fails
    settings = Settings(
        livekit=[LiveKitSource(name="metrics-dead", url=dead, api_key="k", api_secret="s" * 32)]  # type: ignore[arg-type]
    )
    spool = Spool(tmp_path / "spool", max_batches=7, max_bytes=10_000)
    collector = Collector(settings, engine, spool=spool)
    ticks_before = value("castmeter_tick_duration_seconds_count")
    polls_before = value(
        "castmeter_source_poll_duration_seconds_count", source="metrics-dead", kind="livekit"
    )
    for _ in range(2):
        asyncio.run(collector.tick(force=True))
    assert value("castmeter_tick_duration_seconds_count") == ticks_before + 2
    assert (
        value("castmeter_source_poll_duration_seconds_count", source="metrics-dead", kind="livekit")
        == polls_before + 2
    )
    assert value("castmeter_source_up", source="metrics-dead", kind="livekit") == 0
    assert value("castmeter_source_consecutive_failures", source="metrics-dead", kind="livekit") == 2
    assert (
        value("castmeter_source_last_success_timestamp_seconds", source="metrics-dead", kind="livekit") == 0
    )
    assert value("castmeter_spool_max_batches") == 7
    assert value("castmeter_spool_max_bytes") == 10_000
    assert value("castmeter_spool_batches") == 0
    # A batch that does not fit is counted as overflow, by kind and rows.
    overflow_before = value("castmeter_spool_overflow_batches_total", kind="rooms")
    rows_before = value("castmeter_spool_overflow_rows_total", kind="rooms")
    assert not spool.push("rooms:1", "rooms", END_TS, 42, {"blob": "x" * 20_000})
    assert value("castmeter_spool_overflow_batches_total", kind="rooms") == overflow_before + 1
    assert value("castmeter_spool_overflow_rows_total", kind="rooms") == rows_before + 42


def test_rows_written_webhook_refusals_notifications_and_billing() -> None:
    before = value("castmeter_rows_written_total", source="sim", table="participants")
    self_metrics.observe_tick(0.5, END_TS, {"sim.participants": 12, "sim.rooms": 3}, {}, [], None)
    assert value("castmeter_rows_written_total", source="sim", table="participants") == before + 12
    refused = value("castmeter_webhook_refusals_total", reason="forged")
    self_metrics.count_webhook_refusal("forged")
    assert value("castmeter_webhook_refusals_total", reason="forged") == refused + 1
    sent = value("castmeter_alert_notifications_total", receiver="slack", outcome="sent")
    self_metrics.count_alert_notification("slack", "sent")
    assert value("castmeter_alert_notifications_total", receiver="slack", outcome="sent") == sent + 1
    self_metrics.observe_alert_evaluation(True, [("firing", "critical", 2), ("pending", "warning", 1)])
    assert value("castmeter_alerts_active", state="firing", severity="critical") == 2
    self_metrics.observe_alert_evaluation(True, [("pending", "warning", 1)])
    assert value("castmeter_alerts_active", state="firing", severity="critical") == 0  # resolved: 0
    self_metrics.observe_billing(
        {"started_ts": END_TS, "providers": {"agora": {"status": "partial", "rows": 5}}}
    )
    assert value("castmeter_billing_fetch_status", provider="agora", status="partial") == 1
    assert value("castmeter_billing_fetch_status", provider="agora", status="ok") == 0
    assert value("castmeter_billing_last_fetch_timestamp_seconds", provider="agora") == END_TS


@pytest.mark.slow
def test_the_endpoint_serves_the_registry_and_stops(engine: Engine) -> None:
    port = free_port()
    settings = Settings.model_validate({"metrics": {"port": port, "cost_refresh_s": 3600}})
    server = self_metrics.serve_metrics(settings, engine, [])
    assert server is not None
    try:
        with urllib.request.urlopen(server.url, timeout=10) as response:
            text = response.read().decode()
        names = {family.name for family in text_string_to_metric_families(text)}
        assert {"castmeter_tick_duration_seconds", "castmeter_source_up", "process_resident_memory_bytes",
                "castmeter_build_info"} <= names  # fmt: skip
    finally:
        server.stop()
    disabled = Settings.model_validate({"metrics": {"enabled": False}})
    assert self_metrics.serve_metrics(disabled, engine, []) is None


@pytest.mark.slow
def test_alert_evaluations_count_only_the_passes_that_evaluated(engine: Engine) -> None:
    """The example rules evaluate every 15 s; ticks in between are skipped, not evaluations."""
    from collectors.commands.common import alert_hooks

    hooks, close = alert_hooks(Settings(), engine)
    try:
        counted = []
        before = value("castmeter_alert_evaluations_total", outcome="ok")
        for now_ts in (1_800_000_000, 1_800_000_005, 1_800_000_015, 1_800_000_016, 1_800_000_030):
            hooks[0](engine, now_ts)
            counted.append(value("castmeter_alert_evaluations_total", outcome="ok") - before)
        assert counted == [1, 1, 2, 2, 3]
    finally:
        close()


def test_a_refused_webhook_is_counted_by_reason(engine: Engine) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from collectors.webhooks import make_webhook_app

    app = make_webhook_app(engine, {"key": "s" * 32}, 1_048_576, 1)
    before = value("castmeter_webhook_refusals_total", reason="unsigned")

    async def post_unsigned() -> int:
        async with TestClient(TestServer(app)) as client:
            response = await client.post(
                "/", data=b'{"event": "room_started"}', headers={"Content-Type": "application/webhook+json"}
            )
            return response.status

    assert asyncio.run(post_unsigned()) == 401
    assert value("castmeter_webhook_refusals_total", reason="unsigned") == before + 1
