"""Spend run-rate for the budget rule, isolated here so the cost engine can replace it.

``analytics/costs.py`` (the cost engine) was not available when this was written, so the
run-rate is derived from what the store has for certain: the fleet's outgoing bytes, priced at
the rule's ``usd_per_gb_out`` (default 0.12 USD/GB, LiveKit Cloud's downstream overage), as a
trailing-24 h average projected to a 730-hour month. It is a *bandwidth* run-rate: servers,
participant-minutes and plan fees are not in it. Replacing :func:`spend_run_rate_frame` with a
call into the cost engine is the only change needed when that exists.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, func, select

from store import schema

HOURS_PER_MONTH = 730
_TRAILING_S = 86_400
_BUCKET_S = 300
RUN_RATE_NOTE = (
    "spend run-rate = trailing 24 h outgoing bandwidth × usd_per_gb_out, projected to a month "
    "(cost engine not integrated yet)"
)


def spend_run_rate_frame(
    connection: Connection, since_ts: int, until_ts: int, budget_usd_per_month: float, usd_per_gb_out: float
) -> pd.DataFrame:
    """``ts,target,value`` with value = projected monthly spend as % of the budget (target "fleet")."""
    node = schema.node_samples
    bucket = (node.c.ts - node.c.ts % _BUCKET_S).label("bucket_ts")
    # Per node mean over the bucket, summed over nodes: the fleet's bytes/s in that bucket.
    per_node = (
        select(bucket, node.c.node_id, func.avg(node.c.bytes_out_per_s).label("bytes_per_s"))
        .where(
            node.c.ts >= since_ts - _TRAILING_S, node.c.ts <= until_ts, node.c.bytes_out_per_s.is_not(None)
        )
        .group_by(bucket, node.c.node_id)
        .subquery()
    )
    query = (
        select(per_node.c.bucket_ts, func.sum(per_node.c.bytes_per_s).label("bytes_per_s"))
        .group_by(per_node.c.bucket_ts)
        .order_by(per_node.c.bucket_ts)
    )
    rows = pd.DataFrame(connection.execute(query).all(), columns=["ts", "bytes_per_s"])
    if rows.empty:
        return pd.DataFrame({"ts": pd.Series(dtype="int64"), "target": [], "value": pd.Series(dtype=float)})
    rows["ts"] = rows["ts"].astype("int64")
    series = rows.set_index(pd.to_datetime(rows["ts"], unit="s"))["bytes_per_s"].astype(float)
    trailing = series.rolling(f"{_TRAILING_S}s", min_periods=1).mean()
    usd_per_month = trailing * 3600 * HOURS_PER_MONTH / 1e9 * usd_per_gb_out
    frame = pd.DataFrame(
        {
            "ts": rows["ts"].to_numpy(),
            "target": "fleet",
            "value": 100.0 * usd_per_month.to_numpy() / budget_usd_per_month,
        }
    )
    # Stamp each bucket at its end so a sample is never used before it happened.
    frame["ts"] = frame["ts"] + _BUCKET_S - 1
    frame["valid_s"] = 2 * _BUCKET_S  # present until the next bucket is due, with slack
    return frame[(frame["ts"] >= since_ts) & (frame["ts"] <= until_ts + _BUCKET_S)].reset_index(drop=True)
