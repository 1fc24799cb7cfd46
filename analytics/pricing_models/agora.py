"""Agora: two models, for two kinds of account.

``agora`` — accounts created since 2025-08-29: usage converts to *standard minutes* (hosts and
Interactive Live Streaming audiences at 1 / 4 / 9 per minute for audio / HD / Full HD,
Broadcast Streaming audiences at 0.57 / 2 / 4.57), summed for the month and rounded up, then
billed by the cheapest package: Free (10,000 standard minutes, service suspended above them)
or a paid package (a monthly fee for its minutes, then $0.99 per 1,000; no free minutes).

``agora_legacy`` — older accounts on pay-as-you-go: per-minute rates per 1,000 minutes (hosts
and Interactive Live Streaming audiences at host rates, Broadcast Streaming audiences at
audience rates), 10,000 free minutes taken in Agora's order (audience audio, host audio, then
video), volume discounts per band of the month's minutes.

Only subscribing matters: a user receiving video is billed at the video tier, everyone else at
audio. A single host receives nobody's video, so sellers/DJs bill as audio; hosts bill at the
video tier only with several video publishers per stream. Which audience product a scenario's
audience is on (``audience_product``) is an input: castmeter cannot see it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from analytics.prices import Catalogue
from analytics.pricing_models.base import Item, ModelResult, PriceModel, UsageArrays, choose

MODEL_ID = "agora"
LEGACY_ID = "agora_legacy"
TIER_KEYS: tuple[str, ...] = ("audio", "hd", "fullhd")
PACKAGES: tuple[str, ...] = ("free", "starter", "pro", "business", "business_advanced", "business_plus")
PACKAGE_LABELS: dict[str, str] = {
    "free": "Free", "starter": "Starter", "pro": "Pro", "business": "Business",
    "business_advanced": "Business Advanced", "business_plus": "Business Plus",
}  # fmt: skip


def tier_rate(catalogue: Catalogue, prefix: str, tier: np.ndarray) -> np.ndarray:
    """Per-minute USD by video tier index for ``agora.<prefix>.<tier>_per_1000_usd``."""
    ids = [f"{MODEL_ID}.{prefix}.{key}_per_1000_usd" for key in TIER_KEYS]
    return choose(catalogue, tier, ids) / 1000.0


def audience_rate(catalogue: Catalogue, tier: np.ndarray, interactive: np.ndarray) -> np.ndarray:
    """Legacy per-minute audience rate: host rates for Interactive Live Streaming audiences,
    audience rates for Broadcast Streaming audiences."""
    out = np.zeros_like(tier, dtype=np.float64)
    ils = np.asarray(interactive) > 0
    if ils.any():
        out[ils] = tier_rate(catalogue, "host", tier[ils])
    if (~ils).any():
        out[~ils] = tier_rate(catalogue, "audience", tier[~ils])
    return out


def host_ratio(catalogue: Catalogue, tier: np.ndarray) -> np.ndarray:
    s = f"{MODEL_ID}.standard."
    return choose(catalogue, tier, [s + "audio_ratio", s + "hd_ratio", s + "fullhd_ratio"])


def audience_ratio(catalogue: Catalogue, tier: np.ndarray, interactive: np.ndarray) -> np.ndarray:
    """Standard minutes per audience minute: host ratios for Interactive Live Streaming,
    the Broadcast Streaming audience ratios otherwise."""
    s = f"{MODEL_ID}.standard."
    out = np.zeros_like(tier, dtype=np.float64)
    ils = np.asarray(interactive) > 0
    if ils.any():
        out[ils] = host_ratio(catalogue, tier[ils])
    if (~ils).any():
        ids = [s + f"broadcast_audience_{key}_ratio" for key in TIER_KEYS]
        out[~ils] = choose(catalogue, tier[~ils], ids)
    return out


def host_tier(usage: UsageArrays) -> np.ndarray:
    """Hosts receive video only when several video publishers share a stream."""
    return np.where((usage.video_tier > 0) & (usage.publishers_per_stream > 1.0), usage.video_tier, 0.0)


def round_up_minutes(minutes: np.ndarray) -> np.ndarray:
    """Agora sums the month's seconds and rounds the total up to a whole minute."""
    return np.ceil(np.round(minutes, 6))


