"""LiveKit node metrics as a source: a Prometheus server that scrapes the nodes (and their
node_exporters), read by collectors/prometheus_poller.py, one node sample per node per poll."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from sqlalchemy import Engine

from collectors.pollers.base import ConfiguredPoller, describe_exception
from collectors.prometheus_poller import NodeSnapshot, PrometheusPoller, store_node_snapshot
from core.settings import CollectorSettings, PrometheusSource


class PrometheusNodePoller(ConfiguredPoller[PrometheusSource]):
    kind = "prometheus"
    spool_kind = "nodes"
    snapshot_type = NodeSnapshot
    # Each query is bounded by the HTTP timeout (requests); the client runs in a worker thread.
    poll_timeout_s: float | None = None

    def __init__(self, source: PrometheusSource, collectors: CollectorSettings) -> None:
        super().__init__(source, collectors)
        self.client = PrometheusPoller(source, timeout_s=collectors.http_timeout_s)
        self._engine: Engine | None = None
        self._source_id = 0

    def bind(self, engine: Engine, source_id: int) -> None:
        self._engine, self._source_id = engine, source_id

    async def poll(self, now_ts: int) -> NodeSnapshot:
        return await asyncio.to_thread(self.client.poll, now_ts)

    def write(self, snapshot: NodeSnapshot) -> Mapping[str, int]:
        assert self._engine is not None, "bind() first"
        return {"nodes": store_node_snapshot(self._engine, self._source_id, snapshot)}

    def describe_error(self, exc: BaseException) -> str:
        return describe_exception(exc)
