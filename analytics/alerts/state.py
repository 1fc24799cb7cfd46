"""The alert state machine of one (rule, target), evaluation by evaluation: Normal → Pending →
Firing → Resolved, with ``for``, ``keep_firing_for`` and the recovery threshold.

Pure: no store, no network. Live alerting (collectors/alerting.py) reads the stored
:class:`AlertState`, calls :func:`step` at each evaluation time, turns the changes into
:class:`Transition`s with :func:`transitions_of`, and writes and notifies them. The semantics
are the backtest's and Prometheus's (analytics/alerts/backtest.py evaluates the same rules
vectorized; tests/analytics/test_alerts_backtest.py checks that both agree).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from analytics.alerts.rules import Rule, format_duration

NORMAL, PENDING, FIRING, RESOLVED = "normal", "pending", "firing", "resolved"


@dataclass(frozen=True)
class Transition:
    rule: str
    target: str
    from_state: str
    to_state: str  # pending | firing | resolved | normal (a pending alert dropped)
    ts: int
    value: float | None
    threshold: float
    severity: str
    metric: str
    comparison: str
    recovery: float | None = None
    fired_ts: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def notify(self) -> bool:
        return self.to_state in (FIRING, RESOLVED)

    def payload(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = dict(self.labels)
        data["status"] = self.to_state
        data["version"] = "castmeter.alert.v1"
        if self.to_state == RESOLVED and self.fired_ts is not None:
            data["duration_s"] = self.ts - self.fired_ts
        data["summary"] = self.summary()
        return data

    def summary(self) -> str:
        value = "no data" if self.value is None else f"{self.value:.4g}"
        if self.to_state == RESOLVED:
            lasted = f" after {format_duration(self.ts - self.fired_ts)}" if self.fired_ts is not None else ""
            return f"RESOLVED {self.rule} on {self.target}{lasted} ({self.metric} now {value})"
        return (
            f"{self.to_state.upper()} {self.rule} on {self.target}: {self.metric} {value} "
            f"{self.comparison} {self.threshold:g} [{self.severity}]"
        )


@dataclass
class AlertState:
    """Where one (rule, target) stands between evaluations (a row of ``alert_state``)."""

    state: str = NORMAL
    active_since_ts: int | None = None
    fired_ts: int | None = None
    keep_firing_since_ts: int | None = None


def step(
    current: AlertState, value: float, rule: Rule, now_ts: int
) -> tuple[AlertState, list[tuple[str, str]]]:
    """One evaluation of one (rule, target): the new state and the transitions (from, to).

    Same semantics as the backtest and Prometheus (see analytics/alerts/backtest.py)."""
    state = AlertState(current.state, current.active_since_ts, current.fired_ts, current.keep_firing_since_ts)
    values = np.array([value], dtype=float)
    active = state.state in (PENDING, FIRING)
    holds = bool(rule.compare(values, rule.threshold)[0]) or (
        active and bool(rule.compare(values, rule.recovery_threshold)[0])
    )
    changes: list[tuple[str, str]] = []
    if holds:
        if not active:
            state = AlertState(PENDING, now_ts)
        state.keep_firing_since_ts = None
        assert state.active_since_ts is not None
        if state.state == PENDING and now_ts - state.active_since_ts >= rule.for_s:
            state.state, state.fired_ts = FIRING, now_ts
        if state.state != current.state:
            changes.append((current.state, state.state))
        return state, changes
    if state.state == FIRING and rule.keep_firing_for_s > 0:
        if state.keep_firing_since_ts is None:
            state.keep_firing_since_ts = now_ts
        if now_ts - state.keep_firing_since_ts < rule.keep_firing_for_s:
            return state, changes
    if state.state == FIRING:
        changes.append((FIRING, RESOLVED))
    elif state.state == PENDING:
        changes.append((PENDING, NORMAL))
    return AlertState(NORMAL, fired_ts=state.fired_ts if state.state == FIRING else None), changes


def transitions_of(
    rule: Rule, target: str, changes: list[tuple[str, str]], state: AlertState, value: float, at_ts: int
) -> list[Transition]:
    """The transitions of one evaluation; ``for: 0`` goes straight from normal to firing and
    reports one transition."""
    pairs = changes if len(changes) <= 1 else [(changes[0][0], changes[-1][1])]
    return [
        Transition(
            rule=rule.name,
            target=target,
            from_state=from_state,
            to_state=to_state,
            ts=at_ts,
            value=None if math.isnan(value) else value,
            threshold=rule.threshold,
            severity=rule.severity,
            metric=rule.metric,
            comparison=rule.comparison,
            recovery=rule.recovery,
            fired_ts=state.fired_ts if to_state in (FIRING, RESOLVED) else None,
            labels=dict(rule.labels),
        )
        for from_state, to_state in pairs
    ]
