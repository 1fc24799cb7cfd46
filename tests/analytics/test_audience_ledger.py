"""The usage ledger counts the measured audience outside LiveKit, and the hybrids price it
(measured, not assumed); every expected figure is worked out by hand."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from analytics.costs import price_ledger
from analytics.prices import load_catalogue
from analytics.usage import measured_ledger
from store.queries.results import UsageParts

T0 = 1_795_305_600  # 2026-11-22 00:00 UTC (the catalogue's prices are in force)
DAY_S = 86_400
CAT = load_catalogue(as_of=dt.date(2026, 11, 22))


def _parts(audience: pd.DataFrame) -> UsageParts:
    empty = pd.DataFrame(columns=["day_ts", "channel"])
    return UsageParts(
        sessions=empty, rooms=empty, ingress=empty, egress=empty,
        egress_spans=pd.DataFrame(columns=["start", "end"]), peaks=empty,
        fleet_peaks={"streams": 0.0, "listeners": 0.0, "publishers": 0.0},
        traffic=pd.DataFrame(columns=["day_ts", "downstream_gb", "upstream_gb"]), first_observed_ts=T0,
        audience=audience,
    )  # fmt: skip


AUDIENCE = pd.DataFrame(
    {
        "day_ts": [T0, T0],
        "channel": ["radio-1", "shop-1"],
        "path": ["hls", "cloudflare_stream"],
        # 20,000 HLS viewer-minutes and 2 GB in the day; 100 Cloudflare Stream minutes.
        "viewer_s": [1_200_000.0, 6_000.0],
        "bytes_delivered": [2_000_000_000, None],
    }
)


def _item(cost: object, name: str) -> tuple[float, float]:
    for entry in cost.items:  # type: ignore[attr-defined]
        if entry["name"] == name:
            return float(entry["quantity"]), float(entry["usd"])
    raise AssertionError(f"no item {name!r}")


def test_the_ledger_holds_measured_viewer_minutes_and_bytes_per_channel() -> None:
    ledger = measured_ledger(_parts(AUDIENCE), T0, T0 + DAY_S)
    assert ledger.audience_paths == ("cloudflare_stream", "hls")
    totals = ledger.audience_totals()
    assert totals["hls_viewer_minutes"] == pytest.approx(20_000.0)
    assert totals["hls_delivered_gb"] == pytest.approx(2.0)
    assert totals["cloudflare_stream_viewer_minutes"] == pytest.approx(100.0)
    assert totals["ivs_viewer_minutes"] == 0.0
    # One day observed: a month is 30 of it.
    assert ledger.audience_totals(monthly=True)["hls_viewer_minutes"] == pytest.approx(600_000.0)
    assert sorted(ledger.frame["channel"]) == ["radio-1", "shop-1"]


def test_the_hybrids_price_the_measured_audience_and_say_so() -> None:
    costs = {cost.id: cost for cost in price_ledger(measured_ledger(_parts(AUDIENCE), T0, T0 + DAY_S), CAT)}
    hls = costs["hybrid_livekit_hls"]
    # 600,000 viewer-min/month × 60 s ÷ 6 s segments × 2 reads = 12 M reads; 10 M free; × $0.36.
    reads_m, reads_usd = _item(hls, "R2 Class B reads (uncached)")
    assert reads_m == pytest.approx(12.0)
    assert reads_usd == pytest.approx(0.72)
    # 2 GB a day measured → 60 GB a month.
    assert _item(hls, "R2/CDN egress to listeners")[0] == pytest.approx(60.0)
    assert (
        "HLS audience MEASURED from the HLS delivery logs: 600,000 viewer-min/month, 60.00 GB/month delivered; "
        "plus 0 listener-min/month now on WebRTC, moved to HLS"
    ) in hls.notes
    agora = costs["hybrid_agora_cloudflare"]
    # 100 min a day → 3,000 min a month at $1 per 1,000.
    assert _item(agora, "Cloudflare Stream minutes delivered") == pytest.approx((3000.0, 3.0))
    assert any(
        note.startswith("buyers' minutes MEASURED from Cloudflare Stream: 3,000 min/month")
        for note in agora.notes
    )


def test_without_audience_samples_the_hybrids_say_they_assume() -> None:
    ledger = measured_ledger(_parts(AUDIENCE.iloc[0:0]), T0, T0 + DAY_S)
    assert ledger.audience_paths == ()
    costs = {cost.id: cost for cost in price_ledger(ledger, CAT)}
    assert any(note.startswith("HLS audience ASSUMED") for note in costs["hybrid_livekit_hls"].notes)
    assert _item(costs["hybrid_livekit_hls"], "R2 Class B reads (uncached)")[0] == 0.0
