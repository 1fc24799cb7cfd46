"""Suggest a threshold for a target number of alerts per week, by replaying candidates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics.alerts.backtest import (
    WEEK_S,
    Grid,
    alert_activity,
    covered_steps,
    grid_values,
    split_frame,
)
from analytics.alerts.rules import Rule, RuleSet

# Every observed value is a candidate up to this many; beyond, dense quantiles.
_MAX_EXACT_CANDIDATES = 200_000
_QUANTILE_LEVELS = 8192
# A threshold that keeps the alert active longer than this share of the time is no alert:
# "at most N per week" is then met by one endless episode (a CPU rule at 4 % on a 4 % fleet).
MAX_TIME_IN_ALERT_PCT = 5.0


@dataclass(frozen=True)
class Suggestion:
    rule: str
    target_alerts_per_week: float
    threshold: float | None  # None: no threshold in the data's range meets the target
    recovery: float | None
    alerts_per_week: float
    tried: tuple[tuple[float, float], ...]  # (threshold, alerts/week) evaluated on the way
    note: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "target_alerts_per_week": self.target_alerts_per_week,
            "threshold": self.threshold,
            "recovery": self.recovery,
            "alerts_per_week": round(self.alerts_per_week, 3),
            "tried": [[round(t, 6), round(a, 3)] for t, a in self.tried],
            "note": self.note,
        }


def _rates(values: dict[str, np.ndarray], rule: Rule, grid: Grid) -> tuple[float, float]:
    """(alerts per week, % of the time in alert — pending or firing — over all targets)."""
    steps = covered_steps(values, grid.steps)
    range_s = steps * grid.interval_s
    if not range_s or not values:
        return 0.0, 0.0
    count = 0
    active_steps = 0
    for series in values.values():
        episodes, pending, firing = alert_activity(series, rule, grid.interval_s)
        count += episodes.start.size
        active_steps += int((pending | firing).sum())
    return count * WEEK_S / range_s, 100.0 * active_steps / (steps * len(values))


def suggest_threshold(
    frame: pd.DataFrame,
    rule: Rule,
    ruleset: RuleSet,
    target_alerts_per_week: float,
    *,
    start_ts: int | None = None,
    end_ts: int | None = None,
) -> Suggestion:
    """The most sensitive threshold (keeping ``for``, keep-firing and the hysteresis gap) that
    would have fired at most ``target_alerts_per_week`` on this history while keeping the
    alert active at most MAX_TIME_IN_ALERT_PCT of the time.

    Time in alert grows as the threshold moves into the data, so "few alerts and rarely in
    alert" holds from the least sensitive threshold down to some point, and a bisection over
    the observed values (or dense quantiles) finds it in log2(n) replays. (Alerts per week
    alone is not monotonic: far enough into the data, one endless episode is one alert.)"""
    series = split_frame(frame)
    start = start_ts if start_ts is not None else (int(frame["ts"].min()) if len(frame) else 0)
    end = end_ts if end_ts is not None else (int(frame["ts"].max()) if len(frame) else start)
    grid = Grid.covering(start, end, ruleset.evaluation_interval_s)
    values = grid_values(series, rule, grid, ruleset.lookback_s)
    finite = np.concatenate([v[np.isfinite(v)] for v in values.values()]) if values else np.empty(0)
    spec = rule.spec
    if finite.size == 0:
        return Suggestion(rule.name, target_alerts_per_week, None, None, 0.0, (), "no data in range")
    if spec.derivation == "absence":
        # 0/1: every threshold in (0, 1] behaves the same; tune `for` instead.
        return Suggestion(
            rule.name,
            target_alerts_per_week,
            None,
            None,
            0.0,
            (),
            "a 0/1 metric has no threshold to tune; adjust 'for'",
        )
    upward = rule.comparison.startswith(">")
    if finite.size <= _MAX_EXACT_CANDIDATES:
        candidates = np.unique(np.clip(finite, spec.low, spec.high))
    else:
        levels = np.linspace(0.0, 1.0, _QUANTILE_LEVELS)
        candidates = np.unique(np.clip(np.quantile(finite, levels), spec.low, spec.high))
    # Ordered from most sensitive to least: for '>' that is ascending thresholds.
    ordered = candidates if upward else candidates[::-1]
    tried: list[tuple[float, float]] = []
    low, high = 0, ordered.size - 1
    best: tuple[float, float] | None = None
    while low <= high:  # bisection: about log2(candidates) replays
        middle = (low + high) // 2
        candidate = rule.with_threshold(float(ordered[middle]))
        rate, in_alert_pct = _rates(values, candidate, grid)
        tried.append((candidate.threshold, rate))
        if rate <= target_alerts_per_week and in_alert_pct <= MAX_TIME_IN_ALERT_PCT:
            best = (candidate.threshold, rate)
            high = middle - 1
        else:
            low = middle + 1
    if best is None:
        # Even the most extreme observed value fires too often: beyond the data is silent.
        return Suggestion(
            rule.name,
            target_alerts_per_week,
            None,
            None,
            tried[-1][1] if tried else 0.0,
            tuple(tried),
            "every threshold within the observed values fires more often than the target "
            f"or keeps the alert active over {MAX_TIME_IN_ALERT_PCT:g} % of the time",
        )
    chosen = rule.with_threshold(best[0])
    return Suggestion(rule.name, target_alerts_per_week, best[0], chosen.recovery, best[1], tuple(tried))
