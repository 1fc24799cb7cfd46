"""Headroom forecast: when each node and the cluster cross the target CPU and bandwidth, from
the measured trend of daily peaks, with an "add a node by" date and its uncertainty.

The trend is a least-squares line through each day's peak (the busiest hourly average of the
day). The crossing date is where the line meets the threshold; its range comes from the
slope's 80 % confidence interval (the line pivots on the mean day, where it is best known).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from analytics.ledger import DAY_S

MIN_DAYS = 5  # fewer daily peaks than this: no trend
# The audience trend offered to the planner needs two weeks of daily peaks and a slope whose
# 80 % confidence interval excludes zero: a few days' wobble is not a monthly growth rate.
MIN_GROWTH_DAYS = 14
HORIZON_DAYS = 730  # a crossing further out than two years is "not within the horizon"
CONFIDENCE = 0.80
# Two-sided 80 % Student t quantiles (t_0.90) by degrees of freedom; normal beyond.
_T90 = {1: 3.078, 2: 1.886, 3: 1.638, 4: 1.533, 5: 1.476, 6: 1.440, 7: 1.415, 8: 1.397, 9: 1.383,
        10: 1.372, 12: 1.356, 15: 1.341, 20: 1.325, 25: 1.316, 30: 1.310, 60: 1.296}  # fmt: skip
CLUSTER = "cluster"
PARTIAL_DAY_SHARE = 0.9  # of the median buckets per day

Status = Literal["over", "crossing", "not_rising", "beyond_horizon", "too_little_data"]


def t_quantile_80(dof: int) -> float:
    """t_0.90 for ``dof`` degrees of freedom (the next tabulated dof down; 1.2816 beyond 60)."""
    if dof <= 0:
        return math.inf
    if dof > 60:
        return 1.2816
    return _T90[max(k for k in _T90 if k <= dof)]


@dataclass(frozen=True)
class Crossing:
    target: str  # node id or "cluster"
    metric: str  # cpu_pct | out_mbps
    threshold: float
    status: Status
    days_used: int
    current: float | None = None  # the trend line's value today
    slope_per_day: float | None = None
    crossing_ts: int | None = None
    early_ts: int | None = None  # 80 % range of the crossing date
    late_ts: int | None = None  # None: the slope's range includes "not rising"

    def as_json(self) -> dict[str, Any]:
        def r(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        return {
            "target": self.target, "metric": self.metric, "threshold": self.threshold, "status": self.status,
            "days_used": self.days_used, "current": r(self.current), "slope_per_day": r(self.slope_per_day),
            "crossing_ts": self.crossing_ts, "early_ts": self.early_ts, "late_ts": self.late_ts,
        }  # fmt: skip


@dataclass(frozen=True)
class Trend:
    """A least-squares line through daily values (days as float days since the epoch)."""

    n: int
    t_mean: float
    y_mean: float
    slope_per_day: float
    residual_std: float
    sxx: float

    def at(self, day: float | np.ndarray) -> float | np.ndarray:
        return self.y_mean + self.slope_per_day * (day - self.t_mean)

    def band(self, day: np.ndarray) -> np.ndarray:
        """Half-width of the 80 % confidence band of the line at ``day``."""
        return (
            t_quantile_80(self.n - 2)
            * self.residual_std
            * np.sqrt(1.0 / self.n + (day - self.t_mean) ** 2 / self.sxx)
        )


def linear_trend(day_ts: np.ndarray, values: np.ndarray) -> Trend | None:
    """The trend of ``values`` (one per day at ``day_ts``), or None below :data:`MIN_DAYS`."""
    mask = np.isfinite(values)
    t = np.asarray(day_ts, dtype=float)[mask] / DAY_S
    y = np.asarray(values, dtype=float)[mask]
    if len(y) < MIN_DAYS or np.ptp(t) == 0:
        return None
    t_mean, y_mean = float(t.mean()), float(y.mean())
    sxx = float(((t - t_mean) ** 2).sum())
    slope = float(((t - t_mean) * (y - y_mean)).sum()) / sxx
    residuals = y - (y_mean + slope * (t - t_mean))
    return Trend(
        len(y), t_mean, y_mean, slope, math.sqrt(float(residuals @ residuals) / max(len(y) - 2, 1)), sxx
    )


def linear_crossing(
    day_ts: np.ndarray,
    values: np.ndarray,
    threshold: float,
    now_ts: int,
    *,
    target: str = CLUSTER,
    metric: str = "cpu_pct",
) -> Crossing:
    """When the linear trend of ``values`` (one per day, at ``day_ts``) reaches ``threshold``.
    The range is where the trend's 80 % confidence band reaches it: its upper edge first
    (earliest), its lower edge last (latest; None when that edge never gets there within
    the horizon)."""
    trend = linear_trend(day_ts, values)
    if trend is None:
        return Crossing(target, metric, threshold, "too_little_data", int(np.isfinite(values).sum()))
    now_day = now_ts / DAY_S
    current = float(trend.at(now_day))
    slope = trend.slope_per_day
    if current >= threshold:
        return Crossing(target, metric, threshold, "over", trend.n, current, slope, now_ts, now_ts, now_ts)
    grid = now_day + np.arange(0, HORIZON_DAYS * 24 + 1, dtype=float) / 24.0  # hourly steps
    line = np.asarray(trend.at(grid))
    half = trend.band(grid)

    def first(mask: np.ndarray) -> int | None:
        return round(float(grid[int(np.argmax(mask))]) * DAY_S) if mask.any() else None

    early = first(line + half >= threshold)
    if slope <= 0:
        return Crossing(target, metric, threshold, "not_rising", trend.n, current, slope)
    crossing_day = trend.t_mean + (threshold - trend.y_mean) / slope
    if crossing_day - now_day > HORIZON_DAYS:
        return Crossing(
            target, metric, threshold, "beyond_horizon", trend.n, current, slope, None, early, None
        )
    crossing_ts = round(crossing_day * DAY_S)
    late = first(line - half >= threshold)
    # The band is at least as early/late as the line itself (grid rounding aside).
    early = crossing_ts if early is None else min(early, crossing_ts)
    late = None if late is None else max(late, crossing_ts)
    return Crossing(target, metric, threshold, "crossing", trend.n, current, slope, crossing_ts, early, late)


def daily_peaks(load: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per node, cluster) daily peaks from node load buckets (store.queries.nodes.node_load).
    Per node: the day's highest CPU % and out Mbit/s. Cluster: per bucket the mean CPU % over
    the nodes reporting (total load over total capacity when nodes are alike) and the summed
    out Mbit/s, listeners and subscribed tracks; then each day's peak."""
    columns = ["day_ts", "cpu_pct", "out_mbps", "participants", "tracks_subscribed", "nodes"]
    if load.empty:
        return pd.DataFrame(columns=["node_id", *columns]), pd.DataFrame(columns=columns)
    frame = load.assign(
        day_ts=load["bucket_ts"].astype("int64") // DAY_S * DAY_S,
        out_mbps=load["bytes_out_per_s"].astype(float) * 8 / 1e6,
    )
    # A partly covered day (the first day of history, today) has a lower peak: drop it.
    coverage = frame.groupby("day_ts")["bucket_ts"].nunique()
    full_days = coverage.index[coverage >= PARTIAL_DAY_SHARE * coverage.median()]
    frame = frame[frame["day_ts"].isin(full_days)]
    per_node = (
        frame.groupby(["node_id", "day_ts"], as_index=False)
        .agg(cpu_pct=("cpu_pct", "max"), out_mbps=("out_mbps", "max"), participants=("participants", "max"),
             tracks_subscribed=("tracks_subscribed", "max"))
    )  # fmt: skip
    per_node["nodes"] = 1
    buckets = frame.groupby("bucket_ts", as_index=False).agg(
        day_ts=("day_ts", "first"), cpu_pct=("cpu_pct", "mean"), out_mbps=("out_mbps", "sum"),
        participants=("participants", "sum"), tracks_subscribed=("tracks_subscribed", "sum"), nodes=("node_id", "nunique"),
    )  # fmt: skip
    cluster = buckets.groupby("day_ts", as_index=False).agg(
        cpu_pct=("cpu_pct", "max"), out_mbps=("out_mbps", "max"), participants=("participants", "max"),
        tracks_subscribed=("tracks_subscribed", "max"), nodes=("nodes", "max"),
    )  # fmt: skip
    return per_node, cluster


