"""castmeter's own health rules (analytics/alerts/health_rules.py) under `promtool test rules`:
series written by hand, the alerts Prometheus must (and must not) fire."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from analytics.alerts.health_rules import health_rules
from analytics.alerts.promql import ExportOptions, export_rules
from analytics.alerts.rules import load_rules
from harness.realparts import REPO_ROOT

pytestmark = pytest.mark.prometheus

JOB = {"job": "castmeter", "instance": "collector:9465"}
# The annotation templates, with {{ $labels.x }} filled in per expected alert.
ANNOTATIONS = {rule["alert"]: rule["annotations"] for rule in health_rules()["rules"]}


def _series(name: str, values: str, **labels: str) -> dict[str, str]:
    every = {**JOB, **labels}
    inner = ",".join(f'{key}="{value}"' for key, value in every.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def _alert(name: str, at: str, labels: list[dict[str, str]]) -> dict[str, Any]:
    expected = []
    for extra in labels:
        every = {**JOB, **extra}
        annotations = {}
        for key, template in ANNOTATIONS[name].items():
            for label, text in every.items():
                template = template.replace(f"{{{{ $labels.{label} }}}}", text)
            annotations[key] = template
        expected.append({"exp_labels": every, "exp_annotations": annotations})
    return {"eval_time": at, "alertname": name, "exp_alerts": expected}


def test_health_rules_fire_on_hand_written_series(promtool: Path, tmp_path: Path) -> None:
    exported = export_rules(load_rules(REPO_ROOT / "rules" / "castmeter.rules.example.yaml"))
    groups = [group["name"] for group in exported.document["groups"]]
    assert groups == ["castmeter", "castmeter-health"]
    (tmp_path / "rules.yml").write_text(exported.text)
    # One sample a minute. The collector answers for 10 minutes, then is gone (up 0): down
    # after 5 more minutes. Source "lk" fails from minute 3; "prom" never does. The spool fills
    # past half its bytes from minute 2 and overflows once at minute 9. Alertmanager unreachable
    # from minute 4. The last tick stops advancing at minute 6 (a stuck loop).
    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    _series("up", "1x9 0x10"),
                    _series("castmeter_source_up", "1 1 1 0x17", source="lk", kind="livekit"),
                    _series("castmeter_source_up", "1x20", source="prom", kind="prometheus"),
                    _series("castmeter_spool_bytes", "0 0 600 700 800 900x16"),
                    _series("castmeter_spool_max_bytes", "1000x20"),
                    _series("castmeter_spool_batches", "0 0 3 4 5 6x16"),
                    _series("castmeter_spool_max_batches", "100x20"),
                    _series("castmeter_spool_overflow_batches_total", "0x8 1x11", kind="rooms"),
                    _series("castmeter_alertmanager_up", "1 1 1 1 0x16", alertmanager="http://am:9093"),
                    # The tick timestamps: 60 s apart until minute 6, then frozen.
                    _series("castmeter_last_tick_timestamp_seconds", "0+60x6 360x13"),
                ],
                "alert_rule_test": [
                    _alert("CastmeterSourceFailing", "7m", []),  # failing 4m: pending
                    _alert(
                        "CastmeterSourceFailing",
                        "8m",
                        [{"severity": "warning", "source": "lk", "kind": "livekit"}],
                    ),
                    _alert("CastmeterSpoolFilling", "6m", []),
                    _alert("CastmeterSpoolFilling", "7m", [{"severity": "warning"}]),
                    _alert("CastmeterSamplesLost", "8m", []),
                    _alert("CastmeterSamplesLost", "9m", [{"severity": "critical", "kind": "rooms"}]),
                    _alert("CastmeterAlertmanagerUnreachable", "8m", []),
                    _alert(
                        "CastmeterAlertmanagerUnreachable",
                        "9m",
                        [{"severity": "critical", "alertmanager": "http://am:9093"}],
                    ),
                    _alert("CastmeterCollectorDown", "14m", []),
                    _alert("CastmeterCollectorDown", "15m", [{"severity": "critical"}]),
                    # time() - 360 > 300 from 12m (720 s; at 11m it is exactly 300), firing 2m later.
                    _alert("CastmeterCollectorStalled", "13m", []),
                    _alert("CastmeterCollectorStalled", "14m", [{"severity": "critical"}]),
                ],
            }
        ],
    }
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    check = subprocess.run(
        [str(promtool), "check", "rules", "rules.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    result = subprocess.run(
        [str(promtool), "test", "rules", "tests.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_health_rules_follow_the_job_label_and_can_be_left_out() -> None:
    ruleset = load_rules(REPO_ROOT / "rules" / "castmeter.rules.example.yaml")
    custom = export_rules(ruleset, ExportOptions(castmeter_job="castmeter-prod"))
    health = custom.document["groups"][1]["rules"]
    assert all('job="castmeter-prod"' in rule["expr"] for rule in health)
    assert {rule["alert"] for rule in health} == {
        "CastmeterCollectorDown", "CastmeterCollectorStalled", "CastmeterSourceFailing",
        "CastmeterSpoolFilling", "CastmeterSamplesLost", "CastmeterAlertmanagerUnreachable",
    }  # fmt: skip
    without = export_rules(ruleset, ExportOptions(health_rules=False))
    assert [group["name"] for group in without.document["groups"]] == ["castmeter"]
