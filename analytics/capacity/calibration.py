"""Calibration of the capacity model: a least-squares fit on the fleet's own node samples, and
the model measured on a real livekit-server (the committed, dated files in
analytics/calibration/, written by bench/livekit_calibrate.py)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from analytics.calibration import latest_livekit_server_file
from analytics.capacity.sizing import CapacityModel, default_model
from analytics.prices import Catalogue

# The newest committed livekit-server measurement (analytics/calibration/, bench/livekit_calibrate.py).
CALIBRATION_FILE = latest_livekit_server_file()


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
            "r2": rounded_or_none(self.r2),
            "residual_std_pct": rounded_or_none(self.residual_std_pct),
            "residual_p95_abs_pct": rounded_or_none(self.residual_p95_abs_pct),
            "memory_r2": rounded_or_none(self.memory_r2),
            "coefficients": [
                {k: (rounded_or_none(v, 9) if isinstance(v, float) else v) for k, v in row.items()}
                for row in self.coefficients.to_dict("records")
            ],
            "fitted_model": None if self.fitted is None else self.fitted.as_json(),
        }


def rounded_or_none(value: float | None, digits: int = 4) -> float | None:
    """``value`` rounded, or None when it is missing or not finite (JSON has no NaN)."""
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
