"""Where a rule's samples come from: the store (raw samples, older history from the 1-min
rollup, read by store.queries.alert_series) or a CSV file ``ts,target,value`` in the metric's
own unit."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from analytics.alerts.backtest import KNOWN_NODE_S
from analytics.alerts.rules import Rule, RuleError, RuleSet
from analytics.alerts.spend import BUCKET_S, SpendReader, pricing_from_settings, spend_run_rate_frame

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


def history_s(rule: Rule, ruleset: RuleSet) -> int:
    """How much history before an evaluation time its value can depend on: the lookback, a
    drop rule's window, and the longest a sample counts as present (a 1-h rollup row: its
    bucket plus the lookback; a spend bucket: two buckets). Live evaluation loads this much,
    so it sees exactly what a backtest over a longer range sees at the same time."""
    lookback = ruleset.lookback_s
    window = rule.window_s if rule.spec.derivation == "drop_pct" else 0
    validity = 2 * BUCKET_S if rule.spec.source == "spend" else 3600 + lookback
    return lookback + window + validity


class SeriesReader(SpendReader, Protocol):
    """What the store gives a rule's series (store.queries.alert_series.StoreSeries)."""

    def node_samples(
        self, column: str, since_ts: int, until_ts: int, *, absence: bool, known_since_ts: int | None
    ) -> list[pd.DataFrame]:
        """``ts, target, value, bucket_s`` parts (raw, then 1-min and 1-h rollup means)."""
        ...

    def room_listener_samples(self, since_ts: int, until_ts: int) -> pd.DataFrame:
        """``ts, target, value``: every room sample's listeners, by room name."""
        ...

    def hls_error_samples(self, since_ts: int, until_ts: int) -> pd.DataFrame:
        """``ts, target, requests, errors_5xx``: every HLS audience sample that counted
        requests, by channel."""
        ...

    def relay_health_samples(self, since_ts: int, until_ts: int) -> pd.DataFrame:
        """``ts, target, health``: every relay sample, the target ``channel/kind``."""
        ...


def node_series(parts: Sequence[pd.DataFrame], rule: Rule, lookback_s: int) -> pd.DataFrame:
    """A node rule's series from the samples read (raw, with older history from the 1-min and
    then the 1-h rollup means): a rollup row counts as present for its whole bucket plus the
    lookback. For node_down, the value is 1 at every sample (presence)."""
    spec = rule.spec
    parts = [part for part in parts if not part.empty]
    if not parts:
        return empty_series()
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].copy()
    frame["valid_s"] = frame.pop("bucket_s").astype("int64") + lookback_s
    frame["ts"] = frame["ts"].astype("int64")
    values = frame["value"].astype(float)
    if spec.derivation == "absence":
        frame["value"] = 1.0
    elif spec.offset is not None:
        frame["value"] = spec.offset - spec.scale * values
    else:
        frame["value"] = spec.scale * values
    return frame


def room_listener_series(samples: pd.DataFrame) -> pd.DataFrame:
    """Listeners per room name and sample time: two rooms with the same name at once (or two
    sources) add up."""
    if samples.empty:
        return empty_series()
    frame = samples.assign(ts=samples["ts"].astype("int64"), value=samples["value"].astype(float))
    summed: pd.DataFrame = frame.groupby(["ts", "target"], as_index=False).agg(value=("value", "sum"))
    return summed


# A polled state (a relay's health, an HLS bucket's error share) holds until its target's next
# report: at least the default lookback, at most this long (a poller every 2 minutes, as the
# demo's backfilled history; store.queries.audience.AUDIENCE_STALE_S).
POLLED_VALID_MIN_S = 60
POLLED_VALID_MAX_S = 120


def until_next_report(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (ts, target, value) with ``valid_s``: the seconds to the same target's next
    sample, within [POLLED_VALID_MIN_S, POLLED_VALID_MAX_S] (the last one: the minimum)."""
    ordered = frame.sort_values(["target", "ts"], kind="stable")
    following = ordered.groupby("target", sort=False)["ts"].shift(-1)
    gaps = (following - ordered["ts"]).fillna(POLLED_VALID_MIN_S)
    return ordered.assign(
        valid_s=gaps.clip(POLLED_VALID_MIN_S, POLLED_VALID_MAX_S).astype("int64")
    ).reset_index(drop=True)


def hls_5xx_series(samples: pd.DataFrame) -> pd.DataFrame:
    """The 5xx share of each channel's HLS requests (%) per sample time; sources of the same
    channel at the same time add up before the share is taken."""
    if samples.empty:
        return empty_series()
    frame = samples.assign(
        ts=samples["ts"].astype("int64"),
        requests=samples["requests"].astype(float),
        errors_5xx=samples["errors_5xx"].fillna(0).astype(float),
    )
    summed = frame.groupby(["ts", "target"], as_index=False)[["requests", "errors_5xx"]].sum()
    summed = summed[summed["requests"] > 0]
    return until_next_report(
        pd.DataFrame(
            {
                "ts": summed["ts"].astype("int64"),
                "target": summed["target"].astype(str),
                "value": 100.0 * summed["errors_5xx"] / summed["requests"],
            }
        )
    )


def relay_down_series(samples: pd.DataFrame) -> pd.DataFrame:
    """1 where a relay reported itself down, 0 for any other state, per relay and report (each
    holding until the next report: :func:`until_next_report`)."""
    if samples.empty:
        return empty_series()
    return until_next_report(
        pd.DataFrame(
            {
                "ts": samples["ts"].astype("int64"),
                "target": samples["target"].astype(str),
                "value": (samples["health"].astype(str) == "down").astype(float),
            }
        )
    )


def load_store_series(
    reader: SeriesReader, rule: Rule, since_ts: int, until_ts: int, lookback_s: int = 60
) -> pd.DataFrame:
    """The samples ``rule`` needs between ``since_ts`` and ``until_ts`` (metric units), read
    through ``reader`` (store.queries.alert_series.series_reader); rollup rows carry
    ``valid_s``, how long each counts as present."""
    source = rule.spec.source
    if source.startswith("node_samples."):
        absence = rule.spec.derivation == "absence"
        # For node_down, also each node's newest sample in the KNOWN_NODE_S before since_ts: a
        # node that went silent before the range is still known, whatever the range.
        parts = reader.node_samples(
            source.split(".", 1)[1],
            since_ts,
            until_ts,
            absence=absence,
            known_since_ts=since_ts - KNOWN_NODE_S if absence else None,
        )
        return node_series(parts, rule, lookback_s)
    if source == "room_samples.listeners":
        return room_listener_series(reader.room_listener_samples(since_ts, until_ts))
    if source == "audience_samples.hls_5xx_pct":
        return hls_5xx_series(reader.hls_error_samples(since_ts, until_ts))
    if source == "relay_samples.down":
        return relay_down_series(reader.relay_health_samples(since_ts, until_ts))
    if source == "spend":
        assert rule.budget_usd_per_month is not None  # validated
        # Priced as the settings say: [prices] current_model with [prices.overrides].
        pricing = pricing_from_settings()
        return spend_run_rate_frame(
            reader,
            since_ts,
            until_ts,
            rule.budget_usd_per_month,
            rule.usd_per_gb_out,
            catalogue=pricing.catalogue,
            model_id=pricing.model_id,
            region=pricing.region,
        )
    raise ValueError(f"unknown source {source!r}")
