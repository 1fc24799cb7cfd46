"""Cross-page agreement: each quantity read everywhere it is shown, over the same window, on the
known-answer stores (conftest.py), agrees — with the tolerance stated beside each check:

quantity                         where it is shown                                    tolerance
live streams/listeners/pubs      Overview cards, Overview busiest table, Streams      none
                                 (live rows), Nodes (participants on nodes)
outgoing bandwidth               Overview card, Σ Nodes table "Out Mbit/s"             display rounding: 0.05 Mbit/s per figure
listener-hours per month         Costs card, Planner "my fleet", `analytics costs`     none / Planner: its inputs are rounded to
                                                                                       2 decimals (0.5 %)
listener-minutes per stream      Streams drill-down (samples) vs the usage ledger      1 min per stream (sampled every 15 s
                                 (sessions, `analytics costs`)                         backfilled, 5 s live)
downstream GB                    Σ Streams drill-downs vs `analytics costs`            2 % (the drill-down multiplies sampled
                                                                                       listener minutes by the measured bitrate)
cost per model (monthly)         Costs table, `analytics costs` providers              half a cent (display)
cost per hour (current model)    Overview card × 720 vs Costs table                    $0.00005/h display → $0.036 a month
cost per listener-hour           Costs table vs `analytics costs` (monthly / hours)    $0.00005 (display)
month to date / projection /     Costs month table vs `analytics costs` month          half a cent; projection = run rate exactly
run rate                                                                               (one steady rate all month)
node CPU and memory              Nodes table vs the Alerts backtest's value at the     none (the same sample)
                                 same grid time
alert values                     Alerts history (live evaluation) vs the backtest      none (one evaluator)
                                 at the transition's time
egress minutes                   `analytics costs` vs the drill-downs' egress jobs     none
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from analytics.costs import MODEL_LABELS
from tests.knownanswer import answers as a
from tests.knownanswer.conftest import RULES, dashboard_config, is_live
from tests.knownanswer.test_known_answers import cli, livekit_source_id, metrics, number, run_page, text_of

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
SIDS = {"radio-1": "RM_ka_radio1", "radio-2": "RM_ka_radio2"}


def _costs_cli(store_url: str, tmp_path: Path) -> dict[str, Any]:
    return cli(
        "costs", "--since", str(a.T0), "--until", str(a.END), "--now", str(a.END),
        store_url=store_url, config=dashboard_config(tmp_path / "cli.toml"),
    )  # fmt: skip


def test_live_figures_agree_across_pages(store_kind: str, dashboard: Callable[[int], None]) -> None:
    dashboard(a.MID_NOW)
    overview = run_page("overview", {"range": "1h"})
    cards = metrics(overview)
    busiest = overview.dataframe[0].value
    streams = run_page("streams", {"range": "1h", "status": "live"})
    live_rows = streams.dataframe[0].value
    nodes = run_page("nodes", {"range": "1h"})
    node_cards = metrics(nodes)
    node_table = nodes.dataframe[0].value
    # Live streams: Overview card = Streams page's live rows = busiest table's streams.
    assert int(cards["Live streams"]) == len(live_rows) == int(busiest["Live streams"].sum())
    assert f"{len(live_rows)} stream" in text_of(streams) and "live) in" in text_of(streams)
    # Listeners and publishers: Overview cards = the busiest table's sums.
    assert int(cards["Listeners"]) == int(busiest["Listeners"].sum())
    assert int(cards["Publishers"]) == int(busiest["Publishers"].sum())
    # People on the nodes (the LiveKit gauge) = listeners + publishers polled from the API.
    assert int(node_cards["Participants on nodes"].replace(",", "")) == int(cards["Listeners"]) + int(
        cards["Publishers"]
    )
    # Outgoing bandwidth: the Overview's card is the sum of the Nodes table's rows.
    assert cards["Nodes up"] == node_cards["Nodes up"]
    total = float(node_table["Out Mbit/s"].sum())
    assert abs(float(cards["Outgoing Mbit/s"]) - total) <= 0.05 * (1 + len(node_table))


def test_usage_and_costs_agree_across_pages(
    store_kind: str, store_url: str, dashboard: Callable[[int], None], tmp_path: Path
) -> None:
    document = _costs_cli(store_url, tmp_path)
    usage = document["usage"]
    providers = {p["id"]: p for p in document["providers"]}
    dashboard(a.END_NOW)
    costs = run_page("costs", {"range": "1h"})
    cli_hours = usage["monthly_listener_minutes_unrounded"] / 60
    # Listener-hours per month: the Costs card = the command line (same window coverage).
    assert number(metrics(costs)["Listener-hours per month"]) == pytest.approx(cli_hours, abs=0.5)
    window = next(f.value for f in costs.dataframe if "Per listener-hour" in f.value.columns).set_index(
        "Model"
    )
    for model in MODEL_LABELS:
        label = MODEL_LABELS[model]
        assert number(window.loc[label, "Monthly"]) == pytest.approx(
            providers[model]["monthly_usd"], abs=0.005
        )
        per_hour = providers[model]["monthly_usd"] / cli_hours
        assert number(window.loc[label, "Per listener-hour"]) == pytest.approx(per_hour, abs=0.00005)
    # This month: the Costs table = the command line's month section; one steady rate all
    # month, so the projection is the run rate and the window's monthly figure.
    month_cli = {m["model"]: m for m in document["month"]["models"]}
    month = next(f.value for f in costs.dataframe if "Month to date (USD)" in f.value.columns).set_index(
        "Model"
    )
    projected = next(c for c in month.columns if c.startswith("Projected month"))
    run_rate = next(c for c in month.columns if c.startswith("Run rate"))
    for model, label in MODEL_LABELS.items():
        assert number(month.loc[label, "Month to date (USD)"]) == pytest.approx(
            month_cli[model]["month_to_date_usd"], abs=0.005
        )
        assert number(month.loc[label, projected]) == pytest.approx(
            month_cli[model]["projected_month_usd"], abs=0.005
        )
        assert month_cli[model]["projected_month_usd"] == pytest.approx(
            month_cli[model]["run_rate_usd"], abs=0.005
        )
        assert number(month.loc[label, run_rate]) == pytest.approx(providers[model]["monthly_usd"], abs=0.005)
    # The Overview's cost per hour (current model) × 720 h = the Costs table's monthly figure.
    overview = run_page("overview", {"range": "1h"})
    card = metrics(overview)[f"Cost per hour ({MODEL_LABELS[a.CURRENT_MODEL]})"]
    assert number(card) * 720 == pytest.approx(providers[a.CURRENT_MODEL]["monthly_usd"], abs=0.036)
    # The Planner's "my fleet" (the last 30 days) = the measured listener-hours per month.
    from ui import planner as planner_state

    planner = run_page("planner")
    planner.selectbox(key="pl_preset").set_value(planner_state.MY_FLEET)
    planner.run()
    planned = number(text_of(planner).split(" listener-hours per month")[0].split()[-1])
    assert planned == pytest.approx(cli_hours, rel=0.005)


def test_streams_add_up_to_the_fleet(
    store_kind: str, store_url: str, dashboard: Callable[[int], None], tmp_path: Path
) -> None:
    usage = _costs_cli(store_url, tmp_path)["usage"]
    scale = usage["month_scale"]
    dashboard(a.END_NOW)
    source_id = livekit_source_id(store_url)
    listener_min = 0.0
    downstream_gb = 0.0
    egress_min = 0
    for room, sid in SIDS.items():
        app = run_page("streams", {"range": "1h", "stream": f"{source_id}:{sid}"})
        shown = metrics(app)
        room_listener_min = number(shown["Listener minutes"])
        # The drill-down samples the room; the ledger meters its sessions: 1 minute per stream.
        ledger_room = (
            usage["monthly_listener_minutes_unrounded"] / scale * a.LISTENER_MIN_BY_CHANNEL[room] / 18
        )
        assert room_listener_min == pytest.approx(ledger_room, abs=1.0)
        listener_min += room_listener_min
        downstream_gb += float(shown["Downstream GB"])
        egress = next(f.value for f in app.dataframe if "Error" in f.value.columns)
        for started, ended in zip(
            egress["Started (Europe/Berlin)"], egress["Ended (Europe/Berlin)"], strict=True
        ):
            egress_min += math.ceil((pd.Timestamp(ended) - pd.Timestamp(started)).total_seconds() / 60)
    assert listener_min == pytest.approx(usage["monthly_listener_minutes_unrounded"] / scale, abs=2.0)
    # Shown to 4 decimals below 1 GB (0.0173 + 0.0077); the drill-down multiplies sampled listener
    # minutes by the measured bitrate, the ledger sums node bytes: 2 % live, display rounding else.
    fleet_gb = usage["monthly_downstream_gb"] / scale
    assert downstream_gb == pytest.approx(fleet_gb, rel=0.02 if is_live(store_kind) else 0, abs=0.0001)
    assert egress_min == usage["monthly_egress_minutes"] / scale


def test_node_figures_and_alert_values_agree(
    store_kind: str, store_url: str, dashboard: Callable[[int], None]
) -> None:
    dashboard(a.MID_NOW)
    nodes = run_page("nodes", {"range": "1h"}).dataframe[0].value.set_index("Node")
    # The backtest's value at the Nodes page's window end is that page's sample.
    from analytics.alerts.backtest import Grid, grid_values, split_frame
    from analytics.alerts.rules import load_rules
    from analytics.alerts.series import load_store_series
    from store.engine import make_engine
    from store.queries.alert_series import series_reader

    ruleset = load_rules(RULES)
    engine = make_engine(store_url, read_only=True)
    try:
        grid = Grid(a.MID_END, ruleset.evaluation_interval_s, 1)
        for rule_name, column in (("HighCPU", "CPU %"), ("HighMemory", "Memory %")):
            rule = ruleset.get(rule_name)
            with series_reader(engine) as reader:
                frame = load_store_series(reader, rule, a.MID_END - 600, a.MID_END, ruleset.lookback_s)
            values = grid_values(split_frame(frame), rule, grid, ruleset.lookback_s)
            for node in ("ND_ka_a", "ND_ka_b"):
                assert round(float(values[node][0]), 1) == float(str(nodes.loc[node, column])), (
                    rule_name,
                    node,
                )
        if is_live(store_kind):
            # Live alerting stored a value with each transition: the backtest's at that time.
            dashboard(a.END_NOW)
            alerts = run_page("alerts", {"range": "1h"})
            history = next(f.value for f in alerts.dataframe if "Change" in f.value.columns)
            for record in history.to_dict("records"):
                rule = ruleset.get(record["Rule"])
                ts = int(pd_ts(record["Time (Europe/Berlin)"]))
                at = Grid(ts, ruleset.evaluation_interval_s, 1)
                with series_reader(engine) as reader:
                    frame = load_store_series(reader, rule, ts - 600, ts, ruleset.lookback_s)
                value = grid_values(split_frame(frame), rule, at, ruleset.lookback_s)[record["Target"]][0]
                shown = record["Value"]
                if math.isnan(value):
                    assert shown == "no data"
                else:
                    assert shown == f"{value:,.2f} %", (record, value)
    finally:
        engine.dispose()


def pd_ts(text: str) -> float:
    """A Europe/Berlin wall time on the page → Unix seconds."""
    return pd.Timestamp(text, tz="Europe/Berlin").timestamp()
