"""The capacity model: how many SFU and egress nodes a load needs, its defaults derived from
LiveKit's published benchmark, and its calibration from the fleet's own node samples.

CPU on an SFU node (in cores) is modelled as

    cores = base + c_sub × subscribed tracks + c_pub × published tracks + c_room × rooms

and a node is "full" at ``target CPU × vCPUs``. Bandwidth must fit the port at the same
target, memory (when a figure is known) the node's RAM. Each egress (HLS or recording) job
reserves the CPUs LiveKit's egress admission control charges for it.

Everything here is pure (numpy/pandas in, dataclasses out); :func:`fleet_capacity` reads its
node samples through store.queries.nodes.node_load.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from analytics.calibration import latest_livekit_server_file
from analytics.ledger import DAY_S, REGIONS, VIDEO_KBPS, VIDEO_TIERS, Scenario, gb_per_minute
from analytics.prices import Catalogue
from analytics.pricing_models import self_hosted
from analytics.pricing_models.base import UsageArrays, tracked
from store.queries.bind import Bind
from store.queries.nodes import node_load

if TYPE_CHECKING:
    from analytics.costs import ProviderCost  # analytics.costs imports this module

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

# The newest committed livekit-server measurement (analytics/calibration/, bench/livekit_calibrate.py).
CALIBRATION_FILE = latest_livekit_server_file()


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


def livekit_server_model(
    catalogue: Catalogue, path: Path = CALIBRATION_FILE
) -> tuple[CapacityModel | None, str]:
    """The model measured on a real livekit-server by bench/livekit_calibrate.py, or None and why."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        coefficients = document["coefficients"]
        per_track = float(coefficients["cpu_cores_per_subscribed_track"])
        per_participant = float(coefficients["memory_bytes_per_participant"])
    except FileNotFoundError:
        return None, f"no livekit-server measurement ({path.name} absent: run bench/livekit_calibrate.py)"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"livekit-server measurement unreadable ({type(exc).__name__})"
    machine = document.get("machine", {})
    base = default_model(catalogue)
    note = (
        f"measured on livekit-server {document.get('livekit_server_version', '?')} on "
        f"{machine.get('logical_cores', '?')} cores ({machine.get('cpu_model', '?')}); listeners ran on the same "
        "machine, which inflates the server's CPU"
    )
    model = replace(
        base,
        cores_per_subscribed_track=per_track,
        # Scale video by the same measured/benchmark ratio (no video was measured).
        cores_per_video_subscribed_track=base.cores_per_video_subscribed_track
        * per_track
        / base.cores_per_subscribed_track,
        base_cores=float(coefficients.get("cpu_cores_base", 0.0)),
        memory_bytes_per_participant=per_participant,
        memory_base_bytes=float(coefficients.get("memory_bytes_base", 0.0)),
        source="livekit-server",
        note=note,
    )
    return model, note


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


# ---------------------------------------------------------------------------------------------
# Calibration from the fleet's node samples
# ---------------------------------------------------------------------------------------------

MIN_SAMPLES = 24  # a day of hourly buckets
MIN_SUBSCRIBED_SPREAD = 20.0  # tracks between the quietest and the busiest sample
MIN_R2 = 0.5
COLLINEAR_CORRELATION = 0.98  # published tracks too tied to subscribed ones to separate
MAX_RESIDUAL_POINTS = 2000


@dataclass(frozen=True)
class Calibration:
    """A least-squares fit of node CPU % against subscribed and published tracks."""

    status: Literal["fitted", "too_little_data", "poor_fit"]
    message: str
    samples: int
    nodes: int
    node_vcpus: float
    r2: float | None = None
    residual_std_pct: float | None = None
    residual_p95_abs_pct: float | None = None
    memory_r2: float | None = None
    # name, fitted, std_error, unit, default, in_use
    coefficients: pd.DataFrame = field(default_factory=pd.DataFrame)
    residuals: pd.DataFrame = field(default_factory=pd.DataFrame)  # predicted_pct, measured_pct
    fitted: CapacityModel | None = None

    @property
    def ok(self) -> bool:
        return self.status == "fitted" and self.fitted is not None

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "message": self.message,
            "samples": self.samples,
            "nodes": self.nodes,
            "node_vcpus": self.node_vcpus,
            "r2": _round(self.r2),
            "residual_std_pct": _round(self.residual_std_pct),
            "residual_p95_abs_pct": _round(self.residual_p95_abs_pct),
            "memory_r2": _round(self.memory_r2),
            "coefficients": [
                {k: (_round(v, 9) if isinstance(v, float) else v) for k, v in row.items()}
                for row in self.coefficients.to_dict("records")
            ],
            "fitted_model": None if self.fitted is None else self.fitted.as_json(),
        }


