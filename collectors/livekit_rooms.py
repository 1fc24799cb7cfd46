"""LiveKit room poller on the official ``livekit-api`` client.

One poll = ListRooms, then ListParticipants for at most ``participant_lists_per_tick`` rooms
(bounded concurrency; the call budget, see :class:`ListingSchedule`), then ListEgress and
ListIngress. Egress/ingress are optional: a self-hosted server without Redis
refuses them ("egress not connected (redis required)"), which makes the poll *partial*,
never failed. The result is a plain :class:`RoomSnapshot`; writing it is sessions.py's job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import TypeVar

import aiohttp
from livekit import api
from livekit.protocol import egress as egress_pb
from livekit.protocol import ingress as ingress_pb
from livekit.protocol import models as models_pb

from core.settings import LiveKitSource

log = logging.getLogger(__name__)

NS_PER_S = 1_000_000_000
# Ended egress looked up by id per poll at most (the rest are closed as complete, as before).
MAX_ENDED_EGRESS_LOOKUPS = 50
T = TypeVar("T")


@dataclass(frozen=True)
class ParticipantRow:
    participant_sid: str
    room_sid: str
    identity: str
    name: str
    kind: str
    is_publisher: bool
    joined_ts: int


@dataclass(frozen=True)
class RoomRow:
    room_sid: str
    room_name: str
    created_ts: int
    num_participants: int
    num_publishers: int


@dataclass(frozen=True)
class EgressRow:
    egress_id: str
    room_sid: str
    room_name: str
    kind: str
    status: str
    started_ts: int | None
    ended_ts: int | None
    updated_ts: int | None
    error: str | None


@dataclass(frozen=True)
class IngressRow:
    ingress_id: str
    name: str
    room_name: str
    input_type: str
    status: str
    started_ts: int | None
    ended_ts: int | None
    error: str | None


@dataclass
class RoomSnapshot:
    """Everything one poll of one LiveKit source saw, at ``ts``."""

    ts: int
    rooms: list[RoomRow] = field(default_factory=list)
    participants: list[ParticipantRow] = field(default_factory=list)
    egress: list[EgressRow] | None = None  # None: not available this poll
    ingress: list[IngressRow] | None = None
    # Rooms whose participant list was not read this poll: they ended between the calls, the
    # call failed, the budget deferred them, or webhooks give their sessions exactly. Their
    # open participants are neither seen nor gone; their counts come from ListRooms.
    rooms_without_participants: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    # The call budget at work: LiveKit API requests made by this poll, and why rooms were not listed.
    api_calls: int = 0
    ended_egress_lookups: int = 0  # of api_calls: ended egress asked for by id (at most 50)
    rooms_deferred: int = 0
    rooms_webhook_covered: int = 0

    @property
    def row_count(self) -> int:
        return len(self.rooms) + len(self.participants)


def _ns_to_s(value: int) -> int | None:
    return int(value // NS_PER_S) if value else None


def _participant_kind(info: models_pb.ParticipantInfo) -> str:
    return str(models_pb.ParticipantInfo.Kind.Name(info.kind))


def listeners_of(participants: list[ParticipantRow]) -> int:
    """Listeners = connected people who do not publish (egress/ingress/agents are not people)."""
    return sum(1 for p in participants if not p.is_publisher and p.kind in ("STANDARD", "SIP"))


def _egress_kind(info: egress_pb.EgressInfo) -> str:
    request = info.WhichOneof("request")
    return request or ""


def _egress_row(info: egress_pb.EgressInfo) -> EgressRow:
    return EgressRow(
        egress_id=info.egress_id,
        room_sid=info.room_id,
        room_name=info.room_name,
        kind=_egress_kind(info),
        status=str(egress_pb.EgressStatus.Name(info.status)),
        started_ts=_ns_to_s(info.started_at),
        ended_ts=_ns_to_s(info.ended_at),
        updated_ts=_ns_to_s(info.updated_at),
        error=info.error or None,
    )


def _ingress_row(info: ingress_pb.IngressInfo) -> IngressRow:
    state = info.state
    return IngressRow(
        ingress_id=info.ingress_id,
        name=info.name,
        room_name=info.room_name,
        input_type=str(ingress_pb.IngressInput.Name(info.input_type)),
        status=str(ingress_pb.IngressState.Status.Name(state.status)),
        started_ts=_ns_to_s(state.started_at),
        ended_ts=_ns_to_s(state.ended_at),
        error=state.error or None,
    )


# The largest Twirp answer read. ListParticipants for a 5,000-listener room is ~2-3 MB and
# ListRooms for 10,000 rooms ~2 MB; anything far past that is hostile or broken, and is refused
# while streaming instead of being held in memory whole.
MAX_RESPONSE_BYTES = 16 * 1024 * 1024


class ResponseTooLarge(aiohttp.ClientPayloadError):
    """A response body over MAX_RESPONSE_BYTES (a transport error to the Twirp client)."""


class CappedResponse(aiohttp.ClientResponse):
    """aiohttp's response with ``read()`` (and so ``json()``) bounded by MAX_RESPONSE_BYTES: the
    declared Content-Length is checked first, then the bytes as they arrive."""

    async def read(self) -> bytes:
        if self._body is None:
            declared = self.content_length
            if declared is not None and declared > MAX_RESPONSE_BYTES:
                self.close()
                raise ResponseTooLarge(
                    f"response of {declared:,} bytes is larger than {MAX_RESPONSE_BYTES:,}"
                )
            chunks: list[bytes] = []
            received = 0
            try:
                async for chunk in self.content.iter_any():
                    received += len(chunk)
                    if received > MAX_RESPONSE_BYTES:
                        raise ResponseTooLarge(f"response is larger than {MAX_RESPONSE_BYTES:,} bytes")
                    chunks.append(chunk)
            except BaseException:
                self.close()
                raise
            self._body = b"".join(chunks)
        return await super().read()


def describe_error(exc: BaseException) -> str:
    """A short description of an API failure, without credentials."""
    if isinstance(exc, api.TwirpError):
        hint = " (check api_key/api_secret)" if exc.status in (401, 403) else ""
        return f"HTTP {exc.status} {exc.code}: {exc.message}{hint}"
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect: {exc.os_error}"
    return f"{type(exc).__name__}: {exc}"


class ListingSchedule:
    """Which rooms get a ListParticipants call this tick, at most ``budget`` of them.

    Rooms never listed come first, then the least recently listed (ties by sid, so the order is
    stable); a room no longer live is forgotten. With a steady set of N rooms every room is
    listed at least once in any ceil(N / budget) consecutive ticks."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._tick = 0
        self._last_listed: dict[str, int] = {}  # room sid -> tick it was last listed

    def choose(self, room_sids: Collection[str], skip: Collection[str] = ()) -> list[str]:
        self._tick += 1
        live = set(room_sids)
        self._last_listed = {sid: tick for sid, tick in self._last_listed.items() if sid in live}
        candidates = sorted(
            (sid for sid in live if sid not in skip), key=lambda sid: (self._last_listed.get(sid, -1), sid)
        )
        chosen = candidates[: self.budget]
        for sid in chosen:
            self._last_listed[sid] = self._tick
        return chosen


