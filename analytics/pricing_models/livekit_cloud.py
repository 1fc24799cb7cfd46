"""LiveKit Cloud: the cheapest eligible of Build / Ship / Scale. Build is a hard cap (usage
over any quota is refused, so it is only eligible when everything fits); Ship and Scale bill
overage. Connection minutes are already rounded up per connection in the ledger; downstream
data is rounded up to 0.01 GB.

Egress and ingress are two meters: *transcode minutes* (RTMP/URL ingress and composite egress,
HLS included) and *track egress minutes*. LiveKit publishes no audio-only transcode rate: an
audio-only ledger is priced with the ``transcode_audio_overage_per_min_usd`` rates, which are
the video rate marked unverified until an override sets them."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analytics.prices import Catalogue
from analytics.pricing_models.base import Item, ModelResult, PriceModel, UsageArrays, ceil_to

MODEL_ID = "livekit_cloud"
PLANS: tuple[str, ...] = ("build", "ship", "scale")


def _transcode_rate(catalogue: Catalogue, plan: str, usage: UsageArrays) -> np.ndarray:
    """The video rate, or for an audio-only row the audio rate (unverified unless overridden);
    read only where transcode minutes exist, so an unused unverified rate is not reported."""
    q = f"{MODEL_ID}.{plan}."
    rate = np.zeros(len(usage))
    used = usage.transcode_min > 0
    video = usage.video_tier > 0
    if (used & video).any():
        rate[used & video] = catalogue[q + "transcode_overage_per_min_usd"]
    if (used & ~video).any():
        rate[used & ~video] = catalogue[q + "transcode_audio_overage_per_min_usd"]
    return rate


def _plan_terms(usage: UsageArrays, catalogue: Catalogue, plan: str) -> dict[str, np.ndarray]:
    q = f"{MODEL_ID}.{plan}."
    n = len(usage)
    conn_min = usage.publisher_min + usage.listener_min
    data_gb = ceil_to(usage.downstream_gb, catalogue[f"{MODEL_ID}.metering.data_increment_gb"])
    fits = (usage.peak_listeners + usage.peak_publishers) <= catalogue[q + "max_connections"]
    terms = {
        "fee": np.full(n, catalogue[q + "fee_usd"]),
        "over_min": np.maximum(conn_min - catalogue[q + "included_min"], 0.0),
        "over_gb": np.maximum(data_gb - catalogue[q + "included_gb"], 0.0),
        "over_transcode": np.maximum(usage.transcode_min - catalogue[q + "included_transcode_min"], 0.0),
        "over_track": np.maximum(usage.track_egress_min - catalogue[q + "included_track_egress_min"], 0.0),
    }
    if plan == "build":
        within = (
            (terms["over_min"] == 0)
            & (terms["over_gb"] == 0)
            & (terms["over_transcode"] == 0)
            & (terms["over_track"] == 0)
        )
        terms["eligible"] = fits & within
        for name in ("cost_min", "cost_gb", "cost_transcode", "cost_track"):
            terms[name] = np.zeros(n)
    else:
        terms["eligible"] = fits
        terms["cost_min"] = terms["over_min"] * catalogue[q + "overage_per_min_usd"]
        terms["cost_gb"] = terms["over_gb"] * catalogue[q + "overage_per_gb_usd"]
        terms["cost_transcode"] = terms["over_transcode"] * _transcode_rate(catalogue, plan, usage)
        terms["cost_track"] = terms["over_track"] * catalogue[q + "track_egress_overage_per_min_usd"]
    terms["total"] = (
        terms["fee"] + terms["cost_min"] + terms["cost_gb"] + terms["cost_transcode"] + terms["cost_track"]
    )
    return terms


def plan_costs(usage: UsageArrays, catalogue: Catalogue) -> tuple[np.ndarray, np.ndarray]:
    """(monthly cost, eligible) per plan as (n, 3) arrays in :data:`PLANS` order."""
    terms = [_plan_terms(usage, catalogue, plan) for plan in PLANS]
    return np.stack([t["total"] for t in terms], axis=1), np.stack([t["eligible"] for t in terms], axis=1)


@dataclass(frozen=True)
class PlanChoice:
    """Each plan's terms, the cheapest eligible plan per row (index into :data:`PLANS`) and
    the rows no plan fits (Enterprise, priced at Scale list rates)."""

    terms: list[dict[str, np.ndarray]]
    totals: np.ndarray  # (n, 3) in PLANS order
    picked: np.ndarray
    none_eligible: np.ndarray

    def plan(self, row: int = 0) -> str:
        return PLANS[int(self.picked[row])]


def cheapest_plans(usage: UsageArrays, catalogue: Catalogue) -> PlanChoice:
    terms = [_plan_terms(usage, catalogue, plan) for plan in PLANS]
    totals = np.stack([t["total"] for t in terms], axis=1)
    eligible = np.stack([t["eligible"] for t in terms], axis=1)
    none_eligible = np.asarray(~eligible.any(axis=1), dtype=bool)
    # Over Scale's concurrency limit (if any) means Enterprise (custom); price it at Scale list rates.
    eligible[none_eligible, 2] = True
    picked = np.argmin(np.where(eligible, totals, np.inf), axis=1)
    return PlanChoice(terms, totals, picked, none_eligible)


def price(usage: UsageArrays, catalogue: Catalogue) -> ModelResult:
    choice = cheapest_plans(usage, catalogue)
    terms, totals, picked, none_eligible = choice.terms, choice.totals, choice.picked, choice.none_eligible
    rows = np.arange(len(usage))

    def at(name: str) -> np.ndarray:
        return np.stack([t[name] for t in terms], axis=1)[rows, picked]

    items = [
        Item("plan fee", "month", np.ones(len(usage)), at("fee")),
        Item("connection minutes over plan", "participant-min", at("over_min"), at("cost_min")),
        Item("downstream data over plan", "GB", at("over_gb"), at("cost_gb")),
        Item(
            "transcode minutes over plan (ingress, composite/HLS egress)",
            "transcode-min",
            at("over_transcode"),
            at("cost_transcode"),
        ),
        Item("track egress minutes over plan", "track-egress-min", at("over_track"), at("cost_track")),
    ]
    conn_min = usage.publisher_min + usage.listener_min
    peak_conn = usage.peak_listeners + usage.peak_publishers
    scale_cap = catalogue.rate(f"{MODEL_ID}.scale.max_connections")

    def notes_for(row: int) -> list[str]:
        plan = PLANS[int(picked[row])]
        q = f"{MODEL_ID}.{plan}."
        notes = [
            f"plan: {plan.title()} (${catalogue[q + 'fee_usd']:,.0f}/month, "
            f"{catalogue[q + 'included_min']:,.0f} min, {catalogue[q + 'included_gb']:,.0f} GB and "
            f"{catalogue[q + 'included_transcode_min']:,.0f} transcode min included)",
            f"{conn_min[row]:,.0f} connection min (each connection rounded up to a minute); "
            "upstream is free; no audio-only discount on connection minutes",
        ]
        if none_eligible[row]:
            notes.append(
                f"peak {peak_conn[row]:,.0f} connections exceeds every plan's limit: Enterprise (custom pricing), "
                "priced here at Scale list rates"
            )
        for dispute in scale_cap.disputed:
            if peak_conn[row] > dispute.value and plan == "scale" and math.isinf(scale_cap.value):
                notes.append(
                    f"sources disagree on Scale's concurrency cap: LiveKit's quotas page says unlimited, some "
                    f"third-party reads of the pricing page say {dispute.value:,.0f}; at a peak of "
                    f"{peak_conn[row]:,.0f} connections the latter would mean Enterprise"
                )
        if usage.transcode_min[row] > 0:
            rate = float(_transcode_rate(catalogue, plan, usage)[row]) if plan != "build" else 0.0
            line = (
                f"{usage.transcode_min[row]:,.0f} transcode min (RTMP/URL ingress and composite/HLS egress)"
                + (f" at ${rate:g}/min over the {plan.title()} quota" if plan != "build" else "")
            )
            notes.append(line)
            if usage.video_tier[row] == 0 and plan != "build":
                audio = catalogue.rate(f"{q}transcode_audio_overage_per_min_usd")
                if audio.overridden:
                    notes.append(f"audio-only transcode rate from [prices.overrides]: ${audio.value:g}/min")
                else:
                    notes.append(
                        "LiveKit publishes no audio-only transcode rate: audio is priced at the video rate [U]; "
                        f"set {audio.rate_id} in [prices.overrides] if your invoice differs"
                    )
        return notes

    return ModelResult(MODEL_ID, totals[rows, picked], items, notes_for)


MODEL = PriceModel(MODEL_ID, "LiveKit Cloud", price)
