"""The demo's seam (finding 3 of issue 14): when the live collectors take over from the
backfill, no node or fleet figure jumps. Outgoing bandwidth used to drop to ~3 % of its level
and ramp back over a minute, because the first live rate() read a series younger than its
window; the demo now starts the fleet and its Prometheus before the backfill, waits for a full
rate() window of scrapes and backfills up to the first live tick.

Run at a pinned busy evening (libfaketime moves the demo's clock; Prometheus keeps its own,
which only has to agree on durations), so the test does not depend on the hour it runs at.

Tolerance: the fleet is ramping up at that hour, so a live sample in the first minute is
compared with the straight line fitted to the last 20 minutes of backfilled samples, extended
to its time: it must lie within 4 σ of it, σ being the spread of those 20 minutes around the
line (their own noise), and at least one unit for counts — plus, for rates, how far the
backfilled values moved within one rate() window (1 minute) before the seam: a live rate is
the average over that window, a backfilled sample the value at its instant."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from harness.realparts import REPO_ROOT, faketime_env, free_port, prometheus_path, require
from store import schema
from store.engine import make_engine

pytestmark = [pytest.mark.slow, pytest.mark.prometheus, pytest.mark.realclock]

EVENING_TS = 1_795_201_200  # 2026-11-20 19:00:00 UTC: the platform's evening ramp
NODE_METRICS = (
    "cpu_pct", "memory_pct", "bytes_out_per_s", "bytes_in_per_s", "packet_loss_pct", "jitter_p95_ms",
    "rtt_p95_ms", "join_success_ratio", "quality_score", "rooms", "participants", "tracks_subscribed",
)  # fmt: skip
LIVE_S = 60


FIT_S = 20 * 60
COUNTS = {"rooms", "participants", "tracks_subscribed", "listeners"}


RATE_WINDOW_S = 60  # the demo's rate() window


def _band(ts: np.ndarray, values: np.ndarray, at_ts: float, metric: str) -> tuple[float, float]:
    """(low, high) for a sample at ``at_ts`` continuing the series (ts, values) before it."""
    recent = ts >= ts.max() - FIT_S
    slope, intercept = np.polyfit(ts[recent] - ts.max(), values[recent], 1)
    residual = values[recent] - (intercept + slope * (ts[recent] - ts.max()))
    tolerance = max(4 * float(np.std(residual)), 1.0 if metric in COUNTS else 0.0)
    if metric not in COUNTS:
        last_window = values[ts >= ts.max() - RATE_WINDOW_S]
        tolerance += float(np.ptp(last_window))
    expected = intercept + slope * (at_ts - ts.max())
    return expected - tolerance, expected + tolerance


@pytest.mark.timeout(480)
def test_live_samples_continue_the_backfill(tmp_path: Path) -> None:
    require(prometheus_path() is not None, "prometheus binary (apt package prometheus)")
    db_url = f"sqlite:///{tmp_path / 'demo.db'}"
    ready = tmp_path / "demo.ready"
    config = tmp_path / "castmeter.toml"
    config.write_text("[alerts]\nenabled = false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASTMETER_", "LIVEKIT_", "PROMETHEUS_"))}
    env.update(faketime_env(EVENING_TS))
    command = [
        sys.executable, "-m", "collectors", "demo", "--days", "0.1", "--scenario", "platform-500",
        "--db", db_url, "--config", str(config), "--ready-file", str(ready), "--api-port", str(free_port()),
        "--metrics-port", "0", "--prometheus-port", str(free_port()),
    ]  # fmt: skip
    log = (tmp_path / "demo.log").open("wb")
    demo = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while not (ready.exists() and "live " in ready.read_text()):
            assert demo.poll() is None, (tmp_path / "demo.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the demo was not live within 300 s"
            time.sleep(1)
        time.sleep(LIVE_S + 10)
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            demo.kill()
        log.close()
    live_from = int(ready.read_text().split("live ")[1].split()[0])
    assert abs(live_from - EVENING_TS) < 600  # the demo ran at the pinned evening

    engine = make_engine(db_url)
    with engine.connect() as connection:
        nodes = pd.DataFrame(connection.execute(select(schema.node_samples)).mappings().all())
        rooms = pd.DataFrame(connection.execute(select(schema.room_samples)).mappings().all())
    engine.dispose()
    hour = nodes[(nodes["ts"] >= live_from - 3600) & (nodes["ts"] < live_from)]
    live = nodes[(nodes["ts"] >= live_from) & (nodes["ts"] <= live_from + LIVE_S)]
    assert live["ts"].nunique() >= 3, f"too few live ticks: {sorted(live['ts'].unique())}"
    problems = []
    for node_id, node_live in live.groupby("node_id"):
        node_hour = hour[hour["node_id"] == node_id].sort_values("ts")
        assert len(node_hour) >= 200, f"{node_id}: the backfill left {len(node_hour)} raw samples in the hour"
        for metric in NODE_METRICS:
            for ts, value in zip(node_live["ts"], node_live[metric], strict=True):
                low, high = _band(
                    node_hour["ts"].to_numpy(float), node_hour[metric].to_numpy(float), ts, metric
                )
                if value is None or not np.isfinite(value) or not low <= value <= high:
                    problems.append(
                        f"{node_id} {metric} at +{ts - live_from} s: {value} not in [{low:.4g}, {high:.4g}]"
                    )
    fleet = rooms.groupby("ts")["listeners"].sum()
    fleet_hour = fleet[(fleet.index >= live_from - 3600) & (fleet.index < live_from)]
    fleet_live = fleet[(fleet.index >= live_from) & (fleet.index <= live_from + LIVE_S)]
    for ts, value in zip(fleet_live.index.to_numpy(float), fleet_live.to_numpy(float), strict=True):
        low, high = _band(fleet_hour.index.to_numpy(float), fleet_hour.to_numpy(float), ts, "listeners")
        if not low <= value <= high:
            problems.append(
                f"fleet listeners at +{ts - live_from:.0f} s: {value} not in [{low:.4g}, {high:.4g}]"
            )
    assert not problems, "\n".join(problems)
