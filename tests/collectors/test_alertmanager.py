"""Live alerts through the real Alertmanager (Debian prometheus-alertmanager): rules fire in the
store, castmeter posts them (API v2), Alertmanager groups them and delivers to a local receiver;
a silence (amtool) and an inhibition suppress; resolution arrives; with Alertmanager down the
exchange is retried and reported while collection goes on, and delivered once it is back."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, insert, select

from analytics.alerts.rules import Rule, RuleSet
from collectors import self_metrics
from collectors.alerting import AlertEvaluator, Dispatcher
from collectors.alertmanager import AlertmanagerForwarder, build_alerts
from collectors.runner import Collector
from core.settings import Settings
from harness.alertmanager import (
    AlertmanagerHandle,
    alertmanager_path,
    amtool_path,
    start_alertmanager,
)
from harness.realparts import require
from store import schema
from store.engine import open_store
from store.queries.alerts import alertmanager_status, alertmanager_view
from tests.collectors.test_collect_simulator import _source, fleet

pytestmark = pytest.mark.slow

RULES = RuleSet(
    (
        Rule("HighCPU", "cpu_pct", ">", 80.0, severity="warning", labels={"team": "ops"}),
        Rule("HighMemory", "memory_pct", ">", 90.0, severity="critical"),
    ),
    evaluation_interval_s=1,
    lookback_s=30,
)
DASHBOARD = "https://castmeter.example.org"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_store(f"sqlite:///{tmp_path / 'castmeter.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def alertmanager(tmp_path: Path, httpserver: HTTPServer) -> Iterator[AlertmanagerHandle]:
    require(alertmanager_path() is not None, "prometheus-alertmanager (apt package prometheus-alertmanager)")
    require(amtool_path() is not None, "amtool (apt package prometheus-alertmanager)")
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    config = {
        "route": {
            "receiver": "castmeter-test",
            "group_by": ["alertname"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "castmeter-test",
                "webhook_configs": [{"url": httpserver.url_for("/hook"), "send_resolved": True}],
            }
        ],
        # A critical alert on a node mutes that node's warnings.
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity="warning"'],
                "equal": ["instance"],
            }
        ],
    }
    handle = start_alertmanager(tmp_path / "alertmanager", config)
    try:
        yield handle
    finally:
        handle.stop()
        print((tmp_path / "alertmanager" / "alertmanager.log").read_text(errors="replace")[-3000:])


def add_sample(engine: Engine, node: str, ts: int, cpu: float, memory: float = 40.0) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(schema.node_samples),
            [{"source_id": 1, "node_id": node, "ts": ts, "cpu_pct": cpu, "memory_pct": memory}],
        )


def deliveries(httpserver: HTTPServer) -> list[dict[str, Any]]:
    """Every notification Alertmanager sent to the receiver, oldest first."""
    return [json.loads(request.get_data()) for request, _response in httpserver.log]


def delivered(httpserver: HTTPServer, instance: str, status: str) -> list[dict[str, Any]]:
    return [
        alert
        for payload in deliveries(httpserver)
        for alert in payload["alerts"]
        if alert["labels"].get("instance") == instance and alert["status"] == status
    ]


def wait_for(what: str, check: Callable[[], bool], step: Callable[[], None], timeout_s: float = 60) -> None:
    """Run ``step`` (one evaluation and exchange) until ``check`` holds."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        step()
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout_s:.0f} s: {what}")


def view(engine: Engine, rule: str, target: str) -> dict[str, Any] | None:
    with engine.connect() as connection:
        frame = alertmanager_view(connection)
    rows = frame[(frame["rule"] == rule) & (frame["target"] == target)]
    return None if rows.empty else dict(rows.iloc[0])


def status(engine: Engine) -> dict[str, Any]:
    with engine.connect() as connection:
        frame = alertmanager_status(connection)
    assert len(frame) == 1
    return dict(frame.iloc[0])


def counter(engine: Engine, name: str) -> int:
    table = schema.collector_counters
    with engine.connect() as connection:
        value = connection.execute(select(table.c.value).where(table.c.name == name)).scalar()
    return int(value or 0)


