"""Prometheus rules on castmeter's own health, over the series `castmeter run` serves on /metrics
(collectors/self_metrics.py). ``castmeter alerts export`` appends them as a second group.

They page for the things that make castmeter's figures wrong without anyone noticing: the
collector gone or stalled, a source failing, the spool filling while the store is down (and
samples lost once it is full), and live alerts that cannot reach the Alertmanager.
"""

from __future__ import annotations

from typing import Any

GROUP_NAME = "castmeter-health"
# Above this share of either spool bound, the store has been unavailable for a while.
SPOOL_FILLING_SHARE = 0.5


def health_rules(castmeter_job: str = "castmeter") -> dict[str, Any]:
    """The rule group; ``castmeter_job`` is the job label of the scrape of castmeter's /metrics."""
    job = castmeter_job.replace("\\", "\\\\").replace('"', '\\"')
    share = SPOOL_FILLING_SHARE
    rules: list[dict[str, Any]] = [
        {
            "alert": "CastmeterCollectorDown",
            "expr": f'up{{job="{job}"}} == 0',
            "for": "5m",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "castmeter's collector is down on {{ $labels.instance }}",
                "description": "Prometheus cannot scrape castmeter's /metrics for 5m: nothing is being "
                "collected, and live alerts are not evaluated.",
            },
        },
        {
            "alert": "CastmeterCollectorStalled",
            "expr": f'time() - castmeter_last_tick_timestamp_seconds{{job="{job}"}} > 300',
            "for": "2m",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "castmeter's collector on {{ $labels.instance }} has not ticked for over 5m",
                "description": "The process answers but its collection loop is stuck.",
            },
        },
        {
            "alert": "CastmeterSourceFailing",
            "expr": f'castmeter_source_up{{job="{job}"}} == 0',
            "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "castmeter cannot poll {{ $labels.kind }} source {{ $labels.source }}",
                "description": "Every poll of the source failed for 5m: its figures have a gap "
                "(the dashboard names it).",
            },
        },
        {
            "alert": "CastmeterSpoolFilling",
            "expr": (
                f'castmeter_spool_bytes{{job="{job}"}} > {share} * castmeter_spool_max_bytes{{job="{job}"}}'
                f' or castmeter_spool_batches{{job="{job}"}} > {share} * castmeter_spool_max_batches{{job="{job}"}}'
            ),
            "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "castmeter's spool on {{ $labels.instance }} is over half full",
                "description": "The store has been unavailable for a while: samples wait in the spool, "
                "and are lost once it is full.",
            },
        },
        {
            "alert": "CastmeterSamplesLost",
            "expr": f'increase(castmeter_spool_overflow_batches_total{{job="{job}"}}[15m]) > 0',
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "castmeter dropped {{ $labels.kind }} samples: the store is down and the spool full",
                "description": "Samples were not stored; the dashboard shows the gap.",
            },
        },
        {
            "alert": "CastmeterAlertmanagerUnreachable",
            "expr": f'castmeter_alertmanager_up{{job="{job}"}} == 0',
            "for": "5m",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "castmeter cannot reach the Alertmanager at {{ $labels.alertmanager }}",
                "description": "castmeter's live alerts are retried but not delivered.",
            },
        },
    ]
    return {"name": GROUP_NAME, "rules": rules}
