"""LiveKit Cloud: the cheapest eligible of Build / Ship / Scale. Build is a hard cap (usage
over any quota is refused, so it is only eligible when everything fits); Ship and Scale bill
overage. Connection minutes are already rounded up per connection in the ledger; downstream
data is rounded up to 0.01 GB."""

from __future__ import annotations

import numpy as np

from analytics.prices import Catalogue
from analytics.pricing_models.base import Item, ModelResult, UsageArrays, ceil_to

MODEL_ID = "livekit_cloud"
PLANS: tuple[str, ...] = ("build", "ship", "scale")
_TERMS = ("fee", "over_min", "cost_min", "over_gb", "cost_gb", "over_egress", "cost_egress")


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
        "over_egress": np.maximum(usage.egress_min - catalogue[q + "included_egress_min"], 0.0),
    }
    if plan == "build":
        # Hard cap; the transcode quota is shared by ingress and composite egress.
        transcode = np.maximum(
            usage.egress_min + usage.ingress_min - catalogue[q + "included_egress_min"], 0.0
        )
        terms["eligible"] = fits & (terms["over_min"] == 0) & (terms["over_gb"] == 0) & (transcode == 0)
        for name in ("cost_min", "cost_gb", "cost_egress"):
            terms[name] = np.zeros(n)
    else:
        terms["eligible"] = fits
        terms["cost_min"] = terms["over_min"] * catalogue[q + "overage_per_min_usd"]
        terms["cost_gb"] = terms["over_gb"] * catalogue[q + "overage_per_gb_usd"]
        terms["cost_egress"] = terms["over_egress"] * catalogue[q + "egress_overage_per_min_usd"]
    terms["total"] = terms["fee"] + terms["cost_min"] + terms["cost_gb"] + terms["cost_egress"]
    return terms


def plan_costs(usage: UsageArrays, catalogue: Catalogue) -> tuple[np.ndarray, np.ndarray]:
    """(monthly cost, eligible) per plan as (n, 3) arrays in :data:`PLANS` order."""
    terms = [_plan_terms(usage, catalogue, plan) for plan in PLANS]
    return np.stack([t["total"] for t in terms], axis=1), np.stack([t["eligible"] for t in terms], axis=1)


def price(usage: UsageArrays, catalogue: Catalogue) -> ModelResult:
    terms = [_plan_terms(usage, catalogue, plan) for plan in PLANS]
    totals = np.stack([t["total"] for t in terms], axis=1)
    eligible = np.stack([t["eligible"] for t in terms], axis=1)
    none_eligible = np.asarray(~eligible.any(axis=1), dtype=bool)
    # Over Scale's concurrency limit means Enterprise (custom); price it at Scale list rates.
    eligible[none_eligible, 2] = True
    picked = np.argmin(np.where(eligible, totals, np.inf), axis=1)
    rows = np.arange(len(usage))

    def at(name: str) -> np.ndarray:
        return np.stack([t[name] for t in terms], axis=1)[rows, picked]

    items = [
        Item("plan fee", "month", np.ones(len(usage)), at("fee")),
        Item("connection minutes over plan", "participant-min", at("over_min"), at("cost_min")),
        Item("downstream data over plan", "GB", at("over_gb"), at("cost_gb")),
        Item("egress minutes over plan", "egress-min", at("over_egress"), at("cost_egress")),
    ]
    conn_min = usage.publisher_min + usage.listener_min
    peak_conn = usage.peak_listeners + usage.peak_publishers

    def notes_for(row: int) -> list[str]:
        plan = PLANS[int(picked[row])]
        q = f"{MODEL_ID}.{plan}."
        notes = [
            f"plan: {plan.title()} (${catalogue[q + 'fee_usd']:,.0f}/month, "
            f"{catalogue[q + 'included_min']:,.0f} min and {catalogue[q + 'included_gb']:,.0f} GB included)",
            f"{conn_min[row]:,.0f} connection min (each connection rounded up to a minute); "
            "upstream is free; no audio-only discount on connection minutes",
        ]
        if none_eligible[row]:
            notes.append(
                f"peak {peak_conn[row]:,.0f} connections exceeds Scale's limit: Enterprise (custom pricing), "
                "priced here at Scale list rates"
            )
        if usage.egress_min[row] > 0 and plan != "build":
            notes.append(
                "egress priced at the track-egress rate; the transcode (HLS/composite) rate is unknown [U]"
            )
        if usage.ingress_min[row] > 0 and plan != "build":
            notes.append("ingress transcode minutes not priced: rate unknown [U]")
        return notes

    return ModelResult(MODEL_ID, totals[rows, picked], items, notes_for)
