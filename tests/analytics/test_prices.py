"""The price catalogue: every rate sourced and dated, overrides, stale marking, validation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from analytics.prices import CatalogueError, load_catalogue


def test_every_rate_has_source_date_unit_and_confidence() -> None:
    catalogue = load_catalogue(today=dt.date(2026, 11, 21))
    frame = catalogue.frame()
    assert len(frame) > 80
    assert frame["source"].str.len().min() >= 4
    assert frame["unit"].str.len().min() >= 1
    assert set(frame["confidence"]) <= {"P", "S", "U"}
    assert set(frame["provider"]) == {"livekit_cloud", "self_hosted", "agora", "cloudflare", "amazon_ivs"}


def test_known_rates_match_the_reference() -> None:
    c = load_catalogue()
    assert c["livekit_cloud.ship.fee_usd"] == 50
    assert c["livekit_cloud.scale.included_min"] == 1_500_000
    assert c["agora.audience.hd_per_1000_usd"] == 1.99
    assert c["cloudflare.stream.delivery_per_1000_min_usd"] == 1.0
    assert c["amazon_ivs.hd.kr.t5_usd"] == 0.107


def test_override_replaces_value_and_marks_it() -> None:
    c = load_catalogue({"livekit_cloud.ship.overage_per_min_usd": 0.0004})
    rate = c.rate("livekit_cloud.ship.overage_per_min_usd")
    assert c["livekit_cloud.ship.overage_per_min_usd"] == 0.0004
    assert rate.overridden and rate.list_value == 0.0005
    frame = c.frame().set_index("rate_id")
    assert frame.loc["livekit_cloud.ship.overage_per_min_usd", "overridden"]
    assert not frame.loc["livekit_cloud.scale.overage_per_min_usd", "overridden"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"livekit_cloud.nope": 1.0}, "unknown rate id"), ({"agora.free_min": -1}, "must be a number >= 0")],
)
def test_bad_overrides_name_the_rate(overrides: dict[str, float], message: str) -> None:
    with pytest.raises(CatalogueError, match=message):
        load_catalogue(overrides)


def test_stale_is_more_than_a_year_before_today() -> None:
    c = load_catalogue(today=dt.date(2026, 11, 21))
    assert c.is_stale("livekit_cloud.ship.fee_usd")  # 2025-08-01
    assert not c.is_stale("amazon_ivs.hd.na_eu.t1_usd")  # 2026-07-27
    assert not load_catalogue(today=dt.date(2025, 9, 1)).is_stale("livekit_cloud.ship.fee_usd")


def test_invalid_price_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "provider: x\nrates:\n  a: {value: 1, unit: USD, effective: 2026-01-01, confidence: Q, source: http://x}\n"
    )
    with pytest.raises(CatalogueError, match=r"bad\.yaml"):
        load_catalogue(directory=tmp_path)
