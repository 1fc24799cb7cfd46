"""Replays as the CLI and the page use them: rules × a data source → results, suggestions,
promtool test cases. The data source is the store or a CSV (``ts,target,value``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from analytics.alerts.backtest import BacktestResult, Grid, backtest, grid_values, split_frame
from analytics.alerts.promtests import Case, promtool_test_yaml, window_around_first_episode
from analytics.alerts.rules import Rule, RuleSet
from analytics.alerts.series import SeriesReader, load_store_series, read_series_csv
from analytics.alerts.suggest import Suggestion, suggest_threshold


@dataclass
class Replay:
    rule: Rule
    frame: pd.DataFrame
    start_ts: int
    end_ts: int
    result: BacktestResult
    suggestion: Suggestion | None = None
    candidates: list[BacktestResult] = field(default_factory=list)


def load_frame(
    rule: Rule,
    *,
    reader: SeriesReader | None,
    series_csv: str | Path | None,
    since: int | tuple[str, int],
    until_ts: int | None,
    lookback_s: int = 60,
) -> tuple[pd.DataFrame, int, int]:
    """The samples for ``rule`` and the replayed range ``[start_ts, end_ts]``. ``since`` is
    seconds back from the end or ``("at", start_ts)``; ``until_ts`` None (a CSV only) is the
    CSV's last sample: the command line always passes its --until / --now. ``reader``: the
    store's (store.queries.alert_series.series_reader) when there is no CSV."""
    if series_csv is not None:
        frame = read_series_csv(series_csv, rule)
        end_ts = until_ts if until_ts is not None else (int(frame["ts"].max()) if len(frame) else 0)
        first_ts = int(frame["ts"].min()) if len(frame) else end_ts
        start_ts = max(first_ts, since[1] if isinstance(since, tuple) else end_ts - since)
        return frame[(frame["ts"] >= start_ts) & (frame["ts"] <= end_ts)], start_ts, end_ts
    assert reader is not None and until_ts is not None
    end_ts = until_ts
    start_ts = since[1] if isinstance(since, tuple) else end_ts - since
    return load_store_series(reader, rule, start_ts - lookback_s, end_ts, lookback_s), start_ts, end_ts


def replay_rule(
    rule: Rule,
    ruleset: RuleSet,
    frame: pd.DataFrame,
    start_ts: int,
    end_ts: int,
    *,
    target_per_week: float | None = None,
    candidates: Sequence[float] = (),
    keep_values: bool = False,
) -> Replay:
    result = backtest(frame, rule, ruleset, start_ts=start_ts, end_ts=end_ts, keep_values=keep_values)
    replay = Replay(rule, frame, start_ts, end_ts, result)
    if target_per_week is not None:
        replay.suggestion = suggest_threshold(
            frame, rule, ruleset, target_per_week, start_ts=start_ts, end_ts=end_ts
        )
    replay.candidates = [
        backtest(
            frame, rule.with_threshold(t), ruleset, start_ts=start_ts, end_ts=end_ts, keep_values=keep_values
        )
        for t in candidates
    ]
    return replay


def replay_json(replay: Replay, *, with_episodes: bool = True) -> dict[str, Any]:
    data = replay.result.to_json() if with_episodes else replay.result.summary()
    if replay.suggestion is not None:
        data["suggestion"] = replay.suggestion.to_json()
    if replay.candidates:
        data["candidates"] = [c.summary() for c in replay.candidates]
    return data


def promtool_cases(
    replays: Sequence[Replay], ruleset: RuleSet, *, max_steps: int, max_targets: int
) -> list[Case]:
    """Test cases from replayed data: per exportable rule, its first targets' windows."""
    cases: list[Case] = []
    for replay in replays:
        rule = replay.rule
        if not rule.exportable or replay.frame.empty:
            continue
        grid = Grid.covering(replay.start_ts, replay.end_ts, ruleset.evaluation_interval_s)
        values = grid_values(split_frame(replay.frame), rule, grid, ruleset.lookback_s)
        # Targets that fired first: they make the most telling tests.
        ranked = sorted(values, key=lambda t: (-int((replay.result.episodes["target"] == t).sum()), t))
        for target in ranked[:max_targets]:
            window = window_around_first_episode(values[target], rule, grid.interval_s, max_steps)
            cases.append(Case(rule, target, window))
    return cases


def write_promtool_tests(
    path: str | Path, rules_path: str | Path, ruleset: RuleSet, cases: Sequence[Case]
) -> None:
    path = Path(path)
    # promtool resolves rule_files relative to the test file.
    relative = os.path.relpath(Path(rules_path).resolve(), path.resolve().parent)
    path.write_text(promtool_test_yaml(ruleset, [relative], cases), encoding="utf-8")
