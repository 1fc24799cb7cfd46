"""Agora usage API (``GET /dev/v3/usage``, HTTP Basic with Customer ID/Secret): seconds per UTC day
per tier and business type → minutes (docs/ARCHITECTURE.md, Facts: the Agora usage API).

The API gives no money and no host/audience split; the reconciliation prices the minutes with
the catalogue. Agora sums seconds per category over the month and rounds up to whole minutes,
so minutes are stored unrounded here.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from collectors.billing.base import (
    BillingResponseError,
    BillingRow,
    Fetched,
    HttpClient,
    Part,
    RetryPolicy,
    as_number,
    chunked_days,
    days_between,
    merge_rows,
    parse_time,
    require,
    utc_day,
)
from core.settings import AgoraBilling

log = logging.getLogger(__name__)

PROVIDER = "agora"
# A conservative window per request; the API takes from/to dates.
MAX_DAYS_PER_QUERY = 31

# usage field → (metric, tier). durationVideoHdp is the legacy HD+ tier; 4K is billed as 2K+.
FIELDS: dict[str, tuple[str, str]] = {
    "durationAudioAll": ("audio_min", "audio"),
    "durationVideoHd": ("video_hd_min", "hd"),
    "durationVideoHdp": ("video_hdp_min", "hdp"),
    "durationVideo1080P": ("video_fullhd_min", "fullhd"),
    "durationVideo2K": ("video_2k_min", "2k"),
    "durationVideo4K": ("video_2kplus_min", "2kplus"),
}


class AgoraCollector:
    provider = PROVIDER
    parts = (Part("usage"),)

    def __init__(self, config: AgoraBilling, *, timeout_s: float = 30.0, policy: RetryPolicy | None = None):
        self.config = config
        secret = config.customer_secret.get_secret_value()
        self.http = HttpClient(
            PROVIDER,
            config.api_base_url,
            headers={"Content-Type": "application/json"},
            auth=(config.customer_id, secret),
            timeout_s=timeout_s,
            policy=policy,
            secrets=[secret],
        )

    def describe_url(self) -> str:
        return f"{self.config.api_base_url}/dev/v3/usage"

    def fetch_part(self, part: str, start: date, end: date, now_ts: int) -> Fetched:
        rows: list[BillingRow] = []
        for project_id in self.config.project_ids:
            for business in self.config.business:
                for first, last in chunked_days(start, end, MAX_DAYS_PER_QUERY):
                    body = self.http.get_json(
                        "/dev/v3/usage",
                        {
                            "project_id": project_id,
                            "from_date": first.isoformat(),
                            "to_date": last.isoformat(),
                            "business": business,
                        },
                    )
                    rows.extend(self._rows(body, project_id, business, first, last))
        return Fetched(merge_rows(rows), days_between(start, end))

    def _rows(self, body: Any, project_id: str, business: str, first: date, last: date) -> list[BillingRow]:
        usages = require(PROVIDER, body, "usages")
        if usages is None:  # an empty period may come back as null
            return []
        if not isinstance(usages, list):
            raise BillingResponseError(PROVIDER, "field 'usages' is not a list")
        rows: list[BillingRow] = []
        dims = {"project_id": project_id, "business": business}
        for entry in usages:
            when = parse_time(entry.get("date")) if isinstance(entry, dict) else None
            usage = entry.get("usage") if isinstance(entry, dict) else None
            if when is None or not isinstance(usage, dict):
                log.warning("%s: skipped a usage entry without a date or usage", PROVIDER)
                continue
            day = utc_day(when)
            if not (first <= day <= last):
                continue
            for field_name, (metric, tier) in FIELDS.items():
                seconds = as_number(usage.get(field_name))
                if seconds is None:
                    continue
                rows.append(
                    BillingRow(PROVIDER, day, metric, "min", seconds / 60.0, None, {**dims, "tier": tier})
                )
        return rows
