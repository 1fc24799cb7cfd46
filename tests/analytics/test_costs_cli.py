"""`python -m analytics plan` and `costs`: JSON shape, errors, measured usage from a store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analytics.costs import MODEL_IDS, costs_json
from analytics.ledger import FLOW_COLUMNS, Scenario, ledger_from_scenario, load_scenario
from analytics.prices import load_catalogue
from analytics.pricing_models.base import UsageArrays
from harness.realparts import clock_env
from store import schema
from store.engine import open_store
from store.upsert import upsert

pytestmark = pytest.mark.slow  # every test runs the CLI in a subprocess (1-3 s each)

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "analytics", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False, env={**clock_env(), "PATH": "/usr/bin:/bin", "CASTMETER_CONFIG": ""})  # fmt: skip


def test_plan_json_shape() -> None:
    result = run_cli("plan", "--scenario", "analytics/scenarios/dj-radio.yaml", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"usage", "providers", "plan"}
    assert [p["id"] for p in data["providers"]] == list(MODEL_IDS)
    for provider in data["providers"]:
        assert set(provider) == {"id", "monthly_usd", "items", "notes", "unverified_rates"}
        for item in provider["items"]:
            assert set(item) == {"name", "quantity", "unit", "usd"}
    assert data["usage"]["monthly_listener_minutes"] == 720_000


def test_plan_of_an_old_scenario_file_prices_as_the_cost_engine() -> None:
    """A file without the planner fields loads with their defaults, and every provider's cost
    (items included) is the cost engine's."""
    path = "analytics/scenarios/tours.yaml"
    assert "target_cpu_pct" not in Path(ROOT / path).read_text()
    result = run_cli("plan", "--scenario", path, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    engine = costs_json(ledger_from_scenario(load_scenario(ROOT / path)), load_catalogue())
    assert data["usage"] == engine["usage"]
    planned = {p["id"]: p["monthly_usd"] for p in data["providers"]}
    for provider in engine["providers"]:
        assert planned[provider["id"]] == pytest.approx(provider["monthly_usd"], abs=0.01), provider["id"]
    assert (
        data["plan"]["scenario"]["target_cpu_pct"] == 70 and data["plan"]["scenario"]["server_type"] == "auto"
    )


def test_plan_honours_the_planner_fields(tmp_path: Path) -> None:
    base = "streams: 40\nhours_per_day: 8\nlisteners_per_stream: 25\naudio_kbps: 62\n"
    plain, planned = tmp_path / "plain.yaml", tmp_path / "planned.yaml"
    plain.write_text(base)
    planned.write_text(base + "peak_listeners_per_stream: 30\ngrowth_pct_per_month: 10\ntarget_cpu_pct: 80\n"
                       "server_type: ax52\nhls_share: 0.5\n")  # fmt: skip
    before = json.loads(run_cli("plan", "--scenario", str(plain), "--json").stdout)
    after_run = run_cli("plan", "--scenario", str(planned), "--json")
    assert after_run.returncode == 0, after_run.stderr
    after = json.loads(after_run.stdout)
    assert before["plan"]["server"] == "Hetzner CX33" and after["plan"]["server"] == "Hetzner AX52"
    # Half the listeners on HLS: half the SFU traffic, and egress workers to feed the HLS.
    assert after["plan"]["sfu_traffic_tb_per_month"] == pytest.approx(
        before["plan"]["sfu_traffic_tb_per_month"] / 2
    )
    assert before["plan"]["egress_nodes"] == 0 and after["plan"]["egress_nodes"] > 0
    # 10 % a month, compounded: month 12 has 25 × 1.1^12 listeners per stream.
    month_12 = next(row for row in after["plan"]["growth"] if row["month"] == 12)
    assert month_12["listeners_per_stream"] == pytest.approx(25 * 1.1**12, rel=1e-4)
    # The providers list is the plan's: self-hosted on an AX52 with egress workers costs more.
    by_id = {p["id"]: p for p in after["providers"]}
    plan_costs = {c["model"]: c["monthly_usd"] for c in after["plan"]["costs"]}
    assert by_id["livekit_self_hosted"]["monthly_usd"] == pytest.approx(
        plan_costs["livekit_self_hosted"], abs=0.01
    )
    before_sh = {p["id"]: p for p in before["providers"]}["livekit_self_hosted"]["monthly_usd"]
    assert by_id["livekit_self_hosted"]["monthly_usd"] > before_sh
    assert after["plan"]["scenario"]["target_cpu_pct"] == 80


def test_plan_table_names_the_nodes() -> None:
    result = run_cli("plan", "--scenario", "analytics/scenarios/platform-500.yaml")
    assert result.returncode == 0, result.stderr
    assert "SFU node(s)" in result.stdout and "livekit_cloud" in result.stdout


def test_plan_rejects_a_contradictory_planner_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("streams: 1\nhours_per_day: 2\nlisteners_per_stream: 30\npeak_listeners_per_stream: 10\n"
                    "target_cpu_pct: 120\n")  # fmt: skip
    result = run_cli("plan", "--scenario", str(path), "--json")
    assert result.returncode == 2
    assert "peak_listeners_per_stream" in result.stderr and "target_cpu_pct" in result.stderr


def test_plan_unknown_key_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("streams: 1\nhours_per_day: 2\nlisteners_per_stream: 3\nlistners: 4\n")
    result = run_cli("plan", "--scenario", str(path), "--json")
    assert result.returncode == 2
    assert "listners: unknown key" in result.stderr


def test_costs_from_store(tmp_path: Path) -> None:
    """Two hours of history in a 30-day window: the monthly figures are the 2 hours' rate (the
    time covered by data), not 2 hours spread over 30 days (finding 6 of issue 14)."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    now = 1_795_176_000  # 2026-11-20 12:00 UTC, pinned with --now
    engine = open_store(url)
    with engine.begin() as c:
        upsert(c, schema.room_sessions, [{"source_id": 1, "room_sid": "RM_1", "room_name": "radio", "channel": "radio",
               "started_ts": now - 7200, "ended_ts": now - 3600, "last_seen_ts": now - 3600}])  # fmt: skip
        upsert(c, schema.participant_sessions, [
            {"source_id": 1, "participant_sid": f"PA_{i}", "room_sid": "RM_1", "identity": f"u{i}", "kind": "STANDARD",
             "is_publisher": i == 0, "joined_ts": now - 7200, "left_ts": now - 3600, "last_seen_ts": now - 3600}
            for i in range(5)
        ])  # fmt: skip
    engine.dispose()
    result = run_cli("costs", "--since", "30d", "--now", str(now), "--json", "--db", url)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["usage"]["origin"] == "measured"
    assert data["usage"]["period_days"] == 30 and data["usage"]["covered_days"] == pytest.approx(
        2 / 24, abs=1e-4
    )
    # 4 listeners × 60 min in the 2 covered hours → × (30 days × 24 h / 2 h) = 240 × 360.
    assert data["usage"]["monthly_listener_minutes"] == pytest.approx(86_400)
    assert {p["id"] for p in data["providers"]} == set(MODEL_IDS)


def test_costs_bad_since_exits_2() -> None:
    assert run_cli("costs", "--since", "thirty", "--db", "sqlite:///:memory:").returncode == 2


def test_scenario_ledger_and_vectorized_scenarios_agree() -> None:
    scenario = Scenario(streams=7, hours_per_day=3.5, days_per_month=30, listeners_per_stream=12.5,
                        publishers_per_stream=2, audio_kbps=96, video="hd", recording=True, region="sa")  # fmt: skip
    from_ledger = UsageArrays.from_ledger(ledger_from_scenario(scenario))
    vectorized = UsageArrays.from_scenarios(
        streams=np.array([7.0]), hours_per_day=np.array([3.5]), days_per_month=np.array([30.0]),
        listeners_per_stream=np.array([12.5]), publishers_per_stream=np.array([2.0]), audio_kbps=np.array([96.0]),
        video_tier=np.array([1.0]), recording=np.array([1.0]), region=np.array([5.0]),
    )  # fmt: skip
    for name in UsageArrays.__dataclass_fields__:
        assert getattr(from_ledger, name)[0] == pytest.approx(getattr(vectorized, name)[0]), name


def test_costs_json_usage_of_a_scenario() -> None:
    ledger = ledger_from_scenario(
        Scenario(streams=1, hours_per_day=4, days_per_month=10, listeners_per_stream=100)
    )
    assert all(name in ledger.frame for name in FLOW_COLUMNS)
    assert costs_json(ledger, load_catalogue())["usage"]["monthly_listener_minutes"] == 240_000


def test_estimate_cost_per_hour_from_a_connection(tmp_path: Path) -> None:
    from analytics.costs import estimate_cost_per_hour_usd
    from tests.analytics.stored import stored_ledger

    url = f"sqlite:///{tmp_path / 'e.db'}"
    start = 1_793_491_200
    engine = open_store(url)
    with engine.begin() as c:
        upsert(c, schema.room_sessions, [{"source_id": 1, "room_sid": "RM_1", "room_name": "r", "channel": "r",
               "started_ts": start, "ended_ts": start + 86_400, "last_seen_ts": start + 86_400}])  # fmt: skip
        upsert(c, schema.participant_sessions, [
            {"source_id": 1, "participant_sid": f"PA_{i}", "room_sid": "RM_1", "identity": f"u{i}", "kind": "STANDARD",
             "is_publisher": False, "joined_ts": start, "left_ts": start + 86_400, "last_seen_ts": start + 86_400}
            for i in range(10)
        ])  # fmt: skip
    with engine.connect() as connection:
        day = stored_ledger(connection, start, start + 86_400)
        per_hour = estimate_cost_per_hour_usd(connection, start, start + 86_400, None, ledger=day)
        idle = stored_ledger(connection, start + 2 * 86_400, start + 3 * 86_400)
        assert (
            estimate_cost_per_hour_usd(connection, start + 2 * 86_400, start + 3 * 86_400, None, ledger=idle)
            is None
        )
    engine.dispose()
    # 10 listeners all month = 432,000 connection min: Ship, 50 + 282,000 × 0.0005 = $191 per 720 h
    assert per_hour == pytest.approx((50 + 282_000 * 0.0005) / 720)
