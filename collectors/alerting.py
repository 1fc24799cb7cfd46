"""Live alerting: evaluate enabled rules each collector tick, keep state and history in the
store, notify webhooks on changes without ever blocking collection.

``AlertEvaluator(engine, rules, notifiers).evaluate(now_ts)`` is called by the collectors
runner each tick. This module is the I/O around the alert state machine: per (rule, target) it
reads the stored state, steps it with analytics/alerts/state.py (Normal → Pending → Firing →
Resolved, the same semantics as the backtest), writes state and history, and notifies.
Notifications go through a bounded queue to a
background thread that retries with exponential backoff (tenacity); a receiver that keeps
failing is counted in ``collector_counters`` (``alerts.notify.<receiver>.failed``) and logged.
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import requests
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from analytics.alerts.backtest import Grid, grid_values, split_frame
from analytics.alerts.rules import Rule, RuleSet, load_rules
from analytics.alerts.series import history_s, load_store_series
from analytics.alerts.state import FIRING, NORMAL, RESOLVED, AlertState, Transition, step, transitions_of
from collectors import self_metrics
from core.logs import register_secret
from core.resources import data_path
from store import schema
from store.queries.alert_series import StoreSeries
from store.upsert import upsert

log = logging.getLogger(__name__)

# After a pause (a restart, a slow tick) evaluation catches up at most this many grid times.
MAX_CATCH_UP_STEPS = 40


# ---------------------------------------------------------------------------------------------
# Notifications
# ---------------------------------------------------------------------------------------------


class NotifyError(Exception):
    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


class Notifier(Protocol):
    name: str

    def send(self, transition: Transition) -> None:
        """Deliver one notification; raise NotifyError on failure."""


def _post_json(url: str, body: Mapping[str, Any], timeout_s: float, receiver: str) -> None:
    try:
        response = requests.post(
            url, data=json.dumps(body), headers={"Content-Type": "application/json"}, timeout=timeout_s
        )
    except requests.RequestException as exc:
        raise NotifyError(f"{receiver}: {type(exc).__name__}", retry=True) from None
    if response.status_code >= 300:
        # 429 and 5xx are worth retrying; other 4xx will not get better.
        retry = response.status_code == 429 or response.status_code >= 500
        raise NotifyError(f"{receiver}: HTTP {response.status_code}", retry=retry)


@dataclass
class WebhookNotifier:
    """A generic JSON webhook: POSTs :meth:`Transition.payload`."""

    url: str
    timeout_s: float = 10.0
    name: str = "webhook"

    def send(self, transition: Transition) -> None:
        _post_json(self.url, transition.payload(), self.timeout_s, self.name)


@dataclass
class SlackNotifier:
    """A Slack-compatible incoming webhook (``{"text": ...}``; Mattermost and others accept it)."""

    url: str
    timeout_s: float = 10.0
    name: str = "slack"

    def __post_init__(self) -> None:
        register_secret(self.url)  # the URL is the credential

    def send(self, transition: Transition) -> None:
        icon = {FIRING: ":rotating_light:", RESOLVED: ":white_check_mark:"}.get(transition.to_state, ":bell:")
        _post_json(self.url, {"text": f"{icon} {transition.summary()}"}, self.timeout_s, self.name)


def increment_counter(connection: Connection, name: str, by: int, now_ts: int) -> None:
    table = schema.collector_counters
    insert = postgresql.insert(table) if connection.dialect.name == "postgresql" else sqlite.insert(table)
    statement = insert.values(name=name, value=by, updated_ts=now_ts)
    statement = statement.on_conflict_do_update(
        index_elements=["name"], set_={"value": table.c.value + by, "updated_ts": now_ts}
    )
    connection.execute(statement)


class Dispatcher:
    """A bounded queue drained by one background thread; ``submit`` never blocks or raises."""

    def __init__(
        self,
        engine: Engine | None,
        notifiers: Sequence[Notifier],
        *,
        attempts: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        queue_size: int = 1000,
    ) -> None:
        self.engine = engine
        self.notifiers = list(notifiers)
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._queue: queue.Queue[tuple[Notifier, Transition] | None] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    def submit(self, transition: Transition) -> None:
        if not self.notifiers:
            return
        self._ensure_thread()
        for notifier in self.notifiers:
            try:
                self._queue.put_nowait((notifier, transition))
            except queue.Full:
                self.dropped += 1
                self_metrics.count_alert_notification(notifier.name, "dropped")
                self._count("alerts.notify.dropped")
                log.warning(
                    "alert notification queue full; dropped %s for %s", transition.rule, notifier.name
                )

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="alert-notify", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._deliver(*item)
            finally:
                self._queue.task_done()

    def _deliver(self, notifier: Notifier, transition: Transition) -> None:
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff_s, max=self.max_backoff_s),
            retry=retry_if_exception(lambda exc: isinstance(exc, NotifyError) and exc.retry),
            reraise=True,
        )
        try:
            retrying(notifier.send, transition)
        except Exception as exc:  # a receiver must never take the collector down
            self.failed += 1
            self._count(f"alerts.notify.{notifier.name}.failed")
            self_metrics.count_alert_notification(notifier.name, "failed")
            log.warning("alert notification to %s failed: %s", notifier.name, exc)
            return
        self.sent += 1
        self._count(f"alerts.notify.{notifier.name}.sent")
        self_metrics.count_alert_notification(notifier.name, "sent")

    def _count(self, name: str) -> None:
        if self.engine is None:
            return
        try:
            with self.engine.begin() as connection:
                increment_counter(connection, name, 1, int(time.time()))
        except Exception as exc:  # counting is best effort
            log.warning("could not count %s: %s", name, exc)

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until every queued notification was handled (for tests and shutdown)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return self._queue.unfinished_tasks == 0

    def close(self, timeout_s: float = 5.0) -> None:
        if self._thread is not None and self._thread.is_alive():
            try:
                self._queue.put(None, timeout=timeout_s)
            except queue.Full:
                return
            self._thread.join(timeout_s)


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


def grid_values_live(
    connection: Connection, rule: Rule, ruleset: RuleSet, grid: Grid
) -> dict[str, np.ndarray]:
    """Each target's value at every time of ``grid`` exactly as the backtest computes it:
    the same loader over enough history (analytics.alerts.series.history_s) and the same
    grid arithmetic. NaN = no data."""
    since_ts = grid.start_ts - history_s(rule, ruleset)
    until_ts = grid.start_ts + (grid.steps - 1) * grid.interval_s
    frame = load_store_series(StoreSeries(connection), rule, since_ts, until_ts, ruleset.lookback_s)
    return grid_values(split_frame(frame), rule, grid, ruleset.lookback_s)


class AlertEvaluator:
    def __init__(
        self,
        engine: Engine,
        rules: RuleSet,
        notifiers: Sequence[Notifier] = (),
        *,
        dispatcher: Dispatcher | None = None,
        min_interval_s: float | None = None,
    ) -> None:
        self.engine = engine
        self.rules = rules
        self.dispatcher = dispatcher or Dispatcher(engine, notifiers)
        # Called every collector tick; looks at most this often (None: every call). Each look
        # evaluates every grid time missed since the last one.
        self.min_interval_s = min_interval_s
        self._last_call_ts: int | None = None
        self._last_eval_ts: int | None = None  # the last grid time evaluated

    def _stored_states(self, connection: Connection) -> dict[tuple[str, str], AlertState]:
        table = schema.alert_state
        rows = connection.execute(
            select(
                table.c.rule,
                table.c.target,
                table.c.state,
                table.c.active_since_ts,
                table.c.fired_ts,
                table.c.keep_firing_since_ts,
            )
        ).all()
        return {(r[0], r[1]): AlertState(r[2], r[3], r[4], r[5]) for r in rows}

    def _pending_grid(self, connection: Connection, now_ts: int) -> Grid | None:
        """The evaluation times not yet evaluated, up to the last one at or before ``now_ts``:
        the rules file's grid (multiples of evaluation_interval), as the backtest uses."""
        interval = self.rules.evaluation_interval_s
        last = now_ts - now_ts % interval
        if self._last_eval_ts is None:
            stored = connection.execute(select(func.max(schema.alert_state.c.last_eval_ts))).scalar()
            self._last_eval_ts = None if stored is None else int(stored)
        first = last if self._last_eval_ts is None else self._last_eval_ts + interval
        first = max(first, last - (MAX_CATCH_UP_STEPS - 1) * interval)
        if first > last:
            return None
        return Grid(first, interval, (last - first) // interval + 1)

    def evaluate(self, now_ts: int) -> list[Transition]:
        """Evaluate every enabled rule at each grid time not evaluated yet up to ``now_ts``
        (the same times and values a backtest evaluates); store state and history; queue
        notifications. Notification failures never raise here; a store error does (the
        runner handles those)."""
        # One second of slack: ticks jitter around the interval.
        if (
            self.min_interval_s is not None
            and self._last_call_ts is not None
            and now_ts - self._last_call_ts < self.min_interval_s - 1
        ):
            return []
        self._last_call_ts = now_ts
        transitions: list[Transition] = []
        with self.engine.begin() as connection:
            grid = self._pending_grid(connection, now_ts)
            if grid is None:
                return []
            stored = self._stored_states(connection)
            times = [int(t) for t in grid.times()]
            for rule in self.rules.enabled():
                try:
                    values = grid_values_live(connection, rule, self.rules, grid)
                except Exception:
                    log.exception("alert rule %s could not be evaluated", rule.name)
                    increment_counter(connection, "alerts.eval.failed", 1, now_ts)
                    continue
                active_targets = [
                    t for (name, t), s in stored.items() if name == rule.name and s.state != NORMAL
                ]
                state_rows: list[dict[str, Any]] = []
                for target in sorted(set(values) | set(active_targets)):
                    series = values.get(target)
                    state = stored.get((rule.name, target), AlertState())
                    value = math.nan
                    for index, at_ts in enumerate(times):
                        value = float(series[index]) if series is not None else math.nan
                        state, changes = step(state, value, rule, at_ts)
                        transitions.extend(transitions_of(rule, target, changes, state, value, at_ts))
                    state_rows.append(
                        {
                            "rule": rule.name,
                            "target": target,
                            "state": state.state,
                            "severity": rule.severity,
                            "active_since_ts": state.active_since_ts,
                            "fired_ts": state.fired_ts if state.state == FIRING else None,
                            "keep_firing_since_ts": state.keep_firing_since_ts,
                            "last_value": None if math.isnan(value) else value,
                            "last_eval_ts": times[-1],
                        }
                    )
                upsert(connection, schema.alert_state, state_rows)
            upsert(
                connection,
                schema.alert_history,
                [
                    {
                        "rule": t.rule,
                        "target": t.target,
                        "ts": t.ts,
                        "to_state": t.to_state,
                        "from_state": t.from_state,
                        "severity": t.severity,
                        "value": t.value,
                        "threshold": t.threshold,
                        "fired_ts": t.fired_ts,
                    }
                    for t in transitions
                ],
            )
        self._last_eval_ts = times[-1]
        for transition in transitions:
            if transition.notify:
                self.dispatcher.submit(transition)
        return transitions

    def close(self, timeout_s: float = 5.0) -> None:
        self.dispatcher.close(timeout_s)


def notifiers_from_settings(settings: Any) -> list[Notifier]:
    """Receivers configured in ``[alerts]`` (core.settings.AlertSettings)."""
    alerts = settings.alerts
    result: list[Notifier] = []
    if alerts.webhook_url:
        result.append(WebhookNotifier(alerts.webhook_url, alerts.notify_timeout_s))
    if alerts.slack_webhook_url is not None:
        result.append(SlackNotifier(alerts.slack_webhook_url.get_secret_value(), alerts.notify_timeout_s))
    return result


def evaluator_from_settings(engine: Engine, settings: Any) -> AlertEvaluator | None:
    """The runner's entry point: None when alerting is disabled. A bad rules file raises
    RuleError (the runner should report it as a configuration error)."""
    alerts = settings.alerts
    if not alerts.enabled:
        return None
    rules = load_rules(data_path(alerts.rules_file))
    dispatcher = Dispatcher(
        engine,
        notifiers_from_settings(settings),
        attempts=alerts.notify_attempts,
        max_backoff_s=alerts.notify_max_backoff_s,
        queue_size=alerts.notify_queue_size,
    )
    interval_s = alerts.eval_interval_s if alerts.eval_interval_s is not None else rules.evaluation_interval_s
    return AlertEvaluator(engine, rules, dispatcher=dispatcher, min_interval_s=interval_s)
