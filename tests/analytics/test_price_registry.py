"""The price models are one typed registry: each carries its id and label, and the cost
engine's ids and labels are views of it (ids and labels written here by hand)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from analytics.costs import MODEL_IDS, MODEL_LABELS, MODELS
from analytics.prices import load_catalogue
from analytics.pricing_models.base import PriceModel, UsageArrays
from analytics.pricing_models.registry import PRICE_MODELS

EXPECTED = {
    "livekit_cloud": "LiveKit Cloud",
    "livekit_self_hosted": "LiveKit self-hosted",
    "agora": "Agora",
    "agora_legacy": "Agora (legacy pay-as-you-go)",
    "cloudflare_stream": "Cloudflare Stream",
    "amazon_ivs": "Amazon IVS",
    "hybrid_livekit_hls": "LiveKit + HLS (R2)",
    "hybrid_agora_cloudflare": "Agora + Cloudflare Stream",
}


def test_ids_and_labels_come_from_the_registry_in_order() -> None:
    assert all(isinstance(model, PriceModel) for model in PRICE_MODELS)
    assert tuple(EXPECTED) == MODEL_IDS
    assert MODEL_LABELS == EXPECTED
    assert [MODELS[model_id].label for model_id in MODEL_IDS] == list(EXPECTED.values())


def test_each_model_prices_under_its_own_id() -> None:
    catalogue = load_catalogue(as_of=dt.date(2026, 12, 1))
    one = np.ones(1)
    usage = UsageArrays.from_scenarios(
        streams=one, hours_per_day=2 * one, days_per_month=30 * one, listeners_per_stream=50 * one,
        publishers_per_stream=one, audio_kbps=64 * one, video_tier=0 * one, recording=0 * one, region=0 * one,
    )  # fmt: skip
    for model in PRICE_MODELS:
        result = model(usage, catalogue)
        assert result.model_id == model.model_id
        assert result.total_usd.shape == (1,) and float(result.total_usd[0]) > 0
