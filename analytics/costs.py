"""The cost engine: price a usage ledger (or a grid of scenarios) under every provider model.

Model ids are part of the JSON interface (``python -m analytics plan/costs --json``).
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from analytics.ledger import AUDIENCE_PRODUCTS, DAY_S, REGIONS, VIDEO_TIERS, Scenario, UsageLedger
from analytics.prices import Catalogue, load_catalogue
from analytics.prices.catalogue import PriceChange
from analytics.pricing_models import self_hosted
from analytics.pricing_models.base import Item, ModelResult, PriceModel, UsageArrays, tracked
from analytics.pricing_models.registry import PRICE_MODELS

# Views of the one registry (analytics/pricing_models/registry.py), by model id.
MODELS: dict[str, PriceModel] = {model.model_id: model for model in PRICE_MODELS}
MODEL_IDS: tuple[str, ...] = tuple(MODELS)
MODEL_LABELS: dict[str, str] = {model.model_id: model.label for model in PRICE_MODELS}


@dataclass(frozen=True)
class ProviderCost:
    id: str
    monthly_usd: float
    items: list[dict[str, Any]]
    notes: list[str]
    unverified: list[str] = field(default_factory=list)  # unverified rate ids that priced it

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "monthly_usd": self.monthly_usd, "items": self.items, "notes": self.notes,
                "unverified_rates": self.unverified}  # fmt: skip


def price_usage(
    usage: UsageArrays, catalogue: Catalogue, models: Sequence[str] = MODEL_IDS
) -> dict[str, ModelResult]:
    """Every model over every row of ``usage`` (vectorized), each naming the unverified rates
    it used."""
    return {
        model_id: tracked(functools.partial(_price_one, MODELS[model_id], usage), catalogue)
        for model_id in models
    }


def _price_one(model: PriceModel, usage: UsageArrays, catalogue: Catalogue) -> ModelResult:
    return model.price(usage, catalogue)


def _round(value: float, digits: int = 4) -> float:
    return float(round(float(value), digits))


def provider_costs(usage: UsageArrays, catalogue: Catalogue, row: int = 0) -> list[ProviderCost]:
    """The itemized costs of one row, in the JSON interface's shape."""
    return itemized(price_usage(usage, catalogue), row)


def itemized(results: Mapping[str, ModelResult], row: int = 0) -> list[ProviderCost]:
    """One row of priced models (``price_usage``'s or the planner's) as itemized costs."""
    return [_provider_cost(model_id, [(1.0, result)], row) for model_id, result in results.items()]


def _provider_cost(model_id: str, parts: Sequence[tuple[float, ModelResult]], row: int = 0) -> ProviderCost:
    """One model's cost as the weighted sum of its priced parts (one part per price period)."""
    first = parts[0][1]
    items: list[Item] = list(first.items)
    for _weight, result in parts[1:]:
        if [i.name for i in result.items] != [i.name for i in items]:
            raise ValueError(f"{model_id}: the price periods itemize differently")

    def weighted(values: Callable[[ModelResult], np.ndarray]) -> float:
        return sum(weight * float(values(result)[row]) for weight, result in parts)

    def item_quantity(index: int) -> Callable[[ModelResult], np.ndarray]:
        return lambda result: result.items[index].quantity

    def item_usd(index: int) -> Callable[[ModelResult], np.ndarray]:
        return lambda result: result.items[index].usd

    total = weighted(lambda result: result.total_usd)
    return ProviderCost(
        id=model_id,
        monthly_usd=_round(total, 2),
        items=[
            {
                "name": item.name,
                "quantity": _round(weighted(item_quantity(index))),
                "unit": item.unit,
                "usd": _round(weighted(item_usd(index)), 4),
            }
            for index, item in enumerate(items)
        ],
        notes=parts[-1][1].notes_for(row),
        unverified=sorted({rate_id for _weight, result in parts for rate_id in result.unverified}),
    )


