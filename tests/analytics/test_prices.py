"""The price catalogue: every rate sourced, dated and read; effective-dated versions; overrides;
stale and unverified marking; validation; a window priced at the prices in force on each day."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

import pytest

from analytics.costs import price_ledger_detail, provider_costs
from analytics.ledger import DAY_S, Scenario, ledger_from_scenario
from analytics.prices import CatalogueError, load_catalogue
from analytics.pricing_models.base import UsageArrays

AS_OF = dt.date(2026, 12, 1)
JUNE_1 = dt.date(2026, 6, 1)
JUNE_1_TS = int(dt.datetime(2026, 6, 1, tzinfo=dt.UTC).timestamp())


def test_every_rate_has_source_dates_unit_confidence_and_unverified_ones_say_why() -> None:
    catalogue = load_catalogue(as_of=AS_OF)
    frame = catalogue.frame()
    assert len(frame) > 150
    assert frame["source"].str.len().min() >= 4
    assert frame["unit"].str.len().min() >= 1
    assert set(frame["confidence"]) == {"P", "S", "U"}
    assert (frame.loc[frame["confidence"] == "U", "reason"].str.len() > 10).all()
    assert (frame["read"] <= AS_OF.isoformat()).all()
    assert set(frame["provider"]) == {
        "livekit_cloud", "self_hosted", "agora", "cloudflare", "amazon_ivs", "heroku", "digitalocean",
    }  # fmt: skip
    history = catalogue.history_frame()
    assert len(history) > len(frame)  # some rates have several versions


def test_known_rates_match_the_sources() -> None:
    c = load_catalogue(as_of=AS_OF)
    assert c["livekit_cloud.ship.fee_usd"] == 50
    assert c["livekit_cloud.scale.included_min"] == 1_500_000
    assert c["livekit_cloud.ship.transcode_overage_per_min_usd"] == 0.02
    assert c["livekit_cloud.scale.max_connections"] == float("inf")
    assert c["agora.audience.hd_per_1000_usd"] == 1.99
    assert c["agora.standard.broadcast_audience_hd_ratio"] == 2
    assert c["agora.package.business_plus.fee_usd"] == 1217.99
    assert c["agora.media_push.single_video_per_1000_usd"] == 1.99
    assert c["cloudflare.stream.delivery_per_1000_min_usd"] == 1.0
    assert c["amazon_ivs.hd.kr.t5_usd"] == 0.107
    assert c["heroku.performance_m.monthly_usd"] == 250
    assert c["digitalocean.droplet.basic_2vcpu_4gb.monthly_usd"] == 24


def test_hetzner_rates_change_on_2026_06_15() -> None:
    c = load_catalogue(as_of=AS_OF)
    assert c.at(dt.date(2026, 6, 14))["self_hosted.hetzner.cx33.monthly_eur"] == 6.49
    assert c.at(dt.date(2026, 6, 15))["self_hosted.hetzner.cx33.monthly_eur"] == 8.49
    assert c["self_hosted.hetzner.cx23.monthly_eur"] == 5.49
    # The oldest known price also prices the days before it.
    assert c.at(dt.date(2025, 1, 1))["self_hosted.hetzner.cx33.monthly_eur"] == 6.49
    changes = c.changes(JUNE_1, dt.date(2026, 6, 30))
    assert [(x.day, x.rate_id, x.old, x.new) for x in changes] == [
        (dt.date(2026, 6, 15), "self_hosted.hetzner.cx23.monthly_eur", 3.99, 5.49),
        (dt.date(2026, 6, 15), "self_hosted.hetzner.cx33.monthly_eur", 6.49, 8.49),
    ]
    parts = c.segments(JUNE_1, dt.date(2026, 6, 30))
    assert [(p.first_day, p.last_day) for p in parts] == [
        (JUNE_1, dt.date(2026, 6, 14)),
        (dt.date(2026, 6, 15), dt.date(2026, 6, 30)),
    ]
    assert c.segments(dt.date(2026, 7, 1), dt.date(2026, 7, 31))[0].catalogue.as_of == dt.date(2026, 7, 1)


def test_a_window_across_2026_06_15_prices_each_side_at_its_hetzner_rate() -> None:
    """June 2026 measured: one CX33 carries the tours load. 1–14 June priced at €6.49, 15–30 June
    at €8.49, weighted by days: (14 × 6.49 + 16 × 8.49) / 30 EUR for the month."""
    tours = Scenario(streams=40, hours_per_day=8, days_per_month=30, listeners_per_stream=25, audio_kbps=62)
    ledger = replace(ledger_from_scenario(tours, start_ts=JUNE_1_TS), origin="measured")
    assert ledger.period_end_ts - ledger.period_start_ts == 30 * DAY_S
    catalogue = load_catalogue(as_of=AS_OF)
    fx = catalogue["self_hosted.fx.eur_usd"]
    priced = price_ledger_detail(ledger, catalogue)
    before, after = priced.periods
    assert (before.first_day, before.last_day, before.weight) == (JUNE_1, dt.date(2026, 6, 14), 14 / 30)
    assert (after.first_day, after.weight) == (dt.date(2026, 6, 15), 16 / 30)
    assert before.monthly_usd["livekit_self_hosted"] == pytest.approx(6.49 * fx)
    assert after.monthly_usd["livekit_self_hosted"] == pytest.approx(8.49 * fx)
    assert before.version < after.version == dt.date(2026, 6, 15)
    costs = {c.id: c for c in priced.costs}
    assert costs["livekit_self_hosted"].monthly_usd == pytest.approx(
        (14 * 6.49 + 16 * 8.49) / 30 * fx, abs=0.005
    )
    assert any("prices changed on 2026-06-15" in note for note in costs["livekit_self_hosted"].notes)
    # Models whose prices did not change price the same as the whole month at once.
    whole = {c.id: c.monthly_usd for c in provider_costs(UsageArrays.from_ledger(ledger), catalogue)}
    assert costs["livekit_cloud"].monthly_usd == pytest.approx(whole["livekit_cloud"], abs=0.01)
    assert {c.rate_id for c in priced.changes} == {
        "self_hosted.hetzner.cx23.monthly_eur",
        "self_hosted.hetzner.cx33.monthly_eur",
    }


def test_a_window_inside_one_price_period_is_priced_once() -> None:
    ledger = replace(
        ledger_from_scenario(
            Scenario(streams=1, hours_per_day=4, listeners_per_stream=10), start_ts=JUNE_1_TS + 15 * DAY_S
        ),
        origin="measured",
    )
    priced = price_ledger_detail(ledger, load_catalogue(as_of=AS_OF))
    assert len(priced.periods) == 1 and priced.changes == []
    assert priced.periods[0].version == dt.date(2026, 6, 15)


def test_override_replaces_the_value_on_every_day_and_marks_it() -> None:
    c = load_catalogue({"self_hosted.hetzner.cx33.monthly_eur": 6.49}, as_of=AS_OF)
    rate = c.rate("self_hosted.hetzner.cx33.monthly_eur")
    assert c["self_hosted.hetzner.cx33.monthly_eur"] == 6.49
    assert rate.overridden and rate.list_value == 8.49
    assert c.at(dt.date(2026, 1, 1))["self_hosted.hetzner.cx33.monthly_eur"] == 6.49
    # A locked-in (overridden) rate never changes inside a window.
    assert [x.rate_id for x in c.changes(JUNE_1, dt.date(2026, 6, 30))] == [
        "self_hosted.hetzner.cx23.monthly_eur"
    ]
    frame = c.frame().set_index("rate_id")
    assert frame.loc["self_hosted.hetzner.cx33.monthly_eur", "overridden"]
    assert not frame.loc["livekit_cloud.scale.overage_per_min_usd", "overridden"]


def test_settings_mappings_carry_overrides() -> None:
    from analytics.prices import catalogue_from_settings, price_overrides

    assert price_overrides({"overrides": {"agora.free_min": 5}}) == {"agora.free_min": 5}
    assert price_overrides({"prices": {"overrides": {"agora.free_min": 5}}}) == {"agora.free_min": 5}
    assert catalogue_from_settings({"overrides": {"agora.free_min": 5}}, as_of=AS_OF)["agora.free_min"] == 5


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"livekit_cloud.nope": 1.0}, "unknown rate id"), ({"agora.free_min": -1}, "must be a number >= 0")],
)
def test_bad_overrides_name_the_rate(overrides: dict[str, float], message: str) -> None:
    with pytest.raises(CatalogueError, match=message):
        load_catalogue(overrides)


def test_stale_is_a_source_read_more_than_180_days_before_as_of() -> None:
    c = load_catalogue(as_of=AS_OF)
    assert c.is_stale("self_hosted.aws.egress.tier1_per_gb_usd")  # read 2026-01-01
    assert not c.is_stale("agora.standard.per_1000_usd")  # read 2026-12-01
    assert not c.at(dt.date(2026, 3, 1)).is_stale("self_hosted.aws.egress.tier1_per_gb_usd")
    assert c.is_stale("agora.standard.per_1000_usd", older_than_days=-1)


def test_tracked_catalogue_names_what_was_read() -> None:
    c = load_catalogue(as_of=AS_OF).tracked()
    _ = c["agora.free_min"] + c["heroku.eco.monthly_usd"]
    assert c.used == {"agora.free_min", "heroku.eco.monthly_usd"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("a: {value: 1, unit: USD, effective_from: 2026-01-01, read: 2026-01-02, confidence: Q, source: http://x}",
         "confidence"),
        ("a: {value: 1, unit: USD, effective_from: 2026-01-01, read: 2026-01-02, confidence: U, source: http://x}",
         "needs a reason"),
        ("a: {value: 1, unit: USD, effective_from: 2026-01-01, confidence: P, source: http://x}", "read"),
        ("a: {unit: USD, versions: [{value: 2, effective_from: 2026-02-01, read: 2026-02-01, confidence: P, "
         "source: http://x}, {value: 1, effective_from: 2026-01-01, read: 2026-02-01, confidence: P, source: http://x}]}",
         "oldest first"),
    ],
)  # fmt: skip
def test_invalid_price_file_is_rejected(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / "bad.yaml").write_text(f"provider: x\nrates:\n  {body}\n")
    with pytest.raises(CatalogueError, match=rf"bad\.yaml(.|\n)*{message}"):
        load_catalogue(directory=tmp_path)
