"""Prometheus's own rule evaluation agrees with our backtest (promtool test rules), and every
export passes `promtool check rules`. Needs /usr/bin/promtool (skips locally, fails in CI)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from analytics.alerts.promql import export_rules
from analytics.alerts.promtests import Case, promtool_test_document, series_notation
from analytics.alerts.rules import Rule, RuleSet, load_rules
from core.cli import main
from harness.realparts import REPO_ROOT

pytestmark = pytest.mark.prometheus

EXAMPLE = REPO_ROOT / "rules" / "castmeter.rules.example.yaml"


def run_promtool(promtool: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_example_export_passes_promtool_check(promtool: Path, tmp_path: Path) -> None:
    exported = export_rules(load_rules(EXAMPLE), include_disabled=True)
    (tmp_path / "rules.yml").write_text(exported.text)
    result = run_promtool(promtool, "check", "rules", "rules.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SpendOverBudget" in dict(exported.skipped) and "ListenersDrop" in dict(exported.skipped)
    # The audience rules read castmeter's own series (collectors/audience_metrics.py).
    assert exported.on_castmeter_series == ("RelayDown", "HlsErrors")
    assert {"RelayDown", "HlsErrors"} <= set(exported.exported)
    # Real metric names only (docs/ARCHITECTURE.md, Facts: LiveKit's Prometheus metrics).
    for name in (
        "node_cpu_seconds_total",
        "node_memory_MemAvailable_bytes",
        "livekit_node_twirp_request_status",
        "livekit_participant_join_total",
        "livekit_packet_loss_percent_bucket",
        "up{",
        "castmeter_relay_down",
        "castmeter_hls_bucket_5xx_requests",
    ):
        assert name in exported.text


def _generated_rules() -> RuleSet:
    rules = (
        Rule("Plain", "cpu_pct", ">", 80.0),
        Rule("Pending", "cpu_pct", ">", 80.0, for_s=45),
        Rule("Keep", "memory_pct", ">=", 80.0, keep_firing_for_s=45),
        Rule("Hyst", "packet_loss_p95_pct", ">", 80.0, recovery=70.0, for_s=30),
        Rule(
            "HystKeep",
            "rtt_p95_ms",
            ">",
            80.0,
            recovery=65.0,
            for_s=15,
            keep_firing_for_s=30,
            labels={"team": "ops"},
        ),
        Rule("Below", "join_failure_pct", "<", 70.0, recovery=80.0, for_s=15, keep_firing_for_s=15),
        Rule(
            "FleetHyst",
            "api_5xx_per_s",
            ">",
            80.0,
            recovery=72.5,
            for_s=30,
            scope="fleet",
            severity="critical",
        ),
        Rule("Down", "node_down", ">=", 1.0, for_s=30),
        # castmeter's own audience series (collectors/audience_metrics.py), per stream.
        Rule("RelayDown", "relay_down", ">=", 1.0, for_s=30, scope="stream"),
        Rule("HlsErrors", "hls_5xx_pct", ">", 80.0, recovery=70.0, for_s=15, scope="stream"),
        Rule("HlsErrorsFleet", "hls_5xx_pct", ">", 85.0, for_s=15, scope="fleet"),
    )
    return RuleSet(rules, evaluation_interval_s=15, lookback_s=30)


def _random_values(rng: np.random.Generator, rule: Rule, steps: int) -> np.ndarray:
    if rule.metric in ("node_down", "relay_down"):
        values = (rng.random(steps) < 0.4).astype(float)
        return np.where(np.convolve(values, np.ones(3), "same") >= 2, 1.0, 0.0)
    # A slow wave around the thresholds plus noise: crossings, holds and blips.
    base = 75 + 15 * np.sin(np.arange(steps) / rng.uniform(3, 12) + rng.uniform(0, 6))
    values = np.round(base + rng.normal(0, 5, steps), 1)
    gaps = rng.random(steps) < 0.04
    values[gaps] = np.nan
    if rng.random() < 0.5:  # a longer outage
        start = int(rng.integers(0, steps - 10))
        values[start : start + int(rng.integers(2, 10))] = np.nan
    return values


def _target(rule: Rule, seed: int) -> str:
    if rule.scope == "fleet":
        return "fleet"
    return {"relay_down": f"radio-{seed}/hls_playlist", "hls_5xx_pct": f"radio-{seed}"}.get(
        rule.metric, f"node-{seed}"
    )


@pytest.mark.slow
def test_backtest_matches_promtool_on_generated_series(promtool: Path, tmp_path: Path) -> None:
    ruleset = _generated_rules()
    (tmp_path / "rules.yml").write_text(export_rules(ruleset).text)
    rng = np.random.default_rng(20261121)
    cases = [
        Case(rule, _target(rule, seed), _random_values(rng, rule, 120))
        for rule in ruleset.rules
        for seed in range(4)
    ]
    document = promtool_test_document(ruleset, ["rules.yml"], cases)
    firing_checks = sum(1 for t in document["tests"] for c in t["alert_rule_test"] if c["exp_alerts"])
    assert firing_checks > 100, "the generated series must actually fire"
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(document, sort_keys=False, width=100_000))
    result = run_promtool(promtool, "test", "rules", "tests.yml", cwd=tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]

    # Control: one wrong expectation must make promtool fail, so the check has teeth.
    control = {
        **document,
        "tests": [next(t for t in document["tests"] if any(c["exp_alerts"] for c in t["alert_rule_test"]))],
    }
    flipped = next(c for c in control["tests"][0]["alert_rule_test"] if c["exp_alerts"])
    flipped["exp_alerts"] = []
    (tmp_path / "wrong.yml").write_text(yaml.safe_dump(control, sort_keys=False, width=100_000))
    assert run_promtool(promtool, "test", "rules", "wrong.yml", cwd=tmp_path).returncode != 0


def test_series_notation() -> None:
    values = np.array([np.nan, np.nan, 1, 1, 1, 2.5, np.nan, np.nan, np.nan, 3])
    assert series_notation(values) == "_x2 1x2 2.5 stale _x2 3"


def test_cli_export_with_generated_tests(
    promtool: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(3)
    ts = np.arange(1_700_000_000, 1_700_000_000 + 6 * 3600, 15)
    frames = [
        pd.DataFrame(
            {
                "ts": ts,
                "target": f"10.0.0.{n}:9100",
                "value": 70 + 15 * np.sin(ts / 900 + n) + rng.normal(0, 2, ts.size),
            }
        )
        for n in range(2)
    ]
    csv = tmp_path / "cpu.csv"
    pd.concat(frames).to_csv(csv, index=False)
    rules_out, tests_out = tmp_path / "out" / "rules.yml", tmp_path / "out" / "tests.yml"
    rules_out.parent.mkdir()
    code = main(
        "analytics",
        "analytics.commands",
        ["alerts"],
        [
            "alerts",
            "export",
            "--rules",
            str(EXAMPLE),
            "--rule",
            "HighCPU",
            "--format",
            "prometheus",
            "--output",
            str(rules_out),
            "--tests",
            str(tests_out),
            "--series",
            str(csv),
            "--since",
            "6h",
        ],
    )
    assert code == 0
    document = yaml.safe_load(tests_out.read_text())
    assert len(document["tests"]) == 2
    assert any(c["exp_alerts"] for t in document["tests"] for c in t["alert_rule_test"])
    assert run_promtool(promtool, "check", "rules", str(rules_out), cwd=tmp_path).returncode == 0
    result = run_promtool(promtool, "test", "rules", str(tests_out), cwd=tmp_path)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
