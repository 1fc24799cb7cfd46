"""The simulator's Twirp API and metrics, driven by the official livekit-api client."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import aiohttp
import pytest
from livekit import api
from prometheus_client.parser import text_string_to_metric_families

from harness.realparts import REPO_ROOT
from simulator.model import DAY_S, FleetModel
from simulator.server import FleetServer, ThreadedFleetServer

KEY, SECRET = "testkey", "testsecret-0123456789-0123456789-abcdef"
T = TypeVar("T")
# 20:00 UTC on a day with live rooms in every audio scenario: the fleet starts there.
EVENING = 20_000 * DAY_S + 20 * 3600


@asynccontextmanager
async def running(scenario: str = "dj-radio", **kwargs: Any) -> AsyncIterator[FleetServer]:
    server = FleetServer(
        FleetModel(scenario, nodes=kwargs.pop("nodes", None)), api_port=0, metrics_port=0,
        api_key=KEY, api_secret=SECRET, sim_start=kwargs.pop("sim_start", EVENING), **kwargs,
    )  # fmt: skip
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def run(test: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(asyncio.wait_for(test(), timeout=60))


def test_lists_match_the_model() -> None:
    async def scenario() -> None:
        async with running("dj-radio") as server:
            snap = server.fleet.snapshot()
            assert len(snap.rooms) > 0
            async with api.LiveKitAPI(server.api_url, KEY, SECRET) as lk:
                rooms = (await lk.room.list_rooms(api.ListRoomsRequest())).rooms
                assert sorted(r.sid for r in rooms) == sorted(snap.rooms["room_sid"])
                by_sid = snap.rooms.set_index("room_sid")
                for room in rooms:
                    assert room.num_participants == by_sid.loc[room.sid, "num_participants"]
                    assert room.num_publishers == 1
                    started_ts = int(snap.rooms.loc[snap.rooms["room_sid"] == room.sid, "started_ts"].iloc[0])
                    assert room.creation_time == int(server.fleet.to_real(started_ts))
                    assert room.creation_time_ms // 1000 == room.creation_time
                busiest = max(rooms, key=lambda r: r.num_participants)
                people = (
                    await lk.room.list_participants(api.ListParticipantsRequest(room=busiest.name))
                ).participants
                # num_participants leaves out the EGRESS recorder; the list includes it
                assert (
                    len([p for p in people if p.kind != api.ParticipantInfo.Kind.EGRESS])
                    == busiest.num_participants
                )
                publishers = [p for p in people if p.is_publisher]
                assert len(publishers) == 1 and publishers[0].tracks[0].mime_type == "audio/opus"
                assert publishers[0].tracks[0].source == api.TrackSource.MICROPHONE
                listener = next(
                    p for p in people if not p.is_publisher and p.kind == api.ParticipantInfo.Kind.STANDARD
                )
                assert listener.state == api.ParticipantInfo.State.ACTIVE and not listener.tracks
                assert listener.joined_at <= server.fleet.to_real(EVENING) + 1
                one = await lk.room.get_participant(
                    api.RoomParticipantIdentity(room=busiest.name, identity=listener.identity)
                )
                assert one.sid == listener.sid
                egress = (await lk.egress.list_egress(api.ListEgressRequest())).items
                live = [e for e in egress if e.status == api.EgressStatus.EGRESS_ACTIVE]
                assert len(live) == int(snap.rooms["active_recording"].sum())
                assert all(e.segment_results and e.room_composite.audio_only for e in live)
                # nanoseconds, in wall-clock time
                assert all(abs(e.started_at / 1e9 - server.fleet.to_real(EVENING)) < 10 * 3600 for e in live)
                only_active = (await lk.egress.list_egress(api.ListEgressRequest(active=True))).items
                assert len(only_active) == len(live)
                ingress = (await lk.ingress.list_ingress(api.ListIngressRequest())).items
                assert len(ingress) == server.model.spec.channels
                publishing = [
                    i for i in ingress if i.state.status == api.IngressState.Status.ENDPOINT_PUBLISHING
                ]
                ingress_publishers = snap.participants[snap.participants["kind"] == "INGRESS"]
                assert len(publishing) == len(ingress_publishers)
                assert all(i.input_type == api.IngressInput.RTMP_INPUT for i in ingress)

    run(scenario)


def test_auth_errors_like_livekit_server() -> None:
    async def scenario() -> None:
        async with running("dj-radio") as server:
            async with api.LiveKitAPI(server.api_url, KEY, "wrong-secret-0123456789-0123456789-xyz") as lk:
                with pytest.raises(api.TwirpError) as bad:
                    await lk.room.list_rooms(api.ListRoomsRequest())
                assert bad.value.status == 401 and bad.value.code == "unknown"  # plain-text body
            async with api.LiveKitAPI(server.api_url, "otherkey", SECRET) as lk:
                with pytest.raises(api.TwirpError) as unknown_key:
                    await lk.room.list_rooms(api.ListRoomsRequest())
                assert unknown_key.value.status == 401
            room_name = str(server.fleet.snapshot().rooms["room_name"].iloc[0])
            for grants in (
                api.VideoGrants(room_list=True),
                api.VideoGrants(room_admin=True, room="some-other-room"),
            ):
                token = api.AccessToken(KEY, SECRET).with_grants(grants).to_jwt()
                async with api.LiveKitAPI(server.api_url, token=token) as lk:
                    with pytest.raises(api.TwirpError) as denied:
                        await lk.room.list_participants(api.ListParticipantsRequest(room=room_name))
                    assert (denied.value.status, denied.value.code, denied.value.message) == (
                        401, "unauthenticated", "permissions denied",
                    )  # fmt: skip
            token = api.AccessToken(KEY, SECRET).with_grants(api.VideoGrants(room_list=True)).to_jwt()
            async with api.LiveKitAPI(server.api_url, token=token) as lk:
                with pytest.raises(api.TwirpError) as no_record:
                    await lk.egress.list_egress(api.ListEgressRequest())
                assert no_record.value.code == "unauthenticated"
                with pytest.raises(api.TwirpError) as no_ingress_admin:
                    await lk.ingress.list_ingress(api.ListIngressRequest())
                assert no_ingress_admin.value.code == "unauthenticated"
                assert len((await lk.room.list_rooms(api.ListRoomsRequest())).rooms) > 0
            async with api.LiveKitAPI(server.api_url, KEY, SECRET) as lk:
                with pytest.raises(api.TwirpError) as missing:
                    await lk.room.list_participants(api.ListParticipantsRequest(room="no-such-room"))
                assert (missing.value.status, missing.value.code) == (404, "not_found")
            async with aiohttp.ClientSession() as http:
                url = f"{server.api_url}/twirp/livekit.RoomService/ListRooms"
                async with http.post(url, data=b"", headers={"Authorization": "Basic abc",
                                                             "Content-Type": "application/protobuf"}) as resp:  # fmt: skip
                    assert resp.status == 401 and resp.content_type == "text/plain"
                async with http.post(url, data=b"", headers={"Content-Type": "application/protobuf"}) as resp:
                    assert resp.status == 401
                    assert await resp.json() == {"code": "unauthenticated", "msg": "permissions denied"}

    run(scenario)


def test_no_redis_breaks_egress_but_not_rooms() -> None:
    async def scenario() -> None:
        async with (
            running("dj-radio", no_redis=True) as server,
            api.LiveKitAPI(server.api_url, KEY, SECRET) as lk,
        ):
            assert len((await lk.room.list_rooms(api.ListRoomsRequest())).rooms) > 0
            for call in (
                lambda: lk.egress.list_egress(api.ListEgressRequest()),
                lambda: lk.ingress.list_ingress(api.ListIngressRequest()),
            ):
                with pytest.raises(api.TwirpError) as err:
                    await call()
                assert (err.value.status, err.value.code) == (500, "internal")
                assert err.value.message == "egress not connected (redis required)"

    run(scenario)


@pytest.mark.slow
def test_json_requests() -> None:
    async def scenario() -> None:
        async with running("platform-500") as server:
            token = (
                api.AccessToken(KEY, SECRET)
                .with_grants(api.VideoGrants(room_list=True, room_record=True))
                .to_jwt()
            )
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{server.api_url}/twirp/livekit.RoomService/ListRooms", data=b"{}",
                                     headers=headers) as resp:  # fmt: skip
                    assert resp.status == 200 and resp.content_type == "application/json"
                    body = json.loads(await resp.text())
                rooms = body["rooms"]
                assert len(rooms) == len(server.fleet.snapshot().rooms) > 100
                first = rooms[0]
                assert (
                    isinstance(first["creation_time"], str) and first["creation_time"].isdigit()
                )  # int64 as string
                assert "metadata" in first and first["metadata"] == ""  # EmitUnpopulated
                assert "num_participants" in first  # proto field names
                name = first["name"]
                async with http.post(f"{server.api_url}/twirp/livekit.RoomService/ListRooms",
                                     data=json.dumps({"names": [name]}), headers=headers) as resp:  # fmt: skip
                    assert [r["name"] for r in (await resp.json())["rooms"]] == [name]
                async with http.post(f"{server.api_url}/twirp/livekit.Egress/ListEgress", data=b"{}",
                                     headers=headers) as resp:  # fmt: skip
                    items = (await resp.json())["items"]
                    live = [i for i in items if i["status"] == "EGRESS_ACTIVE"]
                    assert live and int(live[0]["started_at"]) > 10**18  # nanoseconds
                async with http.post(f"{server.api_url}/twirp/livekit.RoomService/Nope", data=b"{}",
                                     headers=headers) as resp:  # fmt: skip
                    assert resp.status == 404 and (await resp.json())["code"] == "bad_route"

    run(scenario)


EXPECTED_FAMILIES = {
    # family name as prometheus_client's parser reports it -> (type, sample names, extra labels)
    "livekit_room_total": ("gauge", {"livekit_room_total"}, set()),
    "livekit_participant_total": ("gauge", {"livekit_participant_total"}, set()),
    "livekit_track_published_total": ("gauge", {"livekit_track_published_total"}, {"kind"}),
    "livekit_track_subscribed_total": ("gauge", {"livekit_track_subscribed_total"}, {"kind"}),
    "livekit_connection_total": ("gauge", {"livekit_connection_total"}, {"kind"}),
    "livekit_packet": ("counter", {"livekit_packet_total"}, {"direction", "transmission", "country"}),
    "livekit_packet_bytes": (
        "counter",
        {"livekit_packet_bytes_total"},
        {"direction", "transmission", "country"},
    ),
    "livekit_nack": ("counter", {"livekit_nack_total"}, {"direction", "country"}),
    "livekit_pli": ("counter", {"livekit_pli_total"}, {"direction", "country"}),
    "livekit_participant_join": ("counter", {"livekit_participant_join_total"}, {"state", "warp"}),
    "livekit_node_twirp_request_status": (
        "counter",
        {"livekit_node_twirp_request_status_total"},
        {"service", "method", "status", "code"},
    ),
    "livekit_packet_loss_percent": ("histogram", None, {"direction", "source", "type", "country"}),
    "livekit_jitter_us": ("histogram", None, {"direction", "source", "type", "country"}),
    "livekit_rtt_ms": ("histogram", None, {"direction", "source", "type", "country"}),
    "livekit_quality_score": ("histogram", None, set()),
    "process_cpu_seconds": ("counter", {"process_cpu_seconds_total"}, set()),
    "process_resident_memory_bytes": ("gauge", {"process_resident_memory_bytes"}, set()),
    # client_golang's Go collector, as on the real server: the node's CPU count for CPU %.
    "go_sched_gomaxprocs_threads": ("gauge", {"go_sched_gomaxprocs_threads"}, set()),
}
# Names exactly as they appear in the text (what Prometheus stores), by TYPE line.
EXPECTED_TYPE_LINES = {
    "livekit_room_total gauge", "livekit_participant_total gauge", "livekit_track_published_total gauge",
    "livekit_track_subscribed_total gauge", "livekit_connection_total gauge", "livekit_packet_total counter",
    "livekit_packet_bytes counter", "livekit_nack_total counter", "livekit_pli_total counter",
    "livekit_participant_join_total counter", "livekit_node_twirp_request_status counter",
    "livekit_packet_loss_percent histogram", "livekit_jitter_us histogram", "livekit_rtt_ms histogram",
    "livekit_quality_score histogram", "process_cpu_seconds_total counter", "process_resident_memory_bytes gauge",
    "go_sched_gomaxprocs_threads gauge",
}  # fmt: skip


def test_metrics_exposition() -> None:
    async def scenario() -> None:
        async with running("platform-500", nodes=2) as server:
            async with api.LiveKitAPI(server.api_url, KEY, SECRET) as lk:
                await lk.room.list_rooms(api.ListRoomsRequest())
                with pytest.raises(api.TwirpError):
                    await lk.room.list_participants(api.ListParticipantsRequest(room="no-such-room"))
            texts = []
            async with aiohttp.ClientSession() as http:
                for url in [*server.metrics_urls, server.metrics_urls[0].replace("/metrics", "/any/path")]:
                    async with http.get(url) as resp:
                        assert resp.status == 200
                        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
                        texts.append(await resp.text())
            for node, text in enumerate(texts[:2]):
                type_lines = {
                    line[len("# TYPE ") :] for line in text.splitlines() if line.startswith("# TYPE ")
                }
                assert type_lines == EXPECTED_TYPE_LINES
                raw_names = {
                    line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and line[0] != "#"
                }
                assert "livekit_packet_bytes" in raw_names and "livekit_packet_bytes_total" not in raw_names
                assert "livekit_node_twirp_request_status" in raw_names
                assert not any(name.endswith("_created") for name in raw_names)
                families = {f.name: f for f in text_string_to_metric_families(text)}
                assert set(families) == set(EXPECTED_FAMILIES)
                node_id = server.model.node_ids[node]
                for name, (kind, sample_names, labels) in EXPECTED_FAMILIES.items():
                    family = families[name]
                    assert family.type == kind, name
                    assert family.samples, name
                    if sample_names is not None:
                        assert {s.name for s in family.samples} == sample_names, name
                    for sample in family.samples:
                        if name.startswith(("process_", "go_")):
                            assert sample.labels == {}, name  # no node_id: `instance` is the link
                            continue
                        assert sample.labels["node_id"] == node_id and sample.labels["node_type"] == "SERVER"
                        extra = set(sample.labels) - {"node_id", "node_type", "le"}
                        assert extra == labels, name
                assert (
                    families["livekit_room_total"].samples[0].value
                    == server.model.node_load(server.fleet.sim_now())["rooms"].iloc[node]
                )
            twirp = {
                (sample.labels["method"], sample.labels["status"], sample.labels["code"]): sample.value
                for family in text_string_to_metric_families(texts[0])
                if family.name == "livekit_node_twirp_request_status"
                for sample in family.samples
            }
            assert twirp[("ListRooms", "200", "")] == 1.0
            assert twirp[("ListParticipants", "4xx", "not_found")] == 1.0
            assert twirp[("UpdateParticipant", "5xx", "internal")] > 0

    run(scenario)


@pytest.mark.slow
def test_counters_integrate_model_rates() -> None:
    """Without Prometheus: two reads of the bytes counter a few seconds apart give the model's rate."""

    async def scenario() -> None:
        async with running("platform-500", nodes=2) as server:
            metrics = server.metrics
            t0 = server.fleet.to_sim(metrics.advance())
            before = _outgoing_bytes(metrics, 0)
            await asyncio.sleep(3.0)
            t1 = server.fleet.to_sim(metrics.advance())
            rate = (_outgoing_bytes(metrics, 0) - before) / (t1 - t0)
            model_rate = server.model.node_load((t0 + t1) / 2)["bytes_out_per_s"].iloc[0]
            assert math.isclose(rate, model_rate, rel_tol=0.05)

    run(scenario)


