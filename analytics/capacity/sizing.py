"""The capacity model: how many SFU and egress nodes a load needs, its defaults derived from
LiveKit's published benchmark.

CPU on an SFU node (in cores) is modelled as

    cores = base + c_sub × subscribed tracks + c_pub × published tracks + c_room × rooms

and a node is "full" at ``target CPU × vCPUs``. Bandwidth must fit the port at the same
target, memory (when a figure is known) the node's RAM. Each egress (HLS or recording) job
reserves the CPUs LiveKit's egress admission control charges for it.

Pure (numpy in, dataclasses out). The cost engine's self-hosted model sizes its servers with
:func:`nodes_for_load`, so this module imports no pricing code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from analytics.prices import Catalogue

# ---------------------------------------------------------------------------------------------
# Defaults from LiveKit's benchmark (docs/ARCHITECTURE.md, Facts) — the derivation, step by step
# ---------------------------------------------------------------------------------------------

# "Large audio rooms" on a GCP c2-standard-16: 10 publishers, 3,000 subscribers, 80 % CPU,
# 959,156 packets/s out. Every subscriber receives every publisher: 10 × 3,000 down-tracks.
BENCHMARK_VCPUS = 16
BENCHMARK_AUDIO_CPU_FRACTION = 0.80
BENCHMARK_AUDIO_PUBLISHERS = 10
BENCHMARK_AUDIO_SUBSCRIBERS = 3000
BENCHMARK_AUDIO_PACKETS_OUT_PER_S = 959_156
# Continuous Opus with 20 ms frames sends 50 packets/s; the benchmark's speakers averaged
# fewer (DTX silences), so CPU per down-track is scaled up by packet rate for music/radio.
CONTINUOUS_OPUS_PACKETS_PER_S = 50.0
# "Livestreaming" 720p: 1 publisher, 3,000 subscribers, 92 % CPU.
BENCHMARK_VIDEO_CPU_FRACTION = 0.92
BENCHMARK_VIDEO_SUBSCRIBERS = 3000

BENCHMARK_AUDIO_DOWNTRACKS = BENCHMARK_AUDIO_PUBLISHERS * BENCHMARK_AUDIO_SUBSCRIBERS
BENCHMARK_CORES_PER_AUDIO_DOWNTRACK = (
    BENCHMARK_AUDIO_CPU_FRACTION * BENCHMARK_VCPUS / BENCHMARK_AUDIO_DOWNTRACKS
)
BENCHMARK_PACKETS_PER_DOWNTRACK = BENCHMARK_AUDIO_PACKETS_OUT_PER_S / BENCHMARK_AUDIO_DOWNTRACKS
DERIVED_CORES_PER_AUDIO_DOWNTRACK = (
    BENCHMARK_CORES_PER_AUDIO_DOWNTRACK * CONTINUOUS_OPUS_PACKETS_PER_S / BENCHMARK_PACKETS_PER_DOWNTRACK
)
DERIVED_CORES_PER_VIDEO_DOWNTRACK = (
    BENCHMARK_VIDEO_CPU_FRACTION * BENCHMARK_VCPUS / BENCHMARK_VIDEO_SUBSCRIBERS
)

# RAM of the two server types the cost engine prices (catalogue notes; not prices, so here).
SERVER_MEMORY_BYTES: dict[str, float] = {"Hetzner CX33": 8 * 2**30, "Hetzner AX52": 64 * 2**30}
SERVER_KEYS: dict[str, str] = {"cx33": "Hetzner CX33", "ax52": "Hetzner AX52"}


def derivation_lines() -> list[str]:
    """The benchmark derivation, for the UI and the CLI (numbers computed, not typed)."""
    return [
        f"LiveKit benchmark, audio: {BENCHMARK_AUDIO_PUBLISHERS} publishers × {BENCHMARK_AUDIO_SUBSCRIBERS:,} "
        f"subscribers = {BENCHMARK_AUDIO_DOWNTRACKS:,} audio down-tracks at {BENCHMARK_AUDIO_CPU_FRACTION:.0%} "
        f"CPU of a {BENCHMARK_VCPUS}-vCPU c2-standard-16.",
        f"{BENCHMARK_AUDIO_CPU_FRACTION:.2f} × {BENCHMARK_VCPUS} cores / {BENCHMARK_AUDIO_DOWNTRACKS:,} = "
        f"{BENCHMARK_CORES_PER_AUDIO_DOWNTRACK:.6f} cores per down-track at the benchmark's "
        f"{BENCHMARK_AUDIO_PACKETS_OUT_PER_S:,} packets/s out ({BENCHMARK_PACKETS_PER_DOWNTRACK:.1f} per down-track).",
        f"Continuous Opus (20 ms frames) sends {CONTINUOUS_OPUS_PACKETS_PER_S:.0f} packets/s: × "
        f"{CONTINUOUS_OPUS_PACKETS_PER_S:.0f} / {BENCHMARK_PACKETS_PER_DOWNTRACK:.1f} = "
        f"{DERIVED_CORES_PER_AUDIO_DOWNTRACK:.6f} cores per audio down-track.",
        f"Video, 720p livestream: {BENCHMARK_VIDEO_CPU_FRACTION:.2f} × {BENCHMARK_VCPUS} / "
        f"{BENCHMARK_VIDEO_SUBSCRIBERS:,} = {DERIVED_CORES_PER_VIDEO_DOWNTRACK:.5f} cores per video subscriber.",
        "The benchmark gives no figure per published track, per room or per participant's memory: "
        "those stay 0 (not modelled) until the fleet's own samples calibrate them.",
        "Our division of LiveKit's published table, not an official per-track figure [U].",
    ]


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------

ModelSource = Literal["benchmark", "fleet", "livekit-server"]


@dataclass(frozen=True)
class CapacityModel:
    """Coefficients in use. Cores are vCPUs of the same kind as the benchmark's."""

    cores_per_subscribed_track: float  # audio down-track
    cores_per_video_subscribed_track: float
    cores_per_published_track: float = 0.0
    cores_per_room: float = 0.0
    base_cores: float = 0.0  # per node, idle
    memory_bytes_per_participant: float | None = None  # None: memory not modelled
    memory_base_bytes: float = 0.0
    source: ModelSource = "benchmark"
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def default_model(catalogue: Catalogue) -> CapacityModel:
    """The benchmark-derived defaults as the catalogue holds them (so price overrides apply);
    the catalogue's rates carry the same derivation as :func:`derivation_lines`."""
    cap = "self_hosted.capacity."
    return CapacityModel(
        cores_per_subscribed_track=catalogue[cap + "cores_per_audio_downtrack"],
        cores_per_video_subscribed_track=catalogue[cap + "cores_per_video_downtrack"],
        source="benchmark",
        note="derived from LiveKit's published benchmark (see the derivation)",
    )


