"""LiveKit rooms and participants as a source: the ``livekit-api`` client (collectors/
livekit_rooms.py) reads, the session tracker (collectors/sessions.py) writes."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from collectors.livekit_rooms import RoomPoller, RoomSnapshot, describe_error
from collectors.pollers.base import ConfiguredPoller
from collectors.sessions import SessionTracker
from core.settings import CollectorSettings, LiveKitSource
from store.queries.webhooks import rooms_with_room_started

log = logging.getLogger(__name__)

# A whole poll (ListRooms, ListParticipants per room, ListEgress, ListIngress) may take this many
# HTTP timeouts. livekit-api passes timeout=None per request, which lifts the session's timeout:
# a server that trickles its answer would hold the tick forever without this bound.
POLL_TIMEOUTS = 4


class LiveKitPoller(ConfiguredPoller[LiveKitSource]):
    kind = "livekit"
    spool_kind = "rooms"
    snapshot_type = RoomSnapshot

    def __init__(self, source: LiveKitSource, collectors: CollectorSettings) -> None:
        super().__init__(source, collectors)
        self.client = RoomPoller(
            source, timeout_s=collectors.http_timeout_s, max_concurrency=collectors.max_concurrent_requests
        )
        self.poll_timeout_s: float | None = POLL_TIMEOUTS * collectors.http_timeout_s
        self._tracker: SessionTracker | None = None
        self._engine: Engine | None = None
        self._source_id: int | None = None
        # The call budget at work in the last poll (API requests made, rooms not listed and why).
        self.last_calls: dict[str, int] = {}

    def bind(self, engine: Engine, source_id: int) -> None:
        # The sessions still open in the store (a restart picks them up where it left off).
        self._tracker = SessionTracker(engine, source_id)
        self._engine, self._source_id = engine, source_id

    def webhook_covered(self, room_sids: list[str]) -> set[str]:
        """The rooms among ``room_sids`` whose ``room_started`` webhook is stored: their joins and
        leaves arrive as webhooks with exact times, so listing their participants adds nothing."""
        if self._engine is None or self._source_id is None or not room_sids:
            return set()
        try:
            return rooms_with_room_started(self._engine, self._source_id, room_sids)
        except SQLAlchemyError as exc:
            # The store is down: the poll goes on (its snapshot waits in the spool), every room
            # taking its turn in the budget as if no webhook covered it.
            log.info("webhook coverage unknown (%s): no room skipped this tick", type(exc).__name__)
            return set()

    async def poll(self, now_ts: int) -> RoomSnapshot:
        snapshot = await self.client.poll(now_ts, self.webhook_covered)
        self.last_calls = {
            "api_calls": snapshot.api_calls,
            "ended_egress_lookups": snapshot.ended_egress_lookups,
            "rooms": len(snapshot.rooms),
            "rooms_listed": len(snapshot.rooms) - snapshot.rooms_deferred - snapshot.rooms_webhook_covered,
            "rooms_deferred": snapshot.rooms_deferred,
            "rooms_webhook_covered": snapshot.rooms_webhook_covered,
        }
        # Participant lists are read concurrently: the same warnings, in a stable order.
        snapshot.warnings = sorted(set(snapshot.warnings))
        return snapshot

    def write(self, snapshot: RoomSnapshot) -> Mapping[str, int]:
        assert self._tracker is not None, "bind() first"
        counts = self._tracker.apply(snapshot)
        return {"rooms": counts["rooms"], "participants": counts["participants"]}

    def describe_error(self, exc: BaseException) -> str:
        return describe_error(exc)
