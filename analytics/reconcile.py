"""Reconciliation: what each provider billed (collectors/billing/ → ``billing_usage``) against
what our model says for the same period (the measured usage ledger priced by the cost engine).

Per provider and day: billed vs modeled usage of the provider's main meter. Per provider and
month: usage and money — money from the provider's API where it gives it (AWS Cost Explorer,
Hetzner), otherwise the billed usage priced at catalogue rates with the provider's metering
(allowances, free tiers, rounding) — the variance, and its known causes.

Pure: takes what store.queries.billing read (:class:`BillingRecords`) and the measured usage
ledger of a period (through a ``LedgerSource``); no SQL, no network, no Streamlit.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from analytics.costs import price_ledger, price_usage
from analytics.ledger import UsageLedger
from analytics.prices.catalogue import Catalogue, load_catalogue
from analytics.pricing_models import agora, cloudflare_stream, livekit_cloud
from analytics.pricing_models.base import UsageArrays
from core.units import DAY_S
from store.queries.results import BillingRecords

# Billing provider → cost-engine model id (analytics/costs.py MODEL_IDS).
PROVIDER_MODEL: dict[str, str] = {
    "livekit_cloud": "livekit_cloud",
    "agora": "agora",
    "cloudflare": "cloudflare_stream",
    "aws": "amazon_ivs",
    "hetzner": "livekit_self_hosted",
}
PROVIDER_LABELS: dict[str, str] = {
    "livekit_cloud": "LiveKit Cloud",
    "agora": "Agora",
    "cloudflare": "Cloudflare",
    "aws": "AWS (Amazon IVS)",
    "hetzner": "Hetzner Cloud",
}


@dataclass(frozen=True)
class Measure:
    """A billed meter and the usage-ledger columns that model it."""

    name: str
    unit: str
    billed_metrics: tuple[str, ...]
    ledger_columns: tuple[str, ...]
    # Snapshot meters (month to date) compare per month only, from the month's last snapshot.
    month_to_date: bool = False


AGORA_MINUTE_METRICS = (
    "audio_min",
    "video_hd_min",
    "video_hdp_min",
    "video_fullhd_min",
    "video_2k_min",
    "video_2kplus_min",
)

MEASURES: dict[str, tuple[Measure, ...]] = {
    "livekit_cloud": (
        Measure("connection_min", "min", ("connection_min",), ("publisher_minutes", "listener_minutes")),
        Measure("downstream_gb", "GB", ("downstream_gb",), ("downstream_gb",)),
    ),
    "agora": (Measure("minutes", "min", AGORA_MINUTE_METRICS, ("publisher_minutes", "listener_minutes")),),
    "cloudflare": (Measure("minutes_delivered", "min", ("minutes_delivered",), ("listener_minutes",)),),
    "aws": (Measure("delivered_min", "min", ("delivered_min",), ("listener_minutes",)),),
    "hetzner": (
        Measure("traffic_out_gb", "GB", ("traffic_out_gb_mtd",), ("downstream_gb",), month_to_date=True),
    ),
}

DAILY_COLUMNS = ["provider", "day", "measure", "unit", "billed", "modeled", "variance", "variance_share"]
MONTHLY_COLUMNS = [
    "provider", "month", "days_billed", "measure", "unit", "billed", "modeled", "variance_share",
    "billed_usd", "billed_usd_source", "modeled_usd", "variance_usd", "variance_usd_share", "warn", "causes",
]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Modeled figures: the one place that talks to the usage ledger and the cost engine
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Modeled:
    """The model's figures for one period: usage per day (ledger columns) and money per model."""

    daily: pd.DataFrame  # day_ts + ledger flow columns, summed over channels
    usd_by_model: dict[str, float]
    rounding_min: float = 0.0  # rounded − unrounded connection minutes (per-connection rounding)


# The model's figures for [start_ts, end_ts) (None: unavailable).
ModeledSource = Callable[[int, int], Modeled | None]
# The measured usage ledger of [start_ts, end_ts) (analytics.usage.measured_ledger over
# store.queries.usage.usage_parts): the caller says how it is read.
LedgerSource = Callable[[int, int], UsageLedger]


