"""Agora as an audience source: Channel Management REST (online channels, paged; hosts and
audience per channel), Media Push converters (the RTC channel -> RTMP relay) and Cloud Recording
sessions' state (query). Contract and traps: docs/ARCHITECTURE.md, "Audience APIs"."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from collectors.audience_apis.common import MAX_PAGES, AudienceSnapshot, http_client, label, sink_without_key
from collectors.billing.base import BillingError, BillingResponseError, HttpStatusError, as_number, parse_time
from core.settings import AgoraRecordingSession, AgoraSource, CollectorSettings
from store.audience import AudienceSample, RelaySample

log = logging.getLogger(__name__)

# Media Push converter state -> relay health.
CONVERTER_HEALTH = {"running": "ok", "connecting": "degraded", "failed": "down"}
# Cloud Recording serverResponse.status -> (relay health, its meaning).
RECORDING_STATUS = {
    0: ("degraded", "not started"),
    1: ("degraded", "initialised"),
    2: ("degraded", "starting"),
    3: ("degraded", "partially ready"),
    4: ("degraded", "ready"),
    5: ("ok", "in progress"),
    6: ("idle", "stop requested"),
    7: ("idle", "stopped"),
    8: ("idle", "exited"),
    20: ("down", "exited abnormally"),
}
# Web-mode rtmp_publish_service outputs[].status -> relay health.
RTMP_OUTPUT_HEALTH = {
    "publishing": "ok",
    "connecting": "degraded",
    "onhold": "degraded",
    "disconnected": "down",
}


class AgoraClient:
    def __init__(self, source: AgoraSource, collectors: CollectorSettings) -> None:
        self.source = source
        self.label = label("agora", source.name)
        secret = source.customer_secret.get_secret_value()
        self.http = http_client(
            self.label,
            source.api_base_url,
            collectors,
            secrets=[secret],
            headers={"Content-Type": "application/json"},
            auth=(source.customer_id, secret),
        )

    def poll(self, now_ts: int) -> AudienceSnapshot:
        start_calls = self.http.requests_made
        snapshot = AudienceSnapshot(ts=now_ts)
        channels = self.channels()  # the channel list failing fails the poll: nothing is known
        self._audience(channels, snapshot)
        if self.source.media_push:
            try:
                snapshot.relays.extend(self.converters(now_ts))
            except BillingError as exc:
                snapshot.warnings.append(f"Media Push converters not read: {exc}")
        for session in self.source.recordings:
            try:
                snapshot.relays.extend(self.recording(session, now_ts))
            except BillingError as exc:
                snapshot.warnings.append(f"Cloud Recording {session.sid[:12]} not read: {exc}")
        snapshot.api_calls = self.http.requests_made - start_calls
        return snapshot

    # -- Channel Management ----------------------------------------------------------------------

    def channels(self) -> dict[str, int]:
        """Online channels -> user count. Pages may overlap or skip a channel while counts change
        (the docs say so): deduplicated by name, and one missing snapshot proves nothing."""
        found: dict[str, int] = {}
        listed = 0
        for page_no in range(MAX_PAGES):
            body = self.http.get_json(
                f"/dev/v1/channel/{self.source.app_id}",
                {"page_no": page_no, "page_size": self.source.page_size},
            )
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, dict) or not isinstance(data.get("channels"), list):
                raise BillingResponseError(self.label, "channel list has no data.channels")
            page = data["channels"]
            for entry in page:
                name = entry.get("channel_name") if isinstance(entry, dict) else None
                if isinstance(name, str) and name:
                    found[name] = int(as_number(entry.get("user_count")) or 0)
            listed += len(page)
            total = as_number(data.get("total_size"))
            if not page or (total is not None and listed >= total):
                return found
        log.warning("%s: stopped paging the channel list after %d pages", self.label, MAX_PAGES)
        return found

    def _audience(self, channels: dict[str, int], snapshot: AudienceSnapshot) -> None:
        budget = self.source.channel_lookups_per_poll
        busiest = sorted(channels, key=lambda name: (-channels[name], name))
        for name in busiest[:budget]:
            try:
                body = self.http.get_json(f"/dev/v1/channel/user/{self.source.app_id}/{quote(name, safe='')}")
            except BillingError as exc:
                snapshot.warnings.append(f"channel {name!r}: {exc}")
                continue
            sample = user_list_sample(body, name, snapshot.ts)
            if sample is not None:
                snapshot.audience.append(sample)
        if len(busiest) > budget:
            snapshot.warnings.append(
                f"{len(busiest) - budget} of {len(busiest)} online channels not looked up this poll "
                f"(channel_lookups_per_poll = {budget})"
            )

    # -- Media Push --------------------------------------------------------------------------------

    def converters(self, now_ts: int) -> list[RelaySample]:
        relays: list[RelaySample] = []
        cursor: Any = None
        for _ in range(MAX_PAGES):
            params = {"cursor": cursor} if cursor else None
            body = self.http.get_json(f"/v1/projects/{self.source.app_id}/rtmp-converters", params)
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, dict):
                raise BillingResponseError(self.label, "converter list has no data")
            for member in data.get("members") or []:
                if isinstance(member, dict):
                    relay = converter_relay(member, now_ts)
                    if relay is not None:
                        relays.append(relay)
            cursor = data.get("cursor")
            if not cursor or str(cursor) == "0":
                return relays
        log.warning("%s: stopped paging the converters after %d pages", self.label, MAX_PAGES)
        return relays

    # -- Cloud Recording ---------------------------------------------------------------------------

    def recording(self, session: AgoraRecordingSession, now_ts: int) -> list[RelaySample]:
        path = (
            f"/v1/apps/{self.source.app_id}/cloud_recording/resourceid/{session.resource_id}"
            f"/sid/{session.sid}/mode/{session.mode}/query"
        )
        relay_id = f"recording:{session.sid}"
        try:
            body = self.http.get_json(path)
        except HttpStatusError as exc:
            if exc.status != 404:
                raise
            # Not running (or a failover of up to ~90 s): idle, not down, on one answer.
            return [
                RelaySample(relay_id, now_ts, session.channel, "agora_cloud_recording", "idle", "not running")
            ]
        return recording_relays(body, session, now_ts)


def _int(value: Any) -> int | None:
    number = as_number(value)
    return None if number is None else int(number)


def user_list_sample(body: Any, channel: str, ts: int) -> AudienceSample | None:
    """hosts and audience of one channel, or None when it closed between the two calls."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not data.get("channel_exist"):
        return None
    if _int(data.get("mode")) == 1:  # communication: everyone publishes, no audience split
        users = data.get("users") or []
        return AudienceSample(channel, "agora", ts, viewers=0, hosts=len(users))
    broadcasters = data.get("broadcasters") or []
    audience = _int(data.get("audience_total"))
    if audience is None:  # older answers: the list only (at most its first 10,000)
        audience = len(data.get("audience") or [])
    return AudienceSample(channel, "agora", ts, viewers=max(0, audience), hosts=len(broadcasters))


