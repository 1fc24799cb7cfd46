"""Where a rule's samples come from: the store (raw samples, older history from the 1-min
rollup) or a CSV file ``ts,target,value`` in the metric's own unit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, func, select

from analytics.alerts.backtest import KNOWN_NODE_S
from analytics.alerts.rules import Rule, RuleError, RuleSet
from analytics.alerts.spend import BUCKET_S, pricing_from_settings, spend_run_rate_frame
from store import schema
from store.queries.nodes import newest_node_samples

COLUMNS = ["ts", "target", "value"]


def empty_series() -> pd.DataFrame:
    return pd.DataFrame(
        {"ts": pd.Series(dtype="int64"), "target": pd.Series(dtype=object), "value": pd.Series(dtype=float)}
    )


def counter_to_rate(frame: pd.DataFrame) -> pd.DataFrame:
    """Raw counter samples → per-second rates between consecutive samples of each target.

    A decrease is a counter reset (a restarted process counts from zero), so the increase
    over that interval is the new value itself, as Prometheus's rate() assumes."""
    frame = frame.sort_values(["target", "ts"], kind="stable").reset_index(drop=True)
    same = frame["target"].eq(frame["target"].shift())
    delta_value = frame["value"].diff()
    delta_ts = frame["ts"].diff()
    increase = np.where(delta_value < 0, frame["value"], delta_value)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = increase / delta_ts.to_numpy(dtype=float)
    out = frame.assign(value=rate)[same & (delta_ts > 0)]
    return out.reset_index(drop=True)


