"""Cloudflare Stream: listeners watch HLS; ingest and encoding are free, so publishers cost
nothing; minutes delivered carry the bandwidth; recordings consume prepaid storage blocks."""

from __future__ import annotations

import numpy as np

from analytics.prices import Catalogue
from analytics.pricing_models.base import Item, ModelResult, PriceModel, UsageArrays

MODEL_ID = "cloudflare_stream"


def delivery_usd(minutes: np.ndarray, catalogue: Catalogue) -> np.ndarray:
    return minutes * catalogue["cloudflare.stream.delivery_per_1000_min_usd"] / 1000.0


def storage_blocks(recording_min: np.ndarray) -> np.ndarray:
    """Prepaid 1,000-minute blocks needed for this month's recordings."""
    return np.ceil(np.round(recording_min / 1000.0, 9))


def realtime_egress_usd(gb: np.ndarray, catalogue: Catalogue) -> np.ndarray:
    """Cloudflare Realtime (SFU/TURN) egress over the month's free allowance."""
    return (
        np.maximum(gb - catalogue["cloudflare.realtime.free_gb"], 0.0)
        * catalogue["cloudflare.realtime.egress_per_gb_usd"]
    )


def price(usage: UsageArrays, catalogue: Catalogue) -> ModelResult:
    n = len(usage)
    delivered = usage.listener_min_unrounded
    blocks = storage_blocks(usage.recording_min)
    items = [
        Item("minutes delivered", "min", delivered, delivery_usd(delivered, catalogue)),
        Item(
            "minutes stored (1,000-min blocks)",
            "block",
            blocks,
            blocks * catalogue["cloudflare.stream.storage_per_1000_min_usd"],
        ),
        Item("live input and encoding", "min", usage.stream_min, np.zeros(n)),
    ]
    total = items[0].usd + items[1].usd

    def notes_for(_row: int) -> list[str]:
        return [
            "listeners on HLS (several seconds of latency); publishers' ingest (RTMPS/SRT/WHIP) and encoding are free",
            "Stream bills audio-only the same as video (minutes delivered, bandwidth included)",
            "storage counts only this month's recordings; stored minutes accumulate month over month",
        ]

    return ModelResult(MODEL_ID, total, items, notes_for)


MODEL = PriceModel(MODEL_ID, "Cloudflare Stream", price)