# ---------------------------------------------------------------------------------------------
# Standard minutes and packages (accounts since 2025-08-29)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PackageBill:
    standard_min: np.ndarray
    package: np.ndarray  # index into PACKAGES
    fee_usd: np.ndarray
    over_min: np.ndarray
    over_usd: np.ndarray

    @property
    def total_usd(self) -> np.ndarray:
        return self.fee_usd + self.over_usd


def package_bill(standard_min: np.ndarray, catalogue: Catalogue) -> PackageBill:
    """The cheapest package for each row's standard minutes (already rounded up). The Free
    package only fits up to its minutes (the service stops above them)."""
    p = f"{MODEL_ID}.package."
    per_min = catalogue[f"{MODEL_ID}.standard.per_1000_usd"] / 1000.0
    fees, overs, totals = [], [], []
    for name in PACKAGES:
        included = catalogue[f"{p}{name}.included_min"]
        over = np.maximum(standard_min - included, 0.0)
        if name == "free":
            fee = np.zeros_like(standard_min)
            total = np.where(over > 0, np.inf, 0.0)
        else:
            fee = np.full_like(standard_min, catalogue[f"{p}{name}.fee_usd"])
            total = fee + over * per_min
        fees.append(fee)
        overs.append(over)
        totals.append(total)
    stacked = np.stack(totals, axis=1)
    picked = np.argmin(stacked, axis=1)
    rows = np.arange(len(standard_min))
    fee = np.stack(fees, axis=1)[rows, picked]
    over = np.stack(overs, axis=1)[rows, picked]
    return PackageBill(standard_min, picked, fee, over, over * per_min)


# Every resolution the usage API reports, as ``agora.standard.<tier>_ratio`` keys.
HOST_RATIO_TIERS: tuple[str, ...] = ("audio", "hd", "fullhd", "2k", "2kplus")


def host_ratio_minutes(minutes_by_tier: Mapping[str, float], catalogue: Catalogue) -> float:
    """Standard minutes of billed minutes per resolution (keys of :data:`HOST_RATIO_TIERS`),
    every tier at the host ratio (the usage API has no host/audience split: an upper bound),
    before the month's rounding."""
    return sum(
        minutes * catalogue[f"{MODEL_ID}.standard.{tier}_ratio"] for tier, minutes in minutes_by_tier.items()
    )


def billed_package(minutes_by_tier: Mapping[str, float], catalogue: Catalogue) -> PackageBill:
    """A month of billed minutes per resolution under the standard-minute model: at host
    ratios, summed, rounded up, billed by the cheapest package."""
    standard = host_ratio_minutes(minutes_by_tier, catalogue)
    return package_bill(round_up_minutes(np.array([standard], dtype=np.float64)), catalogue)


def standard_minutes(usage: UsageArrays, catalogue: Catalogue) -> tuple[np.ndarray, np.ndarray]:
    """(audience, host) standard minutes before the month's rounding."""
    audience = usage.listener_min_unrounded * audience_ratio(
        catalogue, usage.video_tier, usage.audience_interactive
    )
    hosts = usage.publisher_min_unrounded * host_ratio(catalogue, host_tier(usage))
    return audience, hosts


def recording_usd(usage: UsageArrays, catalogue: Catalogue) -> np.ndarray:
    """Cloud Recording (a value-added service, billed outside standard minutes)."""
    out = np.zeros(len(usage))
    recorded = usage.recording_min > 0
    if recorded.any():
        out[recorded] = usage.recording_min[recorded] * tier_rate(
            catalogue, "recording", usage.video_tier[recorded]
        )
    return out


def audience_label(usage: UsageArrays, row: int) -> str:
    product = "Interactive Live Streaming" if usage.audience_interactive[row] > 0 else "Broadcast Streaming"
    return f"{product} audience"


