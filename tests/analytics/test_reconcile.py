"""Reconciliation on a fixture store: billed rows (as the collectors store them) against a
modeled source, and once against the real usage ledger + cost engine."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine

from analytics.reconcile import Modeled, reconcile
from collectors.billing.base import BillingRow
from collectors.billing.persist import replace_days
from store import schema
from store.engine import open_store
from store.queries.billing import billing_records
from store.upsert import upsert
from tests.analytics.stored import stored_ledger as _stored_ledger

D1, D2 = dt.date(2026, 11, 2), dt.date(2026, 11, 3)
T1 = int(dt.datetime(2026, 11, 2, tzinfo=dt.UTC).timestamp())
DAY = 86_400
FETCHED = T1 + 3 * DAY  # both days complete when fetched


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = open_store(f"sqlite:///{tmp_path / 'r.db'}")
    yield engine
    engine.dispose()


def store_billed(engine: Engine) -> None:
    rows = {
        "livekit_cloud": [
            BillingRow("livekit_cloud", D1, "connection_min", "min", 1000, None, {"room": "radio"}),
            BillingRow("livekit_cloud", D1, "downstream_gb", "GB", 10.004, None, {"room": "radio"}),
            BillingRow("livekit_cloud", D2, "connection_min", "min", 500, None, {"room": "radio"}),
        ],
        "agora": [
            BillingRow("agora", D1, "audio_min", "min", 9000, None, {}),
            BillingRow("agora", D2, "audio_min", "min", 3000.5, None, {}),
            BillingRow("agora", D2, "video_hd_min", "min", 100, None, {}),
        ],
        "aws": [
            BillingRow("aws", D1, "ivs_usage", "Hours", 20, 1.44, {"usage_type": "Output-HD"}),
            BillingRow("aws", D1, "delivered_min", "min", 1200, None, {"channel": "c"}),
        ],
    }
    for provider, provider_rows in rows.items():
        replace_days(engine, provider, "main", [D1, D2], provider_rows, FETCHED)
    # Hetzner: two month-to-date snapshots; the later one is the month's figure.
    for day, gb, usd in ((D1, 100.0, 5.0), (D2, 150.0, 6.0)):
        replace_days(engine, "hetzner", "servers", [day],
                     [BillingRow("hetzner", day, "traffic_out_gb_mtd", "GB", gb, usd, {"server": "s1"}, amount=usd, currency="EUR")],
                     FETCHED)  # fmt: skip


def fake_modeled(start_ts: int, end_ts: int) -> Modeled:
    daily = pd.DataFrame(
        {
            "day_ts": [T1, T1 + DAY],
            "publisher_minutes": [100.0, 50.0],
            "listener_minutes": [880.0, 450.0],
            "downstream_gb": [10.0, 5.0],
        }
    )
    return Modeled(daily=daily, usd_by_model={"livekit_cloud": 50.0, "agora": 2.0, "amazon_ivs": 1.2, "livekit_self_hosted": 6.0},
                   rounding_min=12.0)  # fmt: skip


def test_daily_and_monthly_variance_with_money_sources_and_causes(engine: Engine) -> None:
    store_billed(engine)
    with engine.begin() as conn:  # a 2-hour collector gap in the period
        upsert(
            conn, schema.sources, [{"id": 1, "name": "main", "kind": "livekit", "url": "", "created_ts": T1}]
        )
        upsert(
            conn,
            schema.collector_gaps,
            [{"source_id": 1, "start_ts": T1 + 3600, "end_ts": T1 + 3 * 3600, "reason": "down"}],
        )
    result = reconcile(billing_records(engine, D1, D2), D1, D2, warn_share=0.05, modeled_source=fake_modeled)
    assert result.providers == ["livekit_cloud", "agora", "aws", "hetzner"]

    daily = {(r["provider"], r["day"], r["measure"]): r for r in result.to_json()["daily"]}
    lk = daily[("livekit_cloud", "2026-11-02", "connection_min")]
    assert (lk["billed"], lk["modeled"]) == (1000.0, 980.0)
    assert lk["variance_share"] == pytest.approx(20 / 980)
    assert daily[("agora", "2026-11-03", "minutes")]["billed"] == pytest.approx(3100.5)

    monthly = {(r["provider"], r["measure"]): r for r in result.to_json()["monthly"]}
    conn_min = monthly[("livekit_cloud", "connection_min")]
    assert conn_min["billed"] == 1500 and conn_min["modeled"] == 1480
    # 1,500 min and 10.01 GB fit the free Build plan.
    assert conn_min["billed_usd_source"] == "catalogue" and conn_min["billed_usd"] == 0.0
    assert any(c.startswith("rounding per connection") for c in conn_min["causes"])
    assert any(c.startswith("sampling gaps: 2.0 h") for c in conn_min["causes"])
    agora = monthly[("agora", "minutes")]
    # Standard minutes at host ratios: 12,001 audio × 1 + 100 HD × 4 = 12,401, over the Free
    # package's 10,000: the cheapest package is Starter, $45.99 for 50,000.
    assert agora["billed_usd"] == pytest.approx(45.99)
    assert any("Starter" in c for c in agora["causes"])
    aws = monthly[("aws", "delivered_min")]
    assert aws["billed_usd_source"] == "api" and aws["billed_usd"] == pytest.approx(1.44)
    assert aws["variance_usd"] == pytest.approx(0.24) and aws["warn"]
    hetzner = monthly[("hetzner", "traffic_out_gb")]
    assert hetzner["billed"] == 150.0 and hetzner["billed_usd"] == 6.0  # the latest snapshot, not the sum
    assert hetzner["variance_usd_share"] == 0.0


def test_partial_and_missing_days_are_named(engine: Engine) -> None:
    rows = [BillingRow("agora", D1, "audio_min", "min", 10, None, {})]
    replace_days(engine, "agora", "usage", [D1], rows, T1 + 3600)  # fetched before D1 ended
    result = reconcile(billing_records(engine, D1, D2), D1, D2, modeled_source=fake_modeled)
    causes = result.monthly.iloc[0]["causes"]
    assert any(c.startswith("partial days: billing for 2026-11-02") for c in causes)


def test_empty_store_and_missing_model(engine: Engine) -> None:
    empty = reconcile(billing_records(engine, D1, D2), D1, D2, modeled_source=fake_modeled)
    assert empty.is_empty and empty.to_json()["monthly"] == []
    store_billed(engine)
    unmodeled = reconcile(billing_records(engine, D1, D2), D1, D2, modeled_source=lambda *_: None)
    assert unmodeled.notes and unmodeled.monthly["modeled"].isna().all()
    assert unmodeled.monthly["warn"].eq(False).all()


def test_months_are_split(engine: Engine) -> None:
    replace_days(
        engine,
        "agora",
        "usage",
        [dt.date(2026, 10, 31)],
        [BillingRow("agora", dt.date(2026, 10, 31), "audio_min", "min", 5, None, {})],
        FETCHED,
    )
    store_billed(engine)
    since = dt.date(2026, 10, 30)
    result = reconcile(billing_records(engine, since, D2), since, D2, modeled_source=fake_modeled)
    months = sorted(set(result.monthly[result.monthly["provider"] == "agora"]["month"]))
    assert months == ["2026-10", "2026-11"]


def test_with_the_real_usage_ledger_and_cost_engine(engine: Engine) -> None:
    with engine.begin() as c:
        upsert(c, schema.sources, [{"id": 1, "name": "main", "kind": "livekit", "url": "", "created_ts": T1}])
        upsert(c, schema.room_sessions, [{"source_id": 1, "room_sid": "RM_1", "room_name": "radio", "channel": "radio",
                                           "started_ts": T1, "ended_ts": T1 + 7200, "last_seen_ts": T1 + 7200,
                                           "max_participants": 2, "max_listeners": 1}])  # fmt: skip
        upsert(c, schema.participant_sessions, [
            {"source_id": 1, "participant_sid": sid, "room_sid": "RM_1", "identity": sid, "name": sid, "kind": "STANDARD",
             "is_publisher": pub, "joined_ts": T1 + start, "left_ts": T1 + end, "last_seen_ts": T1 + end, "origin": "webhook"}
            for sid, pub, start, end in (("dj", True, 0, 3600), ("l1", False, 10, 80))
        ])  # fmt: skip
    replace_days(
        engine,
        "livekit_cloud",
        "sessions",
        [D1],
        [BillingRow("livekit_cloud", D1, "connection_min", "min", 62, None, {"room": "radio"})],
        FETCHED,
    )
    measured = functools.partial(_stored_ledger, engine)
    result = reconcile(billing_records(engine, D1, D1), D1, D1, ledger_source=measured)
    row = result.to_json()["monthly"][0]
    assert row["modeled"] == 62.0  # 60 + 2 (70 s rounded up): the bill matches the model
    assert row["variance_share"] == 0.0 and row["modeled_usd"] is not None
    # Negotiated rates ([prices.overrides]) price both sides: with Build capped at 10 minutes,
    # the 62 minutes need a paid plan.
    negotiated = reconcile(
        billing_records(engine, D1, D1),
        D1,
        D1,
        ledger_source=measured,
        overrides={"livekit_cloud.build.included_min": 10},
    )
    paid = negotiated.to_json()["monthly"][0]
    assert paid["modeled_usd"] > row["modeled_usd"]
    assert paid["billed_usd"] > row["billed_usd"]


def _versioned_stream_catalogue(tmp_path: Path) -> Any:
    """Cloudflare Stream delivery at $1 until 2026-06-14 and $2 from 2026-06-15."""
    (tmp_path / "cloudflare.yaml").write_text(
        "provider: cloudflare\nrates:\n"
        "  stream.delivery_per_1000_min_usd:\n    unit: USD/1000 min\n    versions:\n"
        "      - {value: 1.0, effective_from: 2026-01-01, read: 2026-01-01, confidence: P, source: http://a}\n"
        "      - {value: 2.0, effective_from: 2026-06-15, read: 2026-06-15, confidence: P, source: http://b}\n"
        "  stream.storage_per_1000_min_usd: {value: 5, unit: USD/block, effective_from: 2026-01-01, read: 2026-01-01, "
        "confidence: P, source: http://a}\n"
        "  realtime.free_gb: {value: 1000, unit: GB, effective_from: 2026-01-01, read: 2026-01-01, confidence: P, "
        "source: http://a}\n"
        "  realtime.egress_per_gb_usd: {value: 0.05, unit: USD/GB, effective_from: 2026-01-01, read: 2026-01-01, "
        "confidence: P, source: http://a}\n",
        encoding="utf-8",
    )
    from analytics.prices import load_catalogue

    return load_catalogue(directory=tmp_path, as_of=dt.date(2026, 12, 1))


def test_billed_usage_across_a_price_change_is_priced_at_each_days_rate(tmp_path: Path) -> None:
    """1,000 minutes delivered a day through June 2026: 14 days at $1 and 16 at $2 per 1,000 =
    $14 + $32, what a bill at each day's rate says (like the modeled side, priced per period)."""
    from analytics.reconcile import price_billed_period

    catalogue = _versioned_stream_catalogue(tmp_path)
    june = [dt.date(2026, 6, 1) + dt.timedelta(days=n) for n in range(30)]
    rows = pd.DataFrame(
        {"metric": "minutes_delivered", "quantity": 1000.0,
         "day_ts": [int(dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC).timestamp()) for d in june]}
    )  # fmt: skip
    priced = price_billed_period("cloudflare", rows, catalogue, june[0], june[-1])
    assert priced.usd == pytest.approx(14 + 32)
    assert any("price change on 2026-06-15" in c for c in priced.causes)
    # Inside one price period nothing is split.
    july = price_billed_period("cloudflare", rows.assign(day_ts=rows["day_ts"] + 30 * DAY), catalogue,
                               dt.date(2026, 7, 1), dt.date(2026, 7, 30))  # fmt: skip
    assert july.usd == pytest.approx(60.0)


