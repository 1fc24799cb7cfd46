"""Fake Agora, Cloudflare Stream and Amazon IVS/CloudWatch APIs on loopback, serving the documented
shapes (docs/ARCHITECTURE.md, "Audience APIs"): paging, credentials checked, and errors or slow
answers on demand (:meth:`ProviderFakes.fail`). One port; each API under its own prefix:

- Agora: ``/dev/v1/channel/…``, ``/v1/projects/{app}/rtmp-converters``, ``/v1/apps/{app}/cloud_recording/…``
- Cloudflare Stream: ``/client/v4/accounts/{account}/stream/…`` and ``/client/v4/graphql``;
  the customer subdomain (live viewers) under ``/cf-customer``
- Amazon IVS (rest-json, ``POST /ivs/<Operation>``) and CloudWatch (JSON 1.0) under ``/cloudwatch``

What they serve comes from ``state(now_ts) -> ProviderState``: hand-written in tests, the hybrid
scenario's model (simulator/hybrid.py) in the demo."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

from core.logs import register_secret

AGORA_CUSTOMER_ID = "demo-customer"
AGORA_APP_ID = "demoapp0123456789"
CF_ACCOUNT = "demo-account"
AWS_ACCESS_KEY_ID = "AKIADEMO000000000000"
CONVERTER_PAGE = 2  # Agora documents 500; small here so paging is exercised
IVS_PAGE = 2  # IVS takes maxResults 1-100


@dataclass
class AgoraChannel:
    name: str
    hosts: list[int]
    audience_total: int
    mode: int = 2  # 2 live broadcasting, 1 communication


@dataclass
class Converter:
    converter_id: str
    name: str
    channel: str
    rtmp_url: str  # with its stream key, as Agora stores it
    state: str  # connecting | running | failed
    update_ts: int


@dataclass
class Recording:
    resource_id: str
    sid: str
    channel: str
    status: int | None  # serverResponse.status; None: not running (404)
    mode: str = "mix"


@dataclass
class LiveInput:
    uid: str
    name: str
    status: Any  # a string, an object {current, history} or None, as served
    enabled: bool = True
    live_viewers: int | None = None  # None: /views answers 404
    videos: dict[str, float] = field(default_factory=dict)  # video uid -> minutes viewed today


@dataclass
class IvsChannel:
    arn: str
    name: str
    live: bool
    health: str = "HEALTHY"
    viewer_count: int = 0
    start_ts: int = 0
    concurrent_views: float | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class ProviderState:
    agora_channels: list[AgoraChannel] = field(default_factory=list)
    converters: list[Converter] = field(default_factory=list)
    recordings: list[Recording] = field(default_factory=list)
    live_inputs: list[LiveInput] = field(default_factory=list)
    ivs_channels: list[IvsChannel] = field(default_factory=list)


@dataclass
class Fault:
    """The next ``times`` requests whose path starts with ``prefix`` answer ``status`` (0: the
    normal answer) after ``delay_s``, with ``body`` and ``headers``."""

    prefix: str
    status: int
    times: int = 1
    delay_s: float = 0.0
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class ProviderFakes:
    def __init__(
        self,
        state: Callable[[int], ProviderState],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        agora_secret: str = "agora-demo-secret",
        cf_token: str = "cf-demo-token",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state, self.host, self._port, self.clock = state, host, port, clock
        self.agora_secret, self.cf_token = agora_secret, cf_token
        for secret in (agora_secret, cf_token):
            register_secret(secret)
        self.faults: list[Fault] = []
        self.requests: list[str] = []  # "METHOD path" of every request, for tests
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def fail(self, prefix: str, status: int, **kwargs: Any) -> None:
        self.faults.append(Fault(prefix, status, **kwargs))

    async def start(self) -> None:
        app = web.Application(middlewares=[self._faults])
        app.router.add_get("/dev/v1/channel/user/{app}/{channel}", self.agora_users)
        app.router.add_get("/dev/v1/channel/{app}", self.agora_channels)
        app.router.add_get("/v1/projects/{app}/rtmp-converters", self.agora_converters)
        app.router.add_get(
            "/v1/apps/{app}/cloud_recording/resourceid/{rid}/sid/{sid}/mode/{mode}/query",
            self.agora_recording,
        )
        app.router.add_get("/client/v4/accounts/{account}/stream/live_inputs", self.cf_inputs)
        app.router.add_get("/client/v4/accounts/{account}/stream/live_inputs/{uid}", self.cf_input)
        app.router.add_get("/client/v4/accounts/{account}/stream/live_inputs/{uid}/videos", self.cf_videos)
        app.router.add_post("/client/v4/graphql", self.cf_graphql)
        app.router.add_get("/cf-customer/{uid}/views", self.cf_views)
        app.router.add_post("/ivs/{operation}", self.ivs)
        app.router.add_post("/cloudwatch", self.cloudwatch)
        app.router.add_post("/cloudwatch/", self.cloudwatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1]) if sockets else self._port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- faults and credentials --------------------------------------------------------------------

    @web.middleware
    async def _faults(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        self.requests.append(f"{request.method} {request.path}")
        for fault in self.faults:
            if fault.times > 0 and request.path.startswith(fault.prefix):
                fault.times -= 1
                if fault.delay_s:
                    await asyncio.sleep(fault.delay_s)
                if fault.status:
                    return web.json_response(fault.body or {"message": "fault"}, status=fault.status,
                                             headers=fault.headers)  # fmt: skip
                break
        response: web.StreamResponse = await handler(request)
        return response

    def _agora_ok(self, request: web.Request) -> web.Response | None:
        expected = base64.b64encode(f"{AGORA_CUSTOMER_ID}:{self.agora_secret}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response({"message": "Invalid authentication credentials"}, status=401)
        if request.match_info.get("app") != AGORA_APP_ID:
            return web.json_response({"message": "invalid appid"}, status=400)
        return None

    def _cf_ok(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.cf_token}":
            return web.json_response(
                {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}],
                 "messages": [], "result": None}, status=403)  # fmt: skip
        if "account" in request.match_info and request.match_info["account"] != CF_ACCOUNT:
            return web.json_response({"success": False, "errors": [{"code": 7003, "message": "Could not route"}],
                                      "messages": [], "result": None}, status=404)  # fmt: skip
        return None

    @staticmethod
    def _aws_ok(request: web.Request) -> web.Response | None:
        if f"Credential={AWS_ACCESS_KEY_ID}/" not in request.headers.get("Authorization", ""):
            return web.json_response({"exceptionMessage": "The security token included in the request is invalid."},
                                     status=403, headers={"x-amzn-ErrorType": "UnrecognizedClientException"})  # fmt: skip
        return None

    def _now(self) -> tuple[int, ProviderState]:
        now = int(self.clock())
        return now, self.state(now)

    # -- Agora -------------------------------------------------------------------------------------

    async def agora_channels(self, request: web.Request) -> web.Response:
        if (refused := self._agora_ok(request)) is not None:
            return refused
        page_no = int(request.query.get("page_no", "0"))
        page_size = int(request.query.get("page_size", "100"))
        channels = self._now()[1].agora_channels
        page = channels[page_no * page_size : (page_no + 1) * page_size]
        listed = [{"channel_name": c.name, "user_count": len(c.hosts) + c.audience_total} for c in page]
        return web.json_response({"success": True, "data": {"channels": listed, "total_size": len(channels)}})

    async def agora_users(self, request: web.Request) -> web.Response:
        if (refused := self._agora_ok(request)) is not None:
            return refused
        found = next(
            (c for c in self._now()[1].agora_channels if c.name == request.match_info["channel"]), None
        )
        if found is None:
            return web.json_response({"success": True, "data": {"channel_exist": False}})
        if found.mode == 1:
            data: dict[str, Any] = {
                "channel_exist": True,
                "mode": 1,
                "total": len(found.hosts),
                "users": found.hosts,
            }
        else:
            audience = [1_000_000 + i for i in range(min(found.audience_total, 10_000))]
            data = {"channel_exist": True, "mode": 2, "broadcasters": found.hosts, "audience": audience,
                    "audience_total": found.audience_total}  # fmt: skip
        return web.json_response({"success": True, "data": data})

    async def agora_converters(self, request: web.Request) -> web.Response:
        if (refused := self._agora_ok(request)) is not None:
            return refused
        start = int(request.query.get("cursor", "0"))
        converters = self._now()[1].converters
        page = converters[start : start + CONVERTER_PAGE]
        cursor = start + CONVERTER_PAGE if start + CONVERTER_PAGE < len(converters) else 0
        members = [
            {"rtcChannel": c.channel, "status": "200", "converterName": c.name, "updateTs": str(c.update_ts),
             "appId": AGORA_APP_ID, "rtmpUrl": c.rtmp_url, "ip": "127.0.0.1", "converterId": c.converter_id,
             "create": str(c.update_ts - 60), "idleTimeout": "120", "state": c.state}
            for c in page
        ]  # fmt: skip
        return web.json_response(
            {"success": True, "data": {"total_count": len(converters), "cursor": cursor, "members": members}}
        )

    async def agora_recording(self, request: web.Request) -> web.Response:
        if (refused := self._agora_ok(request)) is not None:
            return refused
        now, state = self._now()
        found = next((r for r in state.recordings if r.sid == request.match_info["sid"]), None)
        if found is None or found.status is None or found.resource_id != request.match_info["rid"]:
            return web.json_response({"code": 404, "reason": "failed to find worker"}, status=404)
        server = {"fileListMode": "string", "fileList": f"{found.sid}_{found.channel}.m3u8", "status": found.status,
                  "sliceStartTime": (now - 600) * 1000}  # fmt: skip
        return web.json_response({"resourceId": found.resource_id, "sid": found.sid, "cname": found.channel,
                                  "uid": "527841", "serverResponse": server})  # fmt: skip

    # -- Cloudflare Stream -----------------------------------------------------------------------

    @staticmethod
    def _cf(result: Any) -> web.Response:
        return web.json_response({"success": True, "errors": [], "messages": [], "result": result})

    def _input(self, request: web.Request) -> tuple[int, LiveInput | None]:
        now, state = self._now()
        return now, next((i for i in state.live_inputs if i.uid == request.match_info["uid"]), None)

    async def cf_inputs(self, request: web.Request) -> web.Response:
        if (refused := self._cf_ok(request)) is not None:
            return refused
        inputs = self._now()[1].live_inputs
        short = [{"uid": i.uid, "meta": {"name": i.name}, "created": "2026-11-01T00:00:00Z",
                  "modified": "2026-11-01T00:00:00Z", "deleteRecordingAfterDays": 45} for i in inputs]  # fmt: skip
        return self._cf({"liveInputs": short, "range": len(short), "total": len(short)})

    async def cf_input(self, request: web.Request) -> web.Response:
        if (refused := self._cf_ok(request)) is not None:
            return refused
        _now, found = self._input(request)
        if found is None:
            return web.json_response({"success": False, "errors": [{"code": 10003, "message": "Not found"}],
                                      "messages": [], "result": None}, status=404)  # fmt: skip
        return self._cf({
            "uid": found.uid, "meta": {"name": found.name}, "enabled": found.enabled, "status": found.status,
            "created": "2026-11-01T00:00:00Z", "modified": "2026-11-01T00:00:00Z",
            "recording": {"mode": "automatic", "requireSignedURLs": False, "allowedOrigins": None,
                          "hideLiveViewerCount": False, "timeoutSeconds": 0},
            "rtmps": {"url": "rtmps://live.cloudflare.com:443/live/", "streamKey": "never-logged-key"},
        })  # fmt: skip

    async def cf_videos(self, request: web.Request) -> web.Response:
        if (refused := self._cf_ok(request)) is not None:
            return refused
        _now, found = self._input(request)
        if found is None:
            return web.json_response({"success": False, "errors": [{"code": 10003, "message": "Not found"}],
                                      "messages": [], "result": None}, status=404)  # fmt: skip
        videos = [
            {"uid": uid, "liveInput": found.uid, "status": {"state": "live-inprogress", "errorReasonCode": "",
                                                             "errorReasonText": ""},
             "meta": {"name": found.name}, "duration": -1, "readyToStream": False}
            for uid in found.videos
        ]  # fmt: skip
        return self._cf(videos)

    async def cf_views(self, request: web.Request) -> web.Response:
        _now, found = self._input(request)
        if found is None or found.live_viewers is None:
            return web.json_response({"message": "not live"}, status=404)
        return web.json_response({"liveViewers": found.live_viewers})

    async def cf_graphql(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.cf_token}":
            return web.json_response({"data": None, "errors": [{"message": "Unauthorized", "path": None,
                                                                 "extensions": {}}]}, status=401)  # fmt: skip
        body = await request.json()
        variables = body.get("variables") or {}
        if variables.get("accountTag") != CF_ACCOUNT:
            return web.json_response({"data": None, "errors": [{"message": "not authorized for that account",
                                                                 "extensions": {"code": "authz"}}]})  # fmt: skip
        after = str(variables.get("after") or "")
        minutes = sorted(
            (uid, total)
            for live_input in self._now()[1].live_inputs
            for uid, total in live_input.videos.items()
        )
        groups = [
            {"sum": {"minutesViewed": total}, "dimensions": {"uid": uid}}
            for uid, total in minutes
            if uid > after
        ]
        return web.json_response(
            {
                "data": {"viewer": {"accounts": [{"streamMinutesViewedAdaptiveGroups": groups}]}},
                "errors": None,
            }
        )

    # -- Amazon IVS and CloudWatch -----------------------------------------------------------------

    async def ivs(self, request: web.Request) -> web.Response:
        if (refused := self._aws_ok(request)) is not None:
            return refused
        operation = request.match_info["operation"]
        body = await request.json()
        channels = self._now()[1].ivs_channels
        start = int(body.get("nextToken") or 0)
        size = int(body.get("maxResults") or IVS_PAGE)
        if operation == "ListChannels":
            page = channels[start : start + size]
            listed = [{"arn": c.arn, "name": c.name, "latencyMode": "LOW", "authorized": False, "tags": c.tags,
                       "type": "STANDARD", "insecureIngest": False} for c in page]  # fmt: skip
            return self._paged("channels", listed, start + size, len(channels))
        if operation == "ListStreams":
            live = [c for c in channels if c.live]
            page = live[start : start + size]
            return self._paged("streams", [self._stream(c) for c in page], start + size, len(live))
        if operation == "GetStream":
            found = next((c for c in channels if c.arn == body.get("channelArn")), None)
            if found is None:
                return web.json_response({"exceptionMessage": "Request references a resource which does not exist."},
                                         status=404, headers={"x-amzn-ErrorType": "ResourceNotFoundException"})  # fmt: skip
            if not found.live:
                return web.json_response({"exceptionMessage": "The stream is offline for the given channel ARN."},
                                         status=404, headers={"x-amzn-ErrorType": "ChannelNotBroadcasting"})  # fmt: skip
            return web.json_response({"stream": self._stream(found)})
        return web.json_response({"exceptionMessage": "unknown operation"}, status=400,
                                 headers={"x-amzn-ErrorType": "ValidationException"})  # fmt: skip

    @staticmethod
    def _paged(key: str, items: list[dict[str, Any]], next_start: int, total: int) -> web.Response:
        page: dict[str, Any] = {key: items}
        if next_start < total:
            page["nextToken"] = str(next_start)
        return web.json_response(page)

    @staticmethod
    def _stream(channel: IvsChannel) -> dict[str, Any]:
        return {"channelArn": channel.arn, "streamId": "st-" + channel.arn.rsplit("/", 1)[-1].ljust(23, "0")[:23],
                "state": "LIVE", "health": channel.health, "viewerCount": channel.viewer_count,
                "startTime": _iso(channel.start_ts), "playbackUrl": "https://example.invalid/play.m3u8"}  # fmt: skip

    async def cloudwatch(self, request: web.Request) -> web.Response:
        if (refused := self._aws_ok(request)) is not None:
            return refused
        if request.headers.get("X-Amz-Target") != "GraniteServiceVersion20100801.GetMetricData":
            return web.json_response({"__type": "com.amazonaws.cloudwatch#InvalidAction", "message": "unsupported"},
                                     status=400)  # fmt: skip
        body = json.loads(await request.read())
        end_ts = int(float(body["EndTime"]))
        by_arn = {c.arn: c for c in self._now()[1].ivs_channels}
        results = []
        for query in body["MetricDataQueries"]:
            dims = {d["Name"]: d["Value"] for d in query["MetricStat"]["Metric"]["Dimensions"]}
            channel = by_arn.get(dims.get("Channel", ""))
            if channel is None or channel.concurrent_views is None:
                stamps: list[float] = []
                values: list[float] = []
            else:  # newest first (ScanBy defaults to TimestampDescending)
                minute = end_ts - end_ts % 60
                stamps, values = [minute - 60.0, minute - 120.0], [channel.concurrent_views, 0.0]
            results.append({"Id": query["Id"], "Label": "ConcurrentViews", "Timestamps": stamps, "Values": values,
                            "StatusCode": "Complete"})  # fmt: skip
        return web.Response(text=json.dumps({"MetricDataResults": results, "Messages": []}),
                            content_type="application/x-amz-json-1.0")  # fmt: skip


class ThreadedProviderFakes:
    """:class:`ProviderFakes` on its own event loop in a daemon thread, for synchronous callers."""

    def __init__(self, state: Callable[[int], ProviderState], **kwargs: Any) -> None:
        self.fakes = ProviderFakes(state, **kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="provider-fakes", daemon=True)

    def __enter__(self) -> ProviderFakes:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.fakes.start(), self._loop).result(timeout=30)
        return self.fakes

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        asyncio.run_coroutine_threadsafe(self.fakes.stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