# ---------------------------------------------------------------------------------------------
# Prices in force on each day: a measured window is priced per price period
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PricePeriod:
    """Part of a window with one set of prices: its days, its share of the window, the
    catalogue's price version then, and each model's monthly cost at those prices."""

    first_day: dt.date
    last_day: dt.date
    weight: float  # share of the window's duration
    version: dt.date
    monthly_usd: dict[str, float]

    def as_json(self) -> dict[str, Any]:
        return {"from": self.first_day.isoformat(), "to": self.last_day.isoformat(),
                "weight": _round(self.weight, 6), "price_version": self.version.isoformat(),
                "monthly_usd": {k: _round(v, 2) for k, v in self.monthly_usd.items()}}  # fmt: skip


@dataclass(frozen=True)
class PricedLedger:
    """A ledger priced under every model, with the price periods and changes behind it."""

    costs: list[ProviderCost]
    periods: list[PricePeriod]
    changes: list[PriceChange]

    @property
    def versions(self) -> list[dt.date]:
        return [p.version for p in self.periods]

    def prices_json(self) -> dict[str, Any]:
        return {
            "periods": [p.as_json() for p in self.periods],
            "changes": [
                {"day": c.day.isoformat(), "rate_id": c.rate_id, "old": c.old, "new": c.new, "unit": c.unit,
                 "source": c.source}
                for c in self.changes
            ],
        }  # fmt: skip


def _utc_day(ts: int) -> dt.date:
    return dt.datetime.fromtimestamp(ts, dt.UTC).date()