@dataclass(frozen=True)
class NodeCount:
    nodes: np.ndarray
    by_cpu: np.ndarray
    by_port: np.ndarray
    by_memory: np.ndarray  # 0 where memory is not modelled


def _ceil(values: np.ndarray) -> np.ndarray:
    # Round first: 2.0000000001 nodes is float noise, not a third node.
    return np.ceil(np.round(values, 9))


def nodes_for_load(
    *,
    cpu_cores: np.ndarray,
    peak_mbps: np.ndarray,
    vcpus: float,
    port_mbps: float,
    target_utilization: float,
    base_cores: float = 0.0,
    memory_bytes: np.ndarray | None = None,
    memory_per_node_bytes: float | None = None,
) -> NodeCount:
    """Nodes so that load-driven CPU, port bandwidth and (when given) memory each stay under
    ``target_utilization`` of a node; at least one node whenever anything is live.
    A node's own idle ``base_cores`` come off the usable CPU."""
    cpu_cores = np.asarray(cpu_cores, dtype=float)
    peak_mbps = np.asarray(peak_mbps, dtype=float) * np.ones_like(cpu_cores)
    usable_cores = vcpus * target_utilization - base_cores
    if usable_cores <= 0:
        raise ValueError(
            f"a {vcpus:g}-vCPU node at {target_utilization:.0%} has no CPU left over its idle load"
        )
    by_cpu = _ceil(cpu_cores / usable_cores)
    by_port = _ceil(peak_mbps / (port_mbps * target_utilization))
    by_memory = np.zeros_like(cpu_cores)
    if memory_bytes is not None and memory_per_node_bytes:
        by_memory = _ceil(
            np.asarray(memory_bytes, dtype=float) / (memory_per_node_bytes * target_utilization)
        )
    live = (cpu_cores > 0) | (peak_mbps > 0)
    nodes = np.where(live, np.maximum.reduce([by_cpu, by_port, by_memory, np.ones_like(by_cpu)]), 0.0)
    return NodeCount(nodes=nodes, by_cpu=by_cpu, by_port=by_port, by_memory=by_memory)


def egress_cpus_per_stream(catalogue: Catalogue, video: bool) -> float:
    """CPUs one HLS/recording egress job reserves (LiveKit egress admission defaults)."""
    cap = "self_hosted.capacity."
    return catalogue[cap + ("egress_cpus_video" if video else "egress_cpus_audio")]


def with_target(catalogue: Catalogue, target_cpu_pct: float) -> Catalogue:
    """The catalogue with the planner's target CPU as the self-hosted target utilization."""
    return catalogue.with_value(
        "self_hosted.capacity.target_utilization", target_cpu_pct / 100.0, note="the planner's target CPU"
    )
