"""Alert rules: the model, the YAML file format and validation with errors naming rule and field.

A rules file::

    evaluation_interval: 15s   # how often rules are evaluated (backtest grid, live ticks)
    lookback: 1m               # a sample counts as present this long; longer gaps are no data
    rules:
      - name: HighCPU
        metric: cpu_pct
        comparison: ">"
        threshold: 80
        recovery: 75           # optional hysteresis: once active, stays until <= 75
        for: 5m
        keep_firing_for: 1m
        scope: node
        severity: warning
        labels: {team: ops}
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from analytics.alerts.metrics import METRICS, MetricSpec, Scope
from core.timeargs import is_duration
from core.timeargs import parse_duration_s as parse_duration_text

Comparison = Literal[">", ">=", "<", "<="]
Severity = Literal["info", "warning", "critical"]
InputKind = Literal["gauge", "counter"]

COMPARISONS: tuple[str, ...] = (">", ">=", "<", "<=")
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")
SCOPES: tuple[str, ...] = ("node", "stream", "fleet")
MAX_DURATION_S = 7 * 86_400
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Labels the alert sets itself; a rule may not override them.
_RESERVED_LABELS = {"alertname", "alertstate", "severity", "node_id", "instance", "room", "__name__"}
_RULE_KEYS = {
    "name",
    "metric",
    "comparison",
    "threshold",
    "recovery",
    "for",
    "keep_firing_for",
    "scope",
    "severity",
    "labels",
    "enabled",
    "description",
    "input",
    "window",
    "budget_usd_per_month",
    "usd_per_gb_out",
}

_OPS: dict[str, Callable[[Any, Any], Any]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


class RuleError(ValueError):
    """An invalid rules file; the message names the rule and the field."""


def parse_duration_s(value: Any, where: str, max_s: int = MAX_DURATION_S) -> int:
    """``"5m"``, ``"1h30m"``, ``"90s"`` or a number of seconds → integer seconds."""
    if isinstance(value, bool):
        raise RuleError(f"{where}: expected a duration like 5m, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        # The one duration grammar of castmeter (core/timeargs.py): 30s, 5m, 1h30m, 2d, 1w.
        if not is_duration(value):
            raise RuleError(f"{where}: {value!r} is not a duration (use e.g. 30s, 5m, 1h)")
        seconds = parse_duration_text(value, where)
    else:
        raise RuleError(f"{where}: expected a duration like 5m, got {value!r}")
    if not math.isfinite(seconds) or seconds < 0 or seconds != int(seconds):
        raise RuleError(f"{where}: {value!r} must be a whole, non-negative number of seconds")
    if seconds > max_s:
        raise RuleError(f"{where}: {value!r} is longer than the {format_duration(max_s)} maximum")
    return int(seconds)


def format_duration(seconds: int) -> str:
    """Seconds → the Prometheus duration string (``300`` → ``5m``; ``0`` → ``0s``)."""
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


@dataclass(frozen=True)
class Rule:
    name: str
    metric: str
    comparison: Comparison
    threshold: float
    recovery: float | None = None
    for_s: int = 0
    keep_firing_for_s: int = 0
    scope: Scope = "node"
    severity: Severity = "warning"
    labels: Mapping[str, str] = field(default_factory=dict)
    enabled: bool = True
    description: str = ""
    # How external CSV values are read: counter → per-second rate with reset handling.
    input: InputKind = "gauge"
    # listeners_drop_pct: the window the drop is measured against.
    window_s: int = 300
    # spend_run_rate_pct: the monthly budget, and the $/GB used only when the catalogue cannot load.
    budget_usd_per_month: float | None = None
    usd_per_gb_out: float = 0.12

    @property
    def spec(self) -> MetricSpec:
        return METRICS[self.metric]

    @property
    def recovery_threshold(self) -> float:
        """The threshold that keeps an active alert active (the threshold itself without hysteresis)."""
        return self.threshold if self.recovery is None else self.recovery

    @property
    def exportable(self) -> bool:
        return self.spec.promql is not None and self.scope in (self.spec.promql_scope, "fleet")

    def compare(self, values: np.ndarray, threshold: float) -> np.ndarray:
        """Elementwise ``values <op> threshold``; NaN (no data) is never true."""
        with np.errstate(invalid="ignore"):
            result: np.ndarray = _OPS[self.comparison](values, threshold)
        return result & ~np.isnan(values)

    def with_threshold(self, threshold: float) -> Rule:
        """This rule at another threshold, keeping the same hysteresis gap."""
        recovery = None if self.recovery is None else threshold - (self.threshold - self.recovery)
        return replace(self, threshold=threshold, recovery=recovery)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "metric": self.metric,
            "comparison": self.comparison,
            "threshold": self.threshold,
        }
        if self.recovery is not None:
            data["recovery"] = self.recovery
        data["for"] = format_duration(self.for_s)
        if self.keep_firing_for_s:
            data["keep_firing_for"] = format_duration(self.keep_firing_for_s)
        data["scope"] = self.scope
        data["severity"] = self.severity
        if self.labels:
            data["labels"] = dict(self.labels)
        if not self.enabled:
            data["enabled"] = False
        if self.description:
            data["description"] = self.description
        if self.input != "gauge":
            data["input"] = self.input
        if self.metric == "listeners_drop_pct":
            data["window"] = format_duration(self.window_s)
        if self.metric == "spend_run_rate_pct":
            data["budget_usd_per_month"] = self.budget_usd_per_month
            data["usd_per_gb_out"] = self.usd_per_gb_out
        return data


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    evaluation_interval_s: int = 15
    lookback_s: int = 60

    def enabled(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.enabled)

    def get(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "evaluation_interval": format_duration(self.evaluation_interval_s),
            "lookback": format_duration(self.lookback_s),
            "rules": [rule.to_dict() for rule in self.rules],
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


def _number(raw: Mapping[str, Any], key: str, where: str, required: bool = False) -> float | None:
    value = raw.get(key)
    if value is None:
        if required:
            raise RuleError(f"{where} field '{key}': required")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(float(value)):
        raise RuleError(f"{where} field '{key}': expected a number, got {value!r}")
    return float(value)


def _choice(raw: Mapping[str, Any], key: str, where: str, choices: tuple[str, ...], default: str) -> str:
    value = raw.get(key, default)
    if value not in choices:
        raise RuleError(f"{where} field '{key}': {value!r} is not one of {', '.join(choices)}")
    return str(value)


def parse_rule(raw: Any, index: int) -> Rule:
    if not isinstance(raw, Mapping):
        raise RuleError(f"rule #{index + 1}: expected a mapping, got {type(raw).__name__}")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise RuleError(
            f"rule #{index + 1} field 'name': {name!r} must be a Prometheus alert name ([A-Za-z_][A-Za-z0-9_]*)"
        )
    where = f"rule '{name}'"
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        raise RuleError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}")
    metric_name = raw.get("metric")
    if metric_name not in METRICS:
        raise RuleError(f"{where} field 'metric': {metric_name!r} is not one of {', '.join(METRICS)}")
    spec = METRICS[str(metric_name)]
    comparison = _choice(raw, "comparison", where, COMPARISONS, ">")
    threshold = _number(raw, "threshold", where, required=True)
    assert threshold is not None
    if not spec.low <= threshold <= spec.high:
        raise RuleError(
            f"{where} field 'threshold': {threshold:g} is outside {spec.low:g}–{spec.high:g} {spec.unit} "
            f"for {spec.name}"
        )
    recovery = _number(raw, "recovery", where)
    if recovery is not None:
        if not spec.low <= recovery <= spec.high:
            raise RuleError(
                f"{where} field 'recovery': {recovery:g} is outside {spec.low:g}–{spec.high:g} {spec.unit}"
            )
        if comparison.startswith(">") and recovery > threshold:
            raise RuleError(
                f"{where} field 'recovery': {recovery:g} must not be above the threshold {threshold:g} "
                f"for '{comparison}' (the alert recovers when the value falls back)"
            )
        if comparison.startswith("<") and recovery < threshold:
            raise RuleError(
                f"{where} field 'recovery': {recovery:g} must not be below the threshold {threshold:g} "
                f"for '{comparison}'"
            )
    scope = _choice(raw, "scope", where, SCOPES, "node")
    if scope not in spec.scopes:
        raise RuleError(
            f"{where} field 'scope': {spec.name} supports {', '.join(spec.scopes)}, not {scope!r}"
        )
    labels = raw.get("labels") or {}
    if not isinstance(labels, Mapping):
        raise RuleError(f"{where} field 'labels': expected a mapping of label: value")
    for key, value in labels.items():
        if not isinstance(key, str) or not _LABEL_RE.match(key) or key.startswith("__"):
            raise RuleError(f"{where} field 'labels': {key!r} is not a valid label name")
        if key in _RESERVED_LABELS:
            raise RuleError(f"{where} field 'labels': {key!r} is set by castmeter itself")
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise RuleError(f"{where} field 'labels.{key}': expected a string")
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleError(f"{where} field 'enabled': expected true or false")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise RuleError(f"{where} field 'description': expected a string")
    budget = _number(raw, "budget_usd_per_month", where)
    if spec.name == "spend_run_rate_pct" and (budget is None or budget <= 0):
        raise RuleError(f"{where} field 'budget_usd_per_month': required and > 0 for {spec.name}")
    usd_per_gb = _number(raw, "usd_per_gb_out", where)
    if usd_per_gb is not None and not 0 <= usd_per_gb <= 100:
        raise RuleError(f"{where} field 'usd_per_gb_out': {usd_per_gb:g} is outside 0–100 USD/GB")
    window_s = parse_duration_s(raw.get("window", 300), f"{where} field 'window'")
    if window_s <= 0:
        raise RuleError(f"{where} field 'window': must be longer than 0s")
    return Rule(
        name=name,
        metric=spec.name,
        comparison=comparison,  # type: ignore[arg-type]
        threshold=threshold,
        recovery=recovery,
        for_s=parse_duration_s(raw.get("for", 0), f"{where} field 'for'"),
        keep_firing_for_s=parse_duration_s(raw.get("keep_firing_for", 0), f"{where} field 'keep_firing_for'"),
        scope=scope,
        severity=_choice(raw, "severity", where, SEVERITIES, "warning"),  # type: ignore[arg-type]
        labels={str(k): str(v) for k, v in labels.items()},
        enabled=enabled,
        description=description,
        input=_choice(raw, "input", where, ("gauge", "counter"), "gauge"),  # type: ignore[arg-type]
        window_s=window_s,
        budget_usd_per_month=budget,
        usd_per_gb_out=0.12 if usd_per_gb is None else usd_per_gb,
    )


def parse_rules(data: Any) -> RuleSet:
    """Validate a parsed rules document (a mapping with ``rules``)."""
    if not isinstance(data, Mapping):
        raise RuleError("rules file: expected a mapping with a 'rules' list")
    unknown = sorted(set(data) - {"evaluation_interval", "lookback", "rules"})
    if unknown:
        raise RuleError(f"rules file: unknown key(s) {', '.join(map(repr, unknown))}")
    interval_s = parse_duration_s(
        data.get("evaluation_interval", "15s"), "rules file field 'evaluation_interval'"
    )
    if not 1 <= interval_s <= 3600:
        raise RuleError("rules file field 'evaluation_interval': must be between 1s and 1h")
    lookback_s = parse_duration_s(data.get("lookback", "1m"), "rules file field 'lookback'")
    if lookback_s < interval_s:
        raise RuleError("rules file field 'lookback': must be at least the evaluation interval")
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list):
        raise RuleError("rules file field 'rules': expected a list of rules")
    rules = tuple(parse_rule(raw, index) for index, raw in enumerate(raw_rules))
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise RuleError(f"rule '{rule.name}' field 'name': used by more than one rule")
        seen.add(rule.name)
    return RuleSet(rules, interval_s, lookback_s)


def parse_rules_yaml(text: str) -> RuleSet:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleError(f"rules file: invalid YAML: {exc}") from None
    return parse_rules(data if data is not None else {"rules": []})


def load_rules(path: str | Path) -> RuleSet:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleError(f"rules file {path}: cannot read ({exc.strerror})") from None
    try:
        return parse_rules_yaml(text)
    except RuleError as exc:
        raise RuleError(f"{path}: {exc}") from None