def _day_ts(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


def price_ledger_detail(
    ledger: UsageLedger, catalogue: Catalogue, models: Sequence[str] = MODEL_IDS
) -> PricedLedger:
    """Price ``ledger`` with the prices in force on its days. A scenario has no days: it is
    priced at ``catalogue.as_of``. A measured window is split where a price changes inside it;
    each part's usage, as a monthly rate, is priced at its own prices and weighted by its share
    of the window (one part: exactly the whole ledger priced once)."""
    if ledger.origin == "scenario" or ledger.period_end_ts <= ledger.period_start_ts:
        usage = UsageArrays.from_ledger(ledger)
        results = price_usage(usage, catalogue, models)
        day = catalogue.as_of
        period = PricePeriod(day, day, 1.0, catalogue.version_on(day),
                             {m: float(r.total_usd[0]) for m, r in results.items()})  # fmt: skip
        return PricedLedger([_provider_cost(m, [(1.0, r)]) for m, r in results.items()], [period], [])
    first = _utc_day(ledger.period_start_ts)
    last = _utc_day(ledger.period_end_ts - 1)
    segments = catalogue.segments(first, last)
    duration = ledger.period_end_ts - ledger.period_start_ts
    parts: list[tuple[float, dict[str, ModelResult]]] = []
    periods = []
    for segment in segments:
        if len(segments) == 1:
            weight, part = 1.0, ledger
        else:
            start_ts = max(ledger.period_start_ts, _day_ts(segment.first_day))
            end_ts = min(ledger.period_end_ts, _day_ts(segment.last_day) + DAY_S)
            weight = (end_ts - start_ts) / duration
            frame = ledger.frame
            in_part = (frame["day_ts"] >= _day_ts(segment.first_day)) & (frame["day_ts"] < end_ts)
            part = replace(ledger, frame=frame[in_part], period_start_ts=start_ts, period_end_ts=end_ts,
                           month_scale=ledger.month_scale / weight)  # fmt: skip
        results = price_usage(UsageArrays.from_ledger(part), segment.catalogue, models)
        parts.append((weight, results))
        periods.append(
            PricePeriod(
                segment.first_day,
                segment.last_day,
                weight,
                segment.version,
                {m: float(r.total_usd[0]) for m, r in results.items()},
            )
        )
    costs = [_provider_cost(m, [(w, results[m]) for w, results in parts]) for m in models]
    changes = catalogue.changes(first, last)
    if len(periods) > 1:
        days = ", ".join(sorted({c.day.isoformat() for c in changes}))
        for cost in costs:
            cost.notes.append(
                f"prices changed on {days}: each part of the window is priced at the prices in force then"
            )
    return PricedLedger(costs, periods, changes)


def price_ledger(ledger: UsageLedger, catalogue: Catalogue) -> list[ProviderCost]:
    return price_ledger_detail(ledger, catalogue).costs


def costs_json(ledger: UsageLedger, catalogue: Catalogue) -> dict[str, Any]:
    """``{"usage": {...}, "prices": {"periods", "changes"}, "providers": [{"id", "monthly_usd",
    "items", "notes", "unverified_rates"}]}``."""
    priced = price_ledger_detail(ledger, catalogue)
    return {
        "usage": ledger.usage_summary(),
        "prices": priced.prices_json(),
        "providers": [p.as_json() for p in priced.costs],
    }


def items_frame(costs: Sequence[ProviderCost]) -> pd.DataFrame:
    """Long frame (model, label, item, quantity, unit, usd) for stacked bars."""
    rows = [
        {"model": c.id, "label": MODEL_LABELS[c.id], "item": item["name"], "quantity": item["quantity"],
         "unit": item["unit"], "usd": item["usd"]}
        for c in costs
        for item in c.items
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["model", "label", "item", "quantity", "unit", "usd"])


# ---------------------------------------------------------------------------------------------
# Grids of scenarios (planner, break-even chart, bench)
# ---------------------------------------------------------------------------------------------

SCENARIO_COLUMNS = (
    "streams", "hours_per_day", "days_per_month", "listeners_per_stream", "publishers_per_stream",
    "audio_kbps", "video", "recording", "region", "rtmp_ingress", "hls_egress", "audience_product",
)  # fmt: skip
# Columns a scenario frame may leave out, and what they mean then.
OPTIONAL_SCENARIO_COLUMNS: dict[str, bool | str] = {
    "rtmp_ingress": False, "hls_egress": False, "audience_product": "broadcast",
}  # fmt: skip


def usage_from_scenario_frame(scenarios: pd.DataFrame) -> UsageArrays:
    """Vectorized usage for a frame with :data:`SCENARIO_COLUMNS` (video/region/audience
    product as names; the optional columns default as :data:`OPTIONAL_SCENARIO_COLUMNS`)."""
    scenarios = scenarios.copy()
    for column, default in OPTIONAL_SCENARIO_COLUMNS.items():
        if column not in scenarios.columns:
            scenarios[column] = default
    video = scenarios["video"].map({name: i for i, name in enumerate(VIDEO_TIERS)}).to_numpy(dtype=float)
    region = scenarios["region"].map({name: i for i, name in enumerate(REGIONS)}).to_numpy(dtype=float)
    product = scenarios["audience_product"].map({name: i for i, name in enumerate(AUDIENCE_PRODUCTS)})
    interactive = product.to_numpy(dtype=float)
    if np.isnan(video).any() or np.isnan(region).any() or np.isnan(interactive).any():
        raise ValueError(
            f"video must be one of {VIDEO_TIERS}, region one of {REGIONS} and audience_product one of "
            f"{AUDIENCE_PRODUCTS}"
        )
    hls = scenarios["hls_egress"].to_numpy(dtype=float)
    if "hls_share" in scenarios.columns:
        hls = np.maximum(hls, (scenarios["hls_share"].to_numpy(dtype=float) > 0).astype(float))
    return UsageArrays.from_scenarios(
        streams=scenarios["streams"].to_numpy(dtype=float),
        hours_per_day=scenarios["hours_per_day"].to_numpy(dtype=float),
        days_per_month=scenarios["days_per_month"].to_numpy(dtype=float),
        listeners_per_stream=scenarios["listeners_per_stream"].to_numpy(dtype=float),
        publishers_per_stream=scenarios["publishers_per_stream"].to_numpy(dtype=float),
        audio_kbps=scenarios["audio_kbps"].to_numpy(dtype=float),
        video_tier=video,
        recording=scenarios["recording"].to_numpy(dtype=float),
        region=region,
        rtmp_ingress=scenarios["rtmp_ingress"].to_numpy(dtype=float),
        hls_egress=hls,
        audience_interactive=interactive,
    )


def price_grid(scenarios: pd.DataFrame, catalogue: Catalogue) -> pd.DataFrame:
    """Monthly USD per model (one column per model id) for every scenario row."""
    results = price_usage(usage_from_scenario_frame(scenarios), catalogue)
    return pd.DataFrame(
        {model_id: result.total_usd for model_id, result in results.items()}, index=scenarios.index
    )


def break_even_frame(base: Scenario, listeners: Sequence[float], catalogue: Catalogue) -> pd.DataFrame:
    """Monthly cost per model as listeners per stream vary (the seeds' scalability tables).
    Long frame: listeners_per_stream, model, label, monthly_usd."""
    grid = pd.DataFrame(
        [
            {**base.model_dump(include={*SCENARIO_COLUMNS, "hls_share"}), "listeners_per_stream": value}
            for value in listeners
        ]
    )
    priced = price_grid(grid, catalogue)
    priced["listeners_per_stream"] = grid["listeners_per_stream"].to_numpy()
    long = priced.melt(id_vars="listeners_per_stream", var_name="model", value_name="monthly_usd")
    long["label"] = long["model"].map(MODEL_LABELS)
    return long


# ---------------------------------------------------------------------------------------------
# Measured usage views: month-to-date, unit costs, per channel
# ---------------------------------------------------------------------------------------------


MONTH_DAYS_RUN_RATE = 30.0  # a run rate's month (the usage ledger's MONTH_DAYS)


def month_bounds(now_ts: int) -> tuple[int, int]:
    """[start, end) of the UTC calendar month "to date" at ``now_ts``, an exclusive end: the
    month of the second before it. At a month's very first instant (a time range rounded up
    to midnight on the 1st) that is the month just ended — the new one has no time to show
    yet, and a window from its start to ``now_ts`` would be empty."""
    now = dt.datetime.fromtimestamp(now_ts - 1, dt.UTC)
    start = dt.datetime(now.year, now.month, 1, tzinfo=dt.UTC)
    days = calendar.monthrange(now.year, now.month)[1]
    return int(start.timestamp()), int(start.timestamp()) + days * DAY_S


# The one projection method, named wherever a projection is shown.
PROJECTION_TRAILING_DAYS = 7
PROJECTION_METHOD = (
    "Month to date: this month's usage so far, priced as a whole month at its rate, times the "
    "share of the month it covers. Projected month: month to date plus the last "
    f"{PROJECTION_TRAILING_DAYS} days' rate, priced the same way, for the rest of the month. "
    f"Run rate: the last {PROJECTION_TRAILING_DAYS} days' rate as a 30-day month."
)


@dataclass(frozen=True)
class MonthOutlook:
    """This calendar month (UTC) per model: accrued so far, projected, and the run rate, all
    from one method (:data:`PROJECTION_METHOD`), so a steady fleet's projection equals its run
    rate (for a 30-day month) and month to date never exceeds the projection."""

    month_start_ts: int
    month_end_ts: int
    now_ts: int
    covered_s: int  # seconds of this month the store has observations for (up to now)
    frame: pd.DataFrame  # model, label, month_to_date_usd, projected_month_usd, run_rate_usd

    @property
    def month_days(self) -> float:
        return (self.month_end_ts - self.month_start_ts) / DAY_S

    @property
    def covered_share(self) -> float:
        return self.covered_s / (self.month_end_ts - self.month_start_ts)

    def as_json(self) -> dict[str, Any]:
        return {
            "month_start_ts": self.month_start_ts,
            "month_end_ts": self.month_end_ts,
            "now_ts": self.now_ts,
            "month_days": self.month_days,
            "covered_days": round(self.covered_s / DAY_S, 4),
            "method": PROJECTION_METHOD,
            "models": [
                {key: (round(value, 2) if isinstance(value, float) else value) for key, value in row.items()}
                for row in self.frame.to_dict("records")
            ],
        }


def _priced_as_month(ledger: UsageLedger, month_days: float, catalogue: Catalogue) -> dict[str, float]:
    """Each model's bill for a month of ``month_days`` days at the ledger's usage rate."""
    if ledger.is_empty or ledger.covered_days <= 0:
        return dict.fromkeys(MODEL_IDS, 0.0)
    scaled = ledger.scaled(month_days / ledger.covered_days)
    return {c.id: c.monthly_usd for c in price_ledger(scaled, catalogue)}


def month_outlook(
    ledger_month: UsageLedger, ledger_trailing: UsageLedger, now_ts: int, catalogue: Catalogue
) -> MonthOutlook:
    """``ledger_month``: this month's usage up to ``now_ts``; ``ledger_trailing``: the last
    PROJECTION_TRAILING_DAYS days' (both measured_ledger, which knows the time they cover).
    Fixed monthly charges (servers, plans) accrue with time; allowances and tiers apply to a
    whole month's usage at each rate."""
    start_ts, end_ts = month_bounds(now_ts)
    month_days = (end_ts - start_ts) / DAY_S
    covered_s = round(ledger_month.covered_days * DAY_S) if not ledger_month.is_empty else 0
    covered_share = covered_s / (end_ts - start_ts)
    at_month_rate = _priced_as_month(ledger_month, month_days, catalogue)
    at_trailing_rate = _priced_as_month(ledger_trailing, month_days, catalogue)
    run_rate = _priced_as_month(ledger_trailing, MONTH_DAYS_RUN_RATE, catalogue)
    rows = []
    for model in MODEL_IDS:
        accrued = at_month_rate[model] * covered_share
        rows.append(
            {
                "model": model,
                "label": MODEL_LABELS[model],
                "month_to_date_usd": accrued,
                "projected_month_usd": accrued + at_trailing_rate[model] * (1.0 - covered_share),
                "run_rate_usd": run_rate[model],
            }
        )
    return MonthOutlook(start_ts, end_ts, now_ts, covered_s, pd.DataFrame(rows))


def unit_costs_frame(ledger: UsageLedger, costs: Sequence[ProviderCost]) -> pd.DataFrame:
    """Cost per listener-hour and per 1,000 listener-hours for each model."""
    hours = ledger.monthly_totals()["listener_minutes_unrounded"] / 60.0
    rows = []
    for c in costs:
        per_hour = c.monthly_usd / hours if hours > 0 else float("nan")
        rows.append({"model": c.id, "label": MODEL_LABELS[c.id], "monthly_usd": c.monthly_usd,
                     "listener_hours": hours, "usd_per_listener_hour": per_hour,
                     "usd_per_1000_listener_hours": per_hour * 1000.0})  # fmt: skip
    return pd.DataFrame(rows)


def cost_by_channel(ledger: UsageLedger, costs: Sequence[ProviderCost], catalogue: Catalogue) -> pd.DataFrame:
    """Each model's monthly cost shared out to channels by connection minutes. For self-hosted,
    the share of capacity no channel used (average vs provisioned down-tracks) is a row
    ``(idle capacity)``. Long frame: channel, model, label, usd."""
    channels = ledger.by_channel()
    if channels.empty:
        return pd.DataFrame(columns=["channel", "model", "label", "usd"])
    weight = (channels["publisher_minutes"] + channels["listener_minutes"]).to_numpy(dtype=float)
    share = weight / weight.sum() if weight.sum() > 0 else np.full(len(weight), 1.0 / len(weight))
    idle_fraction = self_hosted_idle_fraction(ledger, catalogue)
    frames = []
    for c in costs:
        used = 1.0 - idle_fraction if c.id == self_hosted.MODEL_ID else 1.0
        frames.append(
            pd.DataFrame({"channel": channels["channel"], "model": c.id, "usd": c.monthly_usd * used * share})
        )
        if c.id == self_hosted.MODEL_ID:
            frames.append(
                pd.DataFrame(
                    {"channel": ["(idle capacity)"], "model": [c.id], "usd": [c.monthly_usd * idle_fraction]}
                )
            )
    frame = pd.concat(frames, ignore_index=True)
    frame["label"] = frame["model"].map(MODEL_LABELS)
    return frame


def self_hosted_idle_fraction(ledger: UsageLedger, catalogue: Catalogue) -> float:
    """1 − average down-tracks / provisioned capacity of the self-hosted servers."""
    usage = UsageArrays.from_ledger(ledger)
    result = self_hosted.price(usage, catalogue)
    servers = float(result.items[0].quantity[0])
    if servers <= 0 or ledger.covered_days <= 0:
        return 0.0
    cloud, dedicated = self_hosted.server_specs(catalogue)
    spec = cloud if result.items[0].usd[0] <= servers * cloud.monthly_usd + 1e-9 else dedicated
    cap = "self_hosted.capacity."
    per_dt = catalogue[
        cap + ("cores_per_video_downtrack" if ledger.video != "none" else "cores_per_audio_downtrack")
    ]
    capacity = servers * spec.vcpus * catalogue[cap + "target_utilization"] / per_dt
    totals = ledger.totals()
    per_stream = usage.publishers_per_stream[0] or 1.0
    average_dt = totals["listener_minutes_unrounded"] * per_stream / (ledger.covered_days * 1440.0)
    return float(np.clip(1.0 - average_dt / capacity, 0.0, 1.0))


# The model that stands for "what we run now" when no setting says otherwise.
CURRENT_MODEL = "livekit_cloud"
HOURS_PER_MONTH = 30 * 24.0


def estimate_cost_per_hour_usd(
    bind: Any, start_ts: int, end_ts: int, source_id: int | None, *, model_id: str = CURRENT_MODEL,
    catalogue: Catalogue | None = None, ledger: UsageLedger | None = None,
) -> float | None:  # fmt: skip
    """The window's usage rate priced for a month under ``model_id``, per hour (the Overview's
    "cost per hour": the Costs page's monthly figure for that model ÷ 720 h). None when the
    window has no usage. ``ledger``: the window's measured ledger (analytics.usage.measured_ledger
    over store.queries.usage.usage_parts; analytics reads no store)."""
    if end_ts <= start_ts:
        return None
    if ledger is None:
        raise ValueError("estimate_cost_per_hour_usd needs the window's measured ledger")
    if ledger.is_empty:
        return None
    result = MODELS[model_id].price(UsageArrays.from_ledger(ledger), catalogue or load_catalogue())
    return float(result.total_usd[0]) / HOURS_PER_MONTH


def scenario_from_ledger(ledger: UsageLedger) -> Scenario:
    """The steady scenario closest to measured usage (for the break-even chart): peak streams,
    their average live hours per day, and the measured listeners per stream."""
    totals = ledger.totals()
    days = max(ledger.covered_days, 1e-9)
    streams = max(ledger.fleet_peak_streams, 1.0)
    hours = min(24.0, totals["stream_minutes"] / 60.0 / days / streams) if totals["stream_minutes"] else 1.0
    live_min = max(totals["stream_minutes"], 1e-9)
    publishers = totals["publisher_minutes_unrounded"] / live_min if totals["stream_minutes"] else 1.0
    return Scenario(
        name="measured", streams=streams, hours_per_day=hours, days_per_month=30,
        listeners_per_stream=totals["listener_minutes_unrounded"] / live_min if totals["stream_minutes"] else 0.0,
        publishers_per_stream=max(publishers, 1.0), audio_kbps=ledger.audio_kbps, video=ledger.video,
        recording=totals["recording_minutes"] > 0, region=ledger.region,
        rtmp_ingress=totals["stream_minutes"] > 0 and totals["ingress_minutes"] >= 0.5 * totals["stream_minutes"],
        audience_product=ledger.audience_product,
    )  # fmt: skip
