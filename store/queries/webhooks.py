"""What the stored LiveKit webhooks tell the room poller (collectors/pollers/livekit.py)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from store import schema
from store.queries.bind import Bind, connected

# Room ids per IN (...) list: bounded statements whatever the fleet's size.
ROOMS_PER_STATEMENT = 1000


def rooms_with_room_started(bind: Bind, source_id: int, room_sids: Sequence[str]) -> set[str]:
    """The rooms among ``room_sids`` of ``source_id`` whose ``room_started`` webhook is stored."""
    events = schema.webhook_events
    covered: set[str] = set()
    with connected(bind) as connection:
        for start in range(0, len(room_sids), ROOMS_PER_STATEMENT):
            covered.update(
                connection.execute(
                    select(events.c.room_sid).where(
                        events.c.source_id == source_id,
                        events.c.event == "room_started",
                        events.c.room_sid.in_(room_sids[start : start + ROOMS_PER_STATEMENT]),
                    )
                ).scalars()
            )
    return covered
