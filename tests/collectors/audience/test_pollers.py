"""The Agora, Cloudflare Stream and Amazon IVS pollers against the fake APIs (simulator/
providers.py) serving the hand-written state of fixtures.py: every expected figure below is read
off that file by hand."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from collectors.audience_apis.cloudflare_stream import input_state
from collectors.audience_apis.common import sink_without_key
from collectors.pollers.agora import AgoraPoller
from collectors.pollers.base import decode_snapshot, encode_snapshot
from collectors.pollers.cloudflare_stream import CloudflareStreamPoller
from collectors.pollers.ivs import IvsPoller
from simulator.providers import ProviderFakes, ProviderState
from store import schema
from store.audience import AudienceSample
from store.engine import open_store
from tests.collectors.audience.fixtures import (
    ARN,
    NOW_TS,
    STREAM_KEYS,
    agora_source,
    cloudflare_source,
    collectors,
    ivs_source,
)


def by_channel(samples: list[AudienceSample]) -> dict[str, tuple[int, int | None]]:
    return {sample.channel: (sample.viewers, sample.hosts) for sample in samples}


def relays(snapshot: object) -> dict[str, tuple[str, str, str, str]]:
    return {r.relay_id: (r.channel, r.kind, r.health, r.status) for r in snapshot.relays}  # type: ignore[attr-defined]


def test_agora_channels_pages_hosts_audience_converters_and_recordings(fakes: ProviderFakes) -> None:
    snapshot = asyncio.run(AgoraPoller(agora_source(fakes), collectors()).poll(NOW_TS))
    assert snapshot.warnings == []
    # mode 2: hosts = broadcasters, viewers = audience_total; mode 1 (communication): all users host.
    assert by_channel(snapshot.audience) == {"shop-1": (40, 1), "shop-2": (0, 2), "shop-3": (0, 3)}
    assert {s.path for s in snapshot.audience} == {"agora"}
    assert relays(snapshot) == {
        "converter:conv-a": ("shop-1", "agora_media_push", "ok", "running"),
        "converter:conv-b": ("shop-2", "agora_media_push", "down", "failed"),
        "converter:conv-c": ("shop-5", "agora_media_push", "degraded", "connecting"),
        "recording:sid-1": ("shop-1", "agora_cloud_recording", "ok", "5 in progress"),
        "recording:sid-2": ("shop-2", "agora_cloud_recording", "idle", "not running"),
    }
    sinks = {r.relay_id: r.sink for r in snapshot.relays}
    assert sinks["converter:conv-a"] == "rtmps://live.cloudflare.com:443/live/…"
    assert sinks["converter:conv-b"] == "rtmp://a.rtmp.example.com/live2/…"
    assert not any(key in repr(snapshot) for key in STREAM_KEYS)
    # Three channels at page_size 2: two channel-list pages; three converters at 2 a page: two.
    assert sum(r.startswith("GET /dev/v1/channel/demoapp") for r in fakes.requests) == 2
    assert sum("rtmp-converters" in r for r in fakes.requests) == 2


def test_agora_lookup_budget_takes_the_busiest_channels_and_says_what_it_left(fakes: ProviderFakes) -> None:
    poller = AgoraPoller(agora_source(fakes, channel_lookups_per_poll=1, recordings=[]), collectors())
    snapshot = asyncio.run(poller.poll(NOW_TS))
    assert by_channel(snapshot.audience) == {"shop-1": (40, 1)}  # 41 users: the busiest
    assert snapshot.warnings == [
        "2 of 3 online channels not looked up this poll (channel_lookups_per_poll = 1)"
    ]


def test_cloudflare_inputs_in_all_three_status_shapes_viewers_and_minutes(
    fakes: ProviderFakes, provider_state: ProviderState
) -> None:
    poller = CloudflareStreamPoller(cloudflare_source(fakes), collectors())
    first = asyncio.run(poller.poll(NOW_TS))
    assert first.warnings == []
    assert relays(first) == {
        "input:in-a": ("shop-1", "cloudflare_live_input", "ok", "connected"),  # object shape
        "input:in-b": ("shop-2", "cloudflare_live_input", "degraded", "reconnecting"),  # string; mapped uid
        "input:in-c": ("shop-4", "cloudflare_live_input", "idle", "disconnected"),  # null: never connected
        "input:in-d": ("shop-6", "cloudflare_live_input", "down", "disconnected"),  # failed_to_reconnect
    }
    errors = {r.relay_id: r.detail for r in first.relays}
    assert errors["input:in-a"] == "failed_to_connect"  # from its history: a recent error
    assert errors["input:in-d"] == "failed_to_reconnect"
    assert by_channel(first.audience) == {"shop-1": (120, None), "shop-2": (7, None)}
    # Minutes viewed are a running daily total: nothing to difference on the first poll.
    assert [s.viewer_s for s in first.audience] == [None, None]

    provider_state.live_inputs[0].videos["vid-a1"] = 12.5  # +2.5 min on in-a
    provider_state.live_inputs[1].videos["vid-b1"] = 3.0  # unchanged on in-b
    second = asyncio.run(poller.poll(NOW_TS + 60))
    assert {s.channel: s.viewer_s for s in second.audience} == {"shop-1": 150.0, "shop-2": 0.0}


def test_ivs_streams_health_viewer_count_and_concurrent_views_fallback(fakes: ProviderFakes) -> None:
    snapshot = asyncio.run(IvsPoller(ivs_source(fakes), collectors()).poll(NOW_TS))
    assert snapshot.warnings == []
    assert relays(snapshot) == {
        f"ivs:{ARN}aaaa": ("shop-5", "ivs_stream", "ok", "LIVE HEALTHY"),
        f"ivs:{ARN}bbbb": ("shop-7", "ivs_stream", "degraded", "LIVE STARVING"),  # mapped by its tag
        f"ivs:{ARN}cccc": ("shop-8", "ivs_stream", "idle", "OFFLINE"),
    }
    # viewerCount -1 ("timed out, retry"): GetStream says -1 again, CloudWatch's 21 stands in.
    assert by_channel(snapshot.audience) == {"shop-5": (33, None), "shop-7": (21, None)}
    assert "POST /ivs/GetStream" in fakes.requests
    assert sum(r == "POST /ivs/ListChannels" for r in fakes.requests) == 2  # 3 channels, 2 a page


def test_snapshots_round_trip_through_the_spool_and_are_stored_idempotently(
    fakes: ProviderFakes, tmp_path: Path
) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'castmeter.db'}")
    poller = AgoraPoller(agora_source(fakes), collectors())
    poller.bind(engine, 7)
    snapshot = asyncio.run(poller.poll(NOW_TS))
    decoded = decode_snapshot(poller.snapshot_type, encode_snapshot(snapshot))
    assert decoded == snapshot
    assert poller.write(decoded) == {"audience_samples": 3, "relay_samples": 5}
    poller.write(decoded)  # a replay writes the same rows again, never twice
    with engine.connect() as connection:
        stored = connection.execute(select(schema.audience_samples.c.channel, schema.audience_samples.c.viewers,
                                           schema.audience_samples.c.hosts)).all()  # fmt: skip
        sinks = connection.execute(select(schema.relay_samples.c.sink)).scalars().all()
    assert sorted(stored) == [("shop-1", 40, 1), ("shop-2", 0, 2), ("shop-3", 0, 3)]
    assert len(sinks) == 5 and not any(key in sink for sink in sinks for key in STREAM_KEYS)
    engine.dispose()


@pytest.mark.parametrize("shape", ["object", "string", "null"])
def test_cloudflare_status_shapes_parse_to_the_same_states(shape: str) -> None:
    status = {"object": {"current": {"state": "connected"}}, "string": "connected", "null": None}[shape]
    expected = {
        "object": ("connected", "ok"),
        "string": ("connected", "ok"),
        "null": ("disconnected", "idle"),
    }
    state = input_state(status)
    assert (state.state, state.health) == expected[shape]
    assert input_state("connected", enabled=False).health == "idle"


def test_ivs_a_stream_gone_offline_between_list_and_get_is_idle_not_an_error(fakes: ProviderFakes) -> None:
    # shop-7's viewerCount is -1, so GetStream asks again: by then the channel is offline.
    fakes.fail("/ivs/GetStream", 404, headers={"x-amzn-ErrorType": "ChannelNotBroadcasting"},
               body={"exceptionMessage": "The stream is offline for the given channel ARN."})  # fmt: skip
    snapshot = asyncio.run(IvsPoller(ivs_source(fakes), collectors()).poll(NOW_TS))
    assert snapshot.warnings == []
    assert relays(snapshot)[f"ivs:{ARN}bbbb"] == ("shop-7", "ivs_stream", "idle", "OFFLINE")
    assert by_channel(snapshot.audience) == {"shop-5": (33, None)}


@pytest.mark.parametrize(
    ("url", "sink"),
    [
        ("rtmp://example/live/areu", "rtmp://example/live/…"),
        ("rtmps://live.cloudflare.com:443/live/abc123", "rtmps://live.cloudflare.com:443/live/…"),
        ("rtmp://user:pass@host/app/key?token=x", "rtmp://host/app/…"),
        ("srt://live.example.com:778?streamid=secret", "srt://live.example.com:778"),
        ("rtmp://host/onlykey", "rtmp://host/…"),
        ("", ""),
    ],
)
def test_a_sink_never_keeps_its_stream_key(url: str, sink: str) -> None:
    assert sink_without_key(url) == sink
