"""Amazon IVS live streams and CloudWatch ConcurrentViews as a source
(collectors/audience_apis/ivs.py reads, through boto3)."""

from __future__ import annotations

from collectors.audience_apis.ivs import IvsClient
from collectors.pollers.audience_api import AudienceApiPoller
from core.settings import CollectorSettings, IvsSource


class IvsPoller(AudienceApiPoller[IvsSource]):
    kind = "ivs"

    def __init__(self, source: IvsSource, collectors: CollectorSettings) -> None:
        super().__init__(source, collectors)
        self.client = IvsClient(source, collectors)
