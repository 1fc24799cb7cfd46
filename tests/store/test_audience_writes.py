"""Audience and relay samples (issue 17): written once per key, bad values refused by name."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from store import schema
from store.audience import AudienceSample, RelaySample, write_audience_samples, write_relay_samples
from tests.store.conftest import fetch


def test_a_replayed_sample_is_written_once_with_its_newest_values(store: Engine) -> None:
    first = AudienceSample(channel="radio-1", path="hls", ts=1000, viewers=3, viewer_s=42.0)
    again = AudienceSample(channel="radio-1", path="hls", ts=1000, viewers=4, viewer_s=45.0)
    relay = RelaySample(relay_id="radio-1/live.m3u8", ts=1000, channel="radio-1", kind="hls_playlist",
                        health="down", status="stale", last_activity_ts=970)  # fmt: skip
    with store.begin() as connection:
        assert write_audience_samples(connection, 1, [first]) == 1
        assert write_audience_samples(connection, 1, [again]) == 1
        assert write_relay_samples(connection, 1, [relay, relay]) == 1
    rows = fetch(store, schema.audience_samples)
    assert [(r["channel"], r["path"], r["viewers"], r["viewer_s"]) for r in rows] == [
        ("radio-1", "hls", 4, 45.0)
    ]
    relays = fetch(store, schema.relay_samples)
    assert [(r["relay_id"], r["health"], r["last_activity_ts"]) for r in relays] == [
        ("radio-1/live.m3u8", "down", 970)
    ]


def test_unknown_paths_kinds_and_health_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="delivery path 'dash'"):
        AudienceSample(channel="c", path="dash", ts=1, viewers=1)
    with pytest.raises(ValueError, match="viewers must be >= 0"):
        AudienceSample(channel="c", path="hls", ts=1, viewers=-1)
    with pytest.raises(ValueError, match="relay kind 'ftp'"):
        RelaySample(relay_id="r", ts=1, channel="c", kind="ftp", health="ok", status="x")
    with pytest.raises(ValueError, match="relay health 'fine'"):
        RelaySample(relay_id="r", ts=1, channel="c", kind="ivs_stream", health="fine", status="x")
