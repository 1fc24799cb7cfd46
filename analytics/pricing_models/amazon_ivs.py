"""Amazon IVS low-latency channels: input hours per live channel (by channel type) plus output
hours delivered, on volume tiers per billing region; no per-GB fee. Audio-only output is a tenth
of HD (since 2024-01-25; half of HD, like SD, before). IVS low-latency accepts no audio-only
input: an audio stream carries a placeholder video to a Basic channel. The first-year free tier
is noted, not applied."""

from __future__ import annotations

import numpy as np

from analytics.prices import Catalogue
from analytics.pricing_models.base import Item, ModelResult, PriceModel, UsageArrays, choose, graduated

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


# Channel type per video tier: audio streams go to a Basic channel with a placeholder video
# (IVS low-latency accepts no audio-only input), 720p to Advanced HD, 1080p to Standard.
INPUT_RATES: tuple[str, ...] = (
    f"{MODEL_ID}.input.basic_per_hour_usd",
    f"{MODEL_ID}.input.advanced_hd_per_hour_usd",
    f"{MODEL_ID}.input.standard_per_hour_usd",
)
CHANNEL_TYPES: tuple[str, ...] = ("Basic (with a placeholder video)", "Advanced HD", "Standard")


def price(usage: UsageArrays, catalogue: Catalogue) -> ModelResult:
    o = f"{MODEL_ID}.output."
    factor = np.ones(len(usage))
    for tier, rate_id in ((0, o + "audio_factor"), (2, o + "fullhd_factor")):
        rows = usage.video_tier == tier
        if rows.any():
            factor[rows] = catalogue[rate_id]
    input_rate = choose(catalogue, usage.video_tier, INPUT_RATES)
    input_hours = usage.stream_min / 60.0
    output_hours = usage.listener_min_unrounded / 60.0
    output_usd = hd_hours_usd(output_hours, usage.region, catalogue) * factor
    input_usd = input_hours * input_rate
    items = [
        Item("input hours", "h", input_hours, input_usd),
        Item("output hours", "h", output_hours, output_usd),
    ]
    stage_hours = (usage.publisher_min_unrounded + usage.listener_min_unrounded) / 60.0
    f = f"{MODEL_ID}.free_tier."

    def notes_for(row: int) -> list[str]:
        tier = int(usage.video_tier[row])
        audio = tier == 0
        stage = hd_hours_usd(stage_hours[row : row + 1], usage.region[row : row + 1], catalogue)[0]
        if audio:
            stage *= catalogue[o + "audio_factor"]
        # The first-year free tier: Basic input hours and audio/SD output hours (not applied).
        free_out = min(output_hours[row], catalogue[f + "sd_or_audio_output_hours"]) if tier == 0 else 0.0
        free_in = min(input_hours[row], catalogue[f + "basic_input_hours"]) if tier == 0 else 0.0
        saving = free_in * input_rate[row] + free_out * catalogue[f"{MODEL_ID}.hd.na_eu.t1_usd"] * factor[row]
        notes = [
            f"billing region {BILLING_REGIONS[int(usage.region[row])]}; output on the volume ladder "
            f"({'audio-only: 1/10 of HD' if audio else 'HD ladder'}); input on a {CHANNEL_TYPES[tier]} channel; "
            "no per-GB fee (IVS bills hours)",
            f"first-year free tier not applied (the first {catalogue[f + 'months']:g} months of a new AWS account): "
            f"it would take about ${saving:,.2f} off this month",
            f"a Real-Time stage instead would cost about ${stage:,.2f} ({stage_hours[row]:,.0f} participant-hours)",
        ]
        if audio:
            notes.append(
                "IVS low-latency accepts no audio-only input: the stream carries a placeholder video to a Basic "
                "channel, whose input rate is unverified [U]"
            )
        if tier == 2:
            notes.append(
                "Full HD output rate not found: HD rate used (a lower bound); Standard input rate unverified [U]"
            )
        return notes

    return ModelResult(MODEL_ID, input_usd + output_usd, items, notes_for)


MODEL = PriceModel(MODEL_ID, "Amazon IVS", price)
