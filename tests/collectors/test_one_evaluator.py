"""Live alerting and the backtest are one evaluator (issue 14, finding 4 and Build 6).

A store with three hours of a fleet — a node running hot, one whose API errors spike, one that
goes silent, and a spend run-rate far over the budget — is evaluated with the default rules
(rules/castmeter.rules.example.yaml) twice: live, tick by tick through the AlertEvaluator (ticks
a few seconds off the grid, some late, as a busy collector's are), and by one backtest over the
same two hours. At every grid time a tick evaluated, every (rule, target) has the same state and
the same value in both (values equal to 1e-9 relative: the spend value is summed in another
order when the 1-minute rollup has caught up).

The spend rule used to be evaluated live on a 2-minute slice of history that usually held no
5-minute spend bucket: normal → pending → normal every 5 minutes with no value, while the
backtest showed it firing."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, insert, select

from analytics.alerts.backtest import Grid, grid_values, split_frame, states_on_grid
from analytics.alerts.rules import load_rules
from analytics.alerts.series import load_store_series
from collectors.alerting import AlertEvaluator
from harness.realparts import REPO_ROOT
from store import schema
from store.audience import AudienceSample, RelaySample, write_audience_samples, write_relay_samples
from store.engine import open_store
from store.queries.alert_series import series_reader
from store.rollups import refresh_rollups

pytestmark = pytest.mark.slow  # runs the live evaluator through a replayed day (25-45 s)

RULES = REPO_ROOT / "rules" / "castmeter.rules.example.yaml"
END = 1_795_176_000  # 2026-11-20 12:00 UTC
DATA_FROM = END - 3 * 3600
RANGE_FROM = END - 2 * 3600
SAMPLE_S = 15
NODES = ("node-a", "node-b", "node-c")


def _node_row(node: str, ts: int) -> dict[str, object]:
    minute = (ts - DATA_FROM) // 60
    hot = node == "node-a" and 40 <= minute % 60 < 55  # 15 minutes above 80 % every hour
    return {
        "source_id": 2, "node_id": node, "ts": ts,
        "cpu_pct": 92.0 if hot else 40.0 + (minute % 7),
        "memory_pct": 50.0 + (minute % 5),
        "bytes_out_per_s": 10 * 20 * 64_000 / 8 / len(NODES),
        "packet_loss_pct": 0.4, "join_success_ratio": 0.985 - (0.05 if node == "node-c" and minute % 30 < 9 else 0.0),
        "api_requests_per_s": 10.0,
        "api_errors_per_s": 2.0 if node == "node-b" and 100 <= minute < 104 else 0.01,
    }  # fmt: skip


def _build(engine: Engine) -> None:
    nodes, rooms = [], []
    for ts in range(DATA_FROM, END + 1, SAMPLE_S):
        for node in NODES:
            if node == "node-c" and ts > END - 40 * 60:  # node-c goes silent 40 minutes before the end
                continue
            nodes.append(_node_row(node, ts))
        for room in range(10):
            rooms.append(
                {"source_id": 1, "room_sid": f"RM_{room}", "ts": ts, "participants": 21, "publishers": 1,
                 "listeners": 20}
            )  # fmt: skip
    with engine.begin() as connection:
        connection.execute(
            insert(schema.sources),
            [{"id": 1, "name": "lk", "kind": "livekit", "url": "", "created_ts": DATA_FROM},
             {"id": 2, "name": "prom", "kind": "prometheus", "url": "", "created_ts": DATA_FROM}],
        )  # fmt: skip
        connection.execute(insert(schema.node_samples), nodes)
        connection.execute(insert(schema.room_samples), rooms)
        # The delivery path (issue 17): an HLS playlist relay down for 10 minutes, and HLS
        # requests answered 5xx at 15 % for 5 minutes, every 30 s.
        minutes = [(ts, (ts - DATA_FROM) // 60) for ts in range(DATA_FROM, END + 1, 30)]
        write_relay_samples(connection, 3, [
            RelaySample("radio-1/live.m3u8", ts, "radio-1", "hls_playlist", "down" if 130 <= m < 140 else "ok", "x")
            for ts, m in minutes
        ])  # fmt: skip
        write_audience_samples(connection, 3, [
            AudienceSample("radio-1", "hls", ts, viewers=50, requests=200, errors_5xx=30 if 150 <= m < 155 else 1)
            for ts, m in minutes
        ])  # fmt: skip
    refresh_rollups(engine, RANGE_FROM + 1800)  # the 1-min rollup caught up to mid-range only


@pytest.mark.timeout(300)
def test_live_states_and_values_equal_the_backtest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "castmeter.toml"
    config.write_text('[prices]\ncurrent_model = "livekit_cloud"\n')
    monkeypatch.setenv("CASTMETER_CONFIG", str(config))
    engine = open_store(f"sqlite:///{tmp_path / 'alerts.db'}")
    _build(engine)
    ruleset = load_rules(RULES)
    interval = ruleset.evaluation_interval_s
    grid = Grid.covering(RANGE_FROM, END, interval)

    # The backtest: each enabled rule's values and states at every grid time.
    expected: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    for rule in ruleset.enabled():
        with series_reader(engine) as reader:
            frame = load_store_series(reader, rule, RANGE_FROM - ruleset.lookback_s, END, ruleset.lookback_s)
        for target, values in grid_values(split_frame(frame), rule, grid, ruleset.lookback_s).items():
            expected[(rule.name, target)] = (values, states_on_grid(values, rule, interval))

    # Live: ticks 3-9 s after a grid time, every other one 30 s late (two grid times at once).
    evaluator = AlertEvaluator(engine, ruleset)
    rng = np.random.default_rng(14)
    checked: list[tuple[str, str, int]] = []
    tick_ts = RANGE_FROM
    while tick_ts <= END:
        now = min(tick_ts + int(rng.integers(3, 10)), END + interval - 1)
        evaluator.evaluate(now)
        with engine.connect() as connection:
            rows = connection.execute(select(schema.alert_state)).mappings().all()
        evaluated = now - now % interval
        step = (evaluated - grid.start_ts) // interval
        for row in rows:
            if row["last_eval_ts"] != evaluated:
                continue
            key = (row["rule"], row["target"])
            assert key in expected, f"live evaluated {key}, the backtest has no such target"
            values, states = expected[key]
            assert row["state"] == states[step], (key, evaluated, row["state"], states[step], values[step])
            want = values[step]
            if math.isnan(want):
                assert row["last_value"] is None, (key, evaluated, row["last_value"])
            else:
                assert row["last_value"] == pytest.approx(want, rel=1e-9), (key, evaluated)
            checked.append((row["rule"], row["target"], evaluated))
        # Every target the backtest has a value for at this time was evaluated live.
        seen = {(r["rule"], r["target"]) for r in rows if r["last_eval_ts"] == evaluated}
        for key, (values, _states) in expected.items():
            if not math.isnan(values[step]):
                assert key in seen, (key, evaluated)
        tick_ts += interval * (3 if (tick_ts // interval) % 2 else 1)

    checked_rules = {rule for rule, _target, _ts in checked}
    assert checked_rules == {rule.name for rule in ruleset.enabled()}
    frame = pd.DataFrame(checked, columns=["rule", "target", "ts"])
    assert frame["ts"].nunique() > 200
    # The interesting states were reached, live and in the backtest alike.
    finals = {key: states[-1] for key, (_values, states) in expected.items()}
    assert finals[("NodeDown", "node-c")] == "firing"
    assert finals[("SpendOverBudget", "fleet")] == "firing"
    fired = {key for key, (_values, states) in expected.items() if (states == "firing").any()}
    assert {("RelayDown", "radio-1/hls_playlist"), ("HlsErrors", "radio-1")} <= fired
    assert any(states_ == "firing" for states_ in expected[("HighCPU", "node-a")][1])
    assert any(states_ == "firing" for states_ in expected[("ApiErrorSpike", "node-b")][1])
    spend_values = expected[("SpendOverBudget", "fleet")][0]
    assert np.isfinite(spend_values).all() and (spend_values > 100).all()
    engine.dispose()