def converter_relay(member: dict[str, Any], now_ts: int) -> RelaySample | None:
    converter_id = str(member.get("converterId") or member.get("id") or "")
    if not converter_id:
        return None
    state = str(member.get("state") or "unknown")
    channel = str(member.get("rtcChannel") or (member.get("transcodeOptions") or {}).get("rtcChannel") or "")
    updated = parse_time(member.get("updateTs"))
    return RelaySample(
        relay_id=f"converter:{converter_id}",
        ts=now_ts,
        channel=channel,
        kind="agora_media_push",
        health=CONVERTER_HEALTH.get(state, "degraded"),
        status=state[:60],
        sink=sink_without_key(str(member.get("rtmpUrl") or "")),
        last_activity_ts=None if updated is None else int(updated),
        detail=str(member.get("converterName") or member.get("name") or "")[:200] or None,
    )


def recording_relays(body: Any, session: AgoraRecordingSession, now_ts: int) -> list[RelaySample]:
    server = body.get("serverResponse") if isinstance(body, dict) else None
    if not isinstance(server, dict):
        raise BillingResponseError("agora", "Cloud Recording query has no serverResponse")
    relay_id = f"recording:{session.sid}"
    outputs = [
        output
        for service in server.get("extensionServiceState") or []
        if isinstance(service, dict) and service.get("serviceName") == "rtmp_publish_service"
        for output in (service.get("payload") or {}).get("outputs") or []
        if isinstance(output, dict)
    ]
    if outputs:  # web-page recording pushing RTMP: one relay per output
        return [
            RelaySample(
                f"{relay_id}:{index}", now_ts, session.channel, "agora_cloud_recording",
                RTMP_OUTPUT_HEALTH.get(str(output.get("status")), "degraded"), str(output.get("status"))[:60],
                sink=sink_without_key(str(output.get("rtmpUrl") or "")),
            )
            for index, output in enumerate(outputs)
        ]  # fmt: skip
    status = _int(server.get("status"))
    health, meaning = RECORDING_STATUS.get(status if status is not None else -1, ("degraded", "unknown"))
    started = parse_time(server.get("sliceStartTime"))
    return [
        RelaySample(
            relay_id, now_ts, session.channel, "agora_cloud_recording", health, f"{status} {meaning}"[:60],
            last_activity_ts=None if started is None else int(started),
        )
    ]  # fmt: skip
