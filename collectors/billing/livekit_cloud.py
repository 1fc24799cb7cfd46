"""LiveKit Cloud Analytics API (Scale plan or higher): sessions list (paged) and session details
→ connection minutes and downstream/upstream GB per room per day.

Auth is a LiveKit JWT with the ``roomList`` video grant, signed here with the project's key.
LiveKit rounds every connection up to a whole minute before summing
(https://docs.livekit.io/deploy/admin/billing), so
when a session detail gives participants we count ceil(connected s / 60) per participant;
otherwise we take its ``connectionMinutes``. Sessions are attributed to the UTC day they started.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import date, timedelta
from typing import Any

import jwt

from collectors.billing.base import (
    BillingResponseError,
    BillingRow,
    Fetched,
    HttpClient,
    Part,
    RetryPolicy,
    as_number,
    days_between,
    merge_rows,
    parse_time,
    require,
    utc_day,
)
from core.settings import LiveKitCloudBilling

log = logging.getLogger(__name__)

PROVIDER = "livekit_cloud"
MAX_PAGES = 10_000  # a bound on the paging loop, far above any real project
TOKEN_TTL_S = 3600
BYTES_PER_GB = 1e9  # LiveKit bills 1 GB = 1000 MB


def _first(record: dict[str, Any], *names: str) -> Any:
    """The first present field: current docs use camelCase, an older version snake_case."""
    for name in names:
        if name in record and record[name] is not None:
            return record[name]
    return None


def _scale_plan_hint(status: int, body: str) -> str:
    if "scale plan" in body.lower():
        return " (the Analytics API needs the Scale plan or higher)"
    return ""


def analytics_token(api_key: str, api_secret: str, now_ts: int) -> str:
    claims = {
        "iss": api_key,
        "sub": "lk-analytics",
        "nbf": now_ts - 60,
        "exp": now_ts + TOKEN_TTL_S,
        "video": {"roomList": True},
    }
    return jwt.encode(claims, api_secret, algorithm="HS256")


class LiveKitCloudCollector:
    provider = PROVIDER
    parts = (Part("sessions"),)

    def __init__(
        self, config: LiveKitCloudBilling, *, timeout_s: float = 30.0, policy: RetryPolicy | None = None
    ):
        self.config = config
        secret = config.api_secret.get_secret_value()
        token = analytics_token(config.api_key, secret, int(time.time()))
        self.http = HttpClient(
            PROVIDER,
            config.api_base_url,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout_s=timeout_s,
            policy=policy,
            secrets=[secret, token],
            auth_hint=_scale_plan_hint,
        )

    def describe_url(self) -> str:
        return f"{self.config.api_base_url}/api/project/{self.config.project_id}"

    def fetch_part(self, part: str, start: date, end: date, now_ts: int) -> Fetched:
        base = f"/api/project/{self.config.project_id}/sessions"
        rows: list[BillingRow] = []
        seen: set[str] = set()
        for session in self._list_sessions(base, start, end):
            session_id = _first(session, "sessionId", "session_id")
            started = parse_time(_first(session, "createdAt", "created_at", "startTime", "start_time"))
            if not session_id or started is None:
                log.warning("%s: skipped a session without an id or start time", PROVIDER)
                continue
            day = utc_day(started)
            if not (start <= day <= end) or session_id in seen:
                continue
            seen.add(str(session_id))
            detail = self.http.get_json(f"{base}/{session_id}")
            rows.extend(self._session_rows(session, detail, day))
        return Fetched(merge_rows(rows), days_between(start, end))

    def _list_sessions(self, base: str, start: date, end: date) -> Any:
        # `end` may be inclusive or exclusive in the API: ask one day more, filter by start day.
        params: dict[str, Any] = {
            "limit": self.config.page_size,
            "start": start.isoformat(),
            "end": (end + timedelta(days=1)).isoformat(),
        }
        for page in range(MAX_PAGES):
            body = self.http.get_json(base, {**params, "page": page})
            sessions = require(PROVIDER, body, "sessions") if body is not None else []
            if sessions is None:
                sessions = []
            if not isinstance(sessions, list):
                raise BillingResponseError(PROVIDER, "field 'sessions' is not a list")
            yield from (s for s in sessions if isinstance(s, dict))
            if len(sessions) < self.config.page_size:
                return
        log.warning("%s: stopped paging after %d pages", PROVIDER, MAX_PAGES)

    def _session_rows(self, listed: dict[str, Any], detail: Any, day: date) -> list[BillingRow]:
        if not isinstance(detail, dict):
            raise BillingResponseError(PROVIDER, "session detail is not an object")
        room = str(_first(detail, "roomName", "room_name") or _first(listed, "roomName", "room_name") or "")
        dims = {"room": room}
        rows: list[BillingRow] = []
        minutes = _connection_minutes(detail)
        if minutes is not None:
            rows.append(BillingRow(PROVIDER, day, "connection_min", "min", minutes, None, dims))
        down_bytes = as_number(_first(detail, "bandwidth"))
        if down_bytes is None:
            down_bytes = as_number(_first(listed, "bandwidthOut", "bandwidth_out"))
        if down_bytes is not None:
            # Data is billed in 0.01 GB increments on the monthly total, not per session.
            rows.append(
                BillingRow(PROVIDER, day, "downstream_gb", "GB", down_bytes / BYTES_PER_GB, None, dims)
            )
        up_bytes = as_number(_first(listed, "bandwidthIn", "bandwidth_in"))
        if up_bytes is not None:
            rows.append(BillingRow(PROVIDER, day, "upstream_gb", "GB", up_bytes / BYTES_PER_GB, None, dims))
        return rows


def _connection_minutes(detail: dict[str, Any]) -> float | None:
    participants = detail.get("participants")
    if isinstance(participants, list) and participants:
        total = 0
        ended = parse_time(_first(detail, "endTime", "end_time"))
        for participant in participants:
            if not isinstance(participant, dict):
                continue
            joined = parse_time(_first(participant, "joinedAt", "joined_at"))
            left = parse_time(_first(participant, "leftAt", "left_at")) or ended
            if joined is None or left is None or left < joined:
                continue
            total += max(1, math.ceil((left - joined) / 60.0))  # rounded up per connection
        return float(total)
    stated = as_number(_first(detail, "connectionMinutes", "connection_minutes"))
    return stated
