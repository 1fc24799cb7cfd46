"""Every price model the cost engine prices, in the order its JSON lists them (the model ids
are part of the ``python -m analytics plan/costs --json`` interface). Adding a provider: a
module here with its ``price`` function and a ``PriceModel``, and one line in this tuple."""

from __future__ import annotations

from analytics.pricing_models import agora, amazon_ivs, cloudflare_stream, hybrids, livekit_cloud, self_hosted
from analytics.pricing_models.base import PriceModel

PRICE_MODELS: tuple[PriceModel, ...] = (
    livekit_cloud.MODEL,
    self_hosted.MODEL,
    agora.MODEL,
    agora.LEGACY_MODEL,
    cloudflare_stream.MODEL,
    amazon_ivs.MODEL,
    hybrids.LIVEKIT_HLS_MODEL,
    hybrids.AGORA_CLOUDFLARE_MODEL,
)
