"""Amazon IVS low-latency channels: input hours per live channel plus output hours delivered,
on volume tiers per billing region. Audio-only output is a tenth of HD."""

from __future__ import annotations

import numpy as np

from analytics.prices import Catalogue
from analytics.pricing_models.base import Item, ModelResult, UsageArrays, graduated

MODEL_ID = "amazon_ivs"
# analytics.ledger.REGIONS → IVS billing region keys in the catalogue.
BILLING_REGIONS: tuple[str, ...] = ("na_eu", "na_eu", "apac", "apac", "anz", "sa", "kr")


def _ladder(catalogue: Catalogue, region_key: str) -> list[float]:
    return [catalogue[f"{MODEL_ID}.hd.{region_key}.t{tier}_usd"] for tier in range(1, 6)]


def hd_hours_usd(hours: np.ndarray, region: np.ndarray, catalogue: Catalogue) -> np.ndarray:
    """HD output (or real-time participant) hours on the graduated ladder of each row's region."""
    t = f"{MODEL_ID}.tier."
    bounds = [
        catalogue[t + "t1_hours"],
        catalogue[t + "t2_hours"],
        catalogue[t + "t3_hours"],
        catalogue[t + "t4_hours"],
    ]
    total = np.zeros_like(hours)
    for index, key in enumerate(BILLING_REGIONS):
        mask = region.astype(int) == index
        if mask.any():
            total[mask] = graduated(hours[mask], bounds, _ladder(catalogue, key))
    return total


def price(usage: UsageArrays, catalogue: Catalogue) -> ModelResult:
    o = f"{MODEL_ID}.output."
    factor = np.choose(
        usage.video_tier.astype(int), [catalogue[o + "audio_factor"], 1.0, catalogue[o + "fullhd_factor"]]
    )
    input_rate = np.where(
        usage.video_tier > 0,
        catalogue[f"{MODEL_ID}.input.advanced_hd_per_hour_usd"],
        catalogue[f"{MODEL_ID}.input.basic_per_hour_usd"],
    )
    input_hours = usage.stream_min / 60.0
    output_hours = usage.listener_min_unrounded / 60.0
    output_usd = hd_hours_usd(output_hours, usage.region, catalogue) * factor
    input_usd = input_hours * input_rate
    items = [
        Item("input hours", "h", input_hours, input_usd),
        Item("output hours", "h", output_hours, output_usd),
    ]
    stage_hours = (usage.publisher_min_unrounded + usage.listener_min_unrounded) / 60.0

    def notes_for(row: int) -> list[str]:
        audio = usage.video_tier[row] == 0
        stage = hd_hours_usd(stage_hours[row : row + 1], usage.region[row : row + 1], catalogue)[0]
        if audio:
            stage *= catalogue[o + "audio_factor"]
        notes = [
            f"billing region {BILLING_REGIONS[int(usage.region[row])]}; output on the volume ladder "
            f"({'audio-only: 1/10 of HD' if audio else 'HD ladder'}); first-year free tier not applied",
            f"a Real-Time stage instead would cost about ${stage:,.2f} ({stage_hours[row]:,.0f} participant-hours)",
        ]
        if audio:
            notes.append("audio channels priced with the Basic input rate, which is unverified [U]")
        if usage.video_tier[row] == 2:
            notes.append("Full HD output rate not found; HD rate used (a lower bound) [U]")
        return notes

    return ModelResult(MODEL_ID, input_usd + output_usd, items, notes_for)
