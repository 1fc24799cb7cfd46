"""The fleet model: determinism and consistency between day plans, snapshots and history."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulator.model import DAY_S, FleetModel
from simulator.scenarios import SCENARIOS
from store.schema import NODE_METRICS

DAY = 20_000  # 2024-10-04 (UTC day index)
EVENING = DAY * DAY_S + 20 * 3600 + 17


def _open_at(frame: pd.DataFrame, ts: float, start: str, end: str) -> pd.DataFrame:
    return frame[(frame[start] <= ts) & (ts < frame[end])]


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_same_seed_same_sessions_other_seed_differs(scenario: str) -> None:
    a = FleetModel(scenario, seed=3).day(DAY)
    b = FleetModel(scenario, seed=3).day(DAY)
    c = FleetModel(scenario, seed=4).day(DAY)
    pd.testing.assert_frame_equal(a.rooms, b.rooms)
    pd.testing.assert_frame_equal(a.participants, b.participants)
    pd.testing.assert_frame_equal(a.egress, b.egress)
    pd.testing.assert_frame_equal(a.ingress, b.ingress)
    assert not a.participants["participant_sid"].equals(c.participants["participant_sid"])
    assert len(a.rooms) > 0 and len(a.participants) > len(a.rooms)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_day_plan_shapes_and_ids(scenario: str) -> None:
    model = FleetModel(scenario)
    plan = model.day(DAY)
    assert list(plan.rooms.columns) == [
        "room_sid",
        "room_name",
        "channel",
        "node_id",
        "started_ts",
        "ended_ts",
    ]
    assert list(plan.participants.columns) == [
        "participant_sid", "room_sid", "identity", "name", "kind", "is_publisher", "joined_ts", "left_ts",
    ]  # fmt: skip
    assert plan.rooms["room_sid"].str.match(r"^RM_[0-9A-Za-z]{12}$").all()
    assert plan.participants["participant_sid"].str.match(r"^PA_[0-9A-Za-z]{12}$").all()
    assert plan.participants["participant_sid"].is_unique and plan.rooms["room_sid"].is_unique
    assert set(plan.rooms["node_id"]) <= set(model.node_ids)
    assert all(node.startswith("ND_") and len(node) == 15 for node in model.node_ids)
    # rooms start on this day; sessions lie inside their room
    assert (plan.rooms["started_ts"] // DAY_S == DAY).all()
    merged = plan.participants.merge(plan.rooms, on="room_sid")
    assert (merged["joined_ts"] >= merged["started_ts"]).all()
    assert (merged["left_ts"] <= merged["ended_ts"]).all()
    assert (merged["left_ts"] > merged["joined_ts"]).all()
    # one publisher per room, identities unique among a room's sessions
    assert plan.participants.groupby("room_sid")["is_publisher"].sum().eq(1).all()
    assert not plan.participants.duplicated(["room_sid", "identity"]).any()
    # one room name is never live twice at once (also across midnight)
    rooms = pd.concat([model.day(DAY - 1).rooms, plan.rooms]).sort_values(["room_name", "started_ts"])
    previous_end = rooms.groupby("room_name")["ended_ts"].shift()
    assert (rooms["started_ts"] >= previous_end.fillna(0)).all()
    if model.spec.egress_output:
        assert plan.egress["egress_id"].str.startswith("EG_").all() and len(plan.egress) == len(plan.rooms)
    if model.spec.ingress_share:
        assert plan.ingress["ingress_id"].str.startswith("IN_").all()


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["dj-radio", "platform-500", "live-shopping"])
def test_snapshot_counts_equal_open_sessions(scenario: str) -> None:
    model = FleetModel(scenario)
    snap = model.snapshot(EVENING)
    plans = [model.day(DAY - 1), model.day(DAY)]
    rooms = _open_at(pd.concat([p.rooms for p in plans]), EVENING, "started_ts", "ended_ts")
    parts = _open_at(pd.concat([p.participants for p in plans]), EVENING, "joined_ts", "left_ts")
    assert set(snap.rooms["room_sid"]) == set(rooms["room_sid"])
    assert set(snap.participants["participant_sid"]) == set(parts["participant_sid"])
    listeners = parts[(parts["kind"] == "STANDARD") & ~parts["is_publisher"]].groupby("room_sid").size()
    got = snap.rooms.set_index("room_sid")["listeners"]
    pd.testing.assert_series_equal(
        got.sort_index(), listeners.reindex(got.index, fill_value=0).sort_index(), check_names=False
    )
    non_egress = parts[parts["kind"] != "EGRESS"].groupby("room_sid").size()
    assert (
        snap.rooms.set_index("room_sid")["num_participants"] == non_egress.reindex(got.index, fill_value=0)
    ).all()
    assert snap.rooms["listeners"].sum() > 0
    # node totals are the sums of their rooms
    per_node = snap.rooms.groupby("node_id")["num_participants"].sum()
    nodes = snap.nodes.set_index("node_id")
    assert (nodes.loc[per_node.index, "participants"] == per_node).all()
    assert nodes["rooms"].sum() == len(snap.rooms)
    # publishers have one Opus microphone track (plus a camera when the scenario has video)
    tracks = snap.tracks.merge(snap.participants, on="participant_sid")
    assert tracks["is_publisher"].all()
    audio = snap.tracks[snap.tracks["type"] == "AUDIO"]
    assert (audio["mime_type"] == "audio/opus").all() and (audio["source"] == "MICROPHONE").all()
    assert len(audio) == int(snap.participants["is_publisher"].sum())
    assert (snap.tracks["type"] == "VIDEO").any() == model.has_video


def test_node_cpu_follows_load() -> None:
    model = FleetModel("platform-500")
    quiet, busy = model.snapshot(DAY * DAY_S + 4 * 3600).nodes, model.snapshot(EVENING).nodes
    assert busy["tracks_subscribed"].sum() > 2 * quiet["tracks_subscribed"].sum()
    assert busy["cpu_pct"].mean() > quiet["cpu_pct"].mean()
    assert busy["bytes_out_per_s"].sum() > quiet["bytes_out_per_s"].sum()
    # bandwidth out = bitrate x subscribed tracks (+5 % overhead), in = bitrate x published
    expected_out = busy["tracks_subscribed"] * model.spec.audio_kbps * 125 * 1.05
    np.testing.assert_allclose(busy["bytes_out_per_s"], expected_out, rtol=1e-9)
    assert ((busy["cpu_pct"] > 0) & (busy["cpu_pct"] <= 100)).all()


@pytest.mark.slow
def test_history_matches_sessions_and_snapshots() -> None:
    model = FleetModel("dj-radio")
    start, end = DAY * DAY_S + 18 * 3600, DAY * DAY_S + 23 * 3600
    history = model.history(start, end, step_s=300)
    samples = history.room_samples
    assert len(samples) > 0
    sessions = history.participant_sessions
    listeners = sessions[(sessions["kind"] == "STANDARD") & ~sessions["is_publisher"]]
    for ts in samples["ts"].unique()[::7]:
        expected = _open_at(listeners, ts, "joined_ts", "left_ts").groupby("room_sid").size()
        got = samples[samples["ts"] == ts].set_index("room_sid")["listeners"]
        got.index = got.index.astype(str)
        assert (got == expected.reindex(got.index, fill_value=0)).all()
        assert set(expected[expected > 0].index) <= set(got.index)
        snap = model.snapshot(float(ts))
        assert sorted(snap.rooms["listeners"]) == sorted(got.to_numpy())
        nodes = history.node_samples[history.node_samples["ts"] == ts].reset_index(drop=True)
        np.testing.assert_allclose(nodes["cpu_pct"], snap.nodes["cpu_pct"])
        np.testing.assert_allclose(nodes["bytes_out_per_s"], snap.nodes["bytes_out_per_s"])
    assert list(history.node_samples.columns) == ["ts", "node_id", *NODE_METRICS]
    n_steps = (end - start) // 300
    assert len(history.node_samples) == n_steps * model.n_nodes
    assert list(history.nodes.columns) == ["node_id", "node_type"]
    assert (history.room_sessions["started_ts"] < end).all() and (
        history.room_sessions["ended_ts"] > start
    ).all()


@pytest.mark.slow
def test_platform500_matches_the_seed_scale() -> None:
    """seed 000: 500 x 40 h/week -> ~120 concurrent streams; ~10 listeners/stream; ~5,000 at peak."""
    model = FleetModel("platform-500")
    history = model.history(DAY * DAY_S, (DAY + 2) * DAY_S, step_s=300)
    per_ts = history.room_samples.groupby("ts").agg(
        rooms=("listeners", "size"), listeners=("listeners", "sum")
    )
    assert 90 <= per_ts["rooms"].mean() <= 150
    assert 7 <= history.room_samples["listeners"].mean() <= 14
    assert 3_500 <= per_ts["listeners"].max() <= 7_000
