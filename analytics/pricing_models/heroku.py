"""Heroku dynos: the monthly cost of a relay or control host (seed 003).

Paid dynos are prorated to the second up to their monthly price (a month is 720 hours in
Heroku's own arithmetic). Eco is a flat $5 a month for a pool of dyno hours shared by every Eco
dyno of the account; when the pool runs out the dynos sleep until the next month, so a load
needing more hours than the pool does not fit on Eco at any price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from analytics.prices import Catalogue

DynoType = Literal["eco", "basic", "standard_1x", "performance_m"]
DYNO_TYPES: tuple[str, ...] = ("eco", "basic", "standard_1x", "performance_m")
DYNO_LABELS: dict[str, str] = {
    "eco": "Eco", "basic": "Basic", "standard_1x": "Standard-1X", "performance_m": "Performance-M",
}  # fmt: skip


@dataclass(frozen=True)
class DynoCost:
    dyno_type: str
    dynos: float
    dyno_hours: float
    monthly_usd: float
    fits: bool  # False: Eco's pool is too small for the hours (the dynos would sleep)
    note: str


def dyno_cost(
    dyno_type: str, catalogue: Catalogue, *, dynos: float = 1.0, hours_each: float | None = None
) -> DynoCost:
    """``dynos`` dynos of ``dyno_type`` running ``hours_each`` hours this month (default: all
    month). An always-on Eco web dyno also needs traffic at least every 30 minutes."""
    if dyno_type not in DYNO_TYPES:
        raise ValueError(f"dyno type must be one of {', '.join(DYNO_TYPES)}, got {dyno_type!r}")
    h = "heroku."
    month_h = catalogue[h + "hours_per_month"]
    hours = month_h if hours_each is None else min(max(hours_each, 0.0), month_h)
    total_hours = dynos * hours
    label = DYNO_LABELS[dyno_type]
    if dyno_type == "eco":
        pool = catalogue[h + "eco.pool_hours"]
        fits = total_hours <= pool + 1e-9
        usd = catalogue[h + "eco.monthly_usd"] if total_hours > 0 else 0.0
        note = (
            f"{label}: ${usd:,.2f} flat for a {pool:,.0f} dyno-hour pool; {total_hours:,.0f} h needed"
            + ("" if fits else " — more than the pool: the dynos sleep once it is used up")
            + f"; a web dyno sleeps after {catalogue[h + 'eco.sleep_after_idle_min']:g} idle minutes"
        )
        return DynoCost(dyno_type, dynos, total_hours, usd, fits, note)
    monthly = catalogue[f"{h}{dyno_type}.monthly_usd"]
    usd = dynos * monthly * hours / month_h
    note = f"{label}: {dynos:g} × ${monthly:,.2f}/month prorated to {hours:,.0f} of {month_h:,.0f} h"
    return DynoCost(dyno_type, dynos, total_hours, round(usd, 10) if math.isfinite(usd) else usd, True, note)
