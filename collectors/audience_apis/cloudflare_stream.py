"""Cloudflare Stream as an audience source: live inputs and their state (the status comes as a
string, an object ``{current:{state,reason}, history:[…]}`` or null: all three are read), live
viewers per input (``/<uid>/views`` on the customer subdomain) and minutes viewed (GraphQL
``streamMinutesViewedAdaptiveGroups``, per *video* uid, mapped to its input through
``live_inputs/{id}/videos``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from collectors.audience_apis.common import MAX_PAGES, AudienceSnapshot, http_client, label
from collectors.billing.base import BillingError, BillingResponseError, as_number, parse_time
from core.settings import CloudflareStreamSource, CollectorSettings
from store.audience import AudienceSample, RelaySample

log = logging.getLogger(__name__)

# The string form of status (OpenAPI) and the object form's state -> relay health.
STATUS_HEALTH = {
    "connected": "ok",
    "reconnected": "ok",
    "new_configuration_accepted": "ok",
    "connecting": "degraded",
    "reconnecting": "degraded",
    "disconnected": "idle",
    "client_disconnect": "idle",
    "ttl_exceeded": "down",
    "failed_to_connect": "down",
    "failed_to_reconnect": "down",
}
# Reasons of a past state that are errors, not a broadcaster going away.
ERROR_REASONS = {"ttl_exceeded", "failed_to_connect", "failed_to_reconnect"}
GRAPHQL_PAGE = 1000
MINUTES_QUERY = """query($accountTag: string!, $start: Date, $end: Date, $after: string) {
  viewer { accounts(filter: {accountTag: $accountTag}) {
    streamMinutesViewedAdaptiveGroups(filter: {date_geq: $start, date_lt: $end, uid_gt: $after},
                                      orderBy: [uid_ASC], limit: PAGE) {
      sum { minutesViewed } dimensions { uid } } } } }""".replace("PAGE", str(GRAPHQL_PAGE))


@dataclass(frozen=True)
class InputState:
    """A live input's state as read from any of the three documented shapes of ``status``."""

    state: str  # connected | connecting | disconnected | ... (the provider's word)
    health: str
    since_ts: int | None
    errors: tuple[str, ...]


def input_state(status: Any, enabled: Any = True) -> InputState:
    if enabled is False:
        return InputState("disabled", "idle", None, ())
    if status is None:  # never connected
        return InputState("disconnected", "idle", None, ())
    if isinstance(status, str):
        return InputState(status, STATUS_HEALTH.get(status, "degraded"), None, ())
    if isinstance(status, dict):
        found = status.get("current")
        current: dict[str, Any] = found if isinstance(found, dict) else {}
        state = str(current.get("state") or "disconnected")
        reason = str(current.get("reason") or "")
        health = STATUS_HEALTH.get(state, "degraded")
        if state == "disconnected" and reason in ERROR_REASONS:
            health = "down"
        errors = [reason] if reason in ERROR_REASONS else []
        for past in status.get("history") or []:
            if isinstance(past, dict) and str(past.get("reason") or "") in ERROR_REASONS:
                errors.append(str(past["reason"]))
        since = parse_time(current.get("statusEnteredAt"))
        return InputState(state, health, None if since is None else int(since), tuple(errors[:5]))
    return InputState("unknown", "degraded", None, ())


