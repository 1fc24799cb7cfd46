"""Agora (legacy pay-as-you-go per 1,000 minutes; the standard-minute model is noted).

Only subscribing matters: a user receiving video is billed at the video tier, everyone else at
audio. A single host receives nobody's video, so sellers/DJs bill as audio; hosts bill at the
video tier only with several video publishers per stream. The 10,000 free minutes are taken
in Agora's order (audience audio, host audio, then video). Volume discounts are read as
graduated: a band's discount applies to the minutes inside that band (our reading [U]).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analytics.prices import Catalogue
from analytics.pricing_models.base import Item, ModelResult, UsageArrays

MODEL_ID = "agora"
TIER_KEYS: tuple[str, ...] = ("audio", "hd", "fullhd")


def tier_rate(catalogue: Catalogue, prefix: str, tier: np.ndarray) -> np.ndarray:
    """Per-minute USD by video tier index for ``agora.<prefix>.<tier>_per_1000_usd``."""
    rates = [catalogue[f"{MODEL_ID}.{prefix}.{key}_per_1000_usd"] / 1000.0 for key in TIER_KEYS]
    return np.choose(tier.astype(int), rates)


def volume_bands(catalogue: Catalogue) -> tuple[list[float], list[float]]:
    v = f"{MODEL_ID}.volume."
    bounds = [catalogue[v + "tier1_min"], catalogue[v + "tier2_min"], catalogue[v + "tier3_min"]]
    discounts = [
        0.0,
        catalogue[v + "tier1_discount"],
        catalogue[v + "tier2_discount"],
        catalogue[v + "tier3_discount"],
    ]
    return bounds, discounts


def _discounted_length(
    start: np.ndarray, end: np.ndarray, bounds: Sequence[float], discounts: Sequence[float]
) -> np.ndarray:
    """∫ (1 − discount(x)) dx over [start, end] of the month's minute positions."""
    total = np.zeros_like(start)
    lower = 0.0
    for index, discount in enumerate(discounts):
        upper = bounds[index] if index < len(bounds) else np.inf
        overlap = np.clip(np.minimum(end, upper) - np.maximum(start, lower), 0.0, None)
        total += overlap * (1.0 - discount)
        lower = upper
    return total


def minutes_cost(
    segments: Sequence[tuple[np.ndarray, np.ndarray]], catalogue: Catalogue
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Price ``(minutes, usd_per_min)`` segments in Agora's deduction order: the free minutes
    come off the first segments, volume bands apply by position. Returns (billable minutes,
    usd) per segment. Minutes are summed for the month and rounded up (Agora meters seconds)."""
    free = catalogue[f"{MODEL_ID}.free_min"]
    bounds, discounts = volume_bands(catalogue)
    position = np.zeros_like(segments[0][0], dtype=np.float64)
    billable_out: list[np.ndarray] = []
    usd_out: list[np.ndarray] = []
    for minutes, rate in segments:
        minutes = np.ceil(np.round(minutes, 6))
        start, end = position, position + minutes
        paid_start = np.maximum(start, free)
        billable = np.clip(end - paid_start, 0.0, None)
        effective = _discounted_length(paid_start, np.maximum(end, paid_start), bounds, discounts)
        billable_out.append(billable)
        usd_out.append(effective * rate)
        position = end
    return billable_out, usd_out


def host_tier(usage: UsageArrays) -> np.ndarray:
    """Hosts receive video only when several video publishers share a stream."""
    return np.where((usage.video_tier > 0) & (usage.publishers_per_stream > 1.0), usage.video_tier, 0.0)


def price(usage: UsageArrays, catalogue: Catalogue) -> ModelResult:
    n = len(usage)
    zeros = np.zeros(n)
    audience_video = usage.video_tier > 0
    hosts_video = host_tier(usage) > 0
    audience_rate = tier_rate(catalogue, "audience", usage.video_tier)
    host_rate = tier_rate(catalogue, "host", host_tier(usage))
    audience = usage.listener_min_unrounded
    hosts = usage.publisher_min_unrounded
    # Agora's free-minute order: audio (audience, then hosts) before video.
    segments = [
        (np.where(audience_video, 0.0, audience), audience_rate),
        (np.where(hosts_video, 0.0, hosts), host_rate),
        (np.where(audience_video, audience, 0.0), audience_rate),
        (np.where(hosts_video, hosts, 0.0), host_rate),
    ]
    billable, usd = minutes_cost(segments, catalogue)
    recording_rate = tier_rate(catalogue, "recording", usage.video_tier)
    recording_usd = usage.recording_min * recording_rate
    total = sum(usd, zeros) + recording_usd
    items = [
        Item("audience minutes (audio)", "min", billable[0], usd[0]),
        Item("host minutes (audio)", "min", billable[1], usd[1]),
        Item("audience minutes (video)", "min", billable[2], usd[2]),
        Item("host minutes (video)", "min", billable[3], usd[3]),
        Item("Cloud Recording", "min", usage.recording_min, recording_usd),
    ]
    s = f"{MODEL_ID}.standard."
    ratios = np.choose(
        usage.video_tier.astype(int),
        [catalogue[s + "audio_ratio"], catalogue[s + "hd_ratio"], catalogue[s + "fullhd_ratio"]],
    )
    host_ratio = np.where(hosts_video, ratios, catalogue[s + "audio_ratio"])
    standard_min = audience * ratios + hosts * host_ratio

    def notes_for(row: int) -> list[str]:
        tier = TIER_KEYS[int(usage.video_tier[row])]
        free = catalogue[f"{MODEL_ID}.free_min"]
        standard_usd = max(standard_min[row] - free, 0.0) * catalogue[s + "per_1000_usd"] / 1000.0
        return [
            f"legacy pay-as-you-go: audience at the {tier} audience rate, hosts at "
            f"{'the video' if hosts_video[row] else 'the audio'} host rate; {free:,.0f} free min/month; "
            "volume discounts 5/7/10% applied per band (graduated reading [U])",
            f"standard-minute model (accounts from 2025-08-29): {standard_min[row]:,.0f} standard min ≈ "
            f"${standard_usd:,.2f} at list price before package discounts (package fees unknown [U])",
        ]

    return ModelResult(MODEL_ID, total, items, notes_for)
