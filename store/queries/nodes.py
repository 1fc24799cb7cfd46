"""Node samples: the Nodes page (inventory, newest sample, peaks, one node's series) and node
load per bucket for the capacity model's calibration and headroom forecast."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Table, func, select

from core.units import DAY_S
from store import schema
from store.queries.bind import Bind, connected, read_frame
from store.queries.fleet import live_node_samples
from store.queries.results import NodeState
from store.queries.sources import newest_sample_ts
from store.queries.tiers import Tier, node_tier_columns, pick_tier, step

NODE_LOAD_COLUMNS = (
    "cpu_pct", "tracks_subscribed", "tracks_published", "rooms", "participants", "memory_bytes", "bytes_out_per_s",
)  # fmt: skip
MINUTE_TIER_MAX_S = 2 * DAY_S


def node_state(bind: Bind, start_ts: int, end_ts: int, source_id: int | None = None) -> NodeState:
    """Every node seen in the window, its newest sample (if it is up) and its peak CPU over
    the window (analytics.monitoring.nodes_table derives the page's columns)."""
    metrics = tuple(schema.NODE_METRICS)
    n = schema.nodes.c
    inventory_query = select(n.source_id, n.node_id, n.last_seen_ts).where(n.last_seen_ts >= start_ts)
    if source_id is not None:
        inventory_query = inventory_query.where(n.source_id == source_id)
    with connected(bind) as connection:
        inventory = read_frame(connection, inventory_query)
        as_of_ts = newest_sample_ts(connection, source_id, until_ts=end_ts)
        if as_of_ts is not None:
            live = live_node_samples(as_of_ts, source_id)
            latest = read_frame(
                connection, select(live.c.source_id, live.c.node_id, live.c.ts, *(live.c[m] for m in metrics))
            )
        else:
            latest = pd.DataFrame(columns=["source_id", "node_id", "ts", *metrics])
        peaks = _node_peaks(connection, pick_tier(start_ts, end_ts), start_ts, end_ts, source_id)
    return NodeState(inventory=inventory, latest=latest, peaks=peaks, metrics=metrics)


def _node_peaks(bind: Bind, tier: Tier, start_ts: int, end_ts: int, source_id: int | None) -> pd.DataFrame:
    table, time_col, columns = node_tier_columns(tier)
    tc = table.c
    query = select(tc.source_id, tc.node_id, func.max(columns["cpu_pct"][1]).label("cpu_peak_pct")).where(
        time_col >= start_ts, time_col < end_ts
    )
    if source_id is not None:
        query = query.where(tc.source_id == source_id)
    return read_frame(bind, query.group_by(tc.source_id, tc.node_id))


def node_series(bind: Bind, source_id: int, node_id: str, start_ts: int, end_ts: int) -> pd.DataFrame:
    """One node over time: bucket_ts, every metric's average per bucket, and cpu_pct_max."""
    tier = pick_tier(start_ts, end_ts)
    table, time_col, columns = node_tier_columns(tier)
    tc = table.c
    bucket = time_col - time_col % step(tier)
    query = (
        select(
            bucket.label("bucket_ts"),
            *(func.avg(average).label(metric) for metric, (average, _peak) in columns.items()),
            func.max(columns["cpu_pct"][1]).label("cpu_pct_max"),
        )
        .where(tc.source_id == source_id, tc.node_id == node_id, time_col >= start_ts, time_col < end_ts)
        .group_by(bucket)
        .order_by(bucket)
    )
    return read_frame(bind, query)


def node_load(bind: Bind, since_ts: int, until_ts: int, source_id: int | None = None) -> pd.DataFrame:
    """Node load per bucket (hourly averages beyond two days, else 1-minute; raw samples when
    no rollup exists yet): source_id, node_id (``source:node``), bucket_ts, and
    :data:`NODE_LOAD_COLUMNS`."""
    tiers: list[tuple[Table, str]] = []
    if until_ts - since_ts > MINUTE_TIER_MAX_S:
        tiers.append((schema.node_samples_1h, "bucket_ts"))
    tiers += [(schema.node_samples_1m, "bucket_ts"), (schema.node_samples, "ts")]
    names = ["source_id", "node_id", "bucket_ts", *NODE_LOAD_COLUMNS]
    with connected(bind) as connection:
        for table, ts_name in tiers:
            ts = table.c[ts_name]
            columns = [table.c.source_id, table.c.node_id, ts.label("bucket_ts")]
            for name in NODE_LOAD_COLUMNS:
                columns.append((table.c[name] if ts_name == "ts" else table.c[f"{name}_avg"]).label(name))
            query = select(*columns).where(ts >= since_ts, ts < until_ts)
            if source_id is not None:
                query = query.where(table.c.source_id == source_id)
            frame = read_frame(connection, query.order_by(ts), names)
            if not frame.empty:
                for name in NODE_LOAD_COLUMNS:
                    frame[name] = pd.to_numeric(frame[name], errors="coerce")
                frame["node_id"] = frame["source_id"].astype(str) + ":" + frame["node_id"].astype(str)
                return frame
    return pd.DataFrame(columns=names)


def newest_node_samples(bind: Bind, since_ts: int, before_ts: int) -> list[tuple[int, str]]:
    """Per node, its newest raw sample time in ``[since_ts, before_ts)``: ``(ts, node_id)``."""
    n = schema.node_samples.c
    query = select(func.max(n.ts), n.node_id).where(n.ts >= since_ts, n.ts < before_ts).group_by(n.node_id)
    with connected(bind) as connection:
        return [(int(ts), str(node_id)) for ts, node_id in connection.execute(query)]
