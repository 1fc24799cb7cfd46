"""Live alerting: state machine over ticks, stored state/history, and webhook delivery to a
local HTTP receiver including its failures (retries, counted, never raised)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, insert, select
from werkzeug import Request, Response

from analytics.alerts.rules import Rule, RuleSet
from analytics.alerts.state import Transition
from collectors.alerting import AlertEvaluator, Dispatcher, SlackNotifier, WebhookNotifier
from store import schema
from store.engine import open_store

START = 1_800_000_000


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_store(f"sqlite:///{tmp_path / 'castmeter.db'}")
    yield engine
    engine.dispose()


def add_samples(engine: Engine, node: str, cpu_by_ts: dict[int, float]) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(schema.node_samples),
            [{"source_id": 1, "node_id": node, "ts": ts, "cpu_pct": cpu} for ts, cpu in cpu_by_ts.items()],
        )


def counters(engine: Engine) -> dict[str, int]:
    table = schema.collector_counters
    with engine.connect() as connection:
        return {name: int(value) for name, value in connection.execute(select(table.c.name, table.c.value))}


RULES = RuleSet(
    (
        Rule(
            "HighCPU",
            "cpu_pct",
            ">",
            80.0,
            recovery=70.0,
            for_s=30,
            keep_firing_for_s=15,
            labels={"team": "ops"},
        ),
    ),
    evaluation_interval_s=15,
    lookback_s=30,
)


def test_transitions_state_and_history(engine: Engine) -> None:
    cpu = [50, 90, 90, 90, 75, 60, 60, 60]
    add_samples(engine, "ND_a", {START + 15 * k: c for k, c in enumerate(cpu)})
    evaluator = AlertEvaluator(engine, RULES, [])
    seen = []
    for k in range(len(cpu)):
        seen += [(k, t.from_state, t.to_state) for t in evaluator.evaluate(START + 15 * k)]
    # pending at 1, firing at 3 (30 s), held by hysteresis at 4 (75 > 70), kept 15 s at 5,
    # resolved at 6.
    assert seen == [(1, "normal", "pending"), (3, "pending", "firing"), (6, "firing", "resolved")]
    with engine.connect() as connection:
        state = connection.execute(select(schema.alert_state)).mappings().one()
        history = (
            connection.execute(select(schema.alert_history).order_by(schema.alert_history.c.ts))
            .mappings()
            .all()
        )
    assert state["state"] == "normal" and state["last_value"] == 60
    assert [h["to_state"] for h in history] == ["pending", "firing", "resolved"]
    assert history[-1]["fired_ts"] == START + 45
    # Re-running a tick (a restarted collector) adds nothing.
    assert evaluator.evaluate(START + 15 * 7) == []


def test_no_data_resolves_and_missing_target_is_resolved(engine: Engine) -> None:
    add_samples(engine, "ND_b", {START: 95.0, START + 15: 95.0, START + 30: 95.0})
    evaluator = AlertEvaluator(engine, RuleSet((Rule("Hot", "cpu_pct", ">", 80.0),), 15, 30), [])
    assert [t.to_state for t in evaluator.evaluate(START + 30)] == ["firing"]
    assert evaluator.evaluate(START + 45) == []  # 15 s old sample still counts
    resolved = evaluator.evaluate(START + 75)  # 45 s without samples: no data
    assert [(t.target, t.to_state, t.value) for t in resolved] == [("ND_b", "resolved", None)]


def _transition(to_state: str = "firing") -> Transition:
    return Transition(
        "HighCPU",
        "ND_a",
        "pending",
        to_state,
        START,
        91.5,
        80.0,
        "warning",
        "cpu_pct",
        ">",
        recovery=70.0,
        fired_ts=START - 60,
        labels={"team": "ops"},
    )


def test_webhook_and_slack_delivery(httpserver: HTTPServer, engine: Engine) -> None:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    httpserver.expect_request("/slack", method="POST").respond_with_data("ok")
    dispatcher = Dispatcher(
        engine, [WebhookNotifier(httpserver.url_for("/hook")), SlackNotifier(httpserver.url_for("/slack"))]
    )
    dispatcher.submit(_transition("firing"))
    dispatcher.submit(_transition("resolved"))
    assert dispatcher.wait_idle(10)
    dispatcher.close()
    bodies = {
        path: [json.loads(r.get_data()) for r, _ in httpserver.log if r.path == path]
        for path in ("/hook", "/slack")
    }
    assert [b["status"] for b in bodies["/hook"]] == ["firing", "resolved"]
    first = bodies["/hook"][0]
    assert (first["rule"], first["target"], first["value"], first["labels"]) == (
        "HighCPU",
        "ND_a",
        91.5,
        {"team": "ops"},
    )
    assert bodies["/hook"][1]["duration_s"] == 60
    assert "FIRING HighCPU on ND_a" in bodies["/slack"][0]["text"]
    assert "RESOLVED HighCPU on ND_a after 1m" in bodies["/slack"][1]["text"]
    assert counters(engine) == {"alerts.notify.webhook.sent": 2, "alerts.notify.slack.sent": 2}


def test_failing_receiver_is_retried_then_counted_never_raised(
    httpserver: HTTPServer, engine: Engine
) -> None:
    calls: list[float] = []

    def flaky(request: Request) -> Response:
        calls.append(time.monotonic())
        return Response("busy", status=503) if len(calls) < 3 else Response("ok")

    httpserver.expect_request("/flaky").respond_with_handler(flaky)
    httpserver.expect_request("/broken").respond_with_data("nope", status=500)
    httpserver.expect_request("/gone").respond_with_data("no such hook", status=404)
    dispatcher = Dispatcher(
        engine,
        [
            WebhookNotifier(httpserver.url_for("/flaky"), name="flaky"),
            WebhookNotifier(httpserver.url_for("/broken"), name="broken"),
            WebhookNotifier(httpserver.url_for("/gone"), name="gone"),
            WebhookNotifier("http://127.0.0.1:9/closed", timeout_s=1, name="closed"),
        ],
        attempts=3,
        backoff_s=0.01,
        max_backoff_s=0.05,
    )
    started = time.monotonic()
    dispatcher.submit(_transition())  # returns at once: delivery is in the background
    assert time.monotonic() - started < 0.5
    assert dispatcher.wait_idle(30)
    dispatcher.close()
    assert len(calls) == 3  # two 503s retried, then delivered
    broken_calls = sum(1 for r, _ in httpserver.log if r.path == "/broken")
    gone_calls = sum(1 for r, _ in httpserver.log if r.path == "/gone")
    assert broken_calls == 3 and gone_calls == 1  # 4xx is not retried
    assert counters(engine) == {
        "alerts.notify.flaky.sent": 1,
        "alerts.notify.broken.failed": 1,
        "alerts.notify.gone.failed": 1,
        "alerts.notify.closed.failed": 1,
    }


def test_full_queue_drops_and_counts(engine: Engine) -> None:
    class Slow:
        name = "slow"

        def send(self, transition: Transition) -> None:
            time.sleep(0.2)

    dispatcher = Dispatcher(engine, [Slow()], queue_size=1)
    for _ in range(5):
        dispatcher.submit(_transition())
    assert dispatcher.dropped >= 3
    assert dispatcher.wait_idle(10)
    dispatcher.close()
    assert counters(engine)["alerts.notify.dropped"] == dispatcher.dropped


def test_evaluator_notifies_on_firing_and_resolved_only(httpserver: HTTPServer, engine: Engine) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    add_samples(engine, "ND_c", {START + 15 * k: c for k, c in enumerate([90, 90, 90, 50, 50])})
    evaluator = AlertEvaluator(engine, RULES, [WebhookNotifier(httpserver.url_for("/hook"))])
    for k in range(5):
        evaluator.evaluate(START + 15 * k)
    assert evaluator.dispatcher.wait_idle(10)
    evaluator.close()
    statuses = [json.loads(r.get_data())["status"] for r, _ in httpserver.log]
    assert statuses == ["firing", "resolved"]


@pytest.mark.postgres
def test_state_history_and_counters_on_postgres(pg_engine: Engine, httpserver: HTTPServer) -> None:
    from store.engine import migrate

    migrate(pg_engine)  # 0002_alerts alongside the other heads
    httpserver.expect_request("/hook").respond_with_data("down", status=500)
    add_samples(pg_engine, "ND_pg", {START + 15 * k: c for k, c in enumerate([90, 90, 90, 50, 50])})
    dispatcher = Dispatcher(
        pg_engine, [WebhookNotifier(httpserver.url_for("/hook"))], attempts=2, backoff_s=0.01
    )
    evaluator = AlertEvaluator(pg_engine, RULES, dispatcher=dispatcher)
    changes = [t.to_state for k in range(5) for t in evaluator.evaluate(START + 15 * k)]
    assert changes == ["pending", "firing", "resolved"]
    assert dispatcher.wait_idle(20)
    evaluator.close()
    assert counters(pg_engine) == {"alerts.notify.webhook.failed": 2}


def test_evaluator_from_settings_and_rate_limit(tmp_path: Path, engine: Engine) -> None:
    from analytics.alerts.rules import RuleError
    from collectors.alerting import evaluator_from_settings
    from core.settings import load_settings
    from harness.realparts import REPO_ROOT

    config = tmp_path / "castmeter.toml"
    rules = REPO_ROOT / "rules" / "castmeter.rules.example.yaml"
    config.write_text(f'[alerts]\nrules_file = "{rules}"\nwebhook_url = "http://127.0.0.1:9/hook"\n'
                      'slack_webhook_url = "http://127.0.0.1:9/slack"\n')  # fmt: skip
    evaluator = evaluator_from_settings(engine, load_settings(config, env={}))
    assert evaluator is not None
    assert [n.name for n in evaluator.dispatcher.notifiers] == ["webhook", "slack"]
    add_samples(engine, "ND_a", {START: 99.0})
    evaluator.evaluate(START)
    assert evaluator.evaluate(START + 5) == [] and evaluator._last_eval_ts == START  # within 15 s: skipped
    evaluator.close()
    config.write_text('[alerts]\nrules_file = "/nonexistent/rules.yaml"\n')
    with pytest.raises(RuleError, match="cannot read"):
        evaluator_from_settings(engine, load_settings(config, env={}))
    config.write_text("[alerts]\nenabled = false\n")
    assert evaluator_from_settings(engine, load_settings(config, env={})) is None
