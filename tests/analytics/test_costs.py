"""Hand-computed cases for every price model (plan boundaries, free tiers, rounding, volume
tiers, overrides), at the prices in force on 2026-12-01."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from analytics.costs import MODEL_IDS, price_usage
from analytics.ledger import REGIONS
from analytics.prices import load_catalogue
from analytics.pricing_models import (
    agora,
    amazon_ivs,
    cloudflare_stream,
    heroku,
    hybrids,
    livekit_cloud,
    self_hosted,
)
from analytics.pricing_models.base import UsageArrays

AS_OF = dt.date(2026, 12, 1)
CAT = load_catalogue(as_of=AS_OF)
AGORA_LEGACY = SimpleNamespace(price=agora.price_legacy)


def usage(**values: Any) -> UsageArrays:
    """One row of monthly usage; unrounded minutes default to the rounded ones."""
    values.setdefault("publisher_min_unrounded", values.get("publisher_min", 0.0))
    values.setdefault("listener_min_unrounded", values.get("listener_min", 0.0))
    values.setdefault("audio_kbps", 128.0)
    names = UsageArrays.__dataclass_fields__
    return UsageArrays(**{name: np.array([float(values.get(name, 0.0))]) for name in names})


def total(model: Any, u: UsageArrays, catalogue: Any = CAT) -> float:
    return float(model.price(u, catalogue).total_usd[0])


def item(model: Any, u: UsageArrays, name: str) -> tuple[float, float]:
    result = model.price(u, CAT)
    found = next(i for i in result.items if i.name == name)
    return float(found.quantity[0]), float(found.usd[0])


# ---- LiveKit Cloud ------------------------------------------------------------------------


def test_livekit_build_when_everything_fits() -> None:
    u = usage(publisher_min=1000, listener_min=4000, downstream_gb=50, peak_listeners=10, peak_publishers=1)
    assert total(livekit_cloud, u) == 0.0
    assert "Build" in livekit_cloud.price(u, CAT).notes_for(0)[0]


@pytest.mark.parametrize(
    ("over", "expected_plan"),
    [({"listener_min": 4001, "publisher_min": 1000}, "Ship"), ({"listener_min": 10, "downstream_gb": 50.001}, "Ship"),
     ({"listener_min": 10, "transcode_min": 61}, "Ship"), ({"listener_min": 10, "track_egress_min": 61}, "Ship"),
     ({"listener_min": 10, "peak_listeners": 101}, "Ship")],
)  # fmt: skip
def test_build_is_a_hard_cap(over: dict[str, float], expected_plan: str) -> None:
    u = usage(**over)
    assert total(livekit_cloud, u) == pytest.approx(50.0, abs=0.01)
    assert expected_plan in livekit_cloud.price(u, CAT).notes_for(0)[0]


def test_ship_overage_minutes_and_data() -> None:
    u = usage(publisher_min=20_000, listener_min=180_000, downstream_gb=300, peak_listeners=50)
    # 50 + 50,000 × 0.0005 + 50 GB × 0.12
    assert total(livekit_cloud, u) == pytest.approx(81.0)


def test_data_is_rounded_up_to_a_hundredth_of_a_gb() -> None:
    quantity, usd = item(
        livekit_cloud, usage(listener_min=6000, downstream_gb=250.001), "downstream data over plan"
    )
    assert quantity == pytest.approx(0.01)
    assert usd == pytest.approx(0.0012)


@pytest.mark.parametrize(
    ("minutes", "expected"), [(1_000_000, 475.0), (1_050_000, 500.0), (1_100_000, 500.0)]
)
def test_ship_to_scale_boundary(minutes: float, expected: float) -> None:
    assert total(livekit_cloud, usage(listener_min=minutes, peak_listeners=100)) == pytest.approx(expected)


def test_concurrency_over_ship_forces_scale_which_has_no_cap() -> None:
    assert total(livekit_cloud, usage(listener_min=10_000, peak_listeners=1500)) == 500.0
    # LiveKit's quotas page: Scale has unlimited concurrent participants. Some third parties say
    # 5,000: the note shows the disagreement instead of calling it Enterprise.
    result = livekit_cloud.price(usage(listener_min=10_000, peak_listeners=6000), CAT)
    assert float(result.total_usd[0]) == 500.0
    notes = result.notes_for(0)
    assert "Scale" in notes[0]
    assert not any("exceeds every plan" in note for note in notes)
    assert any("sources disagree" in note and "5,000" in note for note in notes)


# ---- LiveKit transcode minutes ---------------------------------------------------------------

# Seed 000's channel: OBS (RTMP) ingress + HLS egress 4 h a day for 30 days = 2 × 7,200 min.
DJ = {"listener_min": 72_000, "publisher_min": 7_200, "downstream_gb": 69.12, "transcode_min": 14_400,
      "peak_listeners": 10, "peak_publishers": 1, "peak_streams": 1}  # fmt: skip


def test_transcode_minutes_over_the_ship_quota_by_hand() -> None:
    # Ship: $50 + (14,400 − 600) × $0.02 = $326; Scale: $500 + (14,400 − 8,000) × $0.015 = $596.
    u = usage(**DJ)
    assert total(livekit_cloud, u) == pytest.approx(326.0)
    quantity, usd = item(livekit_cloud, u, "transcode minutes over plan (ingress, composite/HLS egress)")
    assert quantity == pytest.approx(13_800)
    assert usd == pytest.approx(276.0)
    notes = livekit_cloud.price(u, CAT).notes_for(0)
    assert any("no audio-only transcode rate" in note for note in notes)
    # Ship and Scale are both priced to pick the cheaper: both unverified audio rates are named.
    assert price_usage(u, CAT, ["livekit_cloud"])["livekit_cloud"].unverified == (
        "livekit_cloud.scale.transcode_audio_overage_per_min_usd",
        "livekit_cloud.ship.transcode_audio_overage_per_min_usd",
    )
    # A video channel uses the published video rate: nothing unverified.
    assert price_usage(usage(**DJ, video_tier=1), CAT, ["livekit_cloud"])["livekit_cloud"].unverified == ()


def test_audio_only_transcode_rate_can_be_overridden() -> None:
    cheaper = load_catalogue({"livekit_cloud.ship.transcode_audio_overage_per_min_usd": 0.005}, as_of=AS_OF)
    assert total(livekit_cloud, usage(**DJ), cheaper) == pytest.approx(50 + 13_800 * 0.005)
    # A video channel keeps the video rate.
    assert total(livekit_cloud, usage(**DJ, video_tier=1), cheaper) == pytest.approx(326.0)


def test_track_egress_is_its_own_meter() -> None:
    # 700 track-egress min on Ship: 100 over × $0.001; the transcode quota is untouched.
    u = usage(listener_min=10_000, track_egress_min=700, peak_listeners=10)
    assert total(livekit_cloud, u) == pytest.approx(50.1)
    assert item(livekit_cloud, u, "transcode minutes over plan (ingress, composite/HLS egress)")[0] == 0


def test_override_changes_the_ship_overage() -> None:
    cheaper = load_catalogue({"livekit_cloud.ship.overage_per_min_usd": 0.0004})
    u = usage(listener_min=200_000, peak_listeners=50)
    assert total(livekit_cloud, u, cheaper) == pytest.approx(50 + 50_000 * 0.0004)


# ---- Agora: standard minutes and packages (accounts since 2025-08-29) -----------------------

# Seed 003's month: 200 buyers × 30 h of 720p (360,000 audience min) and one seller (1,800 min).
SHOP = {"listener_min": 360_000, "publisher_min": 1_800, "stream_min": 1_800, "peak_streams": 1,
        "peak_listeners": 200, "peak_publishers": 1, "video_tier": 1}  # fmt: skip


def test_agora_broadcast_audience_converts_at_its_own_ratio() -> None:
    # 360,000 × 2 (Broadcast Streaming HD) + 1,800 × 1 (a single host receives no video) = 721,800
    # standard min. Business: $339.99 + (721,800 − 400,000) × $0.99/1,000 = $658.572; Business
    # Advanced $659.99; Pro $133.99 + 571,800 × 0.00099 = $700.07; Business Plus $1,217.99.
    result = agora.price(usage(**SHOP), CAT)
    assert float(result.total_usd[0]) == pytest.approx(339.99 + 321_800 * 0.99 / 1000)
    assert "Business (" in result.notes_for(0)[0]
    assert "721,800 standard min" in result.notes_for(0)[1]


def test_agora_interactive_audience_pays_host_ratios() -> None:
    # 360,000 × 4 + 1,800 = 1,441,800: Business Plus $1,217.99 (1.5M included) beats Business
    # Advanced $659.99 + 641,800 × 0.00099 = $1,295.37.
    assert total(agora, usage(**SHOP, audience_interactive=1)) == pytest.approx(1217.99)


def test_agora_free_package_then_starter() -> None:
    # 10,000 audio audience min × 0.57 + 1,000 host min = 6,700 standard min: the Free package.
    assert (
        total(agora, usage(listener_min=10_000, publisher_min=1_000, peak_publishers=1, peak_streams=1))
        == 0.0
    )
    # 10,001 standard min: the Free package stops there, so the cheapest is Starter ($45.99).
    assert total(agora, usage(publisher_min=10_001, peak_publishers=1, peak_streams=1)) == pytest.approx(
        45.99
    )
    # Seconds summed, then rounded up: 10,000.2 standard min bill as 10,001.
    assert total(agora, usage(publisher_min=10_000.2, peak_publishers=1, peak_streams=1)) == pytest.approx(
        45.99
    )


def test_agora_business_advanced_only_from_its_first_day() -> None:
    # 800,000 standard min: Business Advanced $659.99 once it is offered (docs of 2026-06-01);
    # before, Business $339.99 + 400,000 × 0.00099 = $735.99.
    u = usage(publisher_min=800_000, peak_publishers=1, peak_streams=1)
    assert total(agora, u) == pytest.approx(659.99)
    assert total(agora, u, CAT.at(dt.date(2026, 5, 31))) == pytest.approx(339.99 + 400_000 * 0.99 / 1000)


# ---- Agora legacy pay-as-you-go --------------------------------------------------------------


def test_agora_legacy_audio_free_minutes_come_off_the_audience_first() -> None:
    u = usage(listener_min=20_000, publisher_min=1_000, peak_streams=1, peak_publishers=1)
    # 10,000 audience min free; 10,000 × 0.59 + 1,000 × 0.99 per 1,000
    assert total(AGORA_LEGACY, u) == pytest.approx(5.90 + 0.99)


def test_agora_legacy_interactive_audience_pays_host_rates() -> None:
    u = usage(
        listener_min=20_000, publisher_min=1_000, peak_streams=1, peak_publishers=1, audience_interactive=1
    )
    assert total(AGORA_LEGACY, u) == pytest.approx(9.90 + 0.99)


def test_agora_legacy_volume_discount_is_graduated() -> None:
    u = usage(listener_min=200_000, peak_streams=1, peak_publishers=1)
    assert total(AGORA_LEGACY, u) == pytest.approx(90_000 * 0.59 / 1000 + 100_000 * 0.59 / 1000 * 0.95)


def test_agora_legacy_video_audience_and_single_host_billed_as_audio() -> None:
    u = usage(listener_min=30_000, publisher_min=1_800, peak_streams=1, peak_publishers=1, video_tier=1)
    # free: 1,800 host audio, then 8,200 audience HD; 21,800 × 1.99 / 1,000
    assert total(AGORA_LEGACY, u) == pytest.approx(21_800 * 1.99 / 1000)


def test_agora_legacy_hosts_pay_video_with_several_publishers() -> None:
    u = usage(publisher_min=20_000, peak_streams=1, peak_publishers=2, video_tier=2)
    assert total(AGORA_LEGACY, u) == pytest.approx(10_000 * 8.99 / 1000)


def test_agora_legacy_seconds_summed_then_rounded_up_and_recording() -> None:
    u = usage(listener_min=10_000.2, recording_min=1000, video_tier=1, peak_streams=1, peak_publishers=1)
    assert total(AGORA_LEGACY, u) == pytest.approx(1 * 1.99 / 1000 + 5.99)


# ---- Cloudflare Stream, Amazon IVS ---------------------------------------------------------


def test_cloudflare_stream_delivery_and_storage_blocks() -> None:
    u = usage(listener_min=720_000, publisher_min=7_200, stream_min=7_200, recording_min=1_500)
    assert total(cloudflare_stream, u) == pytest.approx(720 + 2 * 5)


def test_ivs_audio_output_tiers_and_input() -> None:
    u = usage(listener_min=720_000, stream_min=7_200, region=REGIONS.index("eu"))
    # 12,000 h: 10,000 × 0.072 + 2,000 × 0.066, audio = 1/10; input 120 h × 0.20 [U]
    assert total(amazon_ivs, u) == pytest.approx((720 + 132) * 0.1 + 24)


def test_ivs_audio_output_before_2024_01_25_cost_as_sd() -> None:
    # Before AWS's 2024-01-25 change audio-only renditions were billed as SD (half of HD).
    u = usage(listener_min=720_000, stream_min=7_200, region=REGIONS.index("eu"))
    assert total(amazon_ivs, u, CAT.at(dt.date(2024, 1, 24))) == pytest.approx((720 + 132) * 0.5 + 24)


def test_ivs_region_and_video() -> None:
    u = usage(listener_min=60_000, stream_min=600, region=REGIONS.index("kr"), video_tier=1)
    assert total(amazon_ivs, u) == pytest.approx(1000 * 0.125 + 10 * 0.85)


def test_ivs_full_hd_uses_a_standard_channel_and_has_no_per_gb_fee() -> None:
    # 1080p: Standard channel input $2.00/h [U]; output at the HD ladder (a lower bound [U]); no
    # per-GB fee however many GB move.
    u = usage(
        listener_min=60_000, stream_min=600, downstream_gb=5_000, region=REGIONS.index("na"), video_tier=2
    )
    assert total(amazon_ivs, u) == pytest.approx(1000 * 0.072 + 10 * 2.00)
    assert CAT["amazon_ivs.output.per_gb_usd"] == 0


# ---- Self-hosted and hybrids ---------------------------------------------------------------


def test_servers_needed_by_cpu_and_port() -> None:
    cloud, dedicated = self_hosted.server_specs(CAT)
    per_dt = np.array([0.00067])
    assert self_hosted.servers_needed(np.array([5000.0]), np.array([640.0]), per_dt, cloud, 0.7)[0] == 2
    assert self_hosted.servers_needed(np.array([100.0]), np.array([900.0]), per_dt, dedicated, 0.7)[0] == 2
    assert self_hosted.servers_needed(np.array([0.0]), np.array([0.0]), per_dt, cloud, 0.7)[0] == 0


def test_self_hosted_two_cloud_nodes_redis_and_traffic_overage() -> None:
    u = usage(
        listener_min=51_428_571,
        downstream_gb=49_371.43,
        peak_streams=500,
        peak_listeners=5000,
        peak_publishers=500,
    )
    fx = CAT["self_hosted.fx.eur_usd"]
    overage_tb = 49.37143 - 2 * 21.990232555520
    expected = (2 * 8.49 + 5.49 + overage_tb * 1.0) * fx  # new-order prices since 2026-06-15
    assert total(self_hosted, u) == pytest.approx(expected, rel=1e-4)


def test_self_hosted_egress_workers() -> None:
    u = usage(listener_min=1000, peak_streams=10, peak_listeners=10, peak_publishers=10, peak_egress=10)
    quantity, usd = item(self_hosted, u, "egress workers (CX33)")
    assert quantity == 4  # 10 audio jobs × 1 CPU / (4 vCPU × 0.8)
    assert usd == pytest.approx(4 * 8.49 * CAT["self_hosted.fx.eur_usd"])


def test_self_hosted_server_count_function_is_replaceable() -> None:
    u = usage(listener_min=1000, peak_streams=1, peak_listeners=10, peak_publishers=1)
    result = self_hosted.price(u, CAT, servers_fn=lambda dt, mbps, c, spec, util: np.full_like(dt, 3.0))
    assert float(result.items[0].quantity[0]) == 3


def test_hybrid_livekit_hls_one_channel() -> None:
    u = usage(
        listener_min=720_000,
        publisher_min=7_200,
        stream_min=7_200,
        peak_streams=1,
        peak_listeners=100,
        peak_publishers=1,
    )
    server = 8.49 * CAT["self_hosted.fx.eur_usd"]
    reads_m = 720_000 * 60 / 6 * 2 / 1e6  # 14.4 M, 10 M free
    assert float(hybrids.price_livekit_hls(u, CAT).total_usd[0]) == pytest.approx(
        2 * server + (reads_m - 10) * 0.36
    )


def test_hybrid_agora_cloudflare_media_push() -> None:
    u = usage(**SHOP)
    # 1,800 host + 1,800 push-server min × 2 (Broadcast HD) = 5,400 standard min: the Free package;
    # Media Push transcoding single host 1.99; Stream delivery 360,000 min × $1/1,000.
    assert float(hybrids.price_agora_cloudflare(u, CAT).total_usd[0]) == pytest.approx(1.8 * 1.99 + 360)


@pytest.mark.parametrize(
    ("publishers", "tier", "per_1000"),
    [(1, 0, 1.99), (1, 1, 1.99), (1, 2, 1.99), (2, 1, 7.99), (2, 2, 15.99)],
)
def test_media_push_single_host_1080p_is_the_single_host_rate(
    publishers: int, tier: int, per_1000: float
) -> None:
    # One host, output unchanged, H.264: $1.99 at any resolution; several hosts pay by tier.
    u = usage(stream_min=1000, peak_streams=1, peak_publishers=publishers, video_tier=tier)
    assert float(hybrids.media_push_rate(u, CAT)[0]) * 1000 == pytest.approx(per_1000)


# ---- Heroku dynos (seed 003's relay/control host) ----------------------------------------


def test_heroku_dynos_by_hand() -> None:
    eco = heroku.dyno_cost("eco", CAT)  # one Eco dyno all month: 720 h of the 1,000 h pool
    assert (eco.monthly_usd, eco.fits) == (5.0, True)
    two = heroku.dyno_cost("eco", CAT, dynos=2)  # 1,440 h: over the pool, so they would sleep
    assert (two.monthly_usd, two.fits, two.dyno_hours) == (5.0, False, 1440.0)
    assert heroku.dyno_cost("basic", CAT, hours_each=360).monthly_usd == pytest.approx(3.5)  # $7 × 360/720
    assert heroku.dyno_cost("standard_1x", CAT).monthly_usd == 25.0
    assert heroku.dyno_cost("performance_m", CAT).monthly_usd == 250.0  # seed 003 says $25
    with pytest.raises(ValueError, match="dyno type"):
        heroku.dyno_cost("hobby", CAT)


def test_every_model_returns_items_and_notes() -> None:
    u = usage(
        listener_min=1000,
        publisher_min=100,
        stream_min=100,
        peak_streams=1,
        peak_listeners=10,
        peak_publishers=1,
    )
    results = price_usage(u, CAT)
    assert list(results) == list(MODEL_IDS)
    for result in results.values():
        assert result.items and result.notes_for(0)
        assert float(result.total_usd[0]) == pytest.approx(sum(float(i.usd[0]) for i in result.items))


def test_ec2_autoscaled_by_hand() -> None:
    """Seed 000's 500 streams × 10 listeners on m7g.large (2 vCPU, $0.0816/h): 5,000 audio
    down-tracks × 0.00067 = 3.35 cores / (2 × 0.7) → 3 nodes while live (171.43 h: 5,142,857
    stream-min / 60 / 500), one node the other 558.57 h of AWS's 730 h month = 1,072.86 node-h;
    data transfer out 49,371.43 GB: 100 free, 10,000 × $0.09, 39,271.43 × $0.085."""
    stream_min = 500 * 40 / 7 * 60 * 30
    u = usage(listener_min=stream_min * 10, publisher_min=stream_min, stream_min=stream_min,
              downstream_gb=49_371.43, peak_streams=500, peak_listeners=5000, peak_publishers=500)  # fmt: skip
    ec2 = self_hosted.ec2_autoscaled(u, CAT)
    busy_h = stream_min / 60 / 500
    assert float(ec2.nodes_at_peak[0]) == 3
    assert float(ec2.node_hours[0]) == pytest.approx(3 * busy_h + 730 - busy_h)
    assert float(ec2.compute_usd[0]) == pytest.approx((3 * busy_h + 730 - busy_h) * 0.0816)
    assert float(ec2.transfer_usd[0]) == pytest.approx(10_000 * 0.09 + 39_271.43 * 0.085)