def modeled_from_cost_engine(measured: UsageLedger, overrides: Mapping[str, float] | None = None) -> Modeled:
    """A period's measured usage ledger priced by the cost engine (no monthly scaling: the
    period is priced as it stands, like a bill to date)."""
    ledger = measured.scaled(1.0)
    frame = ledger.frame
    daily = (
        frame.drop(columns=["channel"]).groupby("day_ts", as_index=False).sum() if not frame.empty else frame
    )
    costs = price_ledger(ledger, load_catalogue(overrides))
    totals = ledger.totals()
    rounding = (totals["publisher_minutes"] + totals["listener_minutes"]) - (
        totals["publisher_minutes_unrounded"] + totals["listener_minutes_unrounded"]
    )
    return Modeled(daily=daily, usd_by_model={c.id: c.monthly_usd for c in costs}, rounding_min=rounding)


def _modeled_from_source(
    ledger_source: LedgerSource, overrides: Mapping[str, float] | None, start_ts: int, end_ts: int
) -> Modeled:
    return modeled_from_cost_engine(ledger_source(start_ts, end_ts), overrides)


# ---------------------------------------------------------------------------------------------
# Billed figures
# ---------------------------------------------------------------------------------------------


def gap_hours(gaps: pd.DataFrame, start_ts: int, end_ts: int) -> float:
    """Hours of collector gaps (``start_ts, end_ts``; end None or NaN: still open) overlapping
    [start_ts, end_ts)."""
    total = 0
    for gap_start, gap_end in zip(gaps["start_ts"], gaps["end_ts"], strict=True):
        stop = end_ts if pd.isna(gap_end) else int(gap_end)
        total += max(0, min(stop, end_ts) - max(int(gap_start), start_ts))
    return total / 3600.0


# ---------------------------------------------------------------------------------------------
# Billed usage priced at catalogue rates (providers whose API gives no money)
# ---------------------------------------------------------------------------------------------


@dataclass
class Priced:
    usd: float | None
    causes: list[str] = field(default_factory=list)


# Agora's usage API metric → the resolution whose standard-minute ratio bills it.
AGORA_METRIC_TIERS: dict[str, str] = {
    "audio_min": "audio", "video_hd_min": "hd", "video_hdp_min": "hd",
    "video_fullhd_min": "fullhd", "video_2k_min": "2k", "video_2kplus_min": "2kplus",
}  # fmt: skip


def price_billed_usage(provider: str, month_rows: pd.DataFrame, catalogue: Catalogue) -> Priced:
    """A month of ``provider``'s billed usage at catalogue list rates, with its metering rules,
    priced by the cost engine's own models (analytics/pricing_models/): nothing prices here."""

    def total(metric: str) -> float:
        return float(month_rows.loc[month_rows["metric"] == metric, "quantity"].sum())

    if provider == "livekit_cloud":
        # The bill does not split publishers from listeners: its connection minutes are one meter.
        usage = UsageArrays.metered(
            listener_min=total("connection_min"), downstream_gb=total("downstream_gb")
        )
        result = price_usage(usage, catalogue, [livekit_cloud.MODEL_ID])[livekit_cloud.MODEL_ID]
        plan = livekit_cloud.cheapest_plans(usage, catalogue).plan()
        return Priced(
            float(result.total_usd[0]),
            [f"free tiers: priced on the {plan.title()} plan with its included minutes and GB"],
        )
    if provider == "agora":
        # Standard minutes (accounts since 2025-08-29, the cost engine's "agora" model).
        minutes = {tier: 0.0 for tier in agora.HOST_RATIO_TIERS}
        for metric, tier in AGORA_METRIC_TIERS.items():
            minutes[tier] += total(metric)
        standard = agora.host_ratio_minutes(minutes, catalogue)
        bill = agora.billed_package(minutes, catalogue)
        package = agora.PACKAGE_LABELS[agora.PACKAGES[int(bill.package[0])]]
        return Priced(
            float(bill.total_usd[0]),
            [
                f"free tiers: {standard:,.0f} standard minutes priced on the cheapest package ({package}); "
                "a legacy pay-as-you-go account pays per minute instead",
                "the usage API has no host/audience split: priced at host ratios (an upper bound)",
            ],
        )
    if provider == "cloudflare":
        stored = month_rows.loc[month_rows["metric"] == "minutes_stored", "quantity"]
        realtime_gb = total("realtime_egress_gb")
        # Stream: minutes delivered, and the month's largest stored-minutes snapshot in blocks.
        usage = UsageArrays.metered(
            listener_min_unrounded=total("minutes_delivered"),
            recording_min=float(stored.max()) if not stored.empty else 0.0,
        )
        stream = price_usage(usage, catalogue, [cloudflare_stream.MODEL_ID])[cloudflare_stream.MODEL_ID]
        realtime = cloudflare_stream.realtime_egress_usd(np.array([realtime_gb]), catalogue)
        causes = ["sampling: Stream and Realtime analytics are adaptively sampled"]
        if realtime_gb:
            free_gb = catalogue["cloudflare.realtime.free_gb"]
            causes.append(f"free tiers: the first {free_gb:,.0f} GB of Realtime egress are free")
        return Priced(float(stream.total_usd[0] + realtime[0]), causes)
    return Priced(None, [])


