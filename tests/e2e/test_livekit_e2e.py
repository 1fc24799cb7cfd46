"""End to end on the real thing: livekit-server v1.13.5 (no Redis), a real Prometheus scraping
it and prometheus-node-exporter, real participants from the ``livekit`` SDK sending a 48 kHz
sine tone, our signed-webhook receiver, and the collectors writing the store.

The rooms are shaped like the seeds: a radio channel (one DJ, four listeners) and a guided
tour (one guide, three listeners). One scenario runs once per module (about a minute, every
wait bounded); the tests below check what it recorded.

"Outgoing bytes = published bitrate × listeners": the published bitrate is measured from the
publishers' WebRTC stats (RTP payload + header bytes; the SDK sends Opus at a 48 kbps target
with RED redundancy, measured ≈ 13.3 kB/s ≈ 107 kbit/s per track on the wire). livekit-server
counts more than that in ``livekit_packet_bytes``: measured ×1.16–1.23 outgoing per subscriber
and ×1.4–1.65 incoming per publisher (RTCP and padding/probe packets are counted too; the
listeners' own stats show exactly the publisher's RTP bytes). So the tolerance is one-sided:
server/expected in [0.95, 1.35] outgoing (direct counter reads over 10 s), [0.80, 1.50] for the
value the collector stored from Prometheus (a 10 s rate() over 1 s scrapes adds extrapolation
error), and [1.0, 1.9] incoming.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import statistics
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from livekit import api
from sqlalchemy import Engine, select

from collectors.health import ensure_source
from collectors.runner import Collector, TickReport
from collectors.webhook_sessions import RoomConnectionMinutes
from collectors.webhooks import WebhookServer, make_webhook_app, read_counters, reconcile_connection_minutes
from core.settings import Settings, load_settings
from harness import livekit as lk
from harness import realparts
from store import schema
from store.engine import open_store

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(240)]

CHANNEL, TOUR = "channel-e2e", "tour-e2e"
CHANNEL_LISTENERS, TOUR_LISTENERS = 4, 3
SOURCE_NAME, PROM_NAME = "lk-e2e", "prom-e2e"
MEASURE_S = 30.0
RATE_WINDOW_S = 30  # the collector's rate() window: six of livekit-server's 5 s counter steps
# Stated tolerances, against publisher RTP bytes × listeners. Measured on this machine: out
# 0.998-0.999, in 1.06, collector 0.93-1.05 (three runs). The collector's rate() over 30 s sees
# five to seven of the server's 5 s counter steps (about ±17 %), hence its wider band.
OUT_RATIO_DIRECT = (0.85, 1.25)
OUT_RATIO_COLLECTOR = (0.70, 1.40)
IN_RATIO_DIRECT = (0.90, 1.50)


@dataclass
class Recorded:
    settings: Settings
    engine: Engine
    db_url: str
    config_path: Path
    source_id: int
    started_ts: int
    ticks: list[TickReport] = field(default_factory=list)
    counts_after_join: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # room -> samples
    publisher_bps: dict[str, float] = field(default_factory=dict)  # room -> RTP bytes/s sent
    server_out_bps: float = 0.0
    server_in_bps: float = 0.0
    collector_out_bps: float | None = None
    collector_cpu_pct: float | None = None
    metric_names: set[str] = field(default_factory=set)
    metrics_text: str = ""
    forged_status: int = 0
    egress_http: tuple[int, str] = (0, "")
    ingress_http: tuple[int, str] = (0, "")
    left_identities: list[str] = field(default_factory=list)
    minutes: list[RoomConnectionMinutes] = field(default_factory=list)
    finished_ts: int = 0


def _twirp_json(
    server: lk.LiveKitServer, service: str, method: str, grants: api.VideoGrants
) -> tuple[int, str]:
    """POST a Twirp call as JSON and return the raw (status, body): what the SDK hides."""
    token = api.AccessToken(server.api_key, server.api_secret).with_grants(grants).to_jwt()
    request = urllib.request.Request(
        f"{server.http_url}/twirp/livekit.{service}/{method}",
        data=b"{}",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


async def _events_of(engine: Engine, event: str, room_name: str | None = None) -> list[Any]:
    def query() -> list[Any]:
        table = schema.webhook_events
        statement = select(table).where(table.c.event == event)
        if room_name is not None:
            statement = statement.where(table.c.room_name == room_name)
        with engine.connect() as connection:
            return list(connection.execute(statement).all())

    return await asyncio.to_thread(query)


async def _wait_events(
    engine: Engine, event: str, count: int, room_name: str | None, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if len(await _events_of(engine, event, room_name)) >= count:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{count}× {event} for {room_name} not received in {timeout_s}s")


async def _tick(collector: Collector, recorded: Recorded) -> TickReport:
    # Ticks are keyed by whole seconds: never two in the same second.
    if recorded.ticks and int(time.time()) <= recorded.ticks[-1].ts:
        await asyncio.sleep(1.05)
    report = await collector.tick(force=True)
    recorded.ticks.append(report)
    return report


def _wait_for_fresh_scrape(prometheus_url: str, max_age_s: float, timeout_s: float) -> None:
    """Until the newest livekit_packet_bytes sample in Prometheus is at most ``max_age_s`` old
    (bounded by ``timeout_s``; the assertion on the rate then tells what happened)."""
    query = urllib.parse.urlencode({"query": "time() - max(timestamp(livekit_packet_bytes))"})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{prometheus_url}/api/v1/query?{query}", timeout=5) as response:
                result = json.load(response)["data"]["result"]
            if result and float(result[0]["value"][1]) <= max_age_s:
                return
        except (urllib.error.URLError, KeyError, ValueError, TimeoutError):
            pass
        time.sleep(0.2)


def _room_samples_at(engine: Engine, ts: int) -> dict[str, tuple[int, int, int]]:
    samples, rooms = schema.room_samples, schema.room_sessions
    with engine.connect() as connection:
        rows = connection.execute(
            select(rooms.c.room_name, samples.c.participants, samples.c.publishers, samples.c.listeners)
            .join(
                rooms, (rooms.c.source_id == samples.c.source_id) & (rooms.c.room_sid == samples.c.room_sid)
            )
            .where(samples.c.ts == ts)
        ).all()
    return {row.room_name: (row.participants, row.publishers, row.listeners) for row in rows}


async def _scenario(binary: Path, workdir: Path) -> Recorded:
    db_url = f"sqlite:///{workdir / 'castmeter.db'}"
    engine = open_store(db_url)
    source_id = ensure_source(engine, SOURCE_NAME, "livekit", "http://127.0.0.1")
    receiver = WebhookServer(
        make_webhook_app(engine, {lk.API_KEY: lk.API_SECRET}, 1_048_576, source_id), "127.0.0.1", 0
    )
    webhook_port = await receiver.start()
    server = await asyncio.to_thread(
        lk.start_livekit_server, binary, workdir / "livekit", [f"http://127.0.0.1:{webhook_port}/livekit"]
    )
    exporter_binary = realparts.node_exporter_path()
    assert exporter_binary is not None  # checked by the fixture
    exporter, exporter_target = await asyncio.to_thread(
        lk.start_node_exporter, exporter_binary, workdir / "ne"
    )
    prometheus = await asyncio.to_thread(
        realparts.start_prometheus, workdir / "prometheus", [server.metrics_target, exporter_target], "1s"
    )
    participants: list[lk.Participant] = []
    try:
        config_path = workdir / "castmeter.toml"
        config_path.write_text(
            f"""
