"""Cloudflare Stream live inputs, live viewers and minutes viewed as a source
(collectors/audience_apis/cloudflare_stream.py reads)."""

from __future__ import annotations

from collectors.audience_apis.cloudflare_stream import CloudflareStreamClient
from collectors.pollers.audience_api import AudienceApiPoller
from core.settings import CloudflareStreamSource, CollectorSettings


class CloudflareStreamPoller(AudienceApiPoller[CloudflareStreamSource]):
    kind = "cloudflare_stream"

    def __init__(self, source: CloudflareStreamSource, collectors: CollectorSettings) -> None:
        super().__init__(source, collectors)
        self.client = CloudflareStreamClient(source, collectors)