# Snapshot meters (a value as of a day, not a flow): not spread when a month is split.
SNAPSHOT_METRICS: tuple[str, ...] = ("minutes_stored",)


def price_billed_period(
    provider: str, month_rows: pd.DataFrame, catalogue: Catalogue, first: date, last: date
) -> Priced:
    """Billed usage of [first, last] priced at the rates in force on each day — the same way
    the cost engine prices the modeled side: where a price changes inside the period, each part's
    usage, as a rate over the whole period, is priced at its own rates and weighted by its days."""
    segments = catalogue.segments(first, last)
    if len(segments) == 1:
        return price_billed_usage(provider, month_rows, segments[0].catalogue)
    total_days = (last - first).days + 1
    usd = 0.0
    causes: list[str] = []
    for segment in segments:
        weight = ((segment.last_day - segment.first_day).days + 1) / total_days
        in_part = (month_rows["day_ts"] >= _ts(segment.first_day)) & (
            month_rows["day_ts"] < _ts(segment.last_day) + DAY_S
        )
        part = month_rows[in_part].copy()
        flows = ~part["metric"].isin(SNAPSHOT_METRICS)
        part.loc[flows, "quantity"] = part.loc[flows, "quantity"] / weight
        priced = price_billed_usage(provider, part, segment.catalogue)
        if priced.usd is None:
            return Priced(None, [])
        usd += weight * priced.usd
        causes.extend(c for c in priced.causes if c not in causes)
    days = ", ".join(sorted({c.day.isoformat() for c in catalogue.changes(first, last)}))
    causes.append(
        f"price change on {days}: both sides price each part of the month at the rates in force then"
    )
    return Priced(usd, causes)


def _api_money(provider: str, month_rows: pd.DataFrame) -> float | None:
    """Money the provider's API stated for the month (None when it gives none)."""
    with_money = month_rows[month_rows["usd"].notna()]
    if with_money.empty:
        return None
    if provider == "hetzner":
        # Month-to-date snapshots: the month's latest snapshot per server and metric.
        latest = with_money.sort_values("day_ts").groupby(["metric", "dims_key"], as_index=False).last()
        return float(latest["usd"].sum())
    return float(with_money["usd"].sum())


# ---------------------------------------------------------------------------------------------
# Reconciliation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reconciliation:
    since: date
    until: date
    warn_share: float
    daily: pd.DataFrame  # DAILY_COLUMNS
    monthly: pd.DataFrame  # MONTHLY_COLUMNS
    providers: list[str]
    notes: list[str]

    @property
    def is_empty(self) -> bool:
        return self.daily.empty and self.monthly.empty

    def to_json(self) -> dict[str, Any]:
        def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return json.loads(frame.to_json(orient="records", date_format="iso")) if not frame.empty else []

        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "warn_share": self.warn_share,
            "providers": self.providers,
            "daily": records(self.daily),
            "monthly": records(self.monthly),
            "notes": self.notes,
        }


