"""Run the simulated fleet: one Twirp API port and one metrics port per node.

In-process use (the lead's ``collectors demo``, tests)::

    server = FleetServer(FleetModel("platform-500"), api_port=0, metrics_port=0)
    await server.start()            # binds; ports 0 pick free ports
    server.api_url, server.metrics_urls, server.node_exporter_targets
    server.scrape_configs()         # Prometheus scrape_configs for both (node_exporter labelled by node_id)
    await server.stop()

or ``await serve(model, host, api_port, metrics_port, api_key, api_secret, speed, no_redis)``
(runs until cancelled), or from synchronous code ``ThreadedFleetServer(...)`` (context manager).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from types import TracebackType

from aiohttp import web

from core.logs import register_secret
from simulator.clock import LiveFleet
from simulator.metrics import (
    CONTENT_TYPE,
    FleetMetrics,
    HostCollector,
    NodeCollector,
    node_registries,
    render,
)
from simulator.model import FleetModel
from simulator.twirp import TwirpApi

log = logging.getLogger(__name__)

DEV_API_KEY = "devkey"  # livekit-server --dev's key pair
DEV_API_SECRET = "secret"


class FleetServer:
    def __init__(
        self,
        model: FleetModel,
        host: str = "127.0.0.1",
        api_port: int = 7880,
        metrics_port: int = 6789,
        api_key: str = DEV_API_KEY,
        api_secret: str = DEV_API_SECRET,
        speed: float = 1.0,
        no_redis: bool = False,
        sim_start: float | None = None,
        node_exporter_port: int = 0,
    ) -> None:
        register_secret(api_secret)
        self.model = model
        self.host = host
        self._api_port = api_port
        self._metrics_port = metrics_port
        # node i's node_exporter listens on node_exporter_port + i (0: free ports).
        self._node_exporter_port = node_exporter_port
        # sim_start: the model time shown at startup (default: now).
        self.fleet = LiveFleet(model, speed, sim_start=sim_start)
        self.metrics = FleetMetrics(self.fleet)
        self.api = TwirpApi(
            self.fleet,
            {api_key: api_secret},
            no_redis=no_redis,
            observer=self.metrics.record_request,
            rtmp_host=host,
        )
        self._runners: list[web.AppRunner] = []
        self.api_port = 0
        self.metrics_ports: list[int] = []
        self.node_exporter_ports: list[int] = []

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def metrics_urls(self) -> list[str]:
        return [f"http://{self.host}:{port}/metrics" for port in self.metrics_ports]

    @property
    def metrics_targets(self) -> list[str]:
        """``host:port`` per node, for a Prometheus scrape config."""
        return [f"{self.host}:{port}" for port in self.metrics_ports]

    @property
    def node_exporter_targets(self) -> list[str]:
        """``host:port`` of each node's node_exporter, in node order."""
        return [f"{self.host}:{port}" for port in self.node_exporter_ports]

    def scrape_configs(self, livekit_job: str = "livekit") -> list[dict[str, object]]:
        """Prometheus ``scrape_configs`` for the fleet: the LiveKit nodes, and node_exporter with
        each target labelled ``node_id`` (the nodes share one host here, so the collector joins
        host metrics to a node by that label rather than by host)."""
        return [
            {"job_name": livekit_job, "static_configs": [{"targets": self.metrics_targets}]},
            {
                "job_name": "node",
                "static_configs": [
                    {"targets": [target], "labels": {"node_id": node_id}}
                    for node_id, target in zip(self.model.node_ids, self.node_exporter_targets, strict=True)
                ],
            },
        ]

    async def _bind(self, app: web.Application, port: int) -> int:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, port)
        await site.start()
        self._runners.append(runner)
        sockets = getattr(site._server, "sockets", None) or []  # the bound port when port == 0
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def _serve_registries(self, registries: Sequence[object], first_port: int) -> list[int]:
        """One HTTP port per registry, any path answering its exposition (like promhttp)."""
        ports = []
        for node, registry in enumerate(registries):

            async def handler(_request: web.Request, registry: object = registry) -> web.Response:
                return web.Response(body=render(registry), headers={"Content-Type": CONTENT_TYPE})  # type: ignore[arg-type]

            app = web.Application()
            app.router.add_route("GET", "/{tail:.*}", handler)
            ports.append(await self._bind(app, 0 if first_port == 0 else first_port + node))
        return ports

    async def start(self) -> None:
        # Build the current day plans now rather than on the first request or scrape.
        self.fleet.snapshot()
        self.metrics.advance()
        self.api_port = await self._bind(self.api.app(), self._api_port)
        self.metrics_ports = await self._serve_registries(
            node_registries(self.metrics, NodeCollector), self._metrics_port
        )
        self.node_exporter_ports = await self._serve_registries(
            node_registries(self.metrics, HostCollector), self._node_exporter_port
        )
        log.info(
            "simulator %s: %d nodes, API %s, metrics %s, speed x%g",
            self.model.scenario, self.model.n_nodes, self.api_url, ", ".join(self.metrics_targets), self.fleet.speed,
        )  # fmt: skip

    async def stop(self) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()


async def serve(
    model: FleetModel,
    host: str = "127.0.0.1",
    api_port: int = 7880,
    metrics_port: int = 6789,
    api_key: str = DEV_API_KEY,
    api_secret: str = DEV_API_SECRET,
    speed: float = 1.0,
    no_redis: bool = False,
    ready: asyncio.Event | None = None,
) -> None:
    """Serve until cancelled."""
    server = FleetServer(model, host, api_port, metrics_port, api_key, api_secret, speed, no_redis)
    await server.start()
    if ready is not None:
        ready.set()
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


class ThreadedFleetServer:
    """A ``FleetServer`` on its own event loop in a daemon thread: for synchronous callers
    (``start``/``stop``), and for asynchronous ones whose own loop may be busy (``start_async``/
    ``stop_async``, the demo). A scrape answered late carries counters integrated to the answer
    while Prometheus stamps the request, so a blocked loop would make rate() under-read; on its
    own thread the fleet answers at once whatever the collectors' loop is doing."""

    def __init__(self, model: FleetModel, **kwargs: object) -> None:
        self.server = FleetServer(model, **kwargs)  # type: ignore[arg-type]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fleet-simulator", daemon=True)

    def start(self) -> FleetServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(timeout=30)
        return self.server

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def start_async(self) -> FleetServer:
        """``start`` awaited from another loop; no timed waits (they hang under libfaketime)."""
        self._thread.start()
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.server.start(), self._loop))
        return self.server

    async def stop_async(self) -> None:
        if not self._thread.is_alive():
            return
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop))
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join)
        self._loop.close()

    def __enter__(self) -> FleetServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