def test_alerts_through_the_real_alertmanager(
    engine: Engine, alertmanager: AlertmanagerHandle, httpserver: HTTPServer
) -> None:
    settings = Settings.model_validate(
        {
            "alerts": {
                "dashboard_url": DASHBOARD,
                "alertmanager": {
                    "urls": [alertmanager.url],
                    "resend_interval_s": 1,
                    "attempts": 2,
                    "max_backoff_s": 0.2,
                    "timeout_s": 2,
                    "labels": {"cluster": "test"},
                },
            }
        }
    )
    evaluator = AlertEvaluator(engine, RULES, dispatcher=Dispatcher(engine, []))
    forwarder = AlertmanagerForwarder(engine, RULES, settings.alerts)

    def step() -> None:
        now = int(time.time())
        evaluator.evaluate(now)
        forwarder(engine, now)
        assert forwarder.wait_idle(30)

    try:
        # 1. Two nodes over the CPU threshold: one notification for the HighCPU group.
        start = int(time.time())
        for node in ("node-a", "node-b"):
            add_sample(engine, node, start, cpu=95.0)
        add_sample(engine, "node-x", start, cpu=20.0)
        wait_for(
            "a grouped HighCPU notification for node-a and node-b",
            lambda: any(
                payload["groupLabels"] == {"alertname": "HighCPU"}
                and {a["labels"]["instance"] for a in payload["alerts"]} == {"node-a", "node-b"}
                for payload in deliveries(httpserver)
            ),
            step,
        )
        sent = delivered(httpserver, "node-a", "firing")[0]
        assert sent["labels"] == {
            "alertname": "HighCPU", "severity": "warning", "team": "ops", "instance": "node-a", "cluster": "test",
        }  # fmt: skip
        assert sent["generatorURL"] == f"{DASHBOARD}/alerts?rule=HighCPU&target=node-a"
        assert sent["annotations"]["summary"] == "CPU > 80 % on node-a"
        assert sent["annotations"]["value"] == "95 %"
        assert not delivered(httpserver, "node-x", "firing")
        assert status(engine)["status"] == "ok"
        assert view(engine, "HighCPU", "node-a")["state"] == "active"  # type: ignore[index]

        # 2. A silence (amtool) on node-c: it fires in castmeter, Alertmanager holds it back.
        silence_id = alertmanager.silence(
            "alertname=HighCPU", "instance=node-c", author="alice", comment="maintenance window"
        )
        add_sample(engine, "node-c", int(time.time()), cpu=97.0)
        wait_for(
            "node-c silenced in Alertmanager's view",
            lambda: (view(engine, "HighCPU", "node-c") or {}).get("silenced_by") == silence_id,
            step,
        )
        silenced = view(engine, "HighCPU", "node-c")
        assert silenced is not None and silenced["state"] == "suppressed"
        assert "alice" in silenced["note"] and "maintenance window" in silenced["note"]

        # 3. A critical alert on node-d inhibits its warning.
        add_sample(engine, "node-d", int(time.time()), cpu=96.0, memory=97.0)
        wait_for(
            "HighMemory on node-d delivered and HighCPU on node-d inhibited",
            lambda: (
                bool(delivered(httpserver, "node-d", "firing"))
                and bool((view(engine, "HighCPU", "node-d") or {}).get("inhibited_by"))
            ),
            step,
        )
        assert {a["labels"]["alertname"] for a in delivered(httpserver, "node-d", "firing")} == {"HighMemory"}
        # Give Alertmanager a few group intervals: the silenced and inhibited alerts stay quiet.
        time.sleep(3)
        step()
        assert not delivered(httpserver, "node-c", "firing")
        assert {a["labels"]["alertname"] for a in delivered(httpserver, "node-d", "firing")} == {"HighMemory"}

        # 4. node-a recovers: castmeter resolves it with endsAt, the receiver hears "resolved".
        resolved_at = int(time.time())
        add_sample(engine, "node-a", resolved_at, cpu=20.0)
        wait_for(
            "node-a resolved at the receiver", lambda: bool(delivered(httpserver, "node-a", "resolved")), step
        )
        ends_at = delivered(httpserver, "node-a", "resolved")[0]["endsAt"]
        assert ends_at.startswith(time.strftime("%Y-%m-%dT", time.gmtime(resolved_at)))

        # 5. Alertmanager down: retried, reported, collection goes on; delivered once back.
        failed_before = counter(engine, "alerts.notify.alertmanager.failed")
        alertmanager.stop()
        add_sample(engine, "node-e", int(time.time()), cpu=99.0)

        def evaluate(_engine: Engine, now_ts: int) -> None:
            evaluator.evaluate(now_ts)

        async def collect_while_down() -> dict[str, str]:
            async with fleet("dj-radio") as server:
                collector = Collector(
                    Settings(livekit=[_source(server.api_url)]),
                    engine,
                    hooks=[evaluate, forwarder],
                )
                report = await collector.tick(force=True)
                return report.polled

        time.sleep(1.1)  # the tick's evaluation is at a grid second after step 4's (1 s interval)
        assert asyncio.run(asyncio.wait_for(collect_while_down(), 120)) == {"sim": "ok"}
        assert forwarder.wait_idle(60)
        down = status(engine)
        assert down["status"] == "failing" and down["consecutive_failures"] >= 1
        assert "ConnectionError" in down["last_error"]
        assert counter(engine, "alerts.notify.alertmanager.failed") > failed_before
        assert (
            self_metrics.REGISTRY.get_sample_value(
                "castmeter_alertmanager_up", {"alertmanager": alertmanager.url}
            )
            == 0
        )
        with engine.connect() as connection:
            assert (
                connection.execute(select(schema.room_sessions.c.room_sid)).first() is not None
            )  # collected

        alertmanager.start()
        wait_for(
            "node-e delivered once Alertmanager is back",
            lambda: bool(delivered(httpserver, "node-e", "firing")),
            step,
        )
        assert status(engine)["status"] == "ok"
    finally:
        forwarder.close()
        evaluator.close()