def read_series_csv(path: str | Path, rule: Rule | None = None) -> pd.DataFrame:
    """A CSV with columns ts (Unix s or ISO time), target, value."""
    try:
        frame = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise RuleError(f"series file {path}: cannot read ({exc})") from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise RuleError(f"series file {path}: missing column(s) {', '.join(missing)} (need ts,target,value)")
    if frame.empty:
        return empty_series()
    if pd.api.types.is_numeric_dtype(frame["ts"]):
        ts = frame["ts"].astype("int64")
    else:
        try:
            moments = pd.to_datetime(frame["ts"], utc=True)
            # Whatever resolution pandas picked (s, us, ns): count whole seconds since the epoch.
            ts = ((moments - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).astype("int64")
        except (ValueError, TypeError) as exc:
            raise RuleError(f"series file {path}: column ts: {exc}") from None
    values = pd.to_numeric(frame["value"], errors="coerce")
    result = pd.DataFrame({"ts": ts, "target": frame["target"].astype(str), "value": values.astype(float)})
    result = result.dropna(subset=["value"])
    if rule is not None and rule.input == "counter":
        result = counter_to_rate(result)
    return result.reset_index(drop=True)


# Tiers from finest to coarsest: history older than a tier's oldest row comes from the next.
_NODE_TIERS = (
    (schema.node_samples, "ts", "", 0),
    (schema.node_samples_1m, "bucket_ts", "_avg", 60),
    (schema.node_samples_1h, "bucket_ts", "_avg", 3600),
)


def history_s(rule: Rule, ruleset: RuleSet) -> int:
    """How much history before an evaluation time its value can depend on: the lookback, a
    drop rule's window, and the longest a sample counts as present (a 1-h rollup row: its
    bucket plus the lookback; a spend bucket: two buckets). Live evaluation loads this much,
    so it sees exactly what a backtest over a longer range sees at the same time."""
    lookback = ruleset.lookback_s
    window = rule.window_s if rule.spec.derivation == "drop_pct" else 0
    validity = 2 * BUCKET_S if rule.spec.source == "spend" else 3600 + lookback
    return lookback + window + validity


def _node_frame(
    connection: Connection, rule: Rule, since_ts: int, until_ts: int, lookback_s: int
) -> pd.DataFrame:
    """Raw samples, with older history from the 1-min and then the 1-h rollup means (coarser:
    a rollup row counts as present for its whole bucket plus the lookback). For node_down,
    also each node's newest sample in the KNOWN_NODE_S before ``since_ts``: a node that went
    silent before the range is still known, whatever the range."""
    spec = rule.spec
    column = spec.source.split(".", 1)[1]
    absence = spec.derivation == "absence"
    parts: list[pd.DataFrame] = []
    if absence:
        known = newest_node_samples(connection, since_ts - KNOWN_NODE_S, since_ts)
        if known:
            prior = pd.DataFrame(known, columns=["ts", "target"]).assign(value=1.0, valid_s=lookback_s)
            parts.append(prior[[*COLUMNS, "valid_s"]])
    limit = until_ts
    for table, time_name, suffix, bucket_s in _NODE_TIERS:
        if limit < since_ts:
            break
        time_column = table.c[time_name]
        value = time_column if absence else table.c[f"{column}{suffix}"]
        query = select(time_column, table.c.node_id, value).where(
            time_column >= since_ts, time_column <= limit
        )
        if not absence:
            query = query.where(value.is_not(None))
        part = pd.DataFrame(connection.execute(query).all(), columns=COLUMNS)
        if not part.empty:
            part["valid_s"] = bucket_s + lookback_s
            parts.append(part)
        oldest = connection.execute(select(func.min(time_column))).scalar()
        if oldest is not None and int(oldest) <= since_ts:
            break  # this tier covers the whole range
        if oldest is not None:
            limit = min(limit, int(oldest) - 1)
    if not parts:
        return empty_series()
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    frame["ts"] = frame["ts"].astype("int64")
    values = frame["value"].astype(float)
    if absence:
        frame["value"] = 1.0
    elif spec.offset is not None:
        frame["value"] = spec.offset - spec.scale * values
    else:
        frame["value"] = spec.scale * values
    return frame


def _room_frame(connection: Connection, since_ts: int, until_ts: int) -> pd.DataFrame:
    samples = schema.room_samples
    sessions = schema.room_sessions
    # A stream is a room name: successive sessions of the same room form one series.
    target = func.coalesce(sessions.c.room_name, samples.c.room_sid)
    query = (
        select(samples.c.ts, target, samples.c.listeners)
        .select_from(
            samples.outerjoin(
                sessions,
                (sessions.c.source_id == samples.c.source_id) & (sessions.c.room_sid == samples.c.room_sid),
            )
        )
        .where(samples.c.ts >= since_ts, samples.c.ts <= until_ts)
    )
    frame = pd.DataFrame(connection.execute(query).all(), columns=COLUMNS)
    if frame.empty:
        return empty_series()
    frame["ts"] = frame["ts"].astype("int64")
    frame["value"] = frame["value"].astype(float)
    # Two rooms with the same name at once (or two sources): their listeners add up.
    summed: pd.DataFrame = frame.groupby(["ts", "target"], as_index=False).agg(value=("value", "sum"))
    return summed


def load_store_series(
    engine: Engine | Connection, rule: Rule, since_ts: int, until_ts: int, lookback_s: int = 60
) -> pd.DataFrame:
    """The samples ``rule`` needs between ``since_ts`` and ``until_ts`` (metric units);
    rollup rows carry ``valid_s``, how long each counts as present."""
    if isinstance(engine, Connection):
        return _load(engine, rule, since_ts, until_ts, lookback_s)
    with engine.connect() as connection:
        return _load(connection, rule, since_ts, until_ts, lookback_s)


def _load(connection: Connection, rule: Rule, since_ts: int, until_ts: int, lookback_s: int) -> pd.DataFrame:
    source = rule.spec.source
    if source.startswith("node_samples."):
        return _node_frame(connection, rule, since_ts, until_ts, lookback_s)
    if source == "room_samples.listeners":
        return _room_frame(connection, since_ts, until_ts)
    if source == "spend":
        assert rule.budget_usd_per_month is not None  # validated
        # Priced as the settings say: [prices] current_model with [prices.overrides].
        pricing = pricing_from_settings()
        return spend_run_rate_frame(
            connection,
            since_ts,
            until_ts,
            rule.budget_usd_per_month,
            rule.usd_per_gb_out,
            catalogue=pricing.catalogue,
            model_id=pricing.model_id,
            region=pricing.region,
        )
    raise ValueError(f"unknown source {source!r}")
