"""The planner: a scenario → nodes, bandwidth and cost per model, vectorized over its growth
months and a grid of audiences, priced by the cost engine (analytics/costs.py) with the
self-hosted servers sized by the capacity model (analytics/capacity/sizing.py)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from analytics.capacity.calibration import rounded_or_none
from analytics.capacity.sizing import (
    SERVER_MEMORY_BYTES,
    CapacityModel,
    NodeCount,
    egress_cpus_per_stream,
    nodes_for_load,
    with_target,
)
from analytics.costs import MODEL_IDS, MODEL_LABELS, ProviderCost, itemized, price_usage
from analytics.ledger import REGIONS, VIDEO_KBPS, VIDEO_TIERS, Scenario, gb_per_minute
from analytics.prices import Catalogue
from analytics.pricing_models import self_hosted
from analytics.pricing_models.base import UsageArrays, tracked

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
                {
                    "model": model,
                    "monthly_usd": round(usd, 2),
                    "usd_per_listener_hour": rounded_or_none(per_hour, 6),
                }
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