def test_billed_usage_is_priced_by_the_cost_engines_models() -> None:
    """Figures by hand from the catalogue in force on 2026-12-01."""
    from analytics.prices import load_catalogue
    from analytics.reconcile import price_billed_usage

    catalogue = load_catalogue(as_of=dt.date(2026, 12, 1))
    # LiveKit Cloud: 200,000 min and 300.004 GB (billed as 300.01 GB) are over Build; Ship is
    # $50 + 50,000 min × $0.0005 + 50.01 GB × $0.12 = $81.0012, cheaper than Scale's $500.
    livekit = pd.DataFrame({"metric": ["connection_min", "downstream_gb"], "quantity": [200_000.0, 300.004]})
    priced = price_billed_usage("livekit_cloud", livekit, catalogue)
    assert priced.usd == pytest.approx(81.0012)
    assert priced.causes == ["free tiers: priced on the Ship plan with its included minutes and GB"]
    # Cloudflare: 20,000 min delivered ($20), a largest snapshot of 2,500 min stored (3 blocks
    # × $5), 1,200 GB of Realtime egress of which 1,000 are free (200 × $0.05 = $10).
    cloudflare = pd.DataFrame(
        {"metric": ["minutes_delivered", "minutes_stored", "minutes_stored", "realtime_egress_gb"],
         "quantity": [20_000.0, 1_000.0, 2_500.0, 1_200.0]}
    )  # fmt: skip
    priced = price_billed_usage("cloudflare", cloudflare, catalogue)
    assert priced.usd == pytest.approx(20 + 15 + 10)
    assert any("first 1,000 GB of Realtime egress are free" in c for c in priced.causes)
    assert price_billed_usage("aws", livekit, catalogue).usd is None
