"""Calibration: recovering known coefficients from synthetic noisy node samples, saying so
when the data cannot support a fit, and reading the samples from a real store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics.capacity.calibration import calibrate, model_in_use
from analytics.capacity.report import fleet_capacity
from analytics.capacity.sizing import default_model
from analytics.prices import load_catalogue
from store import schema
from store.engine import make_engine, open_store
from store.queries.nodes import node_load as node_load_frame
from store.upsert import upsert

CAT = load_catalogue()
DEFAULTS = default_model(CAT)
VCPUS = 8.0
TRUE_BASE, TRUE_SUB, TRUE_PUB = 0.05, 0.0005, 0.003  # cores
DAY_S = 86_400


def synthetic(n: int, *, seed: int = 1, noise_pct: float = 0.3, collinear: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    subscribed = rng.uniform(0, 3000, n)
    published = subscribed / 30 if collinear else rng.uniform(0, 100, n)
    participants = subscribed + published
    cpu_pct = 100 * (TRUE_BASE + TRUE_SUB * subscribed + TRUE_PUB * published) / VCPUS + rng.normal(
        0, noise_pct, n
    )
    memory = 2e8 + 6e5 * participants + rng.normal(0, 5e6, n)
    return pd.DataFrame({"node_id": rng.choice(["1:a", "1:b"], n), "cpu_pct": cpu_pct, "tracks_subscribed": subscribed,
                         "tracks_published": published, "participants": participants, "memory_bytes": memory})  # fmt: skip


def test_recovers_known_coefficients_from_noisy_samples() -> None:
    result = calibrate(synthetic(2000), VCPUS, DEFAULTS)
    assert result.status == "fitted" and result.ok
    assert result.fitted is not None
    assert result.fitted.cores_per_subscribed_track == pytest.approx(TRUE_SUB, rel=0.03)
    assert result.fitted.cores_per_published_track == pytest.approx(TRUE_PUB, rel=0.1)
    assert result.fitted.base_cores == pytest.approx(TRUE_BASE, abs=0.02)
    assert result.fitted.memory_bytes_per_participant == pytest.approx(6e5, rel=0.02)
    assert result.r2 is not None and result.r2 > 0.95
    assert result.residual_std_pct == pytest.approx(0.3, rel=0.1)
    table = result.coefficients.set_index("name").to_dict("index")
    assert table["CPU per subscribed track"]["in_use"] == result.fitted.cores_per_subscribed_track
    assert table["CPU per subscribed track"]["default"] == DEFAULTS.cores_per_subscribed_track
    assert table["CPU per subscribed track"]["std_error"] < TRUE_SUB * 0.02
    assert model_in_use(result, DEFAULTS).source == "fleet"
    assert len(result.residuals) == 2000


def test_collinear_published_tracks_keep_their_default() -> None:
    result = calibrate(synthetic(500, collinear=True), VCPUS, DEFAULTS)
    assert result.ok and result.fitted is not None
    assert result.fitted.cores_per_published_track == DEFAULTS.cores_per_published_track
    assert "move with subscribed" in result.message
    # Their cost lands on the subscribed coefficient: 0.0005 + 0.003 / 30.
    assert result.fitted.cores_per_subscribed_track == pytest.approx(TRUE_SUB + TRUE_PUB / 30, rel=0.03)


def test_too_little_data_keeps_the_defaults() -> None:
    few = calibrate(synthetic(10), VCPUS, DEFAULTS)
    assert few.status == "too_little_data" and "only 10" in few.message
    assert model_in_use(few, DEFAULTS) is DEFAULTS
    flat = synthetic(200).assign(tracks_subscribed=100.0)
    result = calibrate(flat, VCPUS, DEFAULTS)
    assert result.status == "too_little_data" and "varied" in result.message
    empty = calibrate(pd.DataFrame(), VCPUS, DEFAULTS)
    assert empty.status == "too_little_data" and empty.samples == 0


def test_a_poor_fit_is_shown_but_not_used() -> None:
    rng = np.random.default_rng(3)
    noise = synthetic(300).assign(cpu_pct=rng.uniform(0, 50, 300))
    result = calibrate(noise, VCPUS, DEFAULTS)
    assert result.status == "poor_fit"
    assert "keeping the benchmark defaults" in result.message
    assert model_in_use(result, DEFAULTS) is DEFAULTS
    cpu_rows = result.coefficients[result.coefficients["unit"] == "cores"]
    assert (cpu_rows["in_use"] == cpu_rows["default"]).all()


def test_reads_node_samples_from_the_store_and_calibrates(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/fleet.db"
    open_store(url).dispose()
    engine = make_engine(url)
    now = 1_800_000_000 - 1_800_000_000 % DAY_S
    samples = synthetic(10 * 24 * 2)
    rows = []
    for index, sample in enumerate(samples.to_dict("records")):
        node = "a" if index % 2 == 0 else "b"
        bucket = now - 10 * DAY_S + (index // 2) * 3600
        row = {"source_id": 1, "node_id": node, "bucket_ts": bucket, "samples": 240}
        for name in schema.NODE_METRICS:
            row[f"{name}_avg"] = row[f"{name}_max"] = 0.0
        row.update(cpu_pct_avg=sample["cpu_pct"], tracks_subscribed_avg=sample["tracks_subscribed"],
                   tracks_published_avg=sample["tracks_published"], participants_avg=sample["participants"],
                   memory_bytes_avg=sample["memory_bytes"], rooms_avg=sample["tracks_published"],
                   bytes_out_per_s_avg=float(sample["tracks_subscribed"]) * 16_000)  # fmt: skip
        rows.append(row)
    with engine.begin() as connection:
        upsert(connection, schema.node_samples_1h, rows)
    frame = node_load_frame(engine, now - 30 * DAY_S, now)
    assert len(frame) == len(rows) and set(frame["node_id"]) == {"1:a", "1:b"}
    engine.dispose()
    report = fleet_capacity(
        frame,
        CAT,
        since_ts=now - 30 * DAY_S,
        until_ts=now,
        node_vcpus=VCPUS,
        calibration_file=tmp_path / "none.json",
    )
    assert report.calibration.ok
    assert report.in_use.cores_per_subscribed_track == pytest.approx(TRUE_SUB, rel=0.05)
    assert report.livekit_server is None and "absent" in report.livekit_server_note
    document = report.as_json()
    assert document["calibration"]["status"] == "fitted"
    assert document["forecast"]["days"] == 10
    assert document["defaults"]["derivation"]
