"""Agora channels (hosts, audience), Media Push converters and Cloud Recording sessions as a
source (collectors/audience_apis/agora.py reads)."""

from __future__ import annotations

from collectors.audience_apis.agora import AgoraClient
from collectors.pollers.audience_api import AudienceApiPoller
from core.settings import AgoraSource, CollectorSettings


class AgoraPoller(AudienceApiPoller[AgoraSource]):
    kind = "agora"

    def __init__(self, source: AgoraSource, collectors: CollectorSettings) -> None:
        super().__init__(source, collectors)
        self.client = AgoraClient(source, collectors)