def _outgoing_bytes(metrics: Any, node: int) -> float:
    return sum(
        value
        for (name, labels), value in metrics.counters[node].items()
        if name == "livekit_packet_bytes" and dict(labels)["direction"] == "outgoing"
    )


@pytest.mark.slow
def test_speed_runs_the_fleet_faster_with_wall_clock_timestamps() -> None:
    async def scenario() -> None:
        async with running("dj-radio", speed=60.0) as server:
            fleet = server.fleet
            sim0 = fleet.sim_now()
            await asyncio.sleep(1.0)
            assert 55 <= fleet.sim_now() - sim0 <= 90  # one wall-clock second = a simulated minute
            async with api.LiveKitAPI(server.api_url, KEY, SECRET) as lk:
                rooms = (await lk.room.list_rooms(api.ListRoomsRequest())).rooms
            snap = fleet.snapshot()
            assert rooms
            started = snap.rooms.set_index("room_sid")["started_ts"]
            for room in rooms:
                # real = start + (sim - sim_start) / speed: an hour-old room looks a minute old
                expected = fleet.start_real + (int(started.loc[room.sid]) - EVENING) / 60.0
                assert abs(room.creation_time_ms / 1000 - expected) < 0.01
                assert room.creation_time <= time.time()

    run(scenario)


