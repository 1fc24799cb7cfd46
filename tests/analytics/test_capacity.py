"""The capacity model: benchmark derivation, node arithmetic checked by hand for the seed
scenarios, consistency with the cost engine, and the planner's scenario fields."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest

from analytics.capacity import calibration, planner, sizing
from analytics.capacity.planner import plan
from analytics.capacity.sizing import CapacityModel, default_model, nodes_for_load
from analytics.costs import MODEL_IDS, price_ledger
from analytics.ledger import Scenario, ScenarioError, ledger_from_scenario, load_scenario
from analytics.prices import load_catalogue

ROOT = Path(__file__).resolve().parents[2]
# Prices in force on 2026-12-01: new-order Hetzner prices since 2026-06-15.
CAT = load_catalogue(as_of=dt.date(2026, 12, 1))
FX = CAT["self_hosted.fx.eur_usd"]
CX33_USD = 8.49 * FX
CX23_USD = 5.49 * FX
CX33_INCLUDED_TB = 20 * 2**40 / 1e12  # 20 TiB


def seed(name: str) -> Scenario:
    return load_scenario(ROOT / "analytics" / "scenarios" / f"{name}.yaml")


def test_benchmark_derivation_matches_the_catalogue() -> None:
    # 0.8 × 16 / 30,000 at 959,156/30,000 ≈ 32 packets/s, scaled to 50 packets/s.
    at_benchmark, derived = (
        sizing.BENCHMARK_CORES_PER_AUDIO_DOWNTRACK,
        sizing.DERIVED_CORES_PER_AUDIO_DOWNTRACK,
    )
    assert at_benchmark == pytest.approx(0.000426667, rel=1e-5)
    assert derived == pytest.approx(0.000426667 * 50 / 31.9719, rel=1e-4)
    assert CAT["self_hosted.capacity.cores_per_audio_downtrack"] == pytest.approx(
        sizing.DERIVED_CORES_PER_AUDIO_DOWNTRACK, rel=0.01
    )
    assert CAT["self_hosted.capacity.cores_per_video_downtrack"] == pytest.approx(
        sizing.DERIVED_CORES_PER_VIDEO_DOWNTRACK, rel=0.01
    )
    text = " ".join(sizing.derivation_lines())
    assert "30,000" in text and "0.000667" in text and "not an official" in text


def test_nodes_for_load_takes_the_binding_constraint() -> None:
    count = nodes_for_load(
        cpu_cores=np.array([0.0, 2.8, 2.81, 1.0, 1.0]),
        peak_mbps=np.array([0.0, 10.0, 10.0, 1401.0, 10.0]),
        vcpus=4, port_mbps=1000, target_utilization=0.7,
        memory_bytes=np.array([0.0, 0.0, 0.0, 0.0, 12 * 2**30]), memory_per_node_bytes=8 * 2**30,
    )  # fmt: skip
    assert count.nodes.tolist() == [0, 1, 2, 3, 3]  # idle, exactly full, just over, port-bound, memory-bound
    assert count.by_port.tolist()[3] == 3 and count.by_memory.tolist()[4] == 3
    # A node's idle CPU comes off what it can give.
    assert nodes_for_load(cpu_cores=np.array([2.7]), peak_mbps=np.array([1.0]), vcpus=4, port_mbps=1000,
                          target_utilization=0.7, base_cores=0.2).nodes.tolist() == [2]  # fmt: skip
    with pytest.raises(ValueError, match="no CPU left"):
        nodes_for_load(cpu_cores=np.array([1.0]), peak_mbps=np.array([1.0]), vcpus=1, port_mbps=1000,
                       target_utilization=0.5, base_cores=0.6)  # fmt: skip


# Hand arithmetic (defaults: 0.00067 cores per audio down-track, 0.00491 per video; CX33 4 vCPU,
# 1 Gbit/s, 20 TiB; target 70 % → 2.8 usable cores and 700 Mbit/s per node):
# - dj-radio: 1 × 100 listeners = 100 down-tracks → 0.067 cores, 12.8 Mbit/s → 1 node;
#   traffic 4 h × 60 × 30 d × 100 = 720,000 listener-min × 128 kbit/s × 60 / 8 = 691.2 GB;
#   its HLS egress subscribes to the DJ's track (101 tracks) and needs 1 egress node (1 CPU of
#   4 × 0.8), a second CX33.
# - tours: 40 × 25 = 1,000 down-tracks → 0.67 cores, 62 Mbit/s → 1 node;
#   40 × 8 h × 60 × 30 × 25 = 14.4 M listener-min × 62 kbit/s → 6,696 GB.
# - live-shopping (720p): 200 down-tracks × 0.00491 = 0.982 cores; 200 × 2,564 kbit/s = 512.8 Mbit/s
#   → 1 node; 360,000 listener-min × 2,564 kbit/s × 60 / 8 = 6,922.8 GB.
# - platform-500: 5,000 down-tracks × 0.00067 = 3.35 cores / 2.8 → 2 nodes (port 640/700 → 1);
#   500 × 40/7 h × 60 × 30 × 10 = 51.43 M listener-min → 49,371.43 GB; 2 × 20 TiB = 43.98 TB
#   included → 5.39 TB over at €1/TB; Redis (CX23) because there are two nodes.
HAND = {
    "dj-radio": (1, 101, 12.8, 0.6912, 1, 2 * CX33_USD),
    "tours": (1, 1000, 62.0, 6.696, 0, CX33_USD),
    "live-shopping": (1, 200, 512.8, 6.9228, 0, CX33_USD),
    "platform-500": (
        2,
        5000,
        640.0,
        49.37142857,
        0,
        2 * CX33_USD + (49.37142857 - 2 * CX33_INCLUDED_TB) * FX + CX23_USD,
    ),
}


@pytest.mark.parametrize("name", sorted(HAND))
def test_seed_scenarios_by_hand(name: str) -> None:
    nodes, tracks, mbps, traffic_tb, egress_nodes, self_hosted_usd = HAND[name]
    result = plan(seed(name), CAT, default_model(CAT))
    assert result.sfu_nodes == nodes
    assert result.server_name == "Hetzner CX33"
    assert result.peak_subscribed_tracks == pytest.approx(tracks)
    assert result.peak_mbps == pytest.approx(mbps)
    assert result.sfu_traffic_tb == pytest.approx(traffic_tb, rel=1e-6)
    assert result.included_traffic_tb == pytest.approx(nodes * CX33_INCLUDED_TB)
    assert result.egress_nodes == egress_nodes
    costs = result.costs.set_index("model")["monthly_usd"]
    assert costs["livekit_self_hosted"] == pytest.approx(self_hosted_usd, rel=1e-6)
    assert list(result.costs["model"]) == list(MODEL_IDS)
    assert (costs > 0).all()
    # With the defaults and no planner extras, every model agrees with the cost engine.
    engine = {c.id: c.monthly_usd for c in price_ledger(ledger_from_scenario(seed(name)), CAT)}
    for model_id in MODEL_IDS:
        assert costs[model_id] == pytest.approx(engine[model_id], abs=0.006)
    hours = seed(name).streams * seed(name).hours_per_day * 60 * 30 * seed(name).listeners_per_stream / 60
    assert result.costs.set_index("model")["usd_per_listener_hour"]["livekit_cloud"] == pytest.approx(
        costs["livekit_cloud"] / hours
    )


def test_platform_500_warns_about_traffic_over_the_included() -> None:
    result = plan(seed("platform-500"), CAT, default_model(CAT))
    assert any("exceeds" in w for w in result.warnings)


def test_hls_share_moves_listeners_from_the_sfu_to_egress_workers() -> None:
    base = seed("platform-500")
    half = plan(base.model_copy(update={"hls_share": 0.5}), CAT, default_model(CAT))
    # 2,500 WebRTC down-tracks + 500 egress recorders = 3,000 × 0.00067 = 2.01 cores → 1 node;
    # 500 audio egress jobs × 1 CPU / (4 vCPU × 0.8) = 156.25 → 157 workers.
    assert half.peak_subscribed_tracks == pytest.approx(3000)
    assert half.sfu_nodes == 1
    assert half.egress_jobs == 500
    assert half.egress_nodes == 157
    assert half.egress_cpus_per_stream == 1
    assert half.sfu_traffic_tb == pytest.approx(49.37142857 / 2, rel=1e-6)


def test_target_cpu_and_server_type() -> None:
    base = seed("platform-500").model_copy(update={"listeners_per_stream": 12})  # 6,000 tracks = 4.02 cores
    assert plan(base, CAT, default_model(CAT)).sfu_nodes == 2  # 4.02 / 2.8
    assert (
        plan(base.model_copy(update={"target_cpu_pct": 80}), CAT, default_model(CAT)).sfu_nodes == 2
    )  # / 3.2
    tight = base.model_copy(update={"target_cpu_pct": 50})  # / 2.0 → 3; port 768 / 500 → 2
    assert plan(tight, CAT, default_model(CAT)).sfu_nodes == 3
    dedicated = plan(base.model_copy(update={"server_type": "ax52"}), CAT, default_model(CAT))
    assert dedicated.server_name == "Hetzner AX52" and dedicated.sfu_nodes == 2  # port: 768 / 700
    assert math.isinf(dedicated.included_traffic_tb)


def test_peak_listeners_size_the_nodes_but_not_the_minutes() -> None:
    base = seed("platform-500")
    peaky = base.model_copy(update={"peak_listeners_per_stream": 30})  # 15,000 tracks = 10.05 cores → 4
    result = plan(peaky, CAT, default_model(CAT))
    assert result.sfu_nodes == 4
    assert result.listener_hours == pytest.approx(plan(base, CAT, default_model(CAT)).listener_hours)


def test_growth_compounds_per_month() -> None:
    result = plan(seed("dj-radio").model_copy(update={"growth_pct_per_month": 10}), CAT, default_model(CAT))
    growth = result.growth.set_index("month").to_dict("index")
    assert growth[12]["listeners_per_stream"] == pytest.approx(100 * 1.1**12)
    assert growth[0]["livekit_cloud"] < growth[12]["livekit_cloud"]


def test_cost_curve_covers_every_model_and_grows_with_listeners() -> None:
    curve = plan(seed("tours"), CAT, default_model(CAT)).curve
    assert set(curve["model"]) == set(MODEL_IDS)
    cloud = curve[curve["model"] == "livekit_cloud"].sort_values("listeners_per_stream")
    assert cloud["monthly_usd"].is_monotonic_increasing
    assert float(cloud["listeners_per_stream"].min()) <= 25 <= float(cloud["listeners_per_stream"].max())


def test_a_calibrated_model_changes_the_self_hosted_nodes() -> None:
    heavy = CapacityModel(cores_per_subscribed_track=0.002, cores_per_video_subscribed_track=0.01, base_cores=0.1,
                          cores_per_published_track=0.01, source="fleet")  # fmt: skip
    # 5,000 × 0.002 + 500 × 0.01 = 15 cores / (2.8 − 0.1) → 6 nodes.
    assert plan(seed("platform-500"), CAT, heavy).sfu_nodes == 6


def test_a_room_bigger_than_a_node_is_flagged() -> None:
    huge = seed("dj-radio").model_copy(
        update={"listeners_per_stream": 5000, "peak_listeners_per_stream": 6000}
    )
    warnings = plan(huge, CAT, default_model(CAT)).warnings
    assert any("keeps a room on one node" in w for w in warnings)


def test_streams_from_weekly_hours() -> None:
    assert planner.streams_from_weekly_hours(500, 40, 40 / 7) == pytest.approx(500)
    with pytest.raises(ValueError):
        planner.streams_from_weekly_hours(500, 40, 0)


def test_old_scenario_files_still_load_and_unknown_keys_fail(tmp_path: Path) -> None:
    old = seed("dj-radio")
    assert old.growth_pct_per_month == 0 and old.target_cpu_pct == 70 and old.server_type == "auto"
    assert old.peak_listeners == old.listeners_per_stream
    path = tmp_path / "new.yaml"
    path.write_text(
        "streams: 2\nhours_per_day: 3\nlisteners_per_stream: 10\npeak_listeners_per_stream: 25\n"
        "growth_pct_per_month: 5\ntarget_cpu_pct: 80\nserver_type: ax52\nhls_share: 0.25\n"
    )
    new = load_scenario(path)
    assert (
        new.peak_listeners,
        new.growth_pct_per_month,
        new.target_cpu_pct,
        new.server_type,
        new.hls_share,
    ) == (25, 5, 80, "ax52", 0.25)
    path.write_text("streams: 2\nhours_per_day: 3\nlisteners_per_stream: 10\ngrowth: 5\n")
    with pytest.raises(ScenarioError, match="growth: unknown key"):
        load_scenario(path)
    path.write_text("streams: 2\nhours_per_day: 3\nlisteners_per_stream: 10\npeak_listeners_per_stream: 5\n")
    with pytest.raises(ScenarioError, match=r"peak_listeners_per_stream: .*at least listeners_per_stream"):
        load_scenario(path)
    path.write_text("streams: 2\nhours_per_day: 3\nlisteners_per_stream: 10\nserver_type: big\n")
    with pytest.raises(ScenarioError, match="server_type"):
        load_scenario(path)


def test_livekit_server_measurement_is_optional(tmp_path: Path) -> None:
    model, why = calibration.livekit_server_model(CAT, tmp_path / "absent.json")
    assert model is None and "absent" in why
    path = tmp_path / "cal.json"
    path.write_text(
        '{"livekit_server_version": "v1.13.5", "machine": {"logical_cores": 2, "cpu_model": "x"},'
        ' "coefficients": {"cpu_cores_per_subscribed_track": 0.0019, "cpu_cores_base": 0.017,'
        ' "memory_bytes_per_participant": 1650000, "memory_bytes_base": 62000000}}'
    )
    model, why = calibration.livekit_server_model(CAT, path)
    assert model is not None and model.source == "livekit-server"
    assert model.cores_per_subscribed_track == 0.0019 and model.memory_bytes_per_participant == 1650000
    assert "same machine" in why
    path.write_text("{not json")
    assert calibration.livekit_server_model(CAT, path)[0] is None
