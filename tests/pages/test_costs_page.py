"""The Costs page (AppTest): empty store, patched analytics (known numbers), and the fixture fleet."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from analytics import usage as usage_module
from analytics.costs import MODEL_IDS
from analytics.ledger import Scenario, UsageLedger, ledger_from_scenario
from tests.pages.conftest import page_path

TIMEOUT_S = 60


def run_page() -> AppTest:
    st.cache_data.clear()
    app = AppTest.from_file(page_path("costs"), default_timeout=TIMEOUT_S)
    app.run()
    assert not app.exception, app.exception
    return app


def per_model_table(app: AppTest) -> Any:
    return next(d.value for d in app.dataframe if "Per listener-hour" in d.value.columns).set_index("Model")


def text_of(app: AppTest) -> str:
    parts = [
        e.value for e in (*app.info, *app.caption, *app.warning, *app.error, *app.markdown, *app.subheader)
    ]
    return " ".join(str(p) for p in parts)


@pytest.mark.slow
def test_empty_store_explains_and_still_shows_rates_and_break_even(empty_store: str) -> None:
    app = run_page()
    shown = text_of(app)
    assert "No usage recorded this month yet" in shown
    assert "No usage in" in shown
    assert "Break-even" in shown
    assert "Rates used" in shown
    rates = app.dataframe[-1].value
    assert len(rates) > 80
    assert "stale" in set(rates["Flags"])


def _scenario_ledger(*_args: Any, **_kwargs: Any) -> UsageLedger:
    # One DJ channel, 100 listeners, 4 h/day for 30 days: the seed 000 scenario as "measured".
    ledger = ledger_from_scenario(
        Scenario(streams=1, hours_per_day=4, days_per_month=30, listeners_per_stream=100)
    )
    return replace(ledger, origin="measured")


@pytest.mark.slow
def test_populated_with_patched_usage_shows_known_costs(
    empty_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(usage_module, "measured_ledger", _scenario_ledger)
    app = run_page()
    cheapest = next(m for m in app.metric if m.label == "Cheapest model")
    assert cheapest.value == "LiveKit self-hosted"
    per_model = per_model_table(app)
    assert per_model.loc["LiveKit Cloud", "Monthly"] == "$391.54"
    assert per_model.loc["Cloudflare Stream", "Per 1,000 listener-hours"] == "$60.00"
    shown = text_of(app)
    assert "Cost by channel" in shown
    assert "plan\\: Ship" in shown  # the LiveKit note (escaped: notes carry "$")
    assert len(app.get("plotly_chart")) >= 4


@pytest.mark.slow
def test_fixture_fleet_renders(populated_store: dict[str, Any]) -> None:
    app = run_page()
    assert "Rates used" in text_of(app)


def _june_ledger(*_args: Any, **kwargs: Any) -> UsageLedger:
    # 40 tours × 25 listeners through June 2026: the window spans Hetzner's 2026-06-15 rise.
    start_ts = int(dt.datetime(2026, 6, 1, tzinfo=dt.UTC).timestamp())
    tours = Scenario(streams=40, hours_per_day=8, days_per_month=30, listeners_per_stream=25, audio_kbps=62)
    return replace(ledger_from_scenario(tours, start_ts=start_ts), origin="measured")


@pytest.mark.slow
def test_a_price_change_inside_the_window_is_named_and_itemized(
    empty_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(usage_module, "measured_ledger", _june_ledger)
    app = run_page()
    shown = text_of(app)
    assert "Priced at the prices in force on each day: price version" in shown
    warning = " ".join(str(w.value) for w in app.warning)
    assert "Prices changed inside this window on 2026-06-15" in warning
    assert "`self_hosted.hetzner.cx33.monthly_eur`: 6.49 → 8.49 EUR" in warning
    periods = next(d.value for d in app.dataframe if "Price version" in d.value.columns)
    assert list(periods["From"]) == ["2026-06-01", "2026-06-15"]
    assert list(periods["Share of window"]) == ["47%", "53%"]
    fx = 1.1637
    assert list(periods["LiveKit self-hosted"]) == [f"${6.49 * fx:,.2f}", f"${8.49 * fx:,.2f}"]
    # The window's figure weights the two periods by their days.
    per_model = per_model_table(app)
    assert per_model.loc["LiveKit self-hosted", "Monthly"] == f"${(14 * 6.49 + 16 * 8.49) / 30 * fx:,.2f}"


@pytest.mark.slow
def test_unverified_rates_are_marked(empty_store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(usage_module, "measured_ledger", _scenario_ledger)
    app = run_page()
    per_model = per_model_table(app)
    assert per_model.loc["Amazon IVS", "Unverified rates"] == "⚠ 1"  # the Basic channel input rate
    assert per_model.loc["Cloudflare Stream", "Unverified rates"] == "none"
    assert any("unverified: `amazon_ivs.input.basic_per_hour_usd`" in str(c.value) for c in app.caption)
    rates = app.dataframe[-1].value.set_index("Rate")
    assert "unverified" in str(rates.loc["self_hosted.hetzner.ax102.monthly_eur", "Flags"])
    assert "5000" in str(rates.loc["livekit_cloud.scale.max_connections", "Other values"])


@pytest.mark.slow
def test_picking_a_model_or_a_baseline_redraws_its_chart(populated_store: dict[str, Any]) -> None:
    # (That the pick reruns its section alone, a fragment, is checked on a real server:
    # tests/pages/test_costs_server.py. AppTest reruns the whole page.)
    app = run_page()
    charts = [chart.proto.spec for chart in app.get("plotly_chart")]
    model = app.selectbox(key="costs_channel_model")
    picked_model = next(m for m in MODEL_IDS if m != model.value)  # values are model ids
    model.set_value(picked_model).run()
    assert not app.exception, app.exception
    baseline = app.selectbox(key="costs_break_even_base")
    picked_baseline = baseline.options[-1]
    assert picked_baseline != baseline.value
    baseline.set_value(picked_baseline).run()
    assert not app.exception, app.exception
    assert app.selectbox(key="costs_channel_model").value == picked_model
    assert app.selectbox(key="costs_break_even_base").value == picked_baseline
    after = [chart.proto.spec for chart in app.get("plotly_chart")]
    assert len(after) == len(charts)
    changed = [index for index, (old, new) in enumerate(zip(charts, after, strict=True)) if old != new]
    # The break-even chart follows the new baseline; only the two sections' charts may change
    # (the fixture's channels can cost the same under two models). Chart 0, this month to date,
    # follows the clock: AppTest reruns the whole page, and "now" moved between the runs (CI saw it
    # change), so it is not compared.
    changed = [index for index in changed if index != 0]
    assert len(after) - 2 in changed and set(changed) <= {len(after) - 2, len(after) - 1}, changed
