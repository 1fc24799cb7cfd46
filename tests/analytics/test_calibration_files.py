"""The livekit-server calibration is committed, dated data (analytics/calibration/): the planner
reads the newest measurement, not a file in the git-ignored bench/out/."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from analytics.calibration import CALIBRATION_DIR, latest_livekit_server_file, livekit_server_file
from analytics.capacity import calibration
from analytics.prices import load_catalogue

CAT = load_catalogue(as_of=dt.date(2026, 12, 1))


def test_the_newest_dated_measurement_wins(tmp_path: Path) -> None:
    assert latest_livekit_server_file(tmp_path).name == "livekit-server-calibration.json"  # none yet
    for name in ("livekit-server-v1.13.5-2026-11-21.json", "livekit-server-v1.9.0-2027-01-05.json",
                 "livekit-server-v1.13.5-2026-12-02.json"):  # fmt: skip
        (tmp_path / name).write_text("{}")
    assert latest_livekit_server_file(tmp_path).name == "livekit-server-v1.9.0-2027-01-05.json"
    assert livekit_server_file("v1.13.5", "2026-11-21").name == "livekit-server-v1.13.5-2026-11-21.json"


def test_the_committed_measurement_is_what_the_planner_reads() -> None:
    assert calibration.CALIBRATION_FILE.parent == CALIBRATION_DIR
    model, note = calibration.livekit_server_model(CAT)
    assert model is not None and model.source == "livekit-server"
    # bench/livekit_calibrate.py on 2026-11-21, livekit-server v1.13.5, 2 cores (the file's figures).
    assert model.cores_per_subscribed_track == 0.0021919015475483643
    assert model.memory_bytes_per_participant == 1772134.3999999983
    assert "v1.13.5" in note and "2 cores" in note
