"""The Alerts page (AppTest): empty store, and a store with history, state and a rule that
would have fired — active alerts, history, side-by-side candidates, suggestion, chart, and
rule editing with validation."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert
from streamlit.testing.v1 import AppTest

from store import schema
from store.engine import open_store
from tests.pages.conftest import page_path

TIMEOUT_S = 60
RULES = """evaluation_interval: 15s
lookback: 1m
rules:
  - {name: HighCPU, metric: cpu_pct, comparison: ">", threshold: 80, recovery: 75, for: 5m, scope: node}
  - {name: HighMemory, metric: memory_pct, comparison: ">", threshold: 85, for: 5m, scope: node}
"""


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    config = tmp_path / "castmeter.toml"
    config.write_text(f'[dashboard]\ntimezone = "UTC"\n\n[alerts]\nrules_file = "{rules}"\n')
    url = f"sqlite:///{tmp_path / 'castmeter.db'}"
    monkeypatch.setenv("CASTMETER_CONFIG", str(config))
    monkeypatch.setenv("CASTMETER_DB_URL", url)
    monkeypatch.delenv("CASTMETER_PASSWORD_HASH", raising=False)
    return url


def run_page() -> AppTest:
    app = AppTest.from_file(page_path("alerts"), default_timeout=TIMEOUT_S)
    app.run()
    assert not app.exception, app.exception
    return app


@pytest.mark.slow
def test_alerts_page_on_an_empty_store(configured: str) -> None:
    open_store(configured).dispose()
    app = run_page()
    assert [s.value for s in app.subheader] == ["Active alerts", "History", "Threshold review"]
    assert any("No alert is pending or firing" in s.value for s in app.success)
    infos = " ".join(i.value for i in app.info)
    assert "No alert changed state" in infos and "No samples for cpu" in infos
    assert not app.get("plotly_chart")


@pytest.mark.slow
def test_alerts_page_populated(configured: str) -> None:
    engine = open_store(configured)
    now = int(time.time())
    ts = np.arange(now - 5 * 3600, now, 15)
    cpu = np.where((ts // 1800) % 2 == 0, 92.0, 40.0)  # 30 min hot, 30 min cool
    with engine.begin() as connection:
        connection.execute(
            insert(schema.node_samples),
            [
                {"source_id": 1, "node_id": "ND_hot", "ts": int(t), "cpu_pct": float(c), "memory_pct": 50.0}
                for t, c in zip(ts, cpu, strict=True)
            ],
        )
        connection.execute(
            insert(schema.alert_state),
            [
                {
                    "rule": "HighCPU",
                    "target": "ND_hot",
                    "state": "firing",
                    "severity": "warning",
                    "active_since_ts": now - 600,
                    "fired_ts": now - 300,
                    "last_value": 92.0,
                    "last_eval_ts": now,
                }
            ],
        )
        connection.execute(
            insert(schema.alert_history),
            [
                {
                    "rule": "HighCPU",
                    "target": "ND_hot",
                    "ts": now - 2000,
                    "to_state": "resolved",
                    "from_state": "firing",
                    "severity": "warning",
                    "value": 40.0,
                    "threshold": 80.0,
                    "fired_ts": now - 2600,
                },
                {
                    "rule": "HighCPU",
                    "target": "ND_hot",
                    "ts": now - 2600,
                    "to_state": "firing",
                    "from_state": "pending",
                    "severity": "warning",
                    "value": 85.0,
                    "threshold": 80.0,
                    "fired_ts": now - 2600,
                },
            ],
        )
    engine.dispose()
    app = run_page()
    active, history = app.dataframe[0].value, app.dataframe[1].value
    assert active.iloc[0]["Rule"] == "HighCPU" and active.iloc[0]["State"] == "firing"
    # Finding 11 of issue 14: values carry the metric's unit (they read "1371.035").
    assert active.iloc[0]["Value"] == "92.00 %"
    assert history.iloc[0]["Change"] == "firing → resolved" and history.iloc[0]["Lasted"] == "10 min 00 s"
    assert history.iloc[0]["Value"] == "40.00 %" and history.iloc[0]["Threshold"] == "80.00 %"
    # Only a resolution has an episode length; a change to firing shows none, not "no data".
    assert history.iloc[1]["Change"] == "pending → firing" and history.iloc[1]["Lasted"] == ""
    # The README's promise: the page exports the rules for Prometheus.
    assert any("Prometheus rules for 2 rule(s)" in c.value for c in app.caption)
    metrics = {m.label: m.value for m in app.metric}
    # 6 h window: ~5 hot half-hours, each fires after 5 min → 5 or so episodes at A (80).
    assert int(metrics["Episodes (A)"]) >= 4
    assert int(metrics["Episodes (B)"]) == int(metrics["Episodes (A)"])  # B = 72: same bursts
    assert any("Suggested threshold" in s.value for s in app.success)
    assert len(app.get("plotly_chart")) == 2
    episodes = app.dataframe[2].value
    assert set(episodes["Target"]) == {"ND_hot"}

    # Candidate B above every value: never fires, side by side with A.
    app.number_input(key="alerts_b_HighCPU").set_value(95.0).run()
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Episodes (B)"] == "0" and int(metrics["Episodes (A)"]) >= 4

    # Editing the rules: an invalid value is refused with the rule and field named.
    app.text_area(key="alerts_rules_yaml").set_value(RULES.replace("threshold: 80", "threshold: 180")).run()
    errors = " ".join(e.value for e in app.error)
    assert "HighCPU" in errors and "threshold" in errors and "outside" in errors


def test_the_rules_download_for_prometheus(configured: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    from tests.pages.shown import capture_downloads

    open_store(configured).dispose()
    downloads = capture_downloads(monkeypatch)
    run_page()
    exported = next(d for d in downloads if d["label"] == "Download Prometheus rules")
    document = yaml.safe_load(exported["data"])
    groups = {g["name"]: [r["alert"] for r in g["rules"] if "alert" in r] for g in document["groups"]}
    health = groups.pop("castmeter-health")  # castmeter's own health rules ride along (issue 19)
    assert "CastmeterCollectorDown" in health
    assert [a for alerts in groups.values() for a in alerts] == ["HighCPU", "HighMemory"]
    assert exported["file_name"] == "castmeter.prometheus.rules.yml"