[database]
url = "{db_url}"
[collectors]
interval_s = 2
[webhooks]
enabled = true
[[livekit]]
name = "{SOURCE_NAME}"
url = "{server.http_url}"
api_key = "{server.api_key}"
api_secret = "{server.api_secret}"
[[prometheus]]
name = "{PROM_NAME}"
url = "{prometheus.url}"
rate_window = "{RATE_WINDOW_S}s"
"""
        )
        settings = load_settings(config_path, env={})
        recorded = Recorded(settings, engine, db_url, config_path, source_id, int(time.time()))
        collector = Collector(settings, engine)
        # One source for polls and webhooks.
        assert collector.of_kind("livekit")[0].health.source_id == source_id

        # --- join: a radio channel and a tour, like the seeds -------------------------------
        dj = await lk.join(server, CHANNEL, "dj", publish=True, frequency_hz=440)
        guide = await lk.join(server, TOUR, "guide", publish=True, frequency_hz=660)
        participants += [dj, guide]
        channel_listeners = [await lk.join(server, CHANNEL, f"listener-{i}", publish=False)
                             for i in range(CHANNEL_LISTENERS)]  # fmt: skip
        tour_listeners = [
            await lk.join(server, TOUR, f"visitor-{i}", publish=False) for i in range(TOUR_LISTENERS)
        ]
        participants += channel_listeners + tour_listeners
        await lk.wait_until(
            lambda: all(p.subscribed >= 1 for p in channel_listeners + tour_listeners),
            30,
            "every listener subscribed",
        )
        await asyncio.sleep(3)  # let the encoders settle
        t_subscribed = time.monotonic()

        # --- measure: publisher RTP bytes vs the server's outgoing counter -------------------
        # livekit-server adds a down-track's bytes to livekit_packet_bytes_total in one step per
        # connection-stats interval (5 s, sfu/connectionquality UpdateInterval), so the counter is
        # a staircase. Its rate is the least-squares slope of samples taken every 0.5 s over
        # MEASURE_S, not the difference of two readings, which would be off by up to a step.
        def counters() -> tuple[float, float]:
            samples = lk.metric_samples(server.metrics_text())
            by_direction = {"incoming": 0.0, "outgoing": 0.0}
            for labels, value in samples.get("livekit_packet_bytes_total", []):
                by_direction[labels["direction"]] += value
            return by_direction["incoming"], by_direction["outgoing"]

        sent_before = {p.room_name: await p.sent_rtp_bytes() for p in (dj, guide)}
        t_before = time.monotonic()
        readings: list[tuple[float, float, float]] = []  # (t, in, out)
        while time.monotonic() - t_before < MEASURE_S:
            incoming, outgoing = await asyncio.to_thread(counters)
            readings.append((time.monotonic(), incoming, outgoing))
            await asyncio.sleep(0.5)
        sent_after = {p.room_name: await p.sent_rtp_bytes() for p in (dj, guide)}
        elapsed = time.monotonic() - t_before
        recorded.publisher_bps = {
            room: (sent_after[room] - sent_before[room]) / elapsed for room in sent_before
        }
        times = [r[0] for r in readings]
        recorded.server_in_bps = statistics.linear_regression(times, [r[1] for r in readings]).slope
        recorded.server_out_bps = statistics.linear_regression(times, [r[2] for r in readings]).slope

        # --- collect once with everyone connected --------------------------------------------
        # The collector's rate() window (RATE_WINDOW_S) must span several 5 s counter steps and
        # only time when everyone was subscribed; MEASURE_S after the settle covers that. Under
        # load a 1 s scrape can time out, and rate() over a window whose newest sample is seconds
        # old under-reads: tick once Prometheus holds a fresh sample, as in steady state.
        await asyncio.sleep(max(0.0, RATE_WINDOW_S + 1 - (time.monotonic() - t_subscribed)))
        await asyncio.to_thread(_wait_for_fresh_scrape, prometheus.url, 2.0, 30.0)
        report = await _tick(collector, recorded)
        recorded.counts_after_join = await asyncio.to_thread(_room_samples_at, engine, report.ts)
        with engine.connect() as connection:
            node = connection.execute(
                select(schema.node_samples).where(schema.node_samples.c.ts == report.ts)
            ).first()
        if node is not None:
            recorded.collector_out_bps = node.bytes_out_per_s
            recorded.collector_cpu_pct = node.cpu_pct

        # After the first API calls: twirp counters exist only once a request was served.
        recorded.metrics_text = await asyncio.to_thread(server.metrics_text)
        recorded.metric_names = set(lk.metric_samples(recorded.metrics_text))

        # --- what the server answers without Redis ---------------------------------------------
        recorded.egress_http = await asyncio.to_thread(
            _twirp_json, server, "Egress", "ListEgress", api.VideoGrants(room_record=True)
        )
        recorded.ingress_http = await asyncio.to_thread(
            _twirp_json, server, "Ingress", "ListIngress", api.VideoGrants(ingress_admin=True)
        )

        # --- a forged webhook at the live receiver --------------------------------------------
        body = json.dumps({"event": "room_finished", "id": "EV_forged", "room": {"name": CHANNEL}}).encode()
        forged = jwt.encode(
            {"iss": lk.API_KEY, "exp": int(time.time()) + 300, "nbf": int(time.time()),
             "sha256": base64.b64encode(hashlib.sha256(body).digest()).decode()},
            "not-the-secret-of-this-livekit-server-at-all", algorithm="HS256",
        )  # fmt: skip
        request = urllib.request.Request(
            f"http://127.0.0.1:{webhook_port}/livekit",
            data=body,
            headers={"Authorization": forged},
            method="POST",
        )
        try:
            await asyncio.to_thread(urllib.request.urlopen, request, None, 5)
        except urllib.error.HTTPError as exc:
            recorded.forged_status = exc.code

        # --- some leave --------------------------------------------------------------------------
        leaving = channel_listeners[:2] + tour_listeners[:1]
        for participant in leaving:
            await participant.leave()
            participants.remove(participant)
        recorded.left_identities = [p.identity for p in leaving]
        await _wait_events(engine, "participant_left", 2, CHANNEL, 15)
        await _wait_events(engine, "participant_left", 1, TOUR, 15)
        await _tick(collector, recorded)

        # --- the tour ends ---------------------------------------------------------------------
        for participant in [p for p in participants if p.room_name == TOUR]:
            await participant.leave()
            participants.remove(participant)
        await _wait_events(engine, "room_finished", 1, TOUR, 20)
        await _tick(collector, recorded)

        # --- the channel ends ------------------------------------------------------------------
        for participant in list(participants):
            await participant.leave()
            participants.remove(participant)
        await _wait_events(engine, "room_finished", 1, CHANNEL, 20)
        await _tick(collector, recorded)
        recorded.finished_ts = int(time.time())
        recorded.minutes = await asyncio.to_thread(
            reconcile_connection_minutes, engine, recorded.started_ts - 60, recorded.finished_ts + 1
        )
        return recorded
    finally:
        for participant in participants:
            try:
                await participant.leave()
            except Exception as exc:
                print(f"cleanup: {participant.identity}: {exc}")
        await receiver.stop()
        prometheus.stop()
        realparts.stop_process(exporter)
        server.stop()


@pytest.fixture(scope="module")
def recorded(livekit_server_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    realparts.require(realparts.prometheus_path() is not None, "prometheus binary (apt package prometheus)")
    realparts.require(realparts.node_exporter_path() is not None, "prometheus-node-exporter (apt package)")
    workdir = tmp_path_factory.mktemp("e2e")
    result = asyncio.run(_scenario(livekit_server_bin, workdir))
    print(json.dumps({
        "publisher_bps": result.publisher_bps, "server_in_bps": result.server_in_bps,
        "server_out_bps": result.server_out_bps, "collector_out_bps": result.collector_out_bps,
        "egress_http": result.egress_http, "ingress_http": result.ingress_http,
        "minutes": [m.__dict__ for m in result.minutes], "ticks": [t.polled for t in result.ticks],
    }, indent=1, default=str))  # fmt: skip
    yield result
    result.engine.dispose()


# ---------------------------------------------------------------------------------------------
# What the store shows
# ---------------------------------------------------------------------------------------------


def test_rooms_have_the_right_participant_and_publisher_counts(recorded: Recorded) -> None:
    assert recorded.counts_after_join == {
        CHANNEL: (1 + CHANNEL_LISTENERS, 1, CHANNEL_LISTENERS),
        TOUR: (1 + TOUR_LISTENERS, 1, TOUR_LISTENERS),
    }
    with recorded.engine.connect() as connection:
        rooms = {r.room_name: r for r in connection.execute(select(schema.room_sessions))}
    assert set(rooms) == {CHANNEL, TOUR}
    for name, listeners in ((CHANNEL, CHANNEL_LISTENERS), (TOUR, TOUR_LISTENERS)):
        room = rooms[name]
        assert (room.max_participants, room.max_listeners) == (1 + listeners, listeners)
        assert room.ended_ts is not None and room.started_ts <= room.ended_ts
    # The collector polled every source successfully (egress/ingress refusals make it partial).
    assert recorded.ticks[0].polled[PROM_NAME] == "ok"
    assert recorded.ticks[0].polled[SOURCE_NAME] in ("ok", "partial")


def test_participant_sessions_have_exact_joins_and_leaves(recorded: Recorded) -> None:
    with recorded.engine.connect() as connection:
        sessions = list(connection.execute(select(schema.participant_sessions)))
    assert len(sessions) == 2 + CHANNEL_LISTENERS + TOUR_LISTENERS
    assert all(s.left_ts is not None and s.joined_ts <= s.left_ts for s in sessions)
    assert all(s.origin == "webhook" for s in sessions)  # exact times won over polled estimates
    publishers = {s.identity for s in sessions if s.is_publisher}
    assert publishers == {"dj", "guide"}
    by_identity = {s.identity: s for s in sessions}
    left_first = max(by_identity[i].left_ts for i in recorded.left_identities)
    assert by_identity["dj"].left_ts >= left_first  # the DJ stayed until the channel ended
    # Their webhook leave time is exactly the stored one.
    events = {
        row.participant_identity: row.created_ts
        for row in asyncio.run(_events_of(recorded.engine, "participant_left"))
    }
    assert {i: by_identity[i].left_ts for i in events} == events


def test_outgoing_bytes_match_published_bitrate_times_listeners(recorded: Recorded) -> None:
    expected_out = (
        recorded.publisher_bps[CHANNEL] * CHANNEL_LISTENERS + recorded.publisher_bps[TOUR] * TOUR_LISTENERS
    )
    expected_in = recorded.publisher_bps[CHANNEL] + recorded.publisher_bps[TOUR]
    # Opus at ~48 kbps target plus RED redundancy: tens of kbps per track, never zero.
    for room, bps in recorded.publisher_bps.items():
        assert 2_000 < bps < 20_000, (room, bps)
    ratios = {
        "in_direct": recorded.server_in_bps / expected_in,
        "out_direct": recorded.server_out_bps / expected_out,
        "out_collector": (recorded.collector_out_bps or 0.0) / expected_out,
    }
    assert IN_RATIO_DIRECT[0] <= ratios["in_direct"] <= IN_RATIO_DIRECT[1], ratios
    assert OUT_RATIO_DIRECT[0] <= ratios["out_direct"] <= OUT_RATIO_DIRECT[1], ratios
    assert OUT_RATIO_COLLECTOR[0] <= ratios["out_collector"] <= OUT_RATIO_COLLECTOR[1], ratios
    assert recorded.collector_cpu_pct is not None and 0 <= recorded.collector_cpu_pct <= 100


def test_webhooks_were_verified_and_stored_and_a_forgery_refused(recorded: Recorded) -> None:
    with recorded.engine.connect() as connection:
        events = list(connection.execute(select(schema.webhook_events)))
    kinds: dict[str, int] = {}
    for event in events:
        kinds[event.event] = kinds.get(event.event, 0) + 1
        assert event.source_id == recorded.source_id
        assert json.loads(event.body_json)["id"] == event.event_id
    everyone = 2 + CHANNEL_LISTENERS + TOUR_LISTENERS
    assert kinds["room_started"] == 2 and kinds["room_finished"] == 2
    assert kinds["participant_joined"] == everyone and kinds["participant_left"] == everyone
    assert kinds["track_published"] == 2
    assert recorded.forged_status == 401
    counters = read_counters(recorded.engine)
    assert counters["webhook_accepted"] == len(events)
    assert counters["webhook_refused_forged"] == 1
    assert not any(
        name.startswith("webhook_refused_") and name != "webhook_refused_forged" for name in counters
    )


def test_connection_minutes_from_webhooks_and_polling_reconcile(recorded: Recorded) -> None:
    by_room = {m.room_name: m for m in recorded.minutes}
    assert set(by_room) == {CHANNEL, TOUR}
    for name, listeners in ((CHANNEL, CHANNEL_LISTENERS), (TOUR, TOUR_LISTENERS)):
        minutes = by_room[name]
        assert minutes.webhook_connections == 1 + listeners
        assert minutes.webhook_min > 0
        assert minutes.session_min == pytest.approx(minutes.webhook_min, abs=0.02)
        # Polling starts at the first tick and ends at the last poll that saw someone:
        # it can only undercount (it misses up to one poll interval per connection and
        # everything before the first poll).
        assert 0 < minutes.poll_min <= minutes.webhook_min + 0.02
        assert minutes.webhook_billed_min >= 1 + listeners


# ---------------------------------------------------------------------------------------------
# What the real server exposes vs what we assume
# ---------------------------------------------------------------------------------------------

# Every metric the collectors query (collectors/promql.py), as exposed samples.
QUERIED_METRICS = {
    "livekit_room_total", "livekit_participant_total", "livekit_track_published_total",
    "livekit_track_subscribed_total", "livekit_packet_bytes_total", "livekit_packet_total",
    "livekit_packet_loss_percent_bucket", "livekit_jitter_us_bucket", "livekit_rtt_ms_bucket",
    "livekit_quality_score_sum", "livekit_quality_score_count", "livekit_participant_join_total",
    "livekit_node_twirp_request_status_total", "process_resident_memory_bytes", "process_cpu_seconds_total",
    "go_sched_gomaxprocs_threads",
}  # fmt: skip
# Not listed: livekit_nack_total / livekit_pli_total, which the collectors also query; they are
# CounterVecs that exist only after their first NACK/PLI, and a clean loopback run has none.


def test_the_real_server_exposes_every_metric_the_collectors_query(recorded: Recorded) -> None:
    missing = QUERIED_METRICS - recorded.metric_names
    assert not missing, f"queried but not exposed by livekit-server v1.13.5: {sorted(missing)}"
    # Counters are exposed WITHOUT a _total suffix (the parser adds it): check the raw text.
    assert "\nlivekit_packet_bytes{" in recorded.metrics_text
    assert "\nlivekit_node_twirp_request_status{" in recorded.metrics_text
    assert 'node_type="SERVER"' in recorded.metrics_text
    for line in recorded.metrics_text.splitlines():
        if line.startswith("livekit_packet_bytes{"):
            assert 'country=""' in line and "node_id=" in line


def test_egress_and_ingress_without_redis_are_refused_not_fatal(recorded: Recorded) -> None:
    status, body = recorded.egress_http
    assert status == 500, recorded.egress_http
    assert json.loads(body) == {
        "code": "internal",
        "msg": "twirp error unknown: egress not connected (redis required)",
    }
    status, body = recorded.ingress_http
    assert status == 500, recorded.ingress_http
    assert json.loads(body) == {
        "code": "internal",
        "msg": "twirp error unknown: ingress not connected (redis required)",
    }
    assert recorded.ticks[0].polled[SOURCE_NAME] == "partial"


# ---------------------------------------------------------------------------------------------
# The Streams page
# ---------------------------------------------------------------------------------------------


def test_streams_page_shows_the_rooms(recorded: Recorded, monkeypatch: pytest.MonkeyPatch) -> None:
    page = realparts.REPO_ROOT / "pages" / "streams.py"
    if not page.exists():
        pytest.skip("pages/streams.py not written yet")
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("CASTMETER_CONFIG", str(recorded.config_path))
    monkeypatch.setenv("CASTMETER_DB_URL", recorded.db_url)
    monkeypatch.chdir(realparts.REPO_ROOT)
    app = AppTest.from_file(str(page), default_timeout=60)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    shown = " ".join(str(frame.value.to_dict()) for frame in app.dataframe)
    assert CHANNEL in shown and TOUR in shown, shown[:2000]