def reconcile(
    records: BillingRecords,
    since: date,
    until: date,
    *,
    warn_share: float = 0.10,
    ledger_source: LedgerSource | None = None,
    modeled_source: ModeledSource | None = None,
    catalogue: Any = None,
    overrides: Mapping[str, float] | None = None,
) -> Reconciliation:
    """Billed against modeled, per provider and day and per provider and month, for [since, until].
    ``records``: store.queries.billing.billing_records for the same days. The modeled side is
    ``modeled_source`` when given, else each month's ``ledger_source`` ledger priced by the cost
    engine. ``overrides`` are the configured negotiated rates ([prices.overrides]), used for both sides."""
    if modeled_source is None:
        if ledger_source is None:
            raise ValueError("reconcile needs a ledger_source or a modeled_source")
        modeled_source = functools.partial(_modeled_from_source, ledger_source, overrides)
    billed, fetches = records.billed, records.fetches
    providers = sorted(set(billed["provider"]) | set(fetches["provider"]), key=list(PROVIDER_MODEL).index)
    notes: list[str] = []
    if catalogue is None:
        catalogue = load_catalogue(overrides)
    daily_rows: list[dict[str, Any]] = []
    monthly_rows: list[dict[str, Any]] = []
    for month_start, month_end in _months(since, until):
        start_ts, end_ts = _ts(month_start), _ts(month_end) + DAY_S
        modeled = modeled_source(start_ts, end_ts) if providers else None
        if providers and modeled is None and not notes:
            notes.append("modeled figures unavailable: the usage ledger (analytics/usage.py) is missing")
        gaps_h = gap_hours(records.gaps, start_ts, end_ts) if providers else 0.0
        month_billed = billed[(billed["day_ts"] >= start_ts) & (billed["day_ts"] < end_ts)]
        month_fetches = fetches[(fetches["day_ts"] >= start_ts) & (fetches["day_ts"] < end_ts)]
        for provider in providers:
            rows = month_billed[month_billed["provider"] == provider]
            provider_fetches = month_fetches[month_fetches["provider"] == provider]
            daily_rows.extend(_daily(provider, rows, modeled, month_start, month_end))
            monthly_rows.extend(
                _monthly(
                    provider,
                    rows,
                    provider_fetches,
                    modeled,
                    month_start,
                    month_end,
                    gaps_h,
                    warn_share,
                    catalogue,
                )
            )
    daily = pd.DataFrame(daily_rows, columns=DAILY_COLUMNS)
    monthly = pd.DataFrame(monthly_rows, columns=MONTHLY_COLUMNS)
    return Reconciliation(since, until, warn_share, daily, monthly, providers, notes)


def _daily(
    provider: str, rows: pd.DataFrame, modeled: Modeled | None, first: date, last: date
) -> list[dict[str, Any]]:
    out = []
    days = sorted(set(rows["day_ts"]))
    for measure in MEASURES.get(provider, ()):
        if measure.month_to_date:
            continue
        per_day = rows[rows["metric"].isin(measure.billed_metrics)].groupby("day_ts")["quantity"].sum()
        for day_ts in days:
            billed_q = float(per_day.get(day_ts, 0.0))
            modeled_q = _modeled_quantity(modeled, measure, int(day_ts), int(day_ts) + DAY_S)
            out.append(
                {
                    "provider": provider, "day": _day(int(day_ts)).isoformat(), "measure": measure.name,
                    "unit": measure.unit, "billed": billed_q, "modeled": modeled_q,
                    "variance": None if modeled_q is None else billed_q - modeled_q,
                    "variance_share": _share(billed_q, modeled_q),
                }
            )  # fmt: skip
    return out


