"""Prometheus poller on ``prometheus-api-client``: one node sample per LiveKit node per tick."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from sqlalchemy import Engine

from collectors.promql import NODE_INVENTORY, host_queries, node_queries
from core.settings import PrometheusSource
from store import schema
from store.upsert import upsert

log = logging.getLogger(__name__)


@dataclass
class NodeSnapshot:
    ts: int
    # node_id -> column -> value
    values: dict[str, dict[str, float | None]] = field(default_factory=dict)
    node_types: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def row_count(self) -> int:
        return len(self.values)


def _host(instance: str) -> str:
    return instance.rsplit(":", 1)[0] if ":" in instance else instance


def _number(raw: Any) -> float | None:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class PrometheusPoller:
    def __init__(self, source: PrometheusSource, *, timeout_s: float = 10.0) -> None:
        self.source = source
        self.timeout_s = timeout_s
        self._session = requests.Session()
        self.client = PrometheusConnect(
            url=source.url, disable_ssl=False, session=self._session, timeout=int(max(1, timeout_s))
        )

    def _query(self, promql: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.client.custom_query(promql)
        return result

    def poll(self, now_ts: int) -> NodeSnapshot:
        """One snapshot. Raises when Prometheus cannot be reached at all; a single failing
        query only leaves that metric empty (a warning)."""
        snapshot = NodeSnapshot(ts=now_ts)
        inventory = self._query(NODE_INVENTORY)  # connection errors propagate: the source is down
        instance_of: dict[str, str] = {}
        for series in inventory:
            labels = series.get("metric", {})
            node_id = labels.get("node_id")
            if not node_id:
                continue
            snapshot.node_types[node_id] = labels.get("node_type", "SERVER")
            instance_of[node_id] = labels.get("instance", "")
            snapshot.values.setdefault(node_id, {})
        if not snapshot.node_types:
            snapshot.warnings.append("no livekit_* series found: is Prometheus scraping the LiveKit nodes?")
            return snapshot
        for column, promql in node_queries(self.source.rate_window).items():
            for series in self._safe_query(column, promql, snapshot):
                node_id = series.get("metric", {}).get("node_id")
                if node_id in snapshot.values:
                    snapshot.values[node_id][column] = _number(series.get("value", [None, None])[1])
        self._add_host_metrics(snapshot, instance_of)
        for values in snapshot.values.values():
            self._derive_cpu(values)
        return snapshot

    def _safe_query(self, column: str, promql: str, snapshot: NodeSnapshot) -> list[dict[str, Any]]:
        try:
            return self._query(promql)
        except (PrometheusApiClientException, ValueError, KeyError) as exc:
            snapshot.warnings.append(f"{column}: {exc}")
            return []

    def _add_host_metrics(self, snapshot: NodeSnapshot, instance_of: dict[str, str]) -> None:
        """node_exporter runs beside each LiveKit node on another port. A target labelled
        ``node_id`` (in the scrape config) belongs to that node; otherwise join on the host,
        but only where a host holds exactly one LiveKit node."""
        nodes_by_host: dict[str, list[str]] = {}
        for node_id, instance in instance_of.items():
            nodes_by_host.setdefault(_host(instance), []).append(node_id)
        for column, promql in host_queries(self.source.rate_window).items():
            for series in self._safe_query(column, promql, snapshot):
                labels = series.get("metric", {})
                labelled = labels.get("node_id")
                if labelled:
                    nodes = [labelled] if labelled in snapshot.values else []
                else:
                    nodes = nodes_by_host.get(_host(labels.get("instance", "")), [])
                if len(nodes) == 1:
                    snapshot.values[nodes[0]][column] = _number(series.get("value", [None, None])[1])

    def _derive_cpu(self, values: dict[str, float | None]) -> None:
        host_cpu = values.pop("host_cpu_busy_pct", None)
        host_memory = values.pop("host_memory_used_pct", None)
        used = values.pop("cpu_cores_used", None)
        available = values.pop("cpu_cores_available", None) or self.source.node_cpu_cores
        if host_cpu is not None:
            values["cpu_pct"] = host_cpu
        elif used is not None and available:
            values["cpu_pct"] = 100.0 * used / available
        memory = values.get("memory_bytes")
        if host_memory is not None:
            values["memory_pct"] = host_memory
        elif memory is not None and self.source.node_memory_bytes:
            values["memory_pct"] = 100.0 * memory / self.source.node_memory_bytes


def store_node_snapshot(engine: Engine, source_id: int, snapshot: NodeSnapshot) -> int:
    """Write node inventory and samples (idempotent on (source, node, ts))."""
    if not snapshot.values:
        return 0
    rows = []
    for node_id, values in snapshot.values.items():
        row: dict[str, Any] = {"source_id": source_id, "node_id": node_id, "ts": snapshot.ts}
        for metric in schema.NODE_METRICS:
            row[metric] = values.get(metric)
        rows.append(row)
    inventory = [
        {
            "source_id": source_id,
            "node_id": node_id,
            "node_type": node_type,
            "first_seen_ts": snapshot.ts,
            "last_seen_ts": snapshot.ts,
        }
        for node_id, node_type in snapshot.node_types.items()
    ]
    with engine.begin() as connection:
        upsert(connection, schema.nodes, inventory, update=["node_type", "last_seen_ts"])
        upsert(connection, schema.node_samples, rows)
    return len(rows)