def test_alert_bodies_follow_api_v2() -> None:
    """The POST body by hand: a firing alert valid for 4 resend intervals, a resolved one
    ending when it resolved, labels that never let external labels override the alert's."""
    rows: list[dict[str, Any]] = [
        {"rule": "HighCPU", "target": "n1", "severity": "warning", "value": 91.25, "fired_ts": 1_800_000_000,
         "resolved_ts": None},
        {"rule": "HighCPU", "target": "n2", "severity": "warning", "value": 50.0, "fired_ts": 1_799_999_000,
         "resolved_ts": 1_799_999_900},
        {"rule": "Removed", "target": "n3", "severity": "critical", "value": None, "fired_ts": 1_799_990_000,
         "resolved_ts": 1_799_999_990},
    ]  # fmt: skip
    alerts = build_alerts(
        rows, RULES, now_ts=1_800_000_060, valid_for_s=240, dashboard_url=DASHBOARD,
        extra_labels={"cluster": "eu", "team": "not-this"},
    )  # fmt: skip
    assert [alert.body() for alert in alerts] == [
        {
            "labels": {"alertname": "HighCPU", "severity": "warning", "team": "ops", "instance": "n1", "cluster": "eu"},
            "annotations": {"summary": "CPU > 80 % on n1", "description": "CPU > 80 % for 0s", "value": "91.25 %"},
            "startsAt": "2027-01-15T08:00:00.000Z",
            "endsAt": "2027-01-15T08:05:00.000Z",
            "generatorURL": f"{DASHBOARD}/alerts?rule=HighCPU&target=n1",
        },
        {
            "labels": {"alertname": "HighCPU", "severity": "warning", "team": "ops", "instance": "n2", "cluster": "eu"},
            "annotations": {"summary": "CPU > 80 % on n2", "description": "CPU > 80 % for 0s", "value": "50 %"},
            "startsAt": "2027-01-15T07:43:20.000Z",
            "endsAt": "2027-01-15T07:58:20.000Z",
            "generatorURL": f"{DASHBOARD}/alerts?rule=HighCPU&target=n2",
        },
        {
            "labels": {"alertname": "Removed", "severity": "critical", "target": "n3", "cluster": "eu", "team": "not-this"},
            "annotations": {"summary": "Removed on n3"},
            "startsAt": "2027-01-15T05:13:20.000Z",
            "endsAt": "2027-01-15T07:59:50.000Z",
            "generatorURL": f"{DASHBOARD}/alerts?rule=Removed&target=n3",
        },
    ]  # fmt: skip