def price(usage: UsageArrays, catalogue: Catalogue) -> ModelResult:
    audience_std, host_std = standard_minutes(usage, catalogue)
    bill = package_bill(round_up_minutes(audience_std + host_std), catalogue)
    rec_usd = recording_usd(usage, catalogue)
    items = [
        Item("package fee", "month", (bill.fee_usd > 0).astype(float), bill.fee_usd),
        Item("standard minutes over the package", "standard min", bill.over_min, bill.over_usd),
        Item("Cloud Recording", "min", usage.recording_min, rec_usd),
    ]
    a_ratio = audience_ratio(catalogue, usage.video_tier, usage.audience_interactive)
    h_ratio = host_ratio(catalogue, host_tier(usage))

    def notes_for(row: int) -> list[str]:
        name = PACKAGES[int(bill.package[row])]
        included = catalogue[f"{MODEL_ID}.package.{name}.included_min"]
        fee = 0.0 if name == "free" else catalogue[f"{MODEL_ID}.package.{name}.fee_usd"]
        legacy = float(price_legacy(usage.take(row), catalogue).total_usd[0])
        return [
            f"standard-minute model (accounts since 2025-08-29): package {PACKAGE_LABELS[name]} "
            f"(${fee:,.2f}/month, {included:,.0f} standard min), then "
            f"${catalogue[f'{MODEL_ID}.standard.per_1000_usd']:g} per 1,000",
            f"{bill.standard_min[row]:,.0f} standard min = {usage.listener_min_unrounded[row]:,.0f} audience min × "
            f"{a_ratio[row]:g} ({audience_label(usage, row)}, {TIER_KEYS[int(usage.video_tier[row])]}) + "
            f"{usage.publisher_min_unrounded[row]:,.0f} host min × {h_ratio[row]:g}",
            "the Free package stops service above its minutes; a paid package has no free minutes; "
            "top-up packages (valid a year) cost $0.89-0.94 per 1,000 standard min",
            f"a legacy pay-as-you-go account (before 2025-08-29) would pay ${legacy:,.2f}",
        ]

    return ModelResult(MODEL_ID, bill.total_usd + rec_usd, items, notes_for)


# ---------------------------------------------------------------------------------------------
# Legacy pay-as-you-go (accounts from before 2025-08-29)
# ---------------------------------------------------------------------------------------------


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
        minutes = round_up_minutes(minutes)
        start, end = position, position + minutes
        paid_start = np.maximum(start, free)
        billable = np.clip(end - paid_start, 0.0, None)
        effective = _discounted_length(paid_start, np.maximum(end, paid_start), bounds, discounts)
        billable_out.append(billable)
        usd_out.append(effective * rate)
        position = end
    return billable_out, usd_out


def price_legacy(usage: UsageArrays, catalogue: Catalogue) -> ModelResult:
    n = len(usage)
    zeros = np.zeros(n)
    audience_video = usage.video_tier > 0
    hosts_video = host_tier(usage) > 0
    a_rate = audience_rate(catalogue, usage.video_tier, usage.audience_interactive)
    h_rate = tier_rate(catalogue, "host", host_tier(usage))
    audience = usage.listener_min_unrounded
    hosts = usage.publisher_min_unrounded
    # Agora's free-minute order: audio (audience, then hosts) before video.
    segments = [
        (np.where(audience_video, 0.0, audience), a_rate),
        (np.where(hosts_video, 0.0, hosts), h_rate),
        (np.where(audience_video, audience, 0.0), a_rate),
        (np.where(hosts_video, hosts, 0.0), h_rate),
    ]
    billable, usd = minutes_cost(segments, catalogue)
    rec_usd = recording_usd(usage, catalogue)
    total = sum(usd, zeros) + rec_usd
    items = [
        Item("audience minutes (audio)", "min", billable[0], usd[0]),
        Item("host minutes (audio)", "min", billable[1], usd[1]),
        Item("audience minutes (video)", "min", billable[2], usd[2]),
        Item("host minutes (video)", "min", billable[3], usd[3]),
        Item("Cloud Recording", "min", usage.recording_min, rec_usd),
    ]

    def notes_for(row: int) -> list[str]:
        tier = TIER_KEYS[int(usage.video_tier[row])]
        free = catalogue[f"{MODEL_ID}.free_min"]
        product = (
            "host rates (Interactive Live Streaming)"
            if usage.audience_interactive[row] > 0
            else "Broadcast Streaming audience rates"
        )
        return [
            f"legacy pay-as-you-go (accounts from before 2025-08-29): audience at {product} ({tier}), hosts at "
            f"{'the video' if hosts_video[row] else 'the audio'} host rate; {free:,.0f} free min/month; "
            "volume discounts 5/7/10% on the minutes inside each band",
        ]

    return ModelResult(LEGACY_ID, total, items, notes_for)


MODEL = PriceModel(MODEL_ID, "Agora", price)
LEGACY_MODEL = PriceModel(LEGACY_ID, "Agora (legacy pay-as-you-go)", price_legacy)