@pytest.mark.slow
def test_cli_starts_and_serves(tmp_path: Any) -> None:
    command = [sys.executable, "-m", "simulator", "--scenario", "tours", "--api-port", "0", "--metrics-port", "0",
               "--api-key", KEY, "--speed", "5"]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "LIVEKIT_API_SECRET": SECRET},  # never on the command line (ps shows it)
    )  # fmt: skip
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        ready = ""
        while time.monotonic() < deadline and not ready:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            if line.startswith("READY "):
                ready = line
        assert ready, "simulator did not print READY"
        fields = dict(part.split("=", 1) for part in ready.split()[1:])
        api_url, metrics_target = fields["api"], fields["metrics"]

        async def scenario() -> None:
            async with api.LiveKitAPI(api_url, KEY, SECRET) as lk:
                rooms = (await lk.room.list_rooms(api.ListRoomsRequest())).rooms
                assert all(room.name.startswith("tour-") for room in rooms)
            async with aiohttp.ClientSession() as http, http.get(f"http://{metrics_target}/metrics") as resp:
                assert resp.status == 200
                assert "livekit_room_total{" in await resp.text()

        run(scenario)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.realclock
def test_a_threaded_fleet_answers_scrapes_while_the_callers_loop_is_blocked() -> None:
    """The demo's collectors share a loop that sometimes blocks; a scrape answered only after
    the block would carry counters integrated to its answer under Prometheus' earlier stamp
    (the seam test saw rate() under-read by 10-20 %). On its own thread the fleet answers
    during the block."""
    answered: list[float] = []
    block_ended: list[float] = []

    async def blocked_loop() -> None:
        threaded = ThreadedFleetServer(
            FleetModel("dj-radio"),
            api_port=0,
            metrics_port=0,
            api_key=KEY,
            api_secret=SECRET,
            sim_start=EVENING,
        )
        server = await threaded.start_async()

        def scrape() -> None:
            with urllib.request.urlopen(
                f"http://{server.metrics_targets[0]}/metrics", timeout=30
            ) as response:
                assert b"livekit_packet_bytes" in response.read()
            answered.append(time.monotonic())

        try:
            scraper = threading.Thread(target=scrape)
            scraper.start()
            time.sleep(3.0)  # blocks this loop, as a slow synchronous step in the collectors would
            block_ended.append(time.monotonic())
            scraper.join()
        finally:
            await threaded.stop_async()

    run(blocked_loop)
    assert answered and answered[0] < block_ended[0]