@dataclass(frozen=True)
class Headroom:
    """Forecast for every node and the cluster, and the recommendation."""

    crossings: list[Crossing]
    recommendation: str
    add_node_by_ts: int | None
    add_node_early_ts: int | None
    add_node_late_ts: int | None
    listener_growth_pct_per_month: float | None  # measured audience trend (for "my fleet")
    days: int
    nodes: int
    cluster_daily: pd.DataFrame  # day_ts, cpu_pct, out_mbps, participants, ...

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([c.as_json() for c in self.crossings])

    def as_json(self) -> dict[str, Any]:
        return {
            "recommendation": self.recommendation,
            "add_node_by_ts": self.add_node_by_ts,
            "add_node_early_ts": self.add_node_early_ts,
            "add_node_late_ts": self.add_node_late_ts,
            "listener_growth_pct_per_month": None
            if self.listener_growth_pct_per_month is None
            else round(self.listener_growth_pct_per_month, 3),
            "days": self.days,
            "nodes": self.nodes,
            "crossings": [c.as_json() for c in self.crossings],
        }


def _day_text(ts: int | None) -> str:
    return "—" if ts is None else pd.Timestamp(ts, unit="s", tz="UTC").strftime("%Y-%m-%d")


def forecast(load: pd.DataFrame, now_ts: int, *, target_cpu_pct: float, port_mbps: float) -> Headroom:
    """Per node and cluster crossings of ``target_cpu_pct`` and of ``port_mbps`` × target."""
    # Today is not over: its peak may be still to come.
    if not load.empty:
        load = load[load["bucket_ts"].astype("int64") < now_ts - now_ts % DAY_S]
    per_node, cluster = daily_peaks(load)
    bandwidth_threshold = port_mbps * target_cpu_pct / 100.0
    crossings: list[Crossing] = []
    nodes_now = int(cluster["nodes"].iloc[-1]) if not cluster.empty else 0
    if not cluster.empty:
        days = cluster["day_ts"].to_numpy(dtype=float)
        crossings.append(
            linear_crossing(days, cluster["cpu_pct"].to_numpy(dtype=float), target_cpu_pct, now_ts)
        )
        # The cluster's port capacity is one port per node now reporting.
        crossings.append(
            linear_crossing(days, cluster["out_mbps"].to_numpy(dtype=float), bandwidth_threshold * max(nodes_now, 1),
                            now_ts, metric="out_mbps")
        )  # fmt: skip
    for node_id, rows in per_node.groupby("node_id", sort=True):
        days = rows["day_ts"].to_numpy(dtype=float)
        crossings.append(
            linear_crossing(
                days, rows["cpu_pct"].to_numpy(dtype=float), target_cpu_pct, now_ts, target=str(node_id)
            )
        )
        crossings.append(
            linear_crossing(days, rows["out_mbps"].to_numpy(dtype=float), bandwidth_threshold, now_ts,
                            target=str(node_id), metric="out_mbps")
        )  # fmt: skip
    growth = None
    if len(cluster) >= MIN_GROWTH_DAYS:
        trend = linear_trend(
            cluster["day_ts"].to_numpy(dtype=float), cluster["participants"].to_numpy(dtype=float)
        )
        level = float(cluster["participants"].mean())
        if trend is not None and level > 0:
            slope_half_width = t_quantile_80(trend.n - 2) * trend.residual_std / math.sqrt(trend.sxx)
            if abs(trend.slope_per_day) > slope_half_width:
                growth = trend.slope_per_day * 30.0 / level * 100.0
    recommendation, by, early, late = _recommend(crossings, target_cpu_pct, len(cluster))
    return Headroom(crossings, recommendation, by, early, late, growth, len(cluster), nodes_now, cluster)


