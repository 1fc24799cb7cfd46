"""Where the backtest's samples come from: raw samples, older rollups (each bucket counts for
its whole length), rooms as streams, and the spend run-rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, insert

from analytics.alerts.backtest import backtest
from analytics.alerts.rules import Rule, RuleSet
from analytics.alerts.series import load_store_series, read_series_csv
from analytics.costs import SCENARIO_COLUMNS, price_grid
from analytics.ledger import Scenario
from analytics.prices import load_catalogue
from store import schema
from store.engine import open_store
from store.queries.alert_series import series_reader

END = 1_800_000_000 - 1_800_000_000 % 3600


def _store_series(
    engine: Engine, rule: Rule, since_ts: int, until_ts: int, lookback_s: int = 60
) -> pd.DataFrame:
    with series_reader(engine) as reader:
        return load_store_series(reader, rule, since_ts, until_ts, lookback_s)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return open_store(f"sqlite:///{tmp_path / 'castmeter.db'}")


def _rollup_row(ts: int, cpu: float) -> dict[str, object]:
    row: dict[str, object] = {"source_id": 1, "node_id": "ND_a", "bucket_ts": ts, "samples": 60}
    for metric in schema.NODE_METRICS:
        row[f"{metric}_avg"] = row[f"{metric}_max"] = None
    row["cpu_pct_avg"] = row["cpu_pct_max"] = cpu
    return row


def test_old_history_comes_from_rollups_without_false_gaps(engine: Engine) -> None:
    hours = [END - 3600 * k for k in range(48, 6, -1)]  # 2 days of hourly buckets, then raw
    raw_ts = np.arange(END - 6 * 3600, END, 15)
    with engine.begin() as connection:
        connection.execute(
            insert(schema.node_samples_1h),
            [_rollup_row(ts, 90.0 if k == 10 else 40.0) for k, ts in enumerate(hours)],
        )
        connection.execute(
            insert(schema.node_samples),
            [{"source_id": 1, "node_id": "ND_a", "ts": int(t), "cpu_pct": 40.0} for t in raw_ts],
        )
    rs = RuleSet((Rule("Down", "node_down", ">=", 1.0), Rule("Hot", "cpu_pct", ">", 80.0, for_s=300)), 15, 60)
    start = END - 48 * 3600
    down = backtest(
        _store_series(engine, rs.rules[0], start, END, 60), rs.rules[0], rs, start_ts=start, end_ts=END
    )
    assert down.count == 0  # hourly buckets cover their hour: the node was never "down"
    frame = _store_series(engine, rs.rules[1], start, END, 60)
    hot = backtest(frame, rs.rules[1], rs, start_ts=start, end_ts=END)
    assert hot.count == 1 and int(hot.episodes["duration_s"].iloc[0]) == 3600 - 300
    assert set(frame["valid_s"]) == {3660, 60}


def test_listeners_drop_per_stream(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(schema.room_sessions),
            [
                {
                    "source_id": 1,
                    "room_sid": "RM_1",
                    "room_name": "jazz",
                    "channel": "jazz",
                    "started_ts": END - 3600,
                    "last_seen_ts": END,
                }
            ],
        )
        connection.execute(
            insert(schema.room_samples),
            [
                {
                    "source_id": 1,
                    "room_sid": "RM_1",
                    "ts": END - 600 + 15 * k,
                    "participants": 1,
                    "publishers": 1,
                    "listeners": 100 if k < 20 else 30,
                }
                for k in range(40)
            ],
        )
    rule = Rule("Drop", "listeners_drop_pct", ">", 50.0, scope="stream", window_s=300)
    rs = RuleSet((rule,), 15, 60)
    result = backtest(
        _store_series(engine, rule, END - 600, END, 60), rule, rs, start_ts=END - 600, end_ts=END
    )
    assert result.per_target["target"].tolist() == ["jazz"]
    # 100 → 30 at END-300: a 70 % drop until the 5-min window forgets the 100s.
    assert result.episodes[["start_ts", "end_ts"]].to_numpy().tolist() == [[END - 300, END - 15]]


def test_spend_run_rate_against_budget(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A day of 10 rooms × (20 listeners + 1 publisher) at 64 kbps, priced by the cost engine as
    # the settings say (LiveKit Cloud with a negotiated rate), against half that monthly cost.
    overrides = {"livekit_cloud.scale.overage_per_min_usd": 0.0003}
    config = tmp_path / "castmeter.toml"
    config.write_text(
        '[prices]\ncurrent_model = "livekit_cloud"\n\n[prices.overrides]\n'
        '"livekit_cloud.scale.overage_per_min_usd" = 0.0003\n'
    )
    monkeypatch.setenv("CASTMETER_CONFIG", str(config))
    ts = np.arange(END - 86_400, END, 60)
    with engine.begin() as connection:
        connection.execute(
            insert(schema.room_samples),
            [{"source_id": 1, "room_sid": f"RM_{room}", "ts": int(t), "participants": 21, "publishers": 1,
              "listeners": 20} for t in ts for room in range(10)],
        )  # fmt: skip
        connection.execute(
            insert(schema.node_samples),
            [
                {"source_id": 1, "node_id": "ND_a", "ts": int(t), "bytes_out_per_s": 200 * 64_000 / 8}
                for t in ts
            ],
        )
    scenario = Scenario(
        streams=10, hours_per_day=24, days_per_month=30.42, listeners_per_stream=20, audio_kbps=64
    )  # fmt: skip
    monthly_usd = float(
        price_grid(
            pd.DataFrame([scenario.model_dump(include=set(SCENARIO_COLUMNS))]), load_catalogue(overrides)
        )["livekit_cloud"].iloc[0]
    )
    rule = Rule(
        "Budget", "spend_run_rate_pct", ">", 100.0, scope="fleet", budget_usd_per_month=monthly_usd / 2
    )
    frame = _store_series(engine, rule, END - 3600, END)
    assert frame.attrs["spend_method"] == "cost_engine"
    assert frame["value"].iloc[-1] == pytest.approx(200.0, rel=1e-9)
    result = backtest(frame, rule, RuleSet((rule,), 15, 60), start_ts=END - 3600, end_ts=END)
    assert result.count == 1 and result.per_target["target"].tolist() == ["fleet"]


def test_csv_with_iso_times(tmp_path: Path) -> None:
    csv = tmp_path / "s.csv"
    csv.write_text("ts,target,value\n2026-11-21T10:00:00Z,a,1.5\n2026-11-21T10:00:15Z,a,x\n")
    frame = read_series_csv(csv)
    assert frame.to_dict(orient="records") == [{"ts": 1795255200, "target": "a", "value": 1.5}]
