"""Bad input from every side: hostile Twirp responses and Prometheus answers, hostile names,
invalid configuration, out-of-range planner and rule inputs. Each gets a clear message;
nothing crashes the collector or the page. (Webhook bodies — huge, not JSON, forged — are
covered by tests/collectors/test_webhooks.py and fuzzed in tests/fuzz/.)"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from livekit.protocol import models as models_pb
from livekit.protocol import room as room_pb
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, select
from streamlit.testing.v1 import AppTest

from analytics.alerts.rules import RuleError, parse_rules_yaml
from analytics.ledger import ScenarioError, load_scenario
from collectors.prometheus_poller import PrometheusPoller
from collectors.runner import Collector
from collectors.spool import Spool
from core.settings import (
    CollectorSettings,
    ConfigError,
    LiveKitSource,
    PrometheusSource,
    Settings,
    load_settings,
)
from store import schema
from store.engine import open_store
from tests.pages.conftest import REPO_ROOT, page_path

SECRET = "hostile-twirp-secret-0123456789abcdef"
HOSTILE = [
    'quote "O\'Reilly"; DROP TABLE room_sessions; --',
    "<img src=x onerror=alert(1)><script>alert('x')</script>",
    "emoji 🎧🔥👩‍👩‍👧 ünïcødé \u202e reversed",
    "[click me](javascript:alert(1)) **bold** $x$",
    "long-" + "y" * 9995,  # 10,000 characters
]
FAST = CollectorSettings(http_timeout_s=1.0)


def _rooms_response() -> bytes:
    rooms = [models_pb.Room(sid=f"RM_h{i}", name=name, creation_time=int(time.time()) - 60, num_participants=2,
                            num_publishers=1) for i, name in enumerate(HOSTILE)]  # fmt: skip
    return room_pb.ListRoomsResponse(rooms=rooms).SerializeToString()


def _participants_response(room: str) -> bytes:
    index = HOSTILE.index(room)
    people = [
        models_pb.ParticipantInfo(sid=f"PA_h{index}_{n}", identity=HOSTILE[(index + n) % len(HOSTILE)],
                                  name=HOSTILE[(index + n + 1) % len(HOSTILE)], joined_at=int(time.time()) - 30,
                                  is_publisher=n == 0)
        for n in range(2)
    ]  # fmt: skip
    return room_pb.ListParticipantsResponse(participants=people).SerializeToString()


@asynccontextmanager
async def twirp_server(mode: dict[str, str]) -> AsyncIterator[str]:
    """A LiveKit look-alike whose answers are chosen by ``mode["list_rooms"]``."""

    async def list_rooms(request: web.Request) -> web.StreamResponse:
        what = mode["list_rooms"]
        if what == "hostile":
            return web.Response(body=_rooms_response(), content_type="application/protobuf")
        if what == "garbage":
            return web.Response(body=b"\xff\xfe\x00garbage\x12\x99" * 50, content_type="application/protobuf")
        if what == "html":
            return web.Response(text="<html>502 Bad Gateway</html>", content_type="text/html")
        if what == "error_html":
            return web.Response(text="<html>oops</html>", status=500, content_type="text/html")
        if what == "huge":
            return web.Response(body=b"\x0a" * (32 * 1024 * 1024), content_type="application/protobuf")
        if what == "huge_streamed":  # chunked, no Content-Length: the cap must count bytes
            response = web.StreamResponse(headers={"Content-Type": "application/protobuf"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            try:
                for _ in range(64):  # 64 × 1 MiB, stopped by the client at its cap
                    await response.write(b"\x0a" * (1024 * 1024))
            except (ConnectionResetError, aiohttp.ClientConnectionResetError):
                pass
            return response
        if what == "slow":
            response = web.StreamResponse(headers={"Content-Type": "application/protobuf"})
            await response.prepare(request)
            for _ in range(50):
                await response.write(b"\x0a")
                await asyncio.sleep(0.2)
            return response
        raise AssertionError(what)

    async def list_participants(request: web.Request) -> web.Response:
        body = room_pb.ListParticipantsRequest.FromString(await request.read())
        return web.Response(body=_participants_response(body.room), content_type="application/protobuf")

    app = web.Application(client_max_size=1024 * 1024)
    app.router.add_post("/twirp/livekit.RoomService/ListRooms", list_rooms)
    app.router.add_post("/twirp/livekit.RoomService/ListParticipants", list_participants)
    # Long headers like a real livekit-server (Go: 1 MB): a 10,000-character room name
    # travels in the token of ListParticipants.
    runner = web.AppRunner(app, access_log=None, max_field_size=1 << 20)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _source(url: str) -> LiveKitSource:
    return LiveKitSource(
        name="hostile",
        url=url,
        api_key="key",
        api_secret=SECRET,  # type: ignore[arg-type]
        poll_egress=False,
        poll_ingress=False,
    )


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return open_store(f"sqlite:///{tmp_path / 'bad.db'}")


@pytest.mark.parametrize(
    "mode",
    ["garbage", "html", "error_html", "huge", "huge_streamed", pytest.param("slow", marks=pytest.mark.slow)],
)
def test_hostile_twirp_answers_fail_the_poll_cleanly(mode: str, engine: Engine, tmp_path: Path) -> None:
    async def scenario() -> tuple[str, float]:
        async with twirp_server({"list_rooms": mode}) as url:
            collector = Collector(
                Settings(collectors=FAST, livekit=[_source(url)]), engine, spool=Spool(tmp_path / "spool")
            )
            started = time.monotonic()
            report = await collector.tick(force=True)
            return report.polled["hostile"], time.monotonic() - started

    state, elapsed_s = asyncio.run(asyncio.wait_for(scenario(), 60))
    with engine.connect() as connection:
        health = connection.execute(select(schema.source_health)).one()
    # Garbage protobuf may decode to "no rooms" (protobuf is lenient) — never to a crash.
    assert state in ("failed", "ok"), state
    if state == "failed":
        assert health.status == "failing" and health.last_error and len(health.last_error) <= 500
        assert SECRET not in health.last_error
    if mode == "slow":
        assert state == "failed" and "timed out" in health.last_error and elapsed_s < 10
    if mode.startswith("huge"):  # refused at the cap (declared or counted), never read whole
        assert state == "failed" and "larger than 16,777,216" in health.last_error, health.last_error


@pytest.mark.slow
def test_hostile_names_are_stored_verbatim_and_shown_as_plain_text(
    engine: Engine, tmp_path: Path, page_env: Callable[[str], None]
) -> None:
    async def scenario() -> str:
        async with twirp_server({"list_rooms": "hostile"}) as url:
            collector = Collector(Settings(livekit=[_source(url)]), engine, spool=Spool(tmp_path / "spool"))
            return (await collector.tick(force=True)).polled["hostile"]

    assert asyncio.run(asyncio.wait_for(scenario(), 60)) == "ok"
    with engine.connect() as connection:
        stored = {row.room_name for row in connection.execute(select(schema.room_sessions))}
        identities = {row.identity for row in connection.execute(select(schema.participant_sessions))}
        assert connection.execute(select(schema.room_sessions)).first() is not None  # the table survived
    assert stored == set(HOSTILE) and identities == set(HOSTILE)  # bound parameters: stored as given
    page_env(str(engine.url))
    app = AppTest.from_file(page_path("streams"), default_timeout=30)
    app.run()
    assert not app.exception, app.exception
    shown = {str(value) for frame in app.dataframe for column in frame.value.columns
             for value in frame.value[column]}  # fmt: skip
    assert {name for name in HOSTILE if len(name) < 200} <= shown
    for element in [*app.markdown, *app.caption, *app.title, *app.subheader, *app.error, *app.warning]:
        for name in HOSTILE:
            assert name[:30] not in element.value
    # Drill into the room with the script name: plain text, the page still works.
    app = AppTest.from_file(page_path("streams"), default_timeout=30)
    app.query_params["stream"] = "1:RM_h1"
    app.run()
    assert not app.exception, app.exception
    assert any(HOSTILE[1] in text.value for text in app.text)


def test_no_page_renders_raw_html() -> None:
    """Data reaches the screen through dataframes and st.text; nothing opts into raw HTML."""
    offenders = []
    for path in [REPO_ROOT / "app.py", *(REPO_ROOT / "pages").glob("*.py"), *(REPO_ROOT / "ui").glob("*.py")]:
        source = path.read_text()
        if re.search(r"unsafe_allow_html\s*=\s*True|st\.html\(|components\.v1", source):
            offenders.append(path.name)
    assert offenders == []


def _prometheus_answer(httpserver: HTTPServer, body: Any, status: int = 200) -> PrometheusPoller:
    text = body if isinstance(body, str) else json.dumps(body)
    httpserver.expect_request("/api/v1/query").respond_with_data(
        text, status=status, content_type="application/json"
    )
    return PrometheusPoller(PrometheusSource(name="p", url=httpserver.url_for("/").rstrip("/")), timeout_s=2)


def _vector(series: list[tuple[dict[str, str], str]]) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": m, "value": [1.0, v]} for m, v in series]},
    }


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "",
        "<html>proxy error</html>",
        "null",
        '{"status": "success"}',
        '{"status": "success", "data": {"result": "oops"}}',
    ],
)
def test_malformed_prometheus_answers_fail_or_warn_never_crash(httpserver: HTTPServer, body: str) -> None:
    poller = _prometheus_answer(httpserver, body)
    try:
        snapshot = poller.poll(1000)
    except Exception as exc:  # the runner records this as a failed poll (tested below)
        assert type(exc).__name__ in {
            "PrometheusApiClientException",
            "JSONDecodeError",
            "KeyError",
            "TypeError",
            "AttributeError",
            "ValueError",
        }, repr(exc)
    else:
        assert snapshot.values == {} and snapshot.warnings


def test_a_malformed_prometheus_is_a_failed_source_not_a_crash(
    httpserver: HTTPServer, engine: Engine, tmp_path: Path
) -> None:
    httpserver.expect_request("/api/v1/query").respond_with_data("{not json", content_type="application/json")
    settings = Settings(prometheus=[PrometheusSource(name="p", url=httpserver.url_for("/").rstrip("/"))])
    report = asyncio.run(Collector(settings, engine, spool=Spool(tmp_path / "spool")).tick(force=True))
    assert report.polled == {"p": "failed"}


@pytest.mark.slow
def test_nan_inf_and_huge_prometheus_results(httpserver: HTTPServer, engine: Engine) -> None:
    nodes = [({"node_id": f"n{i}", "node_type": "SERVER", "instance": f"10.0.{i // 250}.{i % 250}:6789"}, "1")
             for i in range(20_000)]  # fmt: skip
    odd = [({"node_id": "n0"}, "NaN"), ({"node_id": "n1"}, "+Inf"), ({"node_id": "n2"}, "-1e309"),
           ({"node_id": "n3"}, "not-a-number"), ({"node_id": "n4"}, "12.5")]  # fmt: skip
    httpserver.expect_request("/api/v1/query").respond_with_data(
        json.dumps(_vector(nodes + odd)), content_type="application/json"
    )
    poller = PrometheusPoller(
        PrometheusSource(name="p", url=httpserver.url_for("/").rstrip("/")), timeout_s=10
    )
    snapshot = poller.poll(1000)
    assert len(snapshot.values) == 20_000
    values = snapshot.values
    # Non-finite and unparsable values become "no value", never NaN in the store.
    assert all(
        v is None or (v == v and abs(v) != float("inf")) for node in values.values() for v in node.values()
    )
    assert values["n4"]["rooms"] == 12.5


@pytest.mark.slow
def test_invalid_config_values_exit_2_naming_the_key(tmp_path: Path) -> None:
    cases = {
        "[collectors]\ninterval_s = -5\n": "collectors.interval_s",
        '[prices.overrides]\n"no.such.rate" = 1.0\n': "prices.overrides",
        "[prices.overrides]\nlivekit_cloud.connection_minute_usd = -3\n": "prices.overrides",
        '[[livekit]]\nname = "x"\nurl = "ftp://nope"\napi_key = "k"\napi_secret = "topsecret-value-123"\n': "livekit.0.url",
        "[database]\nurl = 42\n": "database.url",
    }
    for text, key in cases.items():
        path = tmp_path / "bad.toml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=re.escape(key)) as info:
            load_settings(path, env={})
        assert "topsecret-value-123" not in str(info.value)
    path = tmp_path / "bad.toml"
    path.write_text(
        '[[livekit]]\nname = "x"\nurl = "ftp://nope"\napi_key = "k"\napi_secret = "topsecret-value-123"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "collectors", "run", "--once", "--config", str(path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "livekit.0.url" in result.stderr
    assert "topsecret-value-123" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("field", "value", "key"), [
    ("streams", -1, "streams"), ("hours_per_day", 25, "hours_per_day"), ("audio_kbps", 0, "audio_kbps"),
    ("growth_pct_per_month", 10_000, "growth_pct_per_month"), ("target_cpu_pct", 150, "target_cpu_pct"),
    ("streams", "lots", "streams"), ("nonsense_key", 1, "nonsense_key"),
])  # fmt: skip
def test_out_of_range_planner_inputs_name_the_key(tmp_path: Path, field: str, value: Any, key: str) -> None:
    scenario = {"streams": 10, "hours_per_day": 4, "listeners_per_stream": 50, field: value}
    path = tmp_path / "scenario.yaml"
    path.write_text(json.dumps(scenario))
    with pytest.raises(ScenarioError, match=re.escape(key)):
        load_scenario(path)


@pytest.mark.parametrize("rule", [
    "{name: HighCpu, metric: cpu_pct, threshold: .nan, for: 5m}",
    "{name: HighCpu, metric: cpu_pct, threshold: 80, for: -5m}",
    "{name: HighCpu, metric: cpu_pct, threshold: 80, for: 99999d}",
    "{name: 'bad name!', metric: cpu_pct, threshold: 80}",
    "{name: HighCpu, metric: no_such_metric, threshold: 80}",
    "{name: HighCpu, metric: cpu_pct, threshold: '80; DROP TABLE x'}",
])  # fmt: skip
def test_out_of_range_rules_get_a_clear_message(rule: str) -> None:
    with pytest.raises(RuleError) as info:
        parse_rules_yaml(f"rules:\n  - {rule}\n")
    assert "rule" in str(info.value)