def _recommend(
    crossings: list[Crossing], target_cpu_pct: float, days: int
) -> tuple[str, int | None, int | None, int | None]:
    cluster = [c for c in crossings if c.target == CLUSTER]
    if not cluster or all(c.status == "too_little_data" for c in cluster):
        return (
            f"Too little history for a trend ({days} day(s) of node samples; need {MIN_DAYS}).",
            None,
            None,
            None,
        )
    what = {"cpu_pct": f"{target_cpu_pct:g} % CPU", "out_mbps": "the bandwidth limit"}
    over = [c for c in cluster if c.status == "over"]
    if over:
        c = over[0]
        return (
            f"Add a node now: the cluster's daily peak is already at {what[c.metric]}.",
            c.crossing_ts,
            c.crossing_ts,
            c.crossing_ts,
        )
    dated = sorted(
        (c for c in cluster if c.status == "crossing" and c.crossing_ts is not None),
        key=lambda c: c.crossing_ts or 0,
    )
    hot_nodes = sorted(
        (
            c
            for c in crossings
            if c.target != CLUSTER and c.status in ("over", "crossing") and c.crossing_ts is not None
        ),
        key=lambda c: c.crossing_ts or 0,
    )
    node_note = ""
    if hot_nodes:
        first = hot_nodes[0]
        node_note = (
            f" Node {first.target} reaches {what[first.metric]} first, on {_day_text(first.crossing_ts)}"
            " (rebalancing rooms can defer that)."
        )
    if not dated:
        return ("No node needed on the current trend: the cluster's daily peaks are not rising toward the targets." + node_note,
                None, None, None)  # fmt: skip
    c = dated[0]
    late = "no later bound (the trend may be flat)" if c.late_ts is None else _day_text(c.late_ts)
    return (
        f"Add a node by {_day_text(c.crossing_ts)} (80 % range {_day_text(c.early_ts)} – {late}), when the "
        f"cluster's daily peak reaches {what[c.metric]} on the {c.days_used}-day trend." + node_note,
        c.crossing_ts, c.early_ts, c.late_ts,
    )  # fmt: skip
