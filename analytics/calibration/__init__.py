"""Committed, dated measurements the capacity model reads: ``livekit-server-<version>-<date>.json``
as written by bench/livekit_calibrate.py (CPU per subscribed track and memory per participant
of a real livekit-server, with the machine and method it was measured on). A new measurement
is added beside the old ones, never written over them; the planner reads the newest."""

from __future__ import annotations

from pathlib import Path

CALIBRATION_DIR = Path(__file__).resolve().parent
LIVEKIT_SERVER_PREFIX = "livekit-server-"


def livekit_server_file(version: str, measured_date: str) -> Path:
    """Where the measurement of livekit-server ``version`` on ``measured_date`` (YYYY-MM-DD) goes."""
    return CALIBRATION_DIR / f"{LIVEKIT_SERVER_PREFIX}{version}-{measured_date}.json"


def latest_livekit_server_file(directory: Path = CALIBRATION_DIR) -> Path:
    """The newest livekit-server measurement (by the date in its name; a name with a later date
    wins whatever the version), or the path such a file would have when there is none."""
    candidates = sorted(
        directory.glob(f"{LIVEKIT_SERVER_PREFIX}*.json"), key=lambda path: (path.stem[-10:], path.name)
    )
    return candidates[-1] if candidates else directory / f"{LIVEKIT_SERVER_PREFIX}calibration.json"
