"""Alert rules on the whole audience (issue 17): a relay reported down and the HLS 5xx share,
read from hand-built samples and backtested like every other rule."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from sqlalchemy import Engine

from analytics.alerts.backtest import backtest
from analytics.alerts.promql import export_rules
from analytics.alerts.replay import load_frame, promtool_cases, replay_rule, write_promtool_tests
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
    # Exported over castmeter's own audience series (collectors/audience_metrics.py).
    assert rule.exportable


@pytest.mark.prometheus
def test_the_exported_audience_rules_agree_with_the_replay_in_promtool(
    engine: Engine, tmp_path: Path, promtool: Path
) -> None:
    """Rules exported over castmeter's audience series, checked by promtool with tests
    generated from the store-side replay (as `analytics alerts export --tests` does)."""
    with engine.begin() as c:
        # A Cloudflare input down from END-900 to END-600; an HLS playlist flapping.
        write_relay_samples(c, 8, [
            RelaySample("cf-1", END - 1200 + 15 * k, "shop-1", "cloudflare_live_input",
                        "down" if END - 900 <= END - 1200 + 15 * k < END - 600 else "ok", "x")
            for k in range(80)
        ] + [
            RelaySample("/radio-1/live.m3u8", END - 1200 + 15 * k, "radio-1", "hls_playlist",
                        "down" if k % 20 >= 14 else "ok", "x")
            for k in range(80)
        ])  # fmt: skip
        # radio-1 at 1 % 5xx with a 15 % spell, then 4 % (between recovery and threshold).
        write_audience_samples(c, 7, [
            AudienceSample("radio-1", "hls", END - 1200 + 30 * k, viewers=50, requests=200,
                           errors_5xx=30 if 20 <= k < 26 else 8 if 26 <= k < 30 else 2)
            for k in range(40)
        ])  # fmt: skip
    ruleset = parse_rules_yaml(
        "evaluation_interval: 15s\nlookback: 1m\nrules:\n"
        "  - {name: RelayDown, metric: relay_down, comparison: '>=', threshold: 1, for: 1m, scope: stream}\n"
        "  - {name: RelaysDown, metric: relay_down, comparison: '>=', threshold: 1, for: 30s, scope: fleet}\n"
        "  - {name: HlsErrors, metric: hls_5xx_pct, comparison: '>', threshold: 5, recovery: 2, for: 30s,"
        " scope: stream}\n"
    )
    exported = export_rules(ruleset)
    assert exported.exported == ("RelayDown", "RelaysDown", "HlsErrors") and not exported.skipped
    rules_path, tests_path = tmp_path / "rules.yml", tmp_path / "tests.yml"
    rules_path.write_text(exported.text)
    with series_reader(engine) as reader:
        replays = []
        for rule in ruleset.rules:
            frame, start_ts, end_ts = load_frame(
                rule, reader=reader, series_csv=None, since=1200, until_ts=END, lookback_s=60
            )
            replays.append(replay_rule(rule, ruleset, frame, start_ts, end_ts))
    # By hand: shop-1's input fires 1 min after END-900 until END-600; HlsErrors fires 30 s after
    # END-600 (15 %) and holds through the 4 % spell (above the 2 % recovery) until END-300.
    by_name = {replay.rule.name: replay.result.episodes for replay in replays}
    relay = by_name["RelayDown"]
    shop = relay[relay["target"] == "shop-1/cloudflare_live_input"]
    assert shop[["start_ts", "end_ts"]].to_numpy().tolist() == [[END - 840, END - 600]]
    assert by_name["HlsErrors"][["start_ts", "end_ts"]].to_numpy().tolist() == [[END - 570, END - 300]]
    cases = promtool_cases(replays, ruleset, max_steps=200, max_targets=2)
    assert {(case.rule.name, case.target) for case in cases} == {
        ("RelayDown", "shop-1/cloudflare_live_input"),
        ("RelayDown", "radio-1/hls_playlist"),
        ("RelaysDown", "fleet"),
        ("HlsErrors", "radio-1"),
    }
    write_promtool_tests(tests_path, rules_path, ruleset, cases)
    document = yaml.safe_load(tests_path.read_text())
    assert sum(1 for t in document["tests"] for c in t["alert_rule_test"] if c["exp_alerts"]) > 20
    checked = subprocess.run(
        [str(promtool), "check", "rules", str(rules_path)], capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [str(promtool), "test", "rules", str(tests_path)], capture_output=True, text=True, timeout=120
    )
    assert tested.returncode == 0, (tested.stdout + tested.stderr)[-3000:]


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
