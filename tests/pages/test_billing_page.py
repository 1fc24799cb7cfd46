"""The Billing page (AppTest): no provider configured, configured but empty, and populated."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from collectors.billing.base import BillingRow
from collectors.billing.persist import ensure_source, record_status, replace_days
from store.engine import open_store
from tests.pages.conftest import page_path

TIMEOUT_S = 30
BILLING_CONFIG = """
[dashboard]
timezone = "Europe/Berlin"

[billing]
variance_warn_share = 0.05

[billing.agora]
customer_id = "cust"
customer_secret = "agora-page-secret"
project_ids = ["proj1"]

[billing.aws]
access_key_id = "AKIDPAGE"
secret_access_key = "aws-page-secret"
"""


def configure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config_text: str) -> str:
    config = tmp_path / "castmeter.toml"
    config.write_text(config_text)
    url = f"sqlite:///{tmp_path / 'billing-page.db'}"
    open_store(url).dispose()
    monkeypatch.setenv("CASTMETER_CONFIG", str(config))
    monkeypatch.setenv("CASTMETER_DB_URL", url)
    monkeypatch.delenv("CASTMETER_PASSWORD_HASH", raising=False)
    return url


def run_page() -> AppTest:
    app = AppTest.from_file(page_path("billing"), default_timeout=TIMEOUT_S)
    app.run()
    assert not app.exception, app.exception
    return app


def all_text(app: AppTest) -> str:
    parts = [e.value for e in (*app.info, *app.caption, *app.warning, *app.error, *app.markdown)]
    return " ".join(str(p) for p in parts)


def test_no_provider_configured_explains_how_to_add(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(tmp_path, monkeypatch, '[dashboard]\ntimezone = "UTC"\n')
    app = run_page()
    assert "No billing provider is configured" in app.info[0].value
    assert "[billing.*]" in app.info[0].value and "collectors billing --once" in app.info[0].value
    assert len(app.dataframe) == 0


def test_configured_but_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(tmp_path, monkeypatch, BILLING_CONFIG)
    app = run_page()
    status = app.dataframe[0].value
    assert list(status["Provider"]) == ["Agora", "AWS (Amazon IVS)"]
    assert set(status["Status"]) == {"not run yet"}
    text = all_text(app)
    assert "Not configured: LiveKit Cloud, Cloudflare, Hetzner Cloud" in text
    assert "No billing data in this period yet" in text
    assert "agora-page-secret" not in text


@pytest.mark.slow
def test_populated_shows_chart_variance_warning_and_collector_health(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = configure(tmp_path, monkeypatch, BILLING_CONFIG)
    engine = open_store(url)
    now = int(time.time())
    today = datetime.now(tz=UTC).date()
    # Two billing days of one month (the table sums by month), within the page's last 30 days,
    # whatever today is: on the 1st or 2nd, the previous month's last two days.
    last = today - timedelta(days=1)
    if last.day == 1:
        last -= timedelta(days=1)
    days = [last - timedelta(days=1), last]
    rows = [BillingRow("agora", d, "audio_min", "min", 20_000.0, None, {}) for d in days]
    replace_days(engine, "agora", "usage", days, rows, now)
    replace_days(
        engine,
        "aws",
        "cost",
        days,
        [BillingRow("aws", days[0], "ivs_usage", "Hours", 3, 2.5, {"usage_type": "Output-HD"})],
        now,
    )
    agora_id = ensure_source(engine, "agora", "https://api.agora.io/dev/v3/usage", now)
    record_status(engine, agora_id, ok=True, partial=False, error=None, now_ts=now)
    aws_id = ensure_source(engine, "aws", "https://ce.us-east-1.amazonaws.com", now)
    record_status(
        engine,
        aws_id,
        ok=False,
        partial=False,
        error="aws: cost: AccessDeniedException — check the key",
        now_ts=now,
    )
    engine.dispose()

    app = run_page()
    status = app.dataframe[0].value.set_index("Provider")
    assert status.loc["Agora", "Status"] == "ok" and status.loc["AWS (Amazon IVS)", "Status"] == "failing"
    assert "check the key" in str(status.loc["AWS (Amazon IVS)", "Last error"])
    assert "Europe/Berlin" in " ".join(status.columns)

    variance = app.dataframe[1].value
    agora = variance[variance["Provider"] == "Agora"].iloc[0]
    assert agora["Billed"] == "40,000.00" and agora["Money from"] == "catalogue"
    # 40,000 audio min = 40,000 standard min: over the Free package's 10,000, so Starter ($45.99
    # for 50,000) is the cheapest package (accounts since 2025-08-29).
    assert agora["Billed $"] == "$45.99"
    assert "Starter" in agora["Known causes"]
    aws = variance[variance["Provider"] == "AWS (Amazon IVS)"].iloc[0]
    assert aws["Billed $"] == "$2.50" and aws["Money from"] == "api"
    # The empty fleet models $0 and 0 minutes: the difference cannot be a share, so no warning for it;
    # the page still draws billed vs modeled.
    assert len(app.get("plotly_chart")) == 1


def test_warning_when_billed_and_modeled_differ_over_the_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    import analytics.reconcile as reconcile_module

    url = configure(tmp_path, monkeypatch, BILLING_CONFIG)
    engine = open_store(url)
    today = datetime.now(tz=UTC).date()
    day = today - timedelta(days=1)
    replace_days(
        engine,
        "aws",
        "cost",
        [day],
        [BillingRow("aws", day, "ivs_usage", "Hours", 3, 2.5, {"usage_type": "x"})],
        int(time.time()),
    )
    engine.dispose()
    real = reconcile_module.reconcile

    def modeled(start_ts: int, end_ts: int) -> reconcile_module.Modeled:
        return reconcile_module.Modeled(
            daily=pd.DataFrame({"day_ts": [], "listener_minutes": []}), usd_by_model={"amazon_ivs": 2.0}
        )

    monkeypatch.setattr(reconcile_module, "reconcile", lambda *a, **k: real(*a, **k, modeled_source=modeled))
    app = run_page()
    warnings = [w.value for w in app.warning]
    assert len(warnings) == 1 and "AWS" in warnings[0] and "5%" in warnings[0]
    variance = app.dataframe[1].value
    assert variance.iloc[0]["Money variance"] == "+25.0%"
