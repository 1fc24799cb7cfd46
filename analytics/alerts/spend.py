"""Spend run-rate for the budget rule (``spend_run_rate_pct``), priced by the cost engine.

For every 5-min bucket, the fleet's trailing-24 h usage — average concurrent rooms (streams),
listeners and publishers per room, and the audio bitrate the nodes' outgoing bytes imply — is
turned into one steady scenario row (24 h a day, 30.42 days a month) and all buckets are priced
in one vectorized call under the model the fleet runs on (``[prices] current_model``, with
``[prices.overrides]``). So the run-rate holds whatever that model charges: plan fees,
participant-minutes, data, servers.

Only when the price catalogue cannot be loaded does it fall back to the old bandwidth run-rate
(trailing-24 h outgoing bytes × the rule's ``usd_per_gb_out``, projected to a 730-hour month);
the frame's ``attrs["spend_method"]`` says which one was used.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from analytics.costs import MODELS, price_usage, usage_from_scenario_frame
from analytics.ledger import REGIONS, Scenario
from analytics.prices import Catalogue, CatalogueError, load_catalogue, price_overrides
from core.settings import ConfigError, load_settings

HOURS_PER_MONTH = 730  # the bandwidth fallback's month
HOURS_PER_DAY = 24.0  # usage is an average over all hours, idle ones included
DAYS_PER_MONTH = 30.42  # 365 / 12, so a run-rate month matches a 730-hour month
DEFAULT_MODEL_ID = "livekit_cloud"
DEFAULT_REGION = "eu"
# The scenario default (128 kbps) when no node bytes say otherwise (e.g. LiveKit Cloud has no nodes).
DEFAULT_AUDIO_KBPS = float(Scenario.model_fields["audio_kbps"].default)
_TRAILING_S = 86_400
BUCKET_S = 300

METHOD_COST_ENGINE = "cost_engine"
METHOD_BANDWIDTH = "bandwidth_fallback"
RUN_RATE_NOTE = (
    "spend run-rate = trailing 24 h usage (average rooms, listeners and publishers per room, the "
    "bitrate implied by the nodes' outgoing bytes) priced by the cost engine under [prices] "
    "current_model with [prices.overrides], as a 24 h × 30.42-day month; falls back to outgoing "
    "bandwidth × usd_per_gb_out only when the price catalogue cannot be loaded"
)
BANDWIDTH_NOTE = (
    "spend run-rate = trailing 24 h outgoing bandwidth × usd_per_gb_out, projected to a month "
    "(the price catalogue could not be loaded: servers, participant-minutes and plan fees are not in it)"
)


@dataclass(frozen=True)
class SpendPricing:
    """What the settings say the run-rate is priced with (catalogue None: it cannot be loaded)."""

    catalogue: Catalogue | None
    model_id: str = DEFAULT_MODEL_ID
    region: str = DEFAULT_REGION


@functools.lru_cache(maxsize=8)
def _cached_catalogue(overrides: tuple[tuple[str, float], ...], day: dt.date) -> Catalogue:
    # The live evaluator asks every 15 s; building the catalogue each time would dominate. Keyed
    # by the UTC day too, so a price change takes effect on its day without a restart.
    return load_catalogue(dict(overrides), as_of=day)


def _catalogue_or_none(overrides: Mapping[str, float]) -> Catalogue | None:
    try:
        return _cached_catalogue(tuple(sorted(overrides.items())), dt.datetime.now(dt.UTC).date())
    except (CatalogueError, OSError):
        return None


def pricing_from_settings(settings: Any | None = None) -> SpendPricing:
    """The catalogue (with ``[prices.overrides]``), ``[prices] current_model`` and the pricing
    region from ``settings`` (None: the settings castmeter would load, defaults when unreadable)."""
    if settings is None:
        try:
            settings = load_settings()
        except ConfigError:
            # An unreadable config must not stop the backtest: list prices, default model.
            return SpendPricing(_catalogue_or_none({}))
    prices = getattr(settings, "prices", None)
    overrides = price_overrides(settings)
    model_id = str(getattr(prices, "current_model", DEFAULT_MODEL_ID) or DEFAULT_MODEL_ID)
    # No setting names a pricing region today; honour one if the settings ever carry it.
    region = getattr(prices, "region", None)
    return SpendPricing(
        _catalogue_or_none(overrides),
        model_id if model_id in MODELS else DEFAULT_MODEL_ID,
        region if isinstance(region, str) and region in REGIONS else DEFAULT_REGION,
    )


def _empty_frame(method: str) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "ts": pd.Series(dtype="int64"),
            "target": pd.Series(dtype=object),
            "value": pd.Series(dtype=float),
            "valid_s": pd.Series(dtype="int64"),
        }
    )
    return _with_method(frame, method)


def _with_method(frame: pd.DataFrame, method: str, model_id: str | None = None) -> pd.DataFrame:
    frame.attrs["spend_method"] = method
    frame.attrs["spend_model_id"] = model_id
    frame.attrs["spend_note"] = RUN_RATE_NOTE if method == METHOD_COST_ENGINE else BANDWIDTH_NOTE
    return frame


def _finish(bucket_ts: np.ndarray, value_pct: np.ndarray, since_ts: int, until_ts: int) -> pd.DataFrame:
    # Stamp each bucket at its end so a sample is never used before it happened.
    frame = pd.DataFrame(
        {"ts": bucket_ts.astype("int64") + BUCKET_S - 1, "target": "fleet", "value": value_pct}
    )
    frame["valid_s"] = 2 * BUCKET_S  # present until the next bucket is due, with slack
    keep = (frame["ts"] >= since_ts) & (frame["ts"] <= until_ts)
    return frame[keep].reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# What the run-rate reads (store.queries.alert_series.StoreSeries)
# ---------------------------------------------------------------------------------------------


class SpendReader(Protocol):
    """The store's reads behind the run-rate: per bucket, fleet sums of per-room (per-node)
    bucket means, the recorded outages of LiveKit sources, and what the store has observed."""

    def first_observed_ts(self) -> int | None: ...

    def has_node_data(self) -> bool: ...

    def room_buckets(self, low_ts: int, high_ts: int, bucket_s: int) -> pd.DataFrame:
        """``bucket_ts, rooms, listeners, publishers`` over [low_ts, high_ts]."""
        ...

    def node_bytes_buckets(self, low_ts: int, high_ts: int, bucket_s: int) -> pd.DataFrame:
        """``bucket_ts, bytes_per_s`` over [low_ts, high_ts]."""
        ...

    def livekit_gaps(self, start_ts: int, end_ts: int) -> list[tuple[int, int | None]]:
        """``(start_ts, end_ts)`` of LiveKit sources' outages overlapping [start_ts, end_ts)."""
        ...