class CloudflareStreamClient:
    def __init__(self, source: CloudflareStreamSource, collectors: CollectorSettings) -> None:
        self.source = source
        self.label = label("cloudflare_stream", source.name)
        token = source.api_token.get_secret_value()
        self.http = http_client(
            self.label, source.api_base_url, collectors, secrets=[token],
            headers={"Authorization": f"Bearer {token}"},
        )  # fmt: skip
        # The customer subdomain needs no token (never send it there).
        self.views = (
            http_client(self.label, source.customer_base_url, collectors, secrets=[token])
            if source.customer_base_url
            else None
        )
        self.video_input: dict[str, str] = {}  # video uid -> live input uid
        # input uid -> (UTC day, minutes viewed that day so far) at the previous poll.
        self.minutes_seen: dict[str, tuple[str, float]] = {}

    @property
    def account(self) -> str:
        return f"/accounts/{self.source.account_id}"

    def poll(self, now_ts: int) -> AudienceSnapshot:
        start_calls = self.http.requests_made + (self.views.requests_made if self.views else 0)
        snapshot = AudienceSnapshot(ts=now_ts)
        inputs = self.live_inputs()  # the list failing fails the poll
        live: dict[str, str] = {}  # connected input uid -> channel
        for uid, short in inputs.items():
            try:
                detail = self._result(self.http.get_json(f"{self.account}/stream/live_inputs/{uid}"))
            except BillingError as exc:
                snapshot.warnings.append(f"live input {uid}: {exc}")
                continue
            meta = (detail.get("meta") if isinstance(detail, dict) else None) or short.get("meta") or {}
            channel = self.source.channels.get(uid) or str(meta.get("name") or "") or uid
            state = input_state(detail.get("status"), detail.get("enabled", True))
            snapshot.relays.append(
                RelaySample(
                    relay_id=f"input:{uid}", ts=now_ts, channel=channel[:200], kind="cloudflare_live_input",
                    health=state.health, status=state.state[:60], sink=f"cloudflare_stream:{uid}",
                    last_activity_ts=state.since_ts, detail="; ".join(state.errors) or None,
                )
            )  # fmt: skip
            if state.health in ("ok", "degraded"):
                live[uid] = channel
        minutes = self._minutes(live, now_ts, snapshot)
        for uid, channel in live.items():
            viewers = self._live_viewers(uid)
            if viewers is None:
                continue
            snapshot.audience.append(
                AudienceSample(
                    channel[:200], "cloudflare_stream", now_ts, viewers=viewers, viewer_s=minutes.get(uid)
                )
            )
        end_calls = self.http.requests_made + (self.views.requests_made if self.views else 0)
        snapshot.api_calls = end_calls - start_calls
        return snapshot

    def _result(self, body: Any) -> Any:
        if not isinstance(body, dict) or "result" not in body:
            raise BillingResponseError(self.label, "answer has no result")
        return body["result"]

    def live_inputs(self) -> dict[str, dict[str, Any]]:
        """uid -> the list's short form. One page holds them all (the API takes no paging)."""
        result = self._result(self.http.get_json(f"{self.account}/stream/live_inputs"))
        items = result.get("liveInputs") if isinstance(result, dict) else result
        if not isinstance(items, list):
            raise BillingResponseError(self.label, "live input list has no liveInputs")
        return {str(item["uid"]): item for item in items if isinstance(item, dict) and item.get("uid")}

    def _live_viewers(self, uid: str) -> int | None:
        """``liveViewers``, or None (no data, never 0) when unset, hidden or not answered."""
        if self.views is None:
            return None
        try:
            body = self.views.get_json(f"/{uid}/views")
        except BillingError as exc:
            log.info("%s: live viewers of %s unknown: %s", self.label, uid, exc)
            return None
        number = as_number(body.get("liveViewers")) if isinstance(body, dict) else None
        return None if number is None or number < 0 else int(number)

    def _map_videos(self, live: dict[str, str], snapshot: AudienceSnapshot) -> None:
        for uid in live:
            try:
                videos = self._result(self.http.get_json(f"{self.account}/stream/live_inputs/{uid}/videos"))
            except BillingError as exc:
                snapshot.warnings.append(f"videos of live input {uid}: {exc}")
                continue
            for video in videos if isinstance(videos, list) else []:
                if isinstance(video, dict) and video.get("uid"):
                    self.video_input[str(video["uid"])] = str(video.get("liveInput") or uid)

    def _minutes(self, live: dict[str, str], now_ts: int, snapshot: AudienceSnapshot) -> dict[str, float]:
        """Viewer-seconds per live input since the previous poll: the change in today's minutes
        viewed (a running daily total, reported with the analytics' own delay). Unknown on the
        first poll (no previous total) and for inputs not seen before."""
        if not self.source.minutes_viewed or not live:
            return {}
        self._map_videos(live, snapshot)
        day = datetime.fromtimestamp(now_ts, tz=UTC).date()
        try:
            per_video = self._minutes_per_video(day.isoformat(), (day + timedelta(days=1)).isoformat())
        except BillingError as exc:
            snapshot.warnings.append(f"minutes viewed not read: {exc}")
            return {}
        totals: dict[str, float] = dict.fromkeys(live, 0.0)
        for video, minutes in per_video.items():
            input_uid = self.video_input.get(video)
            if input_uid in totals:
                totals[input_uid] += minutes
        viewer_s: dict[str, float] = {}
        for uid, total in totals.items():
            previous = self.minutes_seen.get(uid)
            if previous is not None:
                seen_day, seen_total = previous
                if seen_day == day.isoformat():
                    viewer_s[uid] = max(0.0, total - seen_total) * 60.0
                else:  # a new UTC day: the total restarted at midnight
                    viewer_s[uid] = total * 60.0
            self.minutes_seen[uid] = (day.isoformat(), total)
        return viewer_s

    def _minutes_per_video(self, start: str, end: str) -> dict[str, float]:
        found: dict[str, float] = {}
        after = ""
        for _ in range(MAX_PAGES):
            variables = {"accountTag": self.source.account_id, "start": start, "end": end, "after": after}
            body = self.http.post_json("/graphql", {"query": MINUTES_QUERY, "variables": variables})
            errors = body.get("errors") if isinstance(body, dict) else None
            if errors:  # errors come with HTTP 200 too
                first = errors[0].get("message") if isinstance(errors[0], dict) else errors[0]
                raise BillingError(self.label, f"GraphQL: {self.http.clean(str(first))}")
            try:
                groups = body["data"]["viewer"]["accounts"][0]["streamMinutesViewedAdaptiveGroups"]
            except (KeyError, IndexError, TypeError):
                raise BillingResponseError(self.label, "GraphQL answer has no minutes viewed") from None
            for group in groups or []:
                uid = str((group.get("dimensions") or {}).get("uid") or "")
                minutes = as_number((group.get("sum") or {}).get("minutesViewed"))
                if uid and minutes is not None:
                    found[uid] = found.get(uid, 0.0) + minutes
            if not groups or len(groups) < GRAPHQL_PAGE:
                return found
            after = str((groups[-1].get("dimensions") or {}).get("uid") or "")
        return found
