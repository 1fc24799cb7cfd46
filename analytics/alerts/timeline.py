"""Frames for the backtest timeline chart: the metric as the rule saw it, thinned to a
plottable number of points, and the firing episodes to shade."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.alerts.backtest import BacktestResult

DEFAULT_MAX_POINTS = 2000


def timeline_frame(result: BacktestResult, target: str, max_points: int = DEFAULT_MAX_POINTS) -> pd.DataFrame:
    """``ts, value`` of one target on the evaluation grid; long ranges keep each bucket's
    extreme in the alert's direction, so a spike that fired is never thinned away."""
    values = result.values.get(target)
    if values is None or values.size == 0:
        return pd.DataFrame({"ts": pd.Series(dtype="int64"), "value": pd.Series(dtype=float)})
    times = result.grid.times()
    bucket = max(1, int(np.ceil(values.size / max_points)))
    if bucket == 1:
        return pd.DataFrame({"ts": times, "value": values})
    usable = values.size - values.size % bucket
    shaped = values[:usable].reshape(-1, bucket)
    with np.errstate(all="ignore"):
        all_missing = np.isnan(shaped).all(axis=1)
        filled = np.where(
            np.isnan(shaped), -np.inf if result.rule.comparison.startswith(">") else np.inf, shaped
        )
        extreme = filled.max(axis=1) if result.rule.comparison.startswith(">") else filled.min(axis=1)
    thinned = np.where(all_missing, np.nan, extreme)
    return pd.DataFrame({"ts": times[:usable:bucket], "value": thinned})


def target_episodes(result: BacktestResult, target: str) -> pd.DataFrame:
    episodes = result.episodes
    return episodes[episodes["target"] == target].reset_index(drop=True)


def busiest_targets(result: BacktestResult) -> list[str]:
    """Targets ordered by how much they fired (then by name): the chart's default first."""
    table = result.per_target.sort_values(["episodes", "firing_s", "target"], ascending=[False, False, True])
    return table["target"].astype(str).tolist()