def _round(value: float | None, digits: int = 4) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(round(value, digits))


def _least_squares(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(coefficients, their standard errors, residuals, R²)."""
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    residuals = y - x @ beta
    dof = max(len(y) - x.shape[1], 1)
    sigma2 = float(residuals @ residuals) / dof
    try:
        std_errors = np.sqrt(np.clip(np.diag(np.linalg.inv(x.T @ x)) * sigma2, 0.0, None))
    except np.linalg.LinAlgError:
        std_errors = np.full(x.shape[1], np.nan)
    total = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(residuals @ residuals) / total if total > 0 else 0.0
    return beta, std_errors, residuals, r2


def calibrate(samples: pd.DataFrame, node_vcpus: float, defaults: CapacityModel) -> Calibration:
    """Fit ``cpu_pct = a + b·tracks_subscribed + c·tracks_published`` over node samples
    (columns cpu_pct, tracks_subscribed, tracks_published, node_id; optionally participants
    and memory_bytes), convert to cores with ``node_vcpus``, and say whether to use it.
    When published tracks move in lockstep with subscribed ones, their cost cannot be told
    apart: the default is kept for them and the fit is CPU against subscribed tracks only."""
    needed = ["cpu_pct", "tracks_subscribed", "tracks_published"]
    frame = samples.dropna(subset=needed) if not samples.empty else samples
    count = len(frame)
    node_count = int(frame["node_id"].nunique()) if count and "node_id" in frame else 0
    if count < MIN_SAMPLES:
        return Calibration(
            "too_little_data",
            f"only {count} node samples with CPU and track counts (need {MIN_SAMPLES}): keeping the benchmark defaults",
            count, node_count, node_vcpus,
        )  # fmt: skip
    subscribed = frame["tracks_subscribed"].to_numpy(dtype=float)
    published = frame["tracks_published"].to_numpy(dtype=float)
    cpu = frame["cpu_pct"].to_numpy(dtype=float)
    spread = float(subscribed.max() - subscribed.min())
    if spread < MIN_SUBSCRIBED_SPREAD:
        return Calibration(
            "too_little_data",
            f"subscribed tracks only varied by {spread:,.0f} (need {MIN_SUBSCRIBED_SPREAD:,.0f}) — too little load "
            "variation to fit: keeping the benchmark defaults",
            count, node_count, node_vcpus,
        )  # fmt: skip
    pct_per_core = 100.0 / node_vcpus
    separable = (
        published.std() > 0 and abs(float(np.corrcoef(subscribed, published)[0, 1])) < COLLINEAR_CORRELATION
    )
    if separable:
        x = np.column_stack([np.ones(count), subscribed, published])
        target = cpu
    else:  # hold the published-track cost at its default and fit the rest
        x = np.column_stack([np.ones(count), subscribed])
        target = cpu - published * defaults.cores_per_published_track * pct_per_core
    beta, errors, residuals, r2 = _least_squares(x, target)
    per_sub = float(beta[1]) / pct_per_core
    per_pub = float(beta[2]) / pct_per_core if separable else defaults.cores_per_published_track
    base = max(float(beta[0]) / pct_per_core, 0.0)
    problems = []
    if r2 < MIN_R2:
        problems.append(f"R² {r2:.2f} is below {MIN_R2}")
    if per_sub <= 0:
        problems.append("CPU does not rise with subscribed tracks")
    fitted = replace(
        defaults,
        cores_per_subscribed_track=per_sub,
        # Video costs scale with the audio ratio: the fleet's samples do not split track kinds.
        cores_per_video_subscribed_track=defaults.cores_per_video_subscribed_track
        * per_sub
        / defaults.cores_per_subscribed_track,
        cores_per_published_track=max(per_pub, 0.0),
        base_cores=base,
        source="fleet",
        note=f"fitted on {count:,} samples from {node_count} node(s) of {node_vcpus:g} vCPUs",
    )
    memory_r2 = None
    if {"participants", "memory_bytes"} <= set(frame.columns):
        memory = frame.dropna(subset=["participants", "memory_bytes"])
        if len(memory) >= MIN_SAMPLES and memory["participants"].std() > 0:
            mx = np.column_stack([np.ones(len(memory)), memory["participants"].to_numpy(dtype=float)])
            mbeta, _merr, _mres, memory_r2 = _least_squares(mx, memory["memory_bytes"].to_numpy(dtype=float))
            if mbeta[1] > 0 and memory_r2 >= MIN_R2:
                fitted = replace(
                    fitted, memory_bytes_per_participant=float(mbeta[1]), memory_base_bytes=float(mbeta[0])
                )
    status: Literal["fitted", "poor_fit"] = "poor_fit" if problems else "fitted"
    in_use = status == "fitted"
    rows = [
        ("idle CPU per node", base, float(errors[0]) / pct_per_core, "cores", defaults.base_cores),
        ("CPU per subscribed track", per_sub, float(errors[1]) / pct_per_core, "cores", defaults.cores_per_subscribed_track),
        (
            "CPU per published track", per_pub,
            float(errors[2]) / pct_per_core if separable else float("nan"), "cores", defaults.cores_per_published_track,
        ),
    ]  # fmt: skip
    if fitted.memory_bytes_per_participant is not None:
        rows.append(
            (
                "memory per participant",
                fitted.memory_bytes_per_participant,
                float("nan"),
                "bytes",
                float("nan"),
            )
        )
    coefficients = pd.DataFrame(
        [
            {"name": name, "fitted": value, "std_error": error, "unit": unit, "default": default,
             "in_use": value if in_use else default}
            for name, value, error, unit, default in rows
        ]
    )  # fmt: skip
    if not separable:
        coefficients.loc[coefficients["name"] == "CPU per published track", "in_use"] = per_pub
    predicted = cpu - residuals
    shown = np.linspace(0, count - 1, min(count, MAX_RESIDUAL_POINTS)).astype(int)
    residual_frame = pd.DataFrame({"predicted_pct": predicted[shown], "measured_pct": cpu[shown]})
    message = (
        f"fitted on {count:,} samples from {node_count} node(s): R² {r2:.3f}"
        + ("" if separable else "; published tracks move with subscribed ones, their default is kept")
        + ("" if in_use else f" — not used ({'; '.join(problems)}), keeping the benchmark defaults")
    )
    return Calibration(
        status=status,
        message=message,
        samples=count,
        nodes=node_count,
        node_vcpus=node_vcpus,
        r2=r2,
        residual_std_pct=float(residuals.std()),
        residual_p95_abs_pct=float(np.percentile(np.abs(residuals), 95)),
        memory_r2=memory_r2,
        coefficients=coefficients,
        residuals=residual_frame,
        fitted=fitted,
    )


def model_in_use(calibration: Calibration | None, defaults: CapacityModel) -> CapacityModel:
    return (
        calibration.fitted if calibration is not None and calibration.ok and calibration.fitted else defaults
    )


# ---------------------------------------------------------------------------------------------
# The planner: a scenario → nodes, bandwidth and cost per model (vectorized over variants)
# ---------------------------------------------------------------------------------------------

GROWTH_MONTHS: tuple[int, ...] = (0, 3, 6, 12)
CURVE_POINTS = 13


@dataclass(frozen=True)
class PlanResult:
    scenario: Scenario
    model: CapacityModel
    server_name: str
    sfu_nodes: int
    sfu_nodes_by: dict[str, int]  # cpu, port, memory
    egress_nodes: int
    egress_jobs: float
    egress_cpus_per_stream: float
    peak_subscribed_tracks: float
    peak_mbps: float
    sfu_traffic_tb: float
    included_traffic_tb: float  # inf when unmetered
    listener_hours: float
    costs: pd.DataFrame  # model, label, monthly_usd, usd_per_listener_hour
    growth: (
        pd.DataFrame
    )  # month, listeners_per_stream, peak_listeners_per_stream, sfu_nodes, egress_nodes, <model ids>
    curve: pd.DataFrame  # listeners_per_stream, model, label, monthly_usd
    warnings: list[str]
    providers: list[ProviderCost]  # every model's itemized cost for the scenario as planned (month 0)

    def as_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.model_dump(),
            "server": self.server_name,
            "sfu_nodes": self.sfu_nodes,
            "sfu_nodes_by": self.sfu_nodes_by,
            "egress_nodes": self.egress_nodes,
            "egress_jobs": self.egress_jobs,
            "egress_cpus_per_stream": self.egress_cpus_per_stream,
            "peak_subscribed_tracks": round(self.peak_subscribed_tracks, 3),
            "peak_mbps": round(self.peak_mbps, 3),
            "sfu_traffic_tb_per_month": round(self.sfu_traffic_tb, 4),
            "included_traffic_tb_per_month": None
            if math.isinf(self.included_traffic_tb)
            else round(self.included_traffic_tb, 4),
            "listener_hours_per_month": round(self.listener_hours, 3),
            "costs": [
                {"model": model, "monthly_usd": round(usd, 2), "usd_per_listener_hour": _round(per_hour, 6)}
                for model, usd, per_hour in zip(
                    self.costs["model"].tolist(),
                    self.costs["monthly_usd"].tolist(),
                    self.costs["usd_per_listener_hour"].tolist(),
                    strict=True,
                )
            ],
            "growth": self.growth.round(4).to_dict("records"),
            "warnings": self.warnings,
            "model": self.model.as_json(),
        }


def listener_grid(average: float, points: int = CURVE_POINTS) -> np.ndarray:
    """Listeners per stream for the cost curve: log-spaced around the scenario's value."""
    top = max(10.0, average * 10.0)
    bottom = max(1.0, average / 10.0)
    return np.unique(np.round(np.geomspace(bottom, top, points)))


def _variants(scenario: Scenario, months: Sequence[int], grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(average, peak) listeners per stream of every row: growth months first, then the grid."""
    ratio = (
        scenario.peak_listeners / scenario.listeners_per_stream if scenario.listeners_per_stream > 0 else 1.0
    )
    growth = np.array([(1.0 + scenario.growth_pct_per_month / 100.0) ** m for m in months])
    average = np.concatenate([scenario.listeners_per_stream * growth, grid])
    peak = np.concatenate([scenario.peak_listeners * growth, grid * ratio])
    return average, peak


def _usage(scenario: Scenario, average: np.ndarray, peak: np.ndarray) -> UsageArrays:
    """The cost engine's vectorized usage for the rows, with peaks at the peak audience."""
    ones = np.ones_like(average)
    usage = UsageArrays.from_scenarios(
        streams=scenario.streams * ones,
        hours_per_day=scenario.hours_per_day * ones,
        days_per_month=scenario.days_per_month * ones,
        listeners_per_stream=average,
        publishers_per_stream=scenario.publishers_per_stream * ones,
        audio_kbps=scenario.audio_kbps * ones,
        video_tier=VIDEO_TIERS.index(scenario.video) * ones,
        recording=float(scenario.recording) * ones,
        region=REGIONS.index(scenario.region) * ones,
        rtmp_ingress=float(scenario.rtmp_ingress) * ones,
        hls_egress=float(scenario.hls_egress or scenario.hls_share > 0) * ones,
        audience_interactive=float(scenario.audience_product == "interactive") * ones,
    )
    live = usage.peak_streams > 0
    return replace(usage, peak_listeners=np.where(live, scenario.streams * peak, 0.0))


def plan(
    scenario: Scenario,
    catalogue: Catalogue,
    model: CapacityModel,
    *,
    months: Sequence[int] = GROWTH_MONTHS,
    grid: np.ndarray | None = None,
) -> PlanResult:
    """Nodes, bandwidth and monthly cost per model for ``scenario``, its growth months and a
    grid of audiences (all rows priced in one vectorized pass of the cost engine).

    Every model prices the whole audience its own way. Self-hosted LiveKit is sized by this
    capacity model: WebRTC listeners (1 − HLS share) on the SFU at their peak, one egress
    job per live stream when any listener is on HLS (or the stream is recorded), at the
    target CPU and on the chosen server type."""
    from analytics.costs import MODEL_IDS, MODEL_LABELS, itemized, price_usage

    grid = listener_grid(scenario.listeners_per_stream) if grid is None else np.asarray(grid, dtype=float)
    average, peak = _variants(scenario, months, grid)
    usage = _usage(scenario, average, peak)
    catalogue = with_target(catalogue, scenario.target_cpu_pct)
    others = [m for m in MODEL_IDS if m != self_hosted.MODEL_ID]
    results = price_usage(usage, catalogue, others)

    # Self-hosted: the SFU carries the WebRTC share; egress jobs feed HLS and recordings.
    webrtc = 1.0 - scenario.hls_share
    video = scenario.video != "none"
    pubs = usage.publishers_per_stream
    jobs_per_stream = scenario.egress_jobs_per_stream
    egress_jobs = usage.peak_streams * jobs_per_stream
    kbps = usage.audio_kbps + usage.video_kbps
    listener_min = usage.listener_min * webrtc
    sfu_usage = replace(
        usage,
        listener_min=listener_min,
        listener_min_unrounded=usage.listener_min_unrounded * webrtc,
        downstream_gb=gb_per_minute(kbps)
        * (listener_min * pubs + usage.publisher_min * np.maximum(pubs - 1.0, 0.0)),
        peak_listeners=usage.peak_listeners * webrtc,
        peak_egress=egress_jobs,
    )
    # Each egress job subscribes to every publisher's track like a listener.
    egress_tracks = egress_jobs * pubs
    per_track = model.cores_per_video_subscribed_track if video else model.cores_per_subscribed_track
    participants = sfu_usage.peak_listeners + usage.peak_publishers + egress_jobs
    counts: dict[str, NodeCount] = {}

    def servers_fn(downtracks: np.ndarray, peak_mbps: np.ndarray, _cores: np.ndarray,
                   spec: self_hosted.ServerSpec, utilization: float) -> np.ndarray:  # fmt: skip
        cores = (
            downtracks + egress_tracks
        ) * per_track + usage.peak_publishers * model.cores_per_published_track
        cores = cores + usage.peak_streams * model.cores_per_room
        memory = None
        if model.memory_bytes_per_participant is not None:
            memory = participants * model.memory_bytes_per_participant
        count = nodes_for_load(
            cpu_cores=cores, peak_mbps=peak_mbps, vcpus=spec.vcpus, port_mbps=spec.port_mbps,
            target_utilization=utilization, base_cores=model.base_cores, memory_bytes=memory,
            memory_per_node_bytes=SERVER_MEMORY_BYTES.get(spec.name),
        )  # fmt: skip
        counts[spec.name] = count
        return count.nodes

    results[self_hosted.MODEL_ID] = tracked(
        lambda cat: self_hosted.price(
            sfu_usage, cat, servers_fn=servers_fn, server_type=scenario.server_type
        ),
        catalogue,
    )
    sh = results[self_hosted.MODEL_ID]
    servers = sh.items[0].quantity
    cloud, dedicated = self_hosted.server_specs(catalogue)
    per_server = np.divide(sh.items[0].usd, servers, out=np.zeros_like(servers), where=servers > 0)
    use_cloud = np.isclose(per_server, cloud.monthly_usd) | (servers == 0)
    if scenario.server_type != "auto":
        use_cloud = np.full(len(servers), scenario.server_type == "cx33")
    spec = cloud if use_cloud[0] else dedicated
    chosen = counts[spec.name]
    workers = sh.items[3].quantity
    models = [*MODEL_IDS]
    totals = {m: results[m].total_usd for m in models}
    listener_hours = usage.listener_min_unrounded / 60.0
    costs = pd.DataFrame(
        {
            "model": models,
            "label": [MODEL_LABELS[m] for m in models],
            "monthly_usd": [float(totals[m][0]) for m in models],
        }
    )
    costs["usd_per_listener_hour"] = (
        costs["monthly_usd"] / listener_hours[0] if listener_hours[0] > 0 else float("nan")
    )
    n_growth = len(months)
    growth = pd.DataFrame(
        {
            "month": list(months),
            "listeners_per_stream": average[:n_growth],
            "peak_listeners_per_stream": peak[:n_growth],
            "sfu_nodes": np.where(use_cloud, counts[cloud.name].nodes, counts[dedicated.name].nodes)[
                :n_growth
            ],
            "egress_nodes": workers[:n_growth],
            **{m: totals[m][:n_growth] for m in models},
        }
    )
    curve = pd.DataFrame(
        {
            "listeners_per_stream": np.tile(grid, len(models)),
            "model": np.repeat(models, len(grid)),
            "label": np.repeat([MODEL_LABELS[m] for m in models], len(grid)),
            "monthly_usd": np.concatenate([totals[m][n_growth:] for m in models]),
        }
    )

    peak_tracks = float(sfu_usage.peak_downtracks[0] + egress_tracks[0])
    peak_mbps = float(sfu_usage.peak_downtracks[0] * kbps[0] / 1000.0)
    sfu_tb = float(sfu_usage.downstream_gb[0] / 1000.0)
    included = (
        float(servers[0] * spec.included_traffic_tb) if math.isfinite(spec.included_traffic_tb) else math.inf
    )
    warnings = _warnings(scenario, model, spec, per_track, catalogue, sfu_tb, included)
    return PlanResult(
        scenario=scenario,
        model=model,
        server_name=spec.name,
        sfu_nodes=int(servers[0]),
        sfu_nodes_by={
            "cpu": int(chosen.by_cpu[0]),
            "port": int(chosen.by_port[0]),
            "memory": int(chosen.by_memory[0]),
        },
        egress_nodes=int(workers[0]),
        egress_jobs=float(egress_jobs[0]),
        egress_cpus_per_stream=egress_cpus_per_stream(catalogue, video),
        peak_subscribed_tracks=peak_tracks,
        peak_mbps=peak_mbps,
        sfu_traffic_tb=sfu_tb,
        included_traffic_tb=included,
        listener_hours=float(listener_hours[0]),
        costs=costs,
        growth=growth,
        curve=curve,
        warnings=warnings,
        providers=itemized({m: results[m] for m in models}, 0),
    )


def _warnings(
    scenario: Scenario, model: CapacityModel, spec: self_hosted.ServerSpec, per_track: float,
    catalogue: Catalogue, sfu_tb: float, included_tb: float,
) -> list[str]:  # fmt: skip
    notes = []
    utilization = scenario.target_cpu_pct / 100.0
    room_tracks = scenario.peak_listeners * (1.0 - scenario.hls_share) * scenario.publishers_per_stream
    room_cores = room_tracks * per_track + model.base_cores
    if room_cores > spec.vcpus * utilization:
        notes.append(
            f"one stream's {room_tracks:,.0f} subscribed tracks need {room_cores:,.1f} cores, more than one "
            f"{spec.name} gives at {scenario.target_cpu_pct:g} % CPU; LiveKit keeps a room on one node, so serve "
            "part of the audience over HLS or use a bigger server"
        )
    kbps = scenario.audio_kbps + VIDEO_KBPS[scenario.video]
    room_mbps = room_tracks * kbps / 1000.0
    if room_mbps > spec.port_mbps * utilization:
        notes.append(
            f"one stream sends {room_mbps:,.0f} Mbit/s at its peak, over one node's port at the target"
        )
    if math.isfinite(included_tb) and sfu_tb > included_tb:
        notes.append(
            f"SFU traffic {sfu_tb:,.2f} TB/month exceeds the {included_tb:,.2f} TB included; the overage is billed"
        )
    return notes


# ---------------------------------------------------------------------------------------------
# Scenario helpers for the planner
# ---------------------------------------------------------------------------------------------


def streams_from_weekly_hours(broadcasters: float, hours_per_week: float, hours_per_day: float) -> float:
    """Concurrent broadcasts when ``broadcasters`` each stream ``hours_per_week`` inside a
    daily window of ``hours_per_day`` (seed 000: 500 × 40 h/week over 5.7 h/day = 500)."""
    if hours_per_day <= 0:
        raise ValueError("hours per day must be above 0")
    return broadcasters * hours_per_week / 7.0 / hours_per_day


# ---------------------------------------------------------------------------------------------
# The stored fleet: calibration + headroom forecast (CLI and pages)
# ---------------------------------------------------------------------------------------------

DEFAULT_NODE_VCPUS = 8.0  # when the settings do not say (prometheus node_cpu_cores)
FLEET_WINDOW_S = 30 * DAY_S


def fleet_node_vcpus(settings: object | None) -> tuple[float, str]:
    """The fleet's node size for turning CPU % into cores, and where it came from."""
    for source in getattr(settings, "prometheus", None) or []:
        cores = getattr(source, "node_cpu_cores", None)
        if cores:
            return float(cores), f"[[prometheus]] {source.name}: node_cpu_cores"
    return DEFAULT_NODE_VCPUS, f"assumed {DEFAULT_NODE_VCPUS:g} vCPUs (set node_cpu_cores in [[prometheus]])"


@dataclass(frozen=True)
class FleetCapacity:
    defaults: CapacityModel
    calibration: Calibration
    in_use: CapacityModel
    livekit_server: CapacityModel | None
    livekit_server_note: str
    headroom: Any  # analytics.forecast.Headroom
    node_vcpus: float
    node_vcpus_source: str
    port_mbps: float
    target_cpu_pct: float
    since_ts: int
    until_ts: int

    def as_json(self) -> dict[str, Any]:
        return {
            "window": {"since_ts": self.since_ts, "until_ts": self.until_ts},
            "node_vcpus": self.node_vcpus,
            "node_vcpus_source": self.node_vcpus_source,
            "target_cpu_pct": self.target_cpu_pct,
            "port_mbps": self.port_mbps,
            "defaults": {**self.defaults.as_json(), "derivation": derivation_lines()},
            "calibration": self.calibration.as_json(),
            "model_in_use": self.in_use.as_json(),
            "livekit_server_measurement": None
            if self.livekit_server is None
            else self.livekit_server.as_json(),
            "livekit_server_note": self.livekit_server_note,
            "forecast": self.headroom.as_json(),
        }


def fleet_capacity(
    bind: Bind,
    catalogue: Catalogue,
    *,
    until_ts: int,
    window_s: int = FLEET_WINDOW_S,
    source_id: int | None = None,
    node_vcpus: float = DEFAULT_NODE_VCPUS,
    node_vcpus_source: str = "",
    target_cpu_pct: float = 70.0,
    port_mbps: float | None = None,
    calibration_file: Path = CALIBRATION_FILE,
) -> FleetCapacity:
    """Calibrate on the window's node samples and forecast headroom from their trend."""
    from analytics.forecast import forecast

    since_ts = until_ts - window_s
    load = node_load(bind, since_ts, until_ts, source_id)
    defaults = default_model(catalogue)
    calibration = calibrate(load, node_vcpus, defaults)
    port = port_mbps if port_mbps is not None else catalogue["self_hosted.hetzner.cx33.port_mbps"]
    measured, note = livekit_server_model(catalogue, calibration_file)
    return FleetCapacity(
        defaults=defaults,
        calibration=calibration,
        in_use=model_in_use(calibration, defaults),
        livekit_server=measured,
        livekit_server_note=note,
        headroom=forecast(load, until_ts, target_cpu_pct=target_cpu_pct, port_mbps=port),
        node_vcpus=node_vcpus,
        node_vcpus_source=node_vcpus_source or f"{node_vcpus:g} vCPUs",
        port_mbps=port,
        target_cpu_pct=target_cpu_pct,
        since_ts=since_ts,
        until_ts=until_ts,
    )