# The rooms of a source whose sessions webhooks give exactly (a ``room_started`` event stored),
# among the sids given: read from the store by the caller (collectors/pollers/livekit.py).
WebhookCoverage = Callable[[list[str]], set[str]]


class RoomPoller:
    """Polls one LiveKit server or Cloud project."""

    def __init__(self, source: LiveKitSource, *, timeout_s: float = 10.0, max_concurrency: int = 32) -> None:
        self.source = source
        self.timeout_s = timeout_s
        self.max_concurrency = max_concurrency
        self.schedule = ListingSchedule(source.participant_lists_per_tick)
        # Optional calls (ListEgress, ListIngress) whose refusal was already logged: once, not every tick.
        self._refusals_logged: set[str] = set()
        # Egress listed active by the last poll: one that is no longer is asked for by id, for
        # how it ended (complete, failed and why) rather than assumed complete.
        self._active_egress: set[str] = set()

    async def poll(self, now_ts: int, webhook_covered: WebhookCoverage | None = None) -> RoomSnapshot:
        """One poll within the call budget. Raises when the rooms themselves cannot be listed."""
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        connector = aiohttp.TCPConnector(limit=self.max_concurrency)
        async with aiohttp.ClientSession(
            timeout=timeout, connector=connector, response_class=CappedResponse
        ) as session:
            lkapi = api.LiveKitAPI(
                self.source.url,
                self.source.api_key,
                self.source.api_secret.get_secret_value(),
                session=session,
                timeout=timeout,
                failover=False,
            )
            snapshot = RoomSnapshot(ts=now_ts)
            snapshot.api_calls += 1
            rooms = (await lkapi.room.list_rooms(api.ListRoomsRequest())).rooms
            snapshot.rooms = [
                RoomRow(r.sid, r.name, int(r.creation_time), int(r.num_participants), int(r.num_publishers))
                for r in rooms
            ]
            sids = [room.room_sid for room in snapshot.rooms]
            covered = await asyncio.to_thread(webhook_covered, sids) if webhook_covered and sids else set()
            chosen = set(self.schedule.choose(sids, skip=covered))
            snapshot.rooms_webhook_covered = len(covered)
            snapshot.rooms_deferred = len(sids) - len(covered) - len(chosen)
            snapshot.rooms_without_participants.update(sid for sid in sids if sid not in chosen)
            semaphore = asyncio.Semaphore(self.max_concurrency)

            async def participants_of(room: RoomRow) -> None:
                async with semaphore:
                    snapshot.api_calls += 1
                    try:
                        response = await lkapi.room.list_participants(
                            api.ListParticipantsRequest(room=room.room_name)
                        )
                    except api.TwirpError as exc:
                        # not_found: the room ended between ListRooms and now.
                        snapshot.rooms_without_participants.add(room.room_sid)
                        if exc.code != "not_found":
                            snapshot.warnings.append(f"participants of a room: {describe_error(exc)}")
                        return
                for info in response.participants:
                    snapshot.participants.append(
                        ParticipantRow(
                            participant_sid=info.sid,
                            room_sid=room.room_sid,
                            identity=info.identity,
                            name=info.name,
                            kind=_participant_kind(info),
                            is_publisher=bool(info.is_publisher),
                            joined_ts=int(info.joined_at) or now_ts,
                        )
                    )

            await asyncio.gather(
                *(participants_of(room) for room in snapshot.rooms if room.room_sid in chosen)
            )
            if self.source.poll_egress:
                snapshot.egress = await self._optional(
                    "ListEgress", self._list_egress(lkapi, snapshot), snapshot
                )
            if self.source.poll_ingress:
                snapshot.ingress = await self._optional(
                    "ListIngress", self._list_ingress(lkapi, snapshot), snapshot
                )
            return snapshot

    async def _optional(self, call: str, pending: Awaitable[T], snapshot: RoomSnapshot) -> T | None:
        """The result of an optional API call, or None with a warning when the server refuses it
        (a self-hosted server without Redis refuses egress/ingress listing: rooms still count)."""
        try:
            result = await pending
        except Exception as exc:
            message = f"{call} unavailable: {describe_error(exc)}"
            snapshot.warnings.append(message)
            if call not in self._refusals_logged:
                log.warning("%s: %s (rooms are still collected)", self.source.name, message)
                self._refusals_logged.add(call)
            return None
        self._refusals_logged.discard(call)
        return result

    async def _list_egress(self, lkapi: api.LiveKitAPI, snapshot: RoomSnapshot) -> list[EgressRow]:
        items: list[EgressRow] = []
        page_token: api.TokenPagination | None = None
        for _ in range(100):  # bounded paging; OSS servers ignore the token
            request = api.ListEgressRequest(active=True)
            if page_token is not None:
                request.page_token.CopyFrom(page_token)
            snapshot.api_calls += 1
            response = await lkapi.egress.list_egress(request)
            items.extend(_egress_row(info) for info in response.items)
            if not response.next_page_token.token or response.next_page_token == page_token:
                break
            page_token = response.next_page_token
        listed = {item.egress_id for item in items}
        for egress_id in sorted(self._active_egress - listed)[:MAX_ENDED_EGRESS_LOOKUPS]:
            snapshot.api_calls += 1
            snapshot.ended_egress_lookups += 1
            try:
                ended = await lkapi.egress.list_egress(api.ListEgressRequest(egress_id=egress_id))
            except api.TwirpError as exc:
                log.info(
                    "egress %s ended; its final state is not available: %s", egress_id, describe_error(exc)
                )
                continue
            items.extend(_egress_row(info) for info in ended.items if info.egress_id == egress_id)
        self._active_egress = {item.egress_id for item in items if item.status == "EGRESS_ACTIVE"}
        return items

    async def _list_ingress(self, lkapi: api.LiveKitAPI, snapshot: RoomSnapshot) -> list[IngressRow]:
        snapshot.api_calls += 1
        response = await lkapi.ingress.list_ingress(api.ListIngressRequest())
        return [_ingress_row(info) for info in response.items]
