"""Export rules as Prometheus recording + alerting rules over the real exporter metrics.

Shape of the export (one group, evaluated in order at the rules' evaluation interval):

- one recording rule per (metric, scope) used, ``castmeter:<metric>:<scope>``, computing the
  metric from LiveKit / node_exporter series in castmeter's unit (the same value the store
  holds), e.g. ``castmeter:cpu_pct:node`` from ``node_cpu_seconds_total{mode="idle"}``;
- one alerting rule per castmeter rule, comparing the recorded series.

Hysteresis is not native to Prometheus. It is exported with the ALERTS pattern::

    castmeter:m:node > T or (castmeter:m:node > R and on(instance) ALERTS{alertname="X"})

ALERTS{alertname="X"} exists (pending or firing, including keep_firing_for) from the previous
evaluation, so an active alert is held by the recovery threshold R and a new one needs T —
exactly the backtest's rule. Rules on metrics Prometheus does not have (per-stream listeners,
spend) are skipped with the reason. ``relay_down`` and ``hls_5xx_pct`` (per stream) read
castmeter's own audience series (collectors/audience_metrics.py): they need Prometheus to
scrape castmeter's collectors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from analytics.alerts.health_rules import health_rules
from analytics.alerts.metrics import METRICS
from analytics.alerts.rules import Rule, RuleSet, format_duration

GROUP_NAME = "castmeter"
_FLEET_FUNCTION = {"mean": "avg", "sum": "sum", "max": "max"}


@dataclass(frozen=True)
class ExportOptions:
    # rate() window for counters: must span at least two scrapes.
    rate_window: str = "1m"
    # The job label of the LiveKit scrape, for node-down (up == 0).
    livekit_job: str = "livekit"
    # castmeter's own health rules (analytics/alerts/health_rules.py) over its /metrics, scraped
    # as this job; a second group of the export.
    health_rules: bool = True
    castmeter_job: str = "castmeter"


@dataclass(frozen=True)
class Export:
    text: str  # the Prometheus rules file (YAML)
    document: dict[str, Any]
    exported: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]  # (rule name, reason)
    # Exported rules over castmeter's own series: Prometheus must scrape castmeter's collectors.
    on_castmeter_series: tuple[str, ...] = ()


def recorded_name(metric: str, scope: str) -> str:
    return f"castmeter:{metric}:{scope}"


def target_label(rule: Rule) -> str | None:
    """The label that identifies the alert's target, None for fleet rules."""
    return None if rule.scope == "fleet" else rule.spec.target_label


def skip_reason(rule: Rule) -> str | None:
    spec = rule.spec
    if spec.promql is None:
        return spec.not_exportable_reason or "no Prometheus source for this metric"
    if rule.scope not in (spec.promql_scope, "fleet"):
        return (
            "LiveKit exports no per-room series" if rule.scope == "stream" else f"no per-{rule.scope} series"
        )
    return None


def _recording_expr(metric: str, scope: str, options: ExportOptions) -> str:
    spec = METRICS[metric]
    assert spec.promql is not None
    if scope == "fleet":
        return f"{_FLEET_FUNCTION[spec.fleet_aggregate]}({recorded_name(metric, spec.promql_scope)})"
    return spec.promql.format(window=options.rate_window, livekit_job=options.livekit_job)


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


def alert_expr(rule: Rule) -> str:
    series = recorded_name(rule.metric, rule.scope)
    fire = f"{series} {rule.comparison} {_number(rule.threshold)}"
    if rule.recovery is None or rule.recovery == rule.threshold:
        return fire
    label = target_label(rule)
    matching = f"on({label})" if label else "on()"
    hold = f'{series} {rule.comparison} {_number(rule.recovery)} and {matching} ALERTS{{alertname="{rule.name}"}}'
    return f"({fire}) or ({hold})"


def alert_annotations(rule: Rule) -> dict[str, str]:
    """Static annotations (no $value), so generated unit tests can state them exactly."""
    spec = rule.spec
    recovery = "" if rule.recovery is None else f", recovers at {_number(rule.recovery)}"
    where = "the fleet" if rule.scope == "fleet" else f"{{{{ $labels.{spec.target_label} }}}}"
    condition = " ".join(
        part for part in (spec.title, rule.comparison, _number(rule.threshold), spec.unit) if part
    )
    return {
        "summary": f"{condition} on {where}",
        "description": rule.description or f"{condition} for {format_duration(rule.for_s)}{recovery}",
    }


def alert_labels(rule: Rule) -> dict[str, str]:
    return {"severity": rule.severity, **{k: str(v) for k, v in rule.labels.items()}}


def export_rules(
    ruleset: RuleSet, options: ExportOptions | None = None, *, include_disabled: bool = False
) -> Export:
    options = options or ExportOptions()
    selected = ruleset.rules if include_disabled else ruleset.enabled()
    skipped: list[tuple[str, str]] = []
    exported: list[Rule] = []
    for rule in selected:
        reason = skip_reason(rule)
        if reason:
            skipped.append((rule.name, reason))
        else:
            exported.append(rule)
    recordings: list[tuple[str, str]] = []
    for rule in exported:
        base = (rule.metric, rule.spec.promql_scope)
        needed = [base] if rule.scope == rule.spec.promql_scope else [base, (rule.metric, "fleet")]
        for pair in needed:
            if pair not in recordings:
                recordings.append(pair)
    rules: list[dict[str, Any]] = [
        {"record": recorded_name(metric, scope), "expr": _recording_expr(metric, scope, options)}
        for metric, scope in recordings
    ]
    for rule in exported:
        entry: dict[str, Any] = {"alert": rule.name, "expr": alert_expr(rule)}
        if rule.for_s:
            entry["for"] = format_duration(rule.for_s)
        if rule.keep_firing_for_s:
            entry["keep_firing_for"] = format_duration(rule.keep_firing_for_s)
        entry["labels"] = alert_labels(rule)
        entry["annotations"] = alert_annotations(rule)
        rules.append(entry)
    document: dict[str, Any] = {
        "groups": [
            {
                "name": GROUP_NAME,
                "interval": format_duration(ruleset.evaluation_interval_s),
                "rules": rules,
            }
        ]
    }
    if options.health_rules:
        document["groups"].append(health_rules(options.castmeter_job))
    header = "# Generated by `python -m analytics alerts export` from castmeter alert rules.\n"
    for name, reason in skipped:
        header += f"# Not exported: {name}: {reason}\n"
    on_castmeter = tuple(rule.name for rule in exported if rule.spec.castmeter_series)
    if on_castmeter:
        header += (
            f"# {', '.join(on_castmeter)}: over castmeter's own series (castmeter_relay_down, "
            "castmeter_hls_bucket_*): Prometheus must scrape every castmeter collector's /metrics.\n"
        )
    text = header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=200)
    return Export(text, document, tuple(r.name for r in exported), tuple(skipped), on_castmeter)