def _room_gap_buckets(reader: SpendReader, grid_ts: np.ndarray) -> np.ndarray:
    """Which buckets overlap a recorded outage of a LiveKit source: no room samples there means
    "not collected", not "nothing live", so those buckets are left out of the average."""
    if grid_ts.size == 0:
        return np.zeros(0, dtype=bool)
    first_ts, end_ts = int(grid_ts[0]), int(grid_ts[-1]) + BUCKET_S
    in_gap = np.zeros(grid_ts.size, dtype=bool)
    for start_ts, stop_ts in reader.livekit_gaps(first_ts, end_ts):
        stop = end_ts if stop_ts is None else int(stop_ts)
        in_gap |= (grid_ts + BUCKET_S > int(start_ts)) & (grid_ts < stop)
    return in_gap


# ---------------------------------------------------------------------------------------------
# The run-rate
# ---------------------------------------------------------------------------------------------


def trailing_usage_frame(reader: SpendReader, since_ts: int, until_ts: int) -> pd.DataFrame:
    """Per 5-min bucket, the trailing-24 h fleet as a steady scenario's varying columns:
    ``bucket_ts, streams, listeners_per_stream, publishers_per_stream, audio_kbps``.

    A bucket's figures depend only on the 24 h before it, never on the range asked for (so a
    live evaluation and a backtest over a longer range agree). A bucket without rooms counts
    as zero rooms live (idle hours lower the average) unless nothing was observed then: before
    the store's first observation, during a recorded outage of a LiveKit source, or — when the
    store has node metrics at all — a bucket without node samples either (castmeter itself was
    down). The bitrate is the trailing outgoing bytes over the scenario's own down-tracks
    (listeners × publishers per room + publishers × the other publishers), so the scenario moves
    the bytes the nodes measured; without node bytes it is the 128 kbps default."""
    # One bucket more than the window: the first bucket kept (stamped at its end) has its full 24 h.
    low_ts, high_ts = since_ts - _TRAILING_S - BUCKET_S, until_ts
    first_ts = low_ts - low_ts % BUCKET_S + BUCKET_S
    # The last bucket complete by until_ts (a bucket counts from its end on).
    last_ts = (high_ts + 1) - (high_ts + 1) % BUCKET_S - BUCKET_S
    empty = pd.DataFrame(columns=["bucket_ts", "streams", "listeners_per_stream", "publishers_per_stream",
                                  "audio_kbps"])  # fmt: skip
    first_observed = reader.first_observed_ts()
    if first_observed is None or last_ts < first_ts:
        return empty
    rooms = reader.room_buckets(first_ts, high_ts, BUCKET_S)
    nodes = reader.node_bytes_buckets(first_ts, high_ts, BUCKET_S)
    grid_ts = np.arange(first_ts, last_ts + BUCKET_S, BUCKET_S, dtype=np.int64)
    usage = rooms.set_index(rooms["bucket_ts"].astype("int64"))[["rooms", "listeners", "publishers"]]
    usage = usage.astype(float).reindex(grid_ts, fill_value=0.0)
    no_rooms = ~np.isin(grid_ts, rooms["bucket_ts"].to_numpy())
    unknown = no_rooms & ((grid_ts + BUCKET_S <= first_observed) | _room_gap_buckets(reader, grid_ts))
    if reader.has_node_data():
        # With node metrics in the store, a bucket with neither kind means castmeter itself was
        # down (no gap gets recorded then), not an idle fleet.
        unknown |= no_rooms & ~np.isin(grid_ts, nodes["bucket_ts"].to_numpy())
    usage.loc[unknown] = np.nan
    usage["bytes_per_s"] = (
        nodes.set_index(nodes["bucket_ts"].astype("int64"))["bytes_per_s"].astype(float).reindex(grid_ts)
    )
    usage.index = pd.to_datetime(grid_ts, unit="s")
    # NaN (outage, no node data) is skipped by the mean, so it averages what was measured.
    trailing = usage.rolling(f"{_TRAILING_S}s", min_periods=1).mean()
    trailing["bucket_ts"] = grid_ts
    trailing = trailing.dropna(subset=["rooms"])
    streams = trailing["rooms"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        listeners_per_stream = np.where(
            streams > 0, trailing["listeners"].to_numpy(dtype=float) / streams, 0.0
        )
        publishers_per_stream = np.where(
            streams > 0, trailing["publishers"].to_numpy(dtype=float) / streams, 0.0
        )
    downtracks = streams * (
        listeners_per_stream * publishers_per_stream
        + publishers_per_stream * np.maximum(publishers_per_stream - 1.0, 0.0)
    )
    bytes_per_s = trailing["bytes_per_s"].to_numpy(dtype=float)
    measured = np.isfinite(bytes_per_s) & (bytes_per_s > 0) & (downtracks > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        audio_kbps = np.where(measured, bytes_per_s * 8.0 / 1000.0 / downtracks, DEFAULT_AUDIO_KBPS)
    return pd.DataFrame(
        {
            "bucket_ts": trailing["bucket_ts"].to_numpy(dtype=np.int64),
            "streams": streams,
            "listeners_per_stream": listeners_per_stream,
            "publishers_per_stream": publishers_per_stream,
            "audio_kbps": audio_kbps,
        }
    )


def spend_run_rate_frame(
    reader: SpendReader,
    since_ts: int,
    until_ts: int,
    budget_usd_per_month: float,
    usd_per_gb_out: float = 0.12,
    *,
    catalogue: Catalogue | None = None,
    model_id: str = DEFAULT_MODEL_ID,
    region: str = DEFAULT_REGION,
) -> pd.DataFrame:
    """``ts,target,value,valid_s`` with value = projected monthly spend as % of the budget
    (target "fleet"), each 5-min bucket stamped at its end.

    Priced under ``model_id`` with ``catalogue`` (None: the list-price catalogue). Only when no
    catalogue can be loaded is it the bandwidth run-rate at ``usd_per_gb_out``.
    ``attrs["spend_method"]`` is :data:`METHOD_COST_ENGINE` or :data:`METHOD_BANDWIDTH`."""
    if model_id not in MODELS:
        raise ValueError(f"unknown cost model {model_id!r} (one of {', '.join(MODELS)})")
    if region not in REGIONS:
        raise ValueError(f"unknown region {region!r} (one of {', '.join(REGIONS)})")
    if catalogue is None:
        catalogue = _catalogue_or_none({})
    if catalogue is None:
        return bandwidth_run_rate_frame(reader, since_ts, until_ts, budget_usd_per_month, usd_per_gb_out)
    usage = trailing_usage_frame(reader, since_ts, until_ts)
    if usage.empty:
        return _empty_frame(METHOD_COST_ENGINE)
    scenarios = usage.drop(columns="bucket_ts").assign(
        hours_per_day=HOURS_PER_DAY,
        days_per_month=DAYS_PER_MONTH,
        video="none",
        recording=False,
        region=region,
    )
    # Every bucket in one vectorized call, and only the model the fleet runs on.
    result = price_usage(usage_from_scenario_frame(scenarios), catalogue, (model_id,))[model_id]
    value_pct = 100.0 * np.asarray(result.total_usd, dtype=float) / budget_usd_per_month
    frame = _finish(usage["bucket_ts"].to_numpy(), value_pct, since_ts, until_ts)
    return _with_method(frame, METHOD_COST_ENGINE, model_id)


def bandwidth_run_rate_frame(
    reader: SpendReader, since_ts: int, until_ts: int, budget_usd_per_month: float, usd_per_gb_out: float
) -> pd.DataFrame:
    """The fallback: trailing-24 h outgoing bytes × ``usd_per_gb_out``, projected to a 730-hour
    month. A *bandwidth* run-rate: servers, participant-minutes and plan fees are not in it."""
    nodes = reader.node_bytes_buckets(since_ts - _TRAILING_S, until_ts, BUCKET_S)
    if nodes.empty:
        return _empty_frame(METHOD_BANDWIDTH)
    bucket_ts = nodes["bucket_ts"].to_numpy(dtype=np.int64)
    series = pd.Series(nodes["bytes_per_s"].to_numpy(dtype=float), index=pd.to_datetime(bucket_ts, unit="s"))
    trailing = series.rolling(f"{_TRAILING_S}s", min_periods=1).mean()
    usd_per_month = trailing.to_numpy() * 3600 * HOURS_PER_MONTH / 1e9 * usd_per_gb_out
    frame = _finish(bucket_ts, 100.0 * usd_per_month / budget_usd_per_month, since_ts, until_ts)
    return _with_method(frame, METHOD_BANDWIDTH)
