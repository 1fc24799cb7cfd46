"""The Costs page (AppTest): empty store, patched analytics (known numbers), and the fixture fleet."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from analytics import usage as usage_module
from analytics.ledger import Scenario, UsageLedger, ledger_from_scenario
from tests.pages.conftest import page_path

TIMEOUT_S = 60


def run_page() -> AppTest:
    st.cache_data.clear()
    app = AppTest.from_file(page_path("costs"), default_timeout=TIMEOUT_S)
    app.run()
    assert not app.exception, app.exception
    return app


def text_of(app: AppTest) -> str:
    parts = [
        e.value for e in (*app.info, *app.caption, *app.warning, *app.error, *app.markdown, *app.subheader)
    ]
    return " ".join(str(p) for p in parts)


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


def test_populated_with_patched_usage_shows_known_costs(
    empty_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(usage_module, "measured_ledger", _scenario_ledger)
    app = run_page()
    cheapest = next(m for m in app.metric if m.label == "Cheapest model")
    assert cheapest.value == "LiveKit self-hosted"
    per_model = app.dataframe[1].value.set_index("Model")
    assert per_model.loc["LiveKit Cloud", "Monthly"] == "$391.54"
    assert per_model.loc["Cloudflare Stream", "Per 1,000 listener-hours"] == "$60.00"
    shown = text_of(app)
    assert "Cost by channel" in shown
    assert "plan\\: Ship" in shown  # the LiveKit note (escaped: notes carry "$")
    assert len(app.get("plotly_chart")) >= 4


def test_fixture_fleet_renders(populated_store: dict[str, Any]) -> None:
    app = run_page()
    assert "Rates used" in text_of(app)
