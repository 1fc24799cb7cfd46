"""Golden JSON of `costs` for the four seed scenarios at the prices in force on 2026-12-01.
Regenerate with UPDATE_GOLDEN=1."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from analytics.costs import MODEL_IDS, costs_json
from analytics.ledger import ledger_from_scenario, load_scenario
from analytics.prices import load_catalogue

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
SCENARIOS = ("dj-radio", "tours", "live-shopping", "platform-500")
AS_OF = dt.date(2026, 12, 1)


@pytest.mark.parametrize("name", SCENARIOS)
def test_seed_scenario_matches_golden(name: str) -> None:
    scenario = load_scenario(ROOT / "analytics" / "scenarios" / f"{name}.yaml")
    result = json.loads(json.dumps(costs_json(ledger_from_scenario(scenario), load_catalogue(as_of=AS_OF))))
    path = GOLDEN / f"plan-{name}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert [p["id"] for p in result["providers"]] == list(MODEL_IDS)
    assert result == expected
