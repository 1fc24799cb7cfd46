"""Rules file: the committed example loads; invalid values are refused naming rule and field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert

from analytics.alerts.rules import RuleError, load_rules, parse_rules, parse_rules_yaml
from core.cli import main
from harness.realparts import REPO_ROOT
from store import schema
from store.engine import open_store

EXAMPLE = REPO_ROOT / "rules" / "castmeter.rules.example.yaml"


def test_example_has_the_seed_defaults() -> None:
    ruleset = load_rules(EXAMPLE)
    cpu, memory = ruleset.get("HighCPU"), ruleset.get("HighMemory")
    assert (cpu.metric, cpu.comparison, cpu.threshold, cpu.recovery, cpu.for_s) == (
        "cpu_pct",
        ">",
        80,
        75,
        300,
    )
    assert (memory.metric, memory.threshold) == ("memory_pct", 85)
    assert {r.metric for r in ruleset.rules} >= {"api_5xx_per_s", "node_down", "spend_run_rate_pct"}
    assert ruleset.evaluation_interval_s == 15 and ruleset.lookback_s == 60
    # Round trip through YAML keeps every field.
    assert parse_rules_yaml(ruleset.to_yaml()) == ruleset


def _one(**fields: object) -> dict[str, object]:
    rule: dict[str, object] = {"name": "HighCPU", "metric": "cpu_pct", "comparison": ">", "threshold": 80}
    rule.update(fields)
    return {"rules": [rule]}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"threshold": 120}, "rule 'HighCPU' field 'threshold': 120 is outside 0–100 %"),
        ({"threshold": "high"}, "field 'threshold': expected a number"),
        ({"recovery": 85}, "field 'recovery': 85 must not be above the threshold 80"),
        ({"comparison": "<", "recovery": 70}, "field 'recovery': 70 must not be below"),
        ({"for": "5 minutes"}, "field 'for': '5 minutes' is not a duration"),
        ({"for": "30d"}, "field 'for': '30d' is longer than the 7d maximum"),
        ({"keep_firing_for": -5}, "field 'keep_firing_for'"),
        ({"scope": "stream"}, "field 'scope': cpu_pct supports node, fleet"),
        ({"severity": "page"}, "field 'severity': 'page' is not one of"),
        ({"metric": "cpu"}, "field 'metric': 'cpu' is not one of"),
        ({"labels": {"severity": "x"}}, "field 'labels': 'severity' is set by castmeter"),
        ({"labels": {"bad-name": "x"}}, "field 'labels': 'bad-name' is not a valid label name"),
        ({"treshold": 5}, "unknown field(s) 'treshold'"),
        ({"metric": "spend_run_rate_pct", "scope": "fleet"}, "field 'budget_usd_per_month': required"),
        ({"name": "high cpu"}, "rule #1 field 'name'"),
    ],
)
def test_invalid_rules_are_refused_with_rule_and_field(fields: dict[str, object], message: str) -> None:
    with pytest.raises(RuleError) as error:
        parse_rules(_one(**fields))
    assert message in str(error.value)


def test_duplicate_names_and_file_errors(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="used by more than one rule"):
        parse_rules({"rules": [_one()["rules"][0], _one()["rules"][0]]})  # type: ignore[index]
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [\n")
    with pytest.raises(RuleError, match=r"bad\.yaml: rules file: invalid YAML"):
        load_rules(bad)
    with pytest.raises(RuleError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")


@pytest.mark.slow
def test_cli_backtest_on_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'castmeter.db'}"
    engine = open_store(url)
    now = 1_800_000_000
    ts = np.arange(now - 86_400, now, 15)
    cpu = np.where((ts % 7200) < 1200, 95.0, 40.0)  # 20 min of 95 % every 2 h
    with engine.begin() as connection:
        connection.execute(
            insert(schema.node_samples),
            [
                {"source_id": 1, "node_id": node, "ts": int(t), "cpu_pct": float(c), "memory_pct": 50.0}
                for node in ("ND_a", "ND_b")
                for t, c in zip(ts, cpu, strict=True)
            ],
        )
    engine.dispose()
    code = main(
        "analytics",
        "analytics.commands",
        ["alerts"],
        [
            "alerts",
            "backtest",
            "--rules",
            str(EXAMPLE),
            "--db",
            url,
            "--since",
            "1d",
            "--until",
            str(now),
            "--rule",
            "HighCPU",
            "--rule",
            "HighMemory",
            "--target-per-week",
            "10",
            "--candidates",
            "90,99",
            "--json",
        ],
    )
    assert code == 0
    document = json.loads(capsys.readouterr().out)
    cpu_result, memory_result = document["rules"]
    # 12 bursts per node in the day; each fires 5 min after it starts and lasts ~16 min.
    assert cpu_result["episodes"] == 24 and memory_result["episodes"] == 0
    first = cpu_result["episode_list"][0]
    assert first["duration_s"] == 1200 - 300 + 60  # keep_firing_for 1m
    assert [c["episodes"] for c in cpu_result["candidates"]] == [24, 0]
    assert cpu_result["suggestion"]["threshold"] == 95.0  # '> 95' never fires; 10/week target


def test_cli_backtest_reports_invalid_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {name: X, metric: cpu_pct, threshold: 150}\n")
    csv = tmp_path / "s.csv"
    pd.DataFrame({"ts": [0], "target": ["a"], "value": [1.0]}).to_csv(csv, index=False)
    code = main(
        "analytics",
        "analytics.commands",
        ["alerts"],
        ["alerts", "backtest", "--rules", str(rules), "--series", str(csv), "--json"],
    )
    assert code == 2
    assert "rule 'X' field 'threshold': 150 is outside 0–100" in capsys.readouterr().err
