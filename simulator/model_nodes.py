"""Fallback for the demo without a Prometheus binary: node samples taken from the simulator's
model directly (clearly a stand-in: a real fleet always goes through Prometheus)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from collectors.prometheus_poller import NodeSnapshot, store_node_snapshot
from collectors.runner import TickHook
from store import schema


def model_node_hook(model: Any, source_id: int) -> TickHook:
    def hook(engine: Engine, now_ts: int) -> None:
        snapshot = model.snapshot(now_ts)
        nodes = NodeSnapshot(ts=now_ts)
        for load in snapshot.nodes.to_dict("records"):
            node_id = str(load["node_id"])
            nodes.node_types[node_id] = "SERVER"
            nodes.values[node_id] = {m: _get(load, m) for m in schema.NODE_METRICS}
        store_node_snapshot(engine, source_id, nodes)

    return hook


def _get(load: Any, name: str) -> float | None:
    value = load.get(name) if isinstance(load, dict) else getattr(load, name, None)
    if value is None:
        return None
    number = float(value)
    return None if number != number else number  # NaN: the metric had no observations
