"""Hand-computed cases for every price model (plan boundaries, free tiers, rounding, volume
tiers, overrides)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from analytics.costs import MODEL_IDS, price_usage
from analytics.ledger import REGIONS
from analytics.prices import load_catalogue
from analytics.pricing_models import agora, amazon_ivs, cloudflare_stream, hybrids, livekit_cloud, self_hosted
from analytics.pricing_models.base import UsageArrays

CAT = load_catalogue()


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
     ({"listener_min": 10, "egress_min": 61}, "Ship"), ({"listener_min": 10, "peak_listeners": 101}, "Ship")],
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


def test_concurrency_over_ship_forces_scale_and_over_scale_is_enterprise() -> None:
    assert total(livekit_cloud, usage(listener_min=10_000, peak_listeners=1500)) == 500.0
    result = livekit_cloud.price(usage(listener_min=10_000, peak_listeners=6000), CAT)
    assert float(result.total_usd[0]) == 500.0
    assert any("Enterprise" in note for note in result.notes_for(0))


def test_override_changes_the_ship_overage() -> None:
    cheaper = load_catalogue({"livekit_cloud.ship.overage_per_min_usd": 0.0004})
    u = usage(listener_min=200_000, peak_listeners=50)
    assert total(livekit_cloud, u, cheaper) == pytest.approx(50 + 50_000 * 0.0004)


# ---- Agora ---------------------------------------------------------------------------------


def test_agora_audio_free_minutes_come_off_the_audience_first() -> None:
    u = usage(listener_min=20_000, publisher_min=1_000, peak_streams=1, peak_publishers=1)
    # 10,000 audience min free; 10,000 × 0.59 + 1,000 × 0.99 per 1,000
    assert total(agora, u) == pytest.approx(5.90 + 0.99)


def test_agora_volume_discount_is_graduated() -> None:
    u = usage(listener_min=200_000, peak_streams=1, peak_publishers=1)
    assert total(agora, u) == pytest.approx(90_000 * 0.59 / 1000 + 100_000 * 0.59 / 1000 * 0.95)


def test_agora_video_audience_and_single_host_billed_as_audio() -> None:
    u = usage(listener_min=30_000, publisher_min=1_800, peak_streams=1, peak_publishers=1, video_tier=1)
    # free: 1,800 host audio, then 8,200 audience HD; 21,800 × 1.99 / 1,000
    assert total(agora, u) == pytest.approx(21_800 * 1.99 / 1000)


def test_agora_hosts_pay_video_with_several_publishers() -> None:
    u = usage(publisher_min=20_000, peak_streams=1, peak_publishers=2, video_tier=2)
    assert total(agora, u) == pytest.approx(10_000 * 8.99 / 1000)


def test_agora_seconds_summed_then_rounded_up_and_recording() -> None:
    u = usage(listener_min=10_000.2, recording_min=1000, video_tier=1, peak_streams=1, peak_publishers=1)
    assert total(agora, u) == pytest.approx(1 * 1.99 / 1000 + 5.99)


# ---- Cloudflare Stream, Amazon IVS ---------------------------------------------------------


def test_cloudflare_stream_delivery_and_storage_blocks() -> None:
    u = usage(listener_min=720_000, publisher_min=7_200, stream_min=7_200, recording_min=1_500)
    assert total(cloudflare_stream, u) == pytest.approx(720 + 2 * 5)


def test_ivs_audio_output_tiers_and_input() -> None:
    u = usage(listener_min=720_000, stream_min=7_200, region=REGIONS.index("eu"))
    # 12,000 h: 10,000 × 0.072 + 2,000 × 0.066, audio = 1/10; input 120 h × 0.20 [U]
    assert total(amazon_ivs, u) == pytest.approx((720 + 132) * 0.1 + 24)


def test_ivs_region_and_video() -> None:
    u = usage(listener_min=60_000, stream_min=600, region=REGIONS.index("kr"), video_tier=1)
    assert total(amazon_ivs, u) == pytest.approx(1000 * 0.125 + 10 * 0.85)


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
    expected = (2 * 6.49 + 3.99 + overage_tb * 1.0) * fx
    assert total(self_hosted, u) == pytest.approx(expected, rel=1e-4)


def test_self_hosted_egress_workers() -> None:
    u = usage(listener_min=1000, peak_streams=10, peak_listeners=10, peak_publishers=10, peak_egress=10)
    quantity, usd = item(self_hosted, u, "egress workers (CX33)")
    assert quantity == 4  # 10 audio jobs × 1 CPU / (4 vCPU × 0.8)
    assert usd == pytest.approx(4 * 6.49 * CAT["self_hosted.fx.eur_usd"])


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
    server = 6.49 * CAT["self_hosted.fx.eur_usd"]
    reads_m = 720_000 * 60 / 6 * 2 / 1e6  # 14.4 M, 10 M free
    assert float(hybrids.price_livekit_hls(u, CAT).total_usd[0]) == pytest.approx(
        2 * server + (reads_m - 10) * 0.36
    )


def test_hybrid_agora_cloudflare_media_push() -> None:
    u = usage(listener_min=360_000, publisher_min=1_800, stream_min=1_800, peak_streams=1, peak_listeners=200,
              peak_publishers=1, video_tier=1)  # fmt: skip
    # Agora minutes all inside the free 10,000; Media Push transcoding single host 1.99; Stream delivery
    assert float(hybrids.price_agora_cloudflare(u, CAT).total_usd[0]) == pytest.approx(1.8 * 1.99 + 360)


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
