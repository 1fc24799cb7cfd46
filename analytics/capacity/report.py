"""The stored fleet's capacity report (CLI and pages): the capacity model calibrated on the
window's node samples, the livekit-server measurement, and the headroom forecast from their
trend. Pure: the caller reads the node samples (store.queries.nodes.node_load) and passes them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analytics.capacity.calibration import (
    CALIBRATION_FILE,
    Calibration,
    calibrate,
    livekit_server_model,
    model_in_use,
)
from analytics.capacity.sizing import CapacityModel, default_model, derivation_lines
from analytics.forecast import Headroom, forecast
from analytics.prices import Catalogue
from core.units import DAY_S

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
    headroom: Headroom
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


def fleet_window(until_ts: int, window_s: int = FLEET_WINDOW_S) -> tuple[int, int]:
    """[since_ts, until_ts) of the node samples a fleet report covers."""
    return until_ts - window_s, until_ts


def fleet_capacity(
    load: pd.DataFrame,
    catalogue: Catalogue,
    *,
    since_ts: int,
    until_ts: int,
    node_vcpus: float = DEFAULT_NODE_VCPUS,
    node_vcpus_source: str = "",
    target_cpu_pct: float = 70.0,
    port_mbps: float | None = None,
    calibration_file: Path = CALIBRATION_FILE,
) -> FleetCapacity:
    """Calibrate on the window's node samples (``load``: store.queries.nodes.node_load over
    [since_ts, until_ts)) and forecast headroom from their trend."""
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