def _monthly(
    provider: str,
    rows: pd.DataFrame,
    fetches: pd.DataFrame,
    modeled: Modeled | None,
    first: date,
    last: date,
    gaps_h: float,
    warn_share: float,
    catalogue: Any,
) -> list[dict[str, Any]]:
    if rows.empty and fetches.empty:
        return []
    start_ts, end_ts = _ts(first), _ts(last) + DAY_S
    days_billed = int(fetches["day_ts"].nunique()) if not fetches.empty else int(rows["day_ts"].nunique())
    causes: list[str] = []
    api_usd = _api_money(provider, rows)
    if api_usd is not None:
        billed_usd: float | None = api_usd
        source = "api"
    else:
        priced = price_billed_period(provider, rows, catalogue, first, last)
        billed_usd, source = priced.usd, "catalogue" if priced.usd is not None else "none"
        causes.extend(priced.causes)
    model_id = PROVIDER_MODEL.get(provider, "")
    modeled_usd = modeled.usd_by_model.get(model_id) if modeled else None
    if modeled and provider in ("livekit_cloud", "agora") and modeled.rounding_min > 0:
        causes.append(
            f"rounding per connection: the model's minutes include +{modeled.rounding_min:,.0f} min from rounding each connection up"
        )
    if gaps_h > 0:
        causes.append(f"sampling gaps: {gaps_h:,.1f} h of collector gaps, so the model misses usage")
    if not fetches.empty and not bool(fetches["complete"].all()):
        partial = sorted(
            {_day(int(ts)).isoformat() for ts in fetches.loc[~fetches["complete"].astype(bool), "day_ts"]}
        )
        causes.append(f"partial days: billing for {', '.join(partial)} was fetched before the day ended")
    expected_days = (
        min(last, _day(int(fetches["fetched_ts"].max())) if not fetches.empty else last) - first
    ).days + 1
    if provider != "hetzner" and days_billed < expected_days:
        causes.append(f"missing days: billing fetched for {days_billed} of {expected_days} days")
    if provider == "hetzner":
        causes.append(
            "snapshot: Hetzner reports the billing period to date; the model prices the fleet's own servers"
        )
    variance_usd = None if billed_usd is None or modeled_usd is None else billed_usd - modeled_usd
    usd_share = _share(billed_usd, modeled_usd)
    out = []
    for measure in MEASURES.get(provider, ()):
        metric_rows = rows[rows["metric"].isin(measure.billed_metrics)]
        if measure.month_to_date:
            latest = metric_rows.sort_values("day_ts").groupby("dims_key").last()
            billed_q = float(latest["quantity"].sum()) if not latest.empty else 0.0
        else:
            billed_q = float(metric_rows["quantity"].sum())
        modeled_q = _modeled_quantity(modeled, measure, start_ts, end_ts)
        share = _share(billed_q, modeled_q)
        warn = any(s is not None and abs(s) > warn_share for s in (usd_share, share))
        out.append(
            {
                "provider": provider, "month": first.strftime("%Y-%m"), "days_billed": days_billed,
                "measure": measure.name, "unit": measure.unit, "billed": billed_q, "modeled": modeled_q,
                "variance_share": share, "billed_usd": billed_usd, "billed_usd_source": source,
                "modeled_usd": modeled_usd, "variance_usd": variance_usd, "variance_usd_share": usd_share,
                "warn": warn, "causes": list(causes),
            }
        )  # fmt: skip
    return out


def _modeled_quantity(modeled: Modeled | None, measure: Measure, start_ts: int, end_ts: int) -> float | None:
    if modeled is None:
        return None
    frame = modeled.daily
    if frame.empty:
        return 0.0
    window = frame[(frame["day_ts"] >= start_ts) & (frame["day_ts"] < end_ts)]
    return float(sum(window[column].sum() for column in measure.ledger_columns if column in window))


def _share(billed: float | None, modeled: float | None) -> float | None:
    """(billed − modeled) / modeled; None when either is unknown or the model says zero."""
    if billed is None or modeled is None or modeled == 0:
        return None
    return (billed - modeled) / modeled


def _months(since: date, until: date) -> list[tuple[date, date]]:
    out = []
    cursor = since
    while cursor <= until:
        next_month = (cursor.replace(day=1) + timedelta(days=32)).replace(day=1)
        out.append((cursor, min(until, next_month - timedelta(days=1))))
        cursor = next_month
    return out


def _ts(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _day(ts: int) -> date:
    return datetime.fromtimestamp(ts, tz=UTC).date()
