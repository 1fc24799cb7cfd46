"""Headroom forecast: a synthetic linear trend gives the right date; flat, falling, too-short
and already-over series are told apart; node and cluster forecasts from node load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics.forecast import CLUSTER, forecast, linear_crossing, t_quantile_80

DAY_S = 86_400
START_TS = 1_800_000_000 - 1_800_000_000 % DAY_S


def days(n: int) -> np.ndarray:
    return START_TS + np.arange(n) * DAY_S


def test_linear_trend_gives_the_right_date() -> None:
    # 30 + 1 pp/day from day 0: 70 % on day 40.
    now = START_TS + 29 * DAY_S
    crossing = linear_crossing(days(30), 30.0 + np.arange(30), 70.0, now)
    assert crossing.status == "crossing"
    assert crossing.crossing_ts == START_TS + 40 * DAY_S
    assert crossing.early_ts == crossing.late_ts == crossing.crossing_ts  # no noise, no spread
    assert crossing.slope_per_day == pytest.approx(1.0)
    assert crossing.current == pytest.approx(59.0)


def test_noisy_trend_brackets_the_true_date() -> None:
    now = START_TS + 29 * DAY_S
    true_ts = START_TS + 40 * DAY_S
    covered = 0
    for seed in range(200):
        rng = np.random.default_rng(seed)
        crossing = linear_crossing(days(30), 30.0 + np.arange(30) + rng.normal(0, 2, 30), 70.0, now)
        assert crossing.status == "crossing"
        assert (
            crossing.crossing_ts is not None
            and crossing.early_ts is not None
            and crossing.late_ts is not None
        )
        assert abs(crossing.crossing_ts - true_ts) < 4 * DAY_S
        assert crossing.early_ts < crossing.crossing_ts < crossing.late_ts
        covered += crossing.early_ts - 3600 <= true_ts <= crossing.late_ts + 3600  # an hourly grid
    # An 80 % range: about 160 of 200 (binomial sd ≈ 6).
    assert 140 <= covered <= 180, covered


def test_flat_falling_short_and_over() -> None:
    now = START_TS + 29 * DAY_S
    assert linear_crossing(days(30), np.full(30, 40.0), 70.0, now).status == "not_rising"
    assert linear_crossing(days(30), 60.0 - np.arange(30) * 0.5, 70.0, now).status == "not_rising"
    assert linear_crossing(days(3), np.array([10.0, 20.0, 30.0]), 70.0, now).status == "too_little_data"
    over = linear_crossing(days(30), 50.0 + np.arange(30), 70.0, now)
    assert over.status == "over" and over.crossing_ts == now
    slow = linear_crossing(days(30), 10.0 + np.arange(30) * 0.01, 70.0, now)
    assert slow.status == "beyond_horizon" and slow.crossing_ts is None


def test_t_quantiles() -> None:
    assert t_quantile_80(10) == pytest.approx(1.372)
    assert t_quantile_80(11) == pytest.approx(1.372)  # next tabulated dof down: conservative
    assert t_quantile_80(1000) == pytest.approx(1.2816)


def load_frame(n_days: int, *, now_ts: int) -> pd.DataFrame:
    """Two nodes, hourly buckets; node a's hourly CPU is 20 + 1 pp/day with a daily peak
    shape, node b is flat at 10 %; bandwidth grows on node a only."""
    rows = []
    for day in range(n_days):
        for hour in range(24):
            ts = START_TS + day * DAY_S + hour * 3600
            if ts >= now_ts:
                break
            shape = 1.0 if hour == 20 else 0.5  # the day's peak at 20:00
            rows.append({"node_id": "1:a", "bucket_ts": ts, "cpu_pct": (20.0 + day) * shape,
                         "bytes_out_per_s": (10e6 + day * 1e6) * shape, "participants": 100.0 + 10 * day,
                         "tracks_subscribed": 100.0 + 10 * day})  # fmt: skip
            rows.append({"node_id": "1:b", "bucket_ts": ts, "cpu_pct": 10.0, "bytes_out_per_s": 5e6,
                         "participants": 50.0, "tracks_subscribed": 50.0})  # fmt: skip
    return pd.DataFrame(rows)


def test_forecast_per_node_and_cluster() -> None:
    now = START_TS + 30 * DAY_S + 6 * 3600  # today (day 30) is partial and left out
    headroom = forecast(load_frame(31, now_ts=now), now, target_cpu_pct=70.0, port_mbps=1000.0)
    by = {(c.target, c.metric): c for c in headroom.crossings}
    node_a = by[("1:a", "cpu_pct")]
    assert node_a.status == "crossing" and node_a.days_used == 30
    assert node_a.crossing_ts == START_TS + 50 * DAY_S  # 20 + d = 70
    assert by[("1:b", "cpu_pct")].status == "not_rising"
    # Cluster: mean of the two nodes at the peak hour = (20 + d + 10) / 2 = 70 → d = 110.
    cluster = by[(CLUSTER, "cpu_pct")]
    assert cluster.crossing_ts == START_TS + 110 * DAY_S
    assert headroom.add_node_by_ts == cluster.crossing_ts
    assert (
        "Add a node by" in headroom.recommendation
        and "Node 1:a reaches 70 % CPU first" in headroom.recommendation
    )
    # Node a's bandwidth: (10 + d) MB/s × 8 = 80 + 8d Mbit/s reaches 700 at d = 77.5.
    assert by[("1:a", "out_mbps")].crossing_ts == START_TS + int(77.5 * DAY_S)
    # Audience growth: +10 participants/day on a mean of 150 + 145 = 295 → about 102 % per month.
    assert headroom.listener_growth_pct_per_month == pytest.approx(10 * 30 / 295 * 100, rel=1e-6)
    assert headroom.nodes == 2 and headroom.days == 30
    assert {"target", "metric", "status", "crossing_ts"} <= set(headroom.frame().columns)


def test_forecast_with_too_little_history() -> None:
    now = START_TS + 2 * DAY_S + 3600
    headroom = forecast(load_frame(3, now_ts=now), now, target_cpu_pct=70.0, port_mbps=1000.0)
    assert headroom.add_node_by_ts is None
    assert "Too little history" in headroom.recommendation
    empty = forecast(pd.DataFrame(), now, target_cpu_pct=70.0, port_mbps=1000.0)
    assert empty.crossings == [] and "Too little history" in empty.recommendation
