"""Replay a rule over stored samples with Prometheus's alerting semantics, vectorized.

Semantics (what `promtool test rules` also computes on the exported rule, see promql.py):

- Rules are evaluated on a fixed grid ``t0, t0 + I, ...`` (I = evaluation interval).
- A target's value at an evaluation time is its latest sample no older than ``lookback``;
  otherwise it has no data. No data never satisfies a condition, so a gap resolves the
  alert, as in Prometheus when a series goes stale.
- The condition is ``value <op> threshold`` for a new alert and ``value <op> recovery`` while
  the alert is active (pending, firing or kept firing) — hysteresis.
- An alert is created pending when the condition first holds and fires at the first
  evaluation at least ``for`` after that; a pending alert whose condition fails is dropped.
- A firing alert whose condition fails keeps firing while less than ``keep_firing_for`` has
  passed since the condition first failed; if the condition holds again in that time the
  alert continues (and the keep-firing clock restarts when it next fails).

Everything per sample is numpy; the only Python loop runs once per firing episode.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analytics.alerts.rules import Rule, RuleSet

WEEK_S = 7 * 86_400
# node_down: a node seen this recently is expected to report; one silent longer is forgotten.
KNOWN_NODE_S = 86_400
# An episode starting this soon after the previous one ended counts as a re-fire (flapping).
DEFAULT_REFIRE_WINDOW_S = 600
FLEET_TARGET = "fleet"


@dataclass(frozen=True)
class Grid:
    start_ts: int  # first evaluation time
    interval_s: int
    steps: int

    @property
    def end_ts(self) -> int:
        """Exclusive end: the evaluation after the last one."""
        return self.start_ts + self.steps * self.interval_s

    def times(self) -> np.ndarray:
        return self.start_ts + self.interval_s * np.arange(self.steps, dtype=np.int64)

    @classmethod
    def covering(cls, start_ts: int, end_ts: int, interval_s: int) -> Grid:
        """Evaluation times aligned to the interval in ``[start_ts, end_ts]``."""
        first = -(-int(start_ts) // interval_s) * interval_s
        steps = max(0, (int(end_ts) - first) // interval_s + 1)
        return cls(first, interval_s, steps)


@dataclass(frozen=True)
class Episodes:
    """Firing episodes of one target as grid indices: fire at ``start``, resolved at ``end``."""

    start: np.ndarray
    end: np.ndarray  # == grid.steps when still firing at the end of the range
    cond_start: np.ndarray  # where the alert was created (pending)
    near_misses: int  # pending alerts dropped before they fired


def sample_values_on_grid(
    ts: np.ndarray, values: np.ndarray, grid: Grid, lookback_s: int, valid_s: np.ndarray | None = None
) -> np.ndarray:
    """The latest sample at or before each evaluation time, NaN when older than the lookback
    (or than the sample's own ``valid_s``: a rollup bucket counts for its whole bucket).

    ``ts`` must be sorted. O(n): each sample is placed at the first evaluation that can see
    it, the last one per evaluation wins, and later evaluations carry it forward."""
    if ts.size == 0 or grid.steps == 0:
        return np.full(grid.steps, np.nan)
    interval = grid.interval_s
    slot = np.clip(-(-(ts - grid.start_ts) // interval), 0, None)
    last_of_slot = np.empty(ts.size, dtype=bool)
    np.not_equal(slot[1:], slot[:-1], out=last_of_slot[:-1])
    last_of_slot[-1] = True
    last_of_slot &= slot < grid.steps
    latest = np.full(grid.steps, -1, dtype=np.int64)
    latest[slot[last_of_slot]] = np.flatnonzero(last_of_slot)
    np.maximum.accumulate(latest, out=latest)
    seen = latest >= 0
    index = np.where(seen, latest, 0)
    limit = lookback_s if valid_s is None else valid_s[index]
    fresh = seen & (grid.times() - ts[index] < limit)
    return np.where(fresh, values[index], np.nan)


def presence_on_grid(
    ts: np.ndarray, grid: Grid, lookback_s: int, valid_s: np.ndarray | None = None
) -> np.ndarray:
    """1.0 where a known target has no sample within the lookback (node down), else 0.0;
    no data (NaN) where it has had no sample in the last KNOWN_NODE_S (it did not exist yet,
    or was retired long ago)."""
    present = sample_values_on_grid(ts, np.ones(ts.size), grid, lookback_s, valid_s)
    known = sample_values_on_grid(ts, np.ones(ts.size), grid, KNOWN_NODE_S)
    down = np.where(np.isnan(present), 1.0, 0.0)
    down[np.isnan(known)] = np.nan
    return down


def drop_pct(values: np.ndarray, window_steps: int) -> np.ndarray:
    """% drop of each value from the maximum over the trailing window (NaN-aware)."""
    rolling_max = pd.Series(values).rolling(max(1, window_steps), min_periods=1).max().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        drop = np.where(rolling_max > 0, 100.0 * (1.0 - values / rolling_max), 0.0)
    return np.where(np.isnan(values), np.nan, np.clip(drop, 0.0, 100.0))


def _aggregate(stack: np.ndarray, how: str) -> np.ndarray:
    """Across targets per evaluation time; all-NaN columns stay NaN (no series at all)."""
    if stack.size == 0:
        return np.full(stack.shape[1], np.nan)
    present = ~np.isnan(stack)
    count = present.sum(axis=0)
    filled = np.where(present, stack, 0.0)
    if how == "sum":
        result = filled.sum(axis=0)
    elif how == "max":
        result = np.where(present, stack, -np.inf).max(axis=0)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            result = filled.sum(axis=0) / count
    return np.where(count > 0, result, np.nan)


@dataclass(frozen=True)
class TargetSeries:
    ts: np.ndarray  # sorted Unix s
    values: np.ndarray
    valid_s: np.ndarray | None = None  # per-sample validity (rollups); None = the lookback


def split_frame(frame: pd.DataFrame) -> dict[str, TargetSeries]:
    """A ``ts,target,value[,valid_s]`` frame → per target sorted arrays."""
    if frame.empty:
        return {}
    codes, uniques = pd.factorize(frame["target"], sort=True)
    ts = frame["ts"].to_numpy(dtype=np.int64)
    values = frame["value"].to_numpy(dtype=float)
    order = np.lexsort((ts, codes))
    codes, ts, values = codes[order], ts[order], values[order]
    valid = frame["valid_s"].to_numpy(dtype=np.int64)[order] if "valid_s" in frame.columns else None
    bounds = np.flatnonzero(np.diff(codes)) + 1
    starts = np.concatenate(([0], bounds))
    ends = np.concatenate((bounds, [codes.size]))
    return {
        str(uniques[codes[s]]): TargetSeries(ts[s:e], values[s:e], None if valid is None else valid[s:e])
        for s, e in zip(starts, ends, strict=True)
    }


def grid_values(
    series: Mapping[str, TargetSeries], rule: Rule, grid: Grid, lookback_s: int
) -> dict[str, np.ndarray]:
    """The value each target's rule sees at every evaluation time (fleet → one target)."""
    spec = rule.spec
    window_steps = math.ceil(rule.window_s / grid.interval_s)
    per_target: dict[str, np.ndarray] = {}
    for target, one in series.items():
        if spec.derivation == "absence":
            per_target[target] = presence_on_grid(one.ts, grid, lookback_s, one.valid_s)
        else:
            per_target[target] = sample_values_on_grid(one.ts, one.values, grid, lookback_s, one.valid_s)
    if rule.scope == "fleet":
        stack = np.vstack(list(per_target.values())) if per_target else np.empty((0, grid.steps))
        fleet = _aggregate(stack, spec.fleet_aggregate)
        if spec.derivation == "drop_pct":
            fleet = drop_pct(fleet, window_steps)
        return {FLEET_TARGET: fleet}
    if spec.derivation == "drop_pct":
        return {target: drop_pct(values, window_steps) for target, values in per_target.items()}
    return per_target


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and exclusive end indices of the runs of True in ``mask``."""
    edges = np.diff(mask.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def evaluate_episodes(values: np.ndarray, rule: Rule, interval_s: int) -> Episodes:
    """Firing episodes of one target's grid values (see the module docstring)."""
    steps = values.size
    enter = rule.compare(values, rule.threshold)
    stay = rule.compare(values, rule.recovery_threshold) | enter
    # Schmitt trigger: inside a run where the recovery condition holds, the alert exists from
    # the first point that met the threshold to the end of the run. Work on runs, not points.
    stay_starts, stay_ends = _runs(stay)
    enter_index = np.flatnonzero(enter)
    if enter_index.size == 0 or stay_starts.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Episodes(empty, empty, empty, 0)
    position = np.searchsorted(enter_index, stay_starts)
    first_enter = enter_index[np.clip(position, 0, enter_index.size - 1)]
    has_enter = (position < enter_index.size) & (first_enter < stay_ends)
    run_starts, run_ends = first_enter[has_enter], stay_ends[has_enter]
    for_steps = math.ceil(rule.for_s / interval_s)
    keep_steps = math.ceil(rule.keep_firing_for_s / interval_s)
    fired = run_ends - run_starts > for_steps
    if keep_steps == 0:
        return Episodes(
            run_starts[fired] + for_steps, run_ends[fired], run_starts[fired], int((~fired).sum())
        )

    # keep_firing_for: after a firing run ends the alert stays active for keep_steps
    # evaluations; a point meeting the recovery condition in that time (the start of the
    # next stay run) continues it to the end of that run.
    next_starts = stay_starts.tolist()
    next_ends = stay_ends.tolist()
    starts: list[int] = []
    ends: list[int] = []
    cond_starts: list[int] = []
    cursor = -1
    for run_start, run_end in zip(run_starts[fired].tolist(), run_ends[fired].tolist(), strict=True):
        if run_start < cursor:
            continue  # absorbed into the previous episode while it was kept firing
        segment_end = run_end
        while segment_end < steps:
            resolve_at = segment_end + keep_steps  # the evaluation that resolves it
            following = bisect_left(next_starts, segment_end)
            if following < len(next_starts) and next_starts[following] <= resolve_at:
                segment_end = next_ends[following]
                continue
            segment_end = min(resolve_at, steps)
            break
        starts.append(run_start + for_steps)
        ends.append(segment_end)
        cond_starts.append(run_start)
        cursor = segment_end
    episode_starts = np.asarray(cond_starts, dtype=np.int64)
    episode_ends = np.asarray(ends, dtype=np.int64)
    missed = run_starts[~fired]
    inside = np.zeros(missed.size, dtype=bool)
    if missed.size and episode_starts.size:
        owner = np.searchsorted(episode_starts, missed, side="right") - 1
        inside = (owner >= 0) & (missed < episode_ends[np.clip(owner, 0, None)])
    return Episodes(np.asarray(starts, dtype=np.int64), episode_ends, episode_starts, int((~inside).sum()))


def alert_activity(
    values: np.ndarray, rule: Rule, interval_s: int
) -> tuple[Episodes, np.ndarray, np.ndarray]:
    """(episodes, pending, firing): the rule's episodes on these grid values, and at every
    evaluation whether the alert is pending (its condition held, ``for`` not yet met) or
    firing (keep_firing_for counts as firing); the two masks can overlap."""
    steps = values.size
    episodes = evaluate_episodes(values, rule, interval_s)
    firing = firing_mask(episodes, steps)
    enter = rule.compare(values, rule.threshold)
    stay = rule.compare(values, rule.recovery_threshold) | enter
    active = np.zeros(steps, dtype=bool)
    enter_index = np.flatnonzero(enter)
    for start, end in zip(*_runs(stay), strict=True):
        position = int(np.searchsorted(enter_index, start))
        if position < enter_index.size and enter_index[position] < end:
            active[enter_index[position] : end] = True
    return episodes, active, firing


def states_on_grid(values: np.ndarray, rule: Rule, interval_s: int) -> np.ndarray:
    """The alert's state at every evaluation: "normal", "pending" or "firing" (what live
    alerting stores after evaluating the same values; keep_firing_for counts as firing)."""
    _episodes, active, firing = alert_activity(values, rule, interval_s)
    states = np.full(values.size, "normal", dtype=object)
    states[active] = "pending"
    states[firing] = "firing"
    return states


def firing_mask(episodes: Episodes, steps: int) -> np.ndarray:
    """True at every evaluation where the alert is firing."""
    delta = np.zeros(steps + 1, dtype=np.int64)
    np.add.at(delta, episodes.start, 1)
    np.add.at(delta, episodes.end, -1)
    return np.cumsum(delta[:-1]) > 0


@dataclass
class BacktestResult:
    rule: Rule
    grid: Grid
    episodes: pd.DataFrame  # target, start_ts, end_ts, duration_s, open, short, refire, flapping
    per_target: pd.DataFrame  # target, episodes, firing_s, time_in_alert_pct, flapping, near_misses
    values: dict[str, np.ndarray] = field(default_factory=dict)  # grid values when kept
    # Evaluation steps from the first one with data to the end: rates divide by these, so a
    # 30-day review of 2 days of history is not a fifteenth of the real alert rate.
    covered_steps: int | None = None

    @property
    def range_s(self) -> int:
        """The time the rule had data for (from its first value on) in the replayed range."""
        steps = self.grid.steps if self.covered_steps is None else self.covered_steps
        return steps * self.grid.interval_s

    @property
    def chosen_s(self) -> int:
        return self.grid.steps * self.grid.interval_s

    @property
    def count(self) -> int:
        return len(self.episodes)

    @property
    def alerts_per_week(self) -> float:
        return self.count * WEEK_S / self.range_s if self.range_s else 0.0

    @property
    def time_in_alert_pct(self) -> float:
        targets = len(self.per_target)
        if not targets or not self.range_s:
            return 0.0
        return float(100.0 * self.per_target["firing_s"].sum() / (targets * self.range_s))

    @property
    def flapping(self) -> int:
        return int(self.episodes["flapping"].sum()) if self.count else 0

    def summary(self) -> dict[str, Any]:
        rule = self.rule
        return {
            "rule": rule.name,
            "metric": rule.metric,
            "comparison": rule.comparison,
            "threshold": rule.threshold,
            "recovery": rule.recovery,
            "for_s": rule.for_s,
            "keep_firing_for_s": rule.keep_firing_for_s,
            "scope": rule.scope,
            "start_ts": self.grid.start_ts,
            "end_ts": self.grid.end_ts,
            "covered_s": self.range_s,
            "interval_s": self.grid.interval_s,
            "targets": len(self.per_target),
            "episodes": self.count,
            "alerts_per_week": round(self.alerts_per_week, 3),
            "time_in_alert_pct": round(self.time_in_alert_pct, 4),
            "flapping": self.flapping,
            "near_misses": int(self.per_target["near_misses"].sum()) if len(self.per_target) else 0,
        }

    def to_json(self) -> dict[str, Any]:
        episodes = self.episodes.assign(
            start_ts=self.episodes["start_ts"].astype(int), end_ts=self.episodes["end_ts"].astype(int)
        )
        return {
            **self.summary(),
            "per_target": self.per_target.to_dict(orient="records"),
            "episode_list": episodes.to_dict(orient="records"),
        }


_EPISODE_COLUMNS = ["target", "start_ts", "end_ts", "duration_s", "open", "short", "refire", "flapping"]
_TARGET_COLUMNS = ["target", "episodes", "firing_s", "time_in_alert_pct", "flapping", "near_misses"]


def backtest_series(
    series: Mapping[str, TargetSeries],
    rule: Rule,
    grid: Grid,
    lookback_s: int,
    *,
    refire_window_s: int = DEFAULT_REFIRE_WINDOW_S,
    keep_values: bool = False,
) -> BacktestResult:
    """Backtest ``rule`` over per-target sorted series on ``grid``."""
    values_by_target = grid_values(series, rule, grid, lookback_s)
    interval = grid.interval_s
    covered = covered_steps(values_by_target, grid.steps)
    short_s = max(rule.for_s, 2 * interval)
    episode_parts: list[pd.DataFrame] = []
    target_rows: list[dict[str, Any]] = []
    for target, values in values_by_target.items():
        found = evaluate_episodes(values, rule, interval)
        start_ts = grid.start_ts + found.start * interval
        end_ts = grid.start_ts + found.end * interval
        duration_s = end_ts - start_ts
        is_open = found.end >= grid.steps
        gap_s = start_ts[1:] - end_ts[:-1]
        refire = np.concatenate(([False], gap_s < refire_window_s)) if start_ts.size else np.zeros(0, bool)
        short = (duration_s < short_s) & ~is_open
        flapping = short | refire
        if start_ts.size:
            episode_parts.append(
                pd.DataFrame(
                    {
                        "target": target,
                        "start_ts": start_ts,
                        "end_ts": end_ts,
                        "duration_s": duration_s,
                        "open": is_open,
                        "short": short,
                        "refire": refire,
                        "flapping": flapping,
                    }
                )
            )
        firing_s = int(duration_s.sum())
        target_rows.append(
            {
                "target": target,
                "episodes": int(start_ts.size),
                "firing_s": firing_s,
                "time_in_alert_pct": 100.0 * firing_s / (covered * interval) if covered else 0.0,
                "flapping": int(flapping.sum()),
                "near_misses": found.near_misses,
            }
        )
    episodes = (
        pd.concat(episode_parts, ignore_index=True).sort_values(["start_ts", "target"], ignore_index=True)
        if episode_parts
        else pd.DataFrame({name: pd.Series(dtype=object) for name in _EPISODE_COLUMNS})
    )
    per_target = pd.DataFrame(target_rows, columns=_TARGET_COLUMNS)
    return BacktestResult(rule, grid, episodes, per_target, values_by_target if keep_values else {}, covered)


def covered_steps(values_by_target: Mapping[str, np.ndarray], steps: int) -> int:
    """Evaluation steps from the first with a value for any target to the end of the grid."""
    first = steps
    for values in values_by_target.values():
        finite = np.flatnonzero(np.isfinite(values))
        if finite.size:
            first = min(first, int(finite[0]))
    return steps - first


def backtest(
    frame: pd.DataFrame,
    rule: Rule,
    ruleset: RuleSet,
    *,
    start_ts: int | None = None,
    end_ts: int | None = None,
    keep_values: bool = False,
) -> BacktestResult:
    """Backtest ``rule`` over a ``ts,target,value`` frame (values in the metric's unit)."""
    series = split_frame(frame)
    if start_ts is None:
        start_ts = int(frame["ts"].min()) if len(frame) else 0
    if end_ts is None:
        end_ts = int(frame["ts"].max()) if len(frame) else start_ts
    grid = Grid.covering(start_ts, end_ts, ruleset.evaluation_interval_s)
    return backtest_series(series, rule, grid, ruleset.lookback_s, keep_values=keep_values)


def compare_thresholds(
    frame: pd.DataFrame, rule: Rule, ruleset: RuleSet, thresholds: Iterable[float], **kwargs: Any
) -> pd.DataFrame:
    """Summaries of the same rule at several thresholds, one row each (side by side)."""
    rows = [backtest(frame, rule.with_threshold(t), ruleset, **kwargs).summary() for t in thresholds]
    return pd.DataFrame(rows)
