"""Generate `promtool test rules` files from the backtest: input series + expected alerts.

Each case replays one rule on one target's evaluation-grid values (what the backtest sees,
fed as the recorded ``castmeter:<metric>:<scope>`` series), and states at every evaluation
which alerts our backtest says are firing. ``promtool test rules`` then checks that
Prometheus's own rule evaluation agrees.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import yaml

from analytics.alerts.backtest import evaluate_episodes, firing_mask
from analytics.alerts.promql import alert_annotations, alert_labels, recorded_name, target_label
from analytics.alerts.rules import Rule, RuleSet, format_duration

# Each case is bounded so a generated file stays small and promtool stays fast.
DEFAULT_MAX_STEPS = 480


@dataclass(frozen=True)
class Case:
    rule: Rule
    target: str
    values: np.ndarray  # grid values from evaluation 0 (NaN = no data)


def _format_value(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


def series_notation(values: np.ndarray) -> str:
    """Grid values → promtool's expanding notation. A gap starts with a stale marker (the
    series disappears at once, as the backtest's no-data does) and continues with blanks."""
    tokens: list[str] = []
    index = 0
    seen_value = False
    size = values.size
    while index < size:
        value = values[index]
        run_end = index + 1
        if math.isnan(value):
            if seen_value:
                tokens.append("stale")
                index += 1
                seen_value = False
                continue
            while run_end < size and math.isnan(values[run_end]):
                run_end += 1
            count = run_end - index
            tokens.append("_" if count == 1 else f"_x{count}")
        else:
            while run_end < size and values[run_end] == value:
                run_end += 1
            count = run_end - index
            text = _format_value(value)
            tokens.append(text if count == 1 else f"{text}x{count - 1}")
            seen_value = True
        index = run_end
    return " ".join(tokens)


def _series_selector(rule: Rule, target: str) -> str:
    label = target_label(rule)
    name = recorded_name(rule.metric, rule.scope)
    if label is None:
        return name
    escaped = target.replace("\\", "\\\\").replace('"', '\\"')
    return f'{name}{{{label}="{escaped}"}}'


def _expected(rule: Rule, target: str) -> dict[str, Any]:
    labels = alert_labels(rule)
    label = target_label(rule)
    if label is not None:
        labels[label] = target
    rendered = {
        key: value.replace(f"{{{{ $labels.{label} }}}}", target) if label else value
        for key, value in alert_annotations(rule).items()
    }
    return {"exp_labels": labels, "exp_annotations": rendered}


def build_test_case(case: Case, interval_s: int) -> dict[str, Any]:
    rule = case.rule
    firing = firing_mask(evaluate_episodes(case.values, rule, interval_s), case.values.size)
    expected = _expected(rule, case.target)
    checks = [
        {
            "eval_time": format_duration(step * interval_s),
            "alertname": rule.name,
            "exp_alerts": [expected] if firing[step] else [],
        }
        for step in range(case.values.size)
    ]
    return {
        "name": f"{rule.name} on {case.target}",
        "interval": format_duration(interval_s),
        "input_series": [
            {"series": _series_selector(rule, case.target), "values": series_notation(case.values)}
        ],
        "alert_rule_test": checks,
    }


def promtool_test_document(
    ruleset: RuleSet, rule_files: Sequence[str], cases: Sequence[Case]
) -> dict[str, Any]:
    return {
        "rule_files": list(rule_files),
        "evaluation_interval": format_duration(ruleset.evaluation_interval_s),
        "tests": [build_test_case(case, ruleset.evaluation_interval_s) for case in cases],
    }


def promtool_test_yaml(ruleset: RuleSet, rule_files: Sequence[str], cases: Sequence[Case]) -> str:
    return yaml.safe_dump(promtool_test_document(ruleset, rule_files, cases), sort_keys=False, width=100_000)


def window_around_first_episode(
    values: np.ndarray, rule: Rule, interval_s: int, max_steps: int
) -> np.ndarray:
    """A window of at most ``max_steps`` grid values that starts with the alert inactive and
    shows the first firing (or the start of the history when nothing fired)."""
    if values.size <= max_steps:
        return values
    episodes = evaluate_episodes(values, rule, interval_s)
    if episodes.start.size == 0:
        return values[:max_steps]
    margin = max(4, math.ceil(rule.for_s / interval_s) + 4)
    # Start where the value meets neither threshold, so the window begins from a clean state.
    start = max(0, int(episodes.cond_start[0]) - margin)
    quiet = ~rule.compare(values[: start + 1], rule.recovery_threshold)
    candidates = np.flatnonzero(quiet)
    start = int(candidates[-1]) if candidates.size else 0
    return values[start : start + max_steps]
