"""`python -m analytics capacity --json`: calibration and forecast for a stored fleet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analytics.__main__ import COMMANDS
from core.cli import main
from store import schema
from store.engine import make_engine, open_store
from store.upsert import upsert

ROOT = Path(__file__).resolve().parents[2]
DAY_S = 86_400
NOW_TS = 1_800_000_000 - 1_800_000_000 % DAY_S


def store_with_growth(path: Path, now_ts: int = NOW_TS) -> str:
    """One 8-vCPU node for 20 days: 0.0005 cores per subscribed track, audience +50 tracks a day."""
    url = f"sqlite:///{path}"
    open_store(url).dispose()
    rows = []
    for day in range(20):
        for hour in range(24):
            subscribed = (1000 + 50 * day) * (1.0 if hour == 20 else 0.4 + 0.02 * hour)
            row = {
                "source_id": 1,
                "node_id": "n1",
                "bucket_ts": now_ts - now_ts % DAY_S - (20 - day) * DAY_S + hour * 3600,
                "samples": 240,
            }
            for name in schema.NODE_METRICS:
                row[f"{name}_avg"] = row[f"{name}_max"] = 0.0
            row.update(
                cpu_pct_avg=100 * (0.05 + 0.0005 * subscribed + 0.002 * 20) / 8,
                tracks_subscribed_avg=subscribed,
                tracks_published_avg=20 + (hour % 5),
                participants_avg=subscribed + 20,
                bytes_out_per_s_avg=subscribed * 16_000,
            )
            rows.append(row)
    engine = make_engine(url)
    with engine.begin() as connection:
        upsert(connection, schema.node_samples_1h, rows)
    engine.dispose()
    return url


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main("analytics", "analytics.commands", COMMANDS, argv=argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_capacity_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = store_with_growth(tmp_path / "fleet.db")
    config = tmp_path / "castmeter.toml"
    config.write_text("")
    code, out, _err = run(
        ["capacity", "--json", "--db", url, "--config", str(config), "--until", str(NOW_TS),
         "--node-vcpus", "8", "--scenario", str(ROOT / "analytics" / "scenarios" / "tours.yaml")],
        capsys,
    )  # fmt: skip
    assert code == 0
    document = json.loads(out)
    calibration = document["calibration"]
    assert calibration["status"] == "fitted" and calibration["samples"] == 480
    assert document["model_in_use"]["source"] == "fleet"
    assert document["model_in_use"]["cores_per_subscribed_track"] == pytest.approx(0.0005, rel=0.01)
    assert document["node_vcpus_source"] == "--node-vcpus"
    # Daily peak CPU: 100 × (0.05 + 0.0005 × (1000 + 50 d) + 0.04) / 8 = 7.375 + 0.3125 d → 70 % at d ≈ 200.
    forecast = document["forecast"]
    cluster_cpu = next(
        c for c in forecast["crossings"] if c["target"] == "cluster" and c["metric"] == "cpu_pct"
    )
    assert cluster_cpu["status"] == "crossing"
    assert cluster_cpu["slope_per_day"] == pytest.approx(0.3125, rel=1e-3)
    assert forecast["add_node_by_ts"] is not None
    assert forecast["listener_growth_pct_per_month"] > 0
    assert document["plan"]["sfu_nodes"] >= 1 and len(document["plan"]["costs"]) == 8  # models
    assert document["defaults"]["derivation"]


def test_capacity_text_and_empty_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    open_store(url).dispose()
    code, out, _err = run(["capacity", "--db", url, "--config", str(tmp_path / "none.toml")], capsys)
    assert code == 2  # a config file that does not exist
    (tmp_path / "none.toml").write_text("")
    code, out, _err = run(["capacity", "--db", url, "--config", str(tmp_path / "none.toml")], capsys)
    assert code == 0
    assert "keeping the benchmark defaults" in out
    assert "Too little history" in out


def test_capacity_refuses_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "castmeter.toml"
    config.write_text("")
    code, _out, err = run(["capacity", "--config", str(config), "--target-cpu", "120"], capsys)
    assert code == 2 and "--target-cpu" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("streams: 1\nhours_per_day: 1\nlisteners_per_stream: 5\nbogus: 1\n")
    code, _out, err = run(["capacity", "--config", str(config), "--scenario", str(bad)], capsys)
    assert code == 2 and "bogus: unknown key" in err
