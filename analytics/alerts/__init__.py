"""Alert threshold review: rules, backtest with Prometheus semantics, suggestion, export."""

from analytics.alerts.backtest import BacktestResult, Grid, backtest, backtest_series, compare_thresholds
from analytics.alerts.metrics import METRICS, MetricSpec
from analytics.alerts.promql import ExportOptions, export_rules
from analytics.alerts.rules import Rule, RuleError, RuleSet, load_rules, parse_rules, parse_rules_yaml
from analytics.alerts.suggest import Suggestion, suggest_threshold

__all__ = [
    "METRICS",
    "BacktestResult",
    "ExportOptions",
    "Grid",
    "MetricSpec",
    "Rule",
    "RuleError",
    "RuleSet",
    "Suggestion",
    "backtest",
    "backtest_series",
    "compare_thresholds",
    "export_rules",
    "load_rules",
    "parse_rules",
    "parse_rules_yaml",
    "suggest_threshold",
]
