"""Benchmark: backtest one rule over 30 days of 15 s samples for 50 nodes (target < 1 s).

Prints JSON: {"backtest_s_30d_50nodes": ..., ...}. The timed part is the backtest itself
(grid values, hysteresis, for, keep_firing_for, episodes, flapping) on in-memory series; the
frame split and a threshold suggestion are reported separately.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.alerts.backtest import Grid, backtest_series, split_frame
from analytics.alerts.rules import Rule, RuleSet
from analytics.alerts.suggest import suggest_threshold

NODES = 50
DAYS = 30
STEP_S = 15
START_TS = 1_800_000_000


def synthetic_frame(seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = START_TS + STEP_S * np.arange(DAYS * 86_400 // STEP_S, dtype=np.int64)
    frames = []
    for node in range(NODES):
        daily = 55 + 30 * np.sin(2 * np.pi * (ts % 86_400) / 86_400 + node)
        values = daily + rng.normal(0, 6, ts.size)
        keep = rng.random(ts.size) > 0.002  # scattered missed scrapes
        frames.append(pd.DataFrame({"ts": ts[keep], "target": f"ND_{node:03d}", "value": values[keep]}))
    frame = pd.concat(frames, ignore_index=True)
    frame["target"] = frame["target"].astype("category")
    return frame


def main() -> None:
    frame = synthetic_frame()
    rule = Rule("HighCPU", "cpu_pct", ">", 80.0, recovery=75.0, for_s=300, keep_firing_for_s=60)
    ruleset = RuleSet((rule,), evaluation_interval_s=STEP_S, lookback_s=60)
    started = time.perf_counter()
    series = split_frame(frame)
    split_s = time.perf_counter() - started
    grid = Grid.covering(int(frame["ts"].min()), int(frame["ts"].max()), STEP_S)
    timings = []
    cpu_timings = []
    result = None
    for _ in range(3):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = backtest_series(series, rule, grid, ruleset.lookback_s)
        timings.append(time.perf_counter() - started)
        cpu_timings.append(time.process_time() - cpu_started)
    assert result is not None
    started = time.perf_counter()
    suggestion = suggest_threshold(frame, rule, ruleset, target_alerts_per_week=5)
    suggest_s = time.perf_counter() - started
    print(
        json.dumps(
            {
                "backtest_s_30d_50nodes": round(min(timings), 4),
                "backtest_s_30d_50nodes_runs": [round(t, 4) for t in timings],
                # CPU time of the same runs: less sensitive to a busy machine than wall time.
                "backtest_cpu_s_30d_50nodes": round(min(cpu_timings), 4),
                "split_frame_s": round(split_s, 4),
                "suggest_threshold_s": round(suggest_s, 4),
                "samples": len(frame),
                "evaluations": grid.steps * NODES,
                "episodes": result.count,
                "suggested_threshold": suggestion.threshold,
                "target_s": 1.0,
            }
        )
    )


if __name__ == "__main__":
    main()
