"""Alert rules on the whole audience (issue 17): a relay reported down and the HLS 5xx share,
read from hand-built samples and backtested like every other rule."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from analytics.alerts.backtest import backtest
from analytics.alerts.rules import Rule, RuleSet, parse_rules_yaml
from analytics.alerts.series import load_store_series, relay_down_series
from store.audience import AudienceSample, RelaySample, write_audience_samples, write_relay_samples
from store.engine import open_store
from store.queries.alert_series import series_reader

END = 1_800_000_000 - 1_800_000_000 % 3600


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return open_store(f"sqlite:///{tmp_path / 'castmeter.db'}")


def _series(engine: Engine, rule: Rule, since_ts: int, until_ts: int) -> pd.DataFrame:
    with series_reader(engine) as reader:
        return load_store_series(reader, rule, since_ts, until_ts, 60)


def test_a_relay_down_fires_after_its_for_and_resolves_when_it_is_back(engine: Engine) -> None:
    # The Cloudflare input reports every 15 s over 20 min: down from END-900 to END-300 (10 min).
    with engine.begin() as c:
        write_relay_samples(c, 8, [
            RelaySample("cf-1", END - 1200 + 15 * k, "shop-1", "cloudflare_live_input",
                        "down" if END - 900 <= END - 1200 + 15 * k < END - 300 else "ok", "x")
            for k in range(80)
        ])  # fmt: skip
    rule = Rule("RelayDown", "relay_down", ">=", 1.0, for_s=120, scope="stream", severity="critical")
    rs = RuleSet((rule,), 15, 60)
    result = backtest(_series(engine, rule, END - 1200, END), rule, rs, start_ts=END - 1200, end_ts=END)
    assert result.per_target["target"].tolist() == ["shop-1/cloudflare_live_input"]
    # Down at END-900, firing 2 min later (END-780) until the first ok report at END-300.
    assert result.episodes[["start_ts", "end_ts"]].to_numpy().tolist() == [[END - 780, END - 300]]
    fleet = Rule("RelaysDown", "relay_down", ">=", 1.0, scope="fleet")
    assert backtest(_series(engine, fleet, END - 1200, END), fleet, RuleSet((fleet,), 15, 60),
                    start_ts=END - 1200, end_ts=END).count == 1  # fmt: skip


def test_the_hls_5xx_share_per_channel(engine: Engine) -> None:
    # radio-1: 200 requests per 30 s; 5xx 2 (1 %) except 4 samples of 30 (15 %) from END-600.
    with engine.begin() as c:
        write_audience_samples(c, 7, [
            AudienceSample("radio-1", "hls", END - 1200 + 30 * k, viewers=50, requests=200,
                           errors_5xx=30 if END - 600 <= END - 1200 + 30 * k < END - 480 else 2)
            for k in range(40)
        ])  # fmt: skip
        # A sample that counted no request has no share (not 0 %, not infinite).
        write_audience_samples(
            c, 7, [AudienceSample("quiet", "hls", END - 60, viewers=0, requests=0, errors_5xx=0)]
        )
    ruleset = parse_rules_yaml(
        "evaluation_interval: 30s\nlookback: 1m\nrules:\n"
        "  - {name: HLS5xx, metric: hls_5xx_pct, comparison: '>', threshold: 5, for: 1m, scope: stream}\n"
    )
    rule = ruleset.rules[0]
    frame = _series(engine, rule, END - 1200, END)
    assert set(frame["target"]) == {"radio-1"}
    assert sorted(set(frame["value"].round(6))) == [1.0, 15.0]
    result = backtest(frame, rule, ruleset, start_ts=END - 1200, end_ts=END)
    # 15 % from END-600 to END-510 (last bad sample END-510, good again at END-480): fires at
    # END-540 (1 min after END-600) and resolves at END-480.
    assert result.episodes[["start_ts", "end_ts"]].to_numpy().tolist() == [[END - 540, END - 480]]
    assert not rule.exportable


def test_a_polled_relay_state_holds_until_its_next_report() -> None:
    """Reports 2 minutes apart (the demo's backfilled history) stay present in between, so a
    relay down for three reports is down for 4 minutes of evaluations, not three instants; a
    gap over 2 minutes is a gap, and the last report holds for the default lookback (60 s)."""
    samples = pd.DataFrame(
        {
            "ts": [0, 120, 240, 600, 0],
            "target": ["shop-2/cloudflare_live_input"] * 4 + ["shop-5/ivs_stream"],
            "health": ["down", "down", "down", "ok", "ok"],
        }
    )
    series = relay_down_series(samples)
    assert series[["ts", "target", "value", "valid_s"]].values.tolist() == [
        [0, "shop-2/cloudflare_live_input", 1.0, 120],
        [120, "shop-2/cloudflare_live_input", 1.0, 120],
        [240, "shop-2/cloudflare_live_input", 1.0, 120],  # the next report is 360 s later: 120 at most
        [600, "shop-2/cloudflare_live_input", 0.0, 60],
        [0, "shop-5/ivs_stream", 0.0, 60],
    ]
