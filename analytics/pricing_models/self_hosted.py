"""Self-hosted LiveKit: SFU servers from a capacity estimate, their traffic, egress workers,
and Redis when there is more than one node. TURN is the server's embedded TURN (no cost).

Two server types are compared per row and the cheaper is used: Hetzner Cloud CX33 (20 TiB
traffic included, overage per TB) and Hetzner dedicated AX52 (unlimited traffic, 1 Gbit/s).
:func:`servers_needed` is the whole capacity model; the planner can pass its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from analytics.capacity.sizing import nodes_for_load
from analytics.prices import Catalogue
from analytics.pricing_models.base import Item, ModelResult, PriceModel, UsageArrays, choose, eur, graduated

MODEL_ID = "livekit_self_hosted"

# (peak down-tracks, peak egress Mbit/s, cores per down-track, server) -> servers
ServersFn = Callable[[np.ndarray, np.ndarray, np.ndarray, "ServerSpec", float], np.ndarray]


@dataclass(frozen=True)
class ServerSpec:
    name: str
    vcpus: float
    port_mbps: float
    monthly_usd: float
    included_traffic_tb: float  # per server; inf when unmetered
    overage_per_tb_usd: float


def server_specs(catalogue: Catalogue) -> tuple[ServerSpec, ServerSpec]:
    c = "self_hosted.hetzner."
    fx = eur(catalogue)
    cloud = ServerSpec(
        "Hetzner CX33",
        catalogue[c + "cx33.vcpus"],
        catalogue[c + "cx33.port_mbps"],
        catalogue[c + "cx33.monthly_eur"] * fx,
        catalogue[c + "cx33.included_traffic_tb"],
        catalogue[c + "cloud.traffic_overage_per_tb_eur"] * fx,
    )
    dedicated = ServerSpec(
        "Hetzner AX52", catalogue[c + "ax52.vcpus"], catalogue[c + "ax52.port_mbps"],
        catalogue[c + "ax52.monthly_eur"] * fx, np.inf, 0.0,
    )  # fmt: skip
    return cloud, dedicated


def servers_needed(
    peak_downtracks: np.ndarray,
    peak_mbps: np.ndarray,
    cores_per_downtrack: np.ndarray,
    server: ServerSpec,
    target_utilization: float,
) -> np.ndarray:
    """SFU nodes for a peak with the benchmark-derived capacity model (analytics/capacity/sizing.py):
    enough CPU for the down-tracks and enough port for the bitrate, each at
    ``target_utilization``; at least one node whenever anything is live. The planner passes
    a calibrated model through ``price(servers_fn=...)`` instead."""
    return nodes_for_load(
        cpu_cores=peak_downtracks * cores_per_downtrack,
        peak_mbps=peak_mbps,
        vcpus=server.vcpus,
        port_mbps=server.port_mbps,
        target_utilization=target_utilization,
    ).nodes


def cores_per_downtrack(usage: UsageArrays, catalogue: Catalogue) -> np.ndarray:
    cap = "self_hosted.capacity."
    return choose(catalogue, (usage.video_tier > 0).astype(float),
                  [cap + "cores_per_audio_downtrack", cap + "cores_per_video_downtrack"])  # fmt: skip


def egress_workers(
    usage: UsageArrays, catalogue: Catalogue, vcpus: float, concurrent_jobs: np.ndarray
) -> np.ndarray:
    cap = "self_hosted.capacity."
    cpus_per_job = choose(catalogue, (usage.video_tier > 0).astype(float),
                          [cap + "egress_cpus_audio", cap + "egress_cpus_video"])  # fmt: skip
    return np.ceil(
        np.round(concurrent_jobs * cpus_per_job / (vcpus * catalogue[cap + "egress_max_utilization"]), 9)
    )


def aws_egress_usd(gb: np.ndarray, catalogue: Catalogue) -> np.ndarray:
    """EC2 data transfer out on the us-east-1 ladder (used for a comparison note)."""
    a = "self_hosted.aws.egress."
    free = catalogue[a + "free_gb"]
    bounds = [free, free + 10_000, free + 50_000, free + 150_000]
    prices = [0.0, catalogue[a + "tier1_per_gb_usd"], catalogue[a + "tier2_per_gb_usd"],
              catalogue[a + "tier3_per_gb_usd"], catalogue[a + "tier4_per_gb_usd"]]  # fmt: skip
    return graduated(gb, bounds, prices)


@dataclass(frozen=True)
class Ec2Estimate:
    """Self-hosted LiveKit on autoscaled EC2: nodes at the peak, one node the rest of the month."""

    nodes_at_peak: np.ndarray
    node_hours: np.ndarray
    compute_usd: np.ndarray
    transfer_usd: np.ndarray

    @property
    def total_usd(self) -> np.ndarray:
        return self.compute_usd + self.transfer_usd


def ec2_autoscaled(usage: UsageArrays, catalogue: Catalogue) -> Ec2Estimate:
    """EC2 m7g.large nodes sized by the same capacity model for the peak, running while streams
    are live (the busy hours = stream minutes / peak streams) and one node the rest of the month,
    plus data transfer out on the us-east-1 ladder (the larger part at any audience)."""
    a = "self_hosted.aws.ec2."
    spec = ServerSpec(
        "EC2 m7g.large", catalogue[a + "m7g_large.vcpus"], catalogue[a + "port_mbps"],
        catalogue[a + "m7g_large.hourly_usd"] * catalogue[a + "hours_per_month"], np.inf, 0.0,
    )  # fmt: skip
    downtracks = usage.peak_downtracks
    nodes = servers_needed(
        downtracks,
        downtracks * (usage.audio_kbps + usage.video_kbps) / 1000.0,
        cores_per_downtrack(usage, catalogue),
        spec,
        catalogue["self_hosted.capacity.target_utilization"],
    )
    month_h = catalogue[a + "hours_per_month"]
    busy_h = np.minimum(
        np.divide(
            usage.stream_min / 60.0,
            usage.peak_streams,
            out=np.zeros(len(usage)),
            where=usage.peak_streams > 0,
        ),
        month_h,
    )
    node_hours = np.where(nodes > 0, nodes * busy_h + (month_h - busy_h), 0.0)
    compute = node_hours * catalogue[a + "m7g_large.hourly_usd"]
    return Ec2Estimate(nodes, node_hours, compute, aws_egress_usd(usage.downstream_gb, catalogue))


def price(
    usage: UsageArrays,
    catalogue: Catalogue,
    servers_fn: Callable[
        [np.ndarray, np.ndarray, np.ndarray, ServerSpec, float], np.ndarray
    ] = servers_needed,
    server_type: str = "auto",
) -> ModelResult:
    """``server_type`` "auto" uses the cheaper server per row; "cx33" or "ax52" forces one."""
    cap = "self_hosted.capacity."
    fx = eur(catalogue)
    cores_per_dt = cores_per_downtrack(usage, catalogue)
    downtracks = usage.peak_downtracks
    peak_mbps = downtracks * (usage.audio_kbps + usage.video_kbps) / 1000.0
    utilization = catalogue[cap + "target_utilization"]
    traffic_tb = usage.downstream_gb / 1000.0
    options = []
    for spec in server_specs(catalogue):
        servers = servers_fn(downtracks, peak_mbps, cores_per_dt, spec, utilization)
        included = (
            servers * spec.included_traffic_tb
            if np.isfinite(spec.included_traffic_tb)
            else np.full_like(servers, np.inf)
        )
        overage_tb = np.maximum(traffic_tb - included, 0.0)
        overage_tb = np.where(np.isfinite(overage_tb), overage_tb, 0.0)
        options.append(
            (spec, servers, overage_tb, servers * spec.monthly_usd + overage_tb * spec.overage_per_tb_usd)
        )
    cloud, dedicated = options
    if server_type not in ("auto", "cx33", "ax52"):
        raise ValueError(f"server_type must be auto, cx33 or ax52, got {server_type!r}")
    use_cloud = (
        cloud[3] <= dedicated[3] if server_type == "auto" else np.full(len(usage), server_type == "cx33")
    )
    servers = np.where(use_cloud, cloud[1], dedicated[1])
    server_usd = np.where(use_cloud, cloud[1] * cloud[0].monthly_usd, dedicated[1] * dedicated[0].monthly_usd)
    overage_tb = np.where(use_cloud, cloud[2], 0.0)
    overage_usd = overage_tb * cloud[0].overage_per_tb_usd
    redis_servers = (servers > 1).astype(float)
    redis_usd = redis_servers * catalogue["self_hosted.hetzner.cx23.monthly_eur"] * fx
    workers = egress_workers(usage, catalogue, cloud[0].vcpus, usage.peak_egress)
    workers_usd = workers * cloud[0].monthly_usd
    total = server_usd + overage_usd + redis_usd + workers_usd
    items = [
        Item("SFU servers", "server-month", servers, server_usd),
        Item("traffic over included", "TB", overage_tb, overage_usd),
        Item("Redis (multi-node)", "server-month", redis_servers, redis_usd),
        Item("egress workers (CX33)", "server-month", workers, workers_usd),
        Item("TURN (embedded in livekit-server)", "server-month", np.zeros(len(usage)), np.zeros(len(usage))),
    ]

    def notes_for(row: int) -> list[str]:
        spec = cloud[0] if use_cloud[row] else dedicated[0]
        capacity = spec.vcpus * utilization / cores_per_dt[row]
        ec2 = ec2_autoscaled(usage.take(row), catalogue)
        notes = [
            f"{int(servers[row])} × {spec.name} (${spec.monthly_usd:,.2f}/month each) for a peak of "
            f"{downtracks[row]:,.0f} down-tracks ({peak_mbps[row]:,.0f} Mbit/s); "
            f"about {capacity:,.0f} down-tracks per server at {utilization:.0%} CPU",
            "capacity per down-track is derived from LiveKit's published benchmark [U]; measure your own",
            "Hetzner prices are for new orders and rescales: servers ordered before a price change keep "
            "their old price (set it in [prices.overrides])",
            f"on autoscaled AWS EC2 instead: ${float(ec2.total_usd[0]):,.2f} "
            f"({float(ec2.node_hours[0]):,.0f} m7g.large node-hours ${float(ec2.compute_usd[0]):,.2f} + "
            f"data transfer out ${float(ec2.transfer_usd[0]):,.2f})",
        ]
        return notes

    return ModelResult(MODEL_ID, total, items, notes_for)


MODEL = PriceModel(MODEL_ID, "LiveKit self-hosted", price)
