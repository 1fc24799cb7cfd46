"""Room and participant sessions derived from successive room polls, written idempotently.

A session starts when a sid is first seen (its start time is the server's own
``creation_time`` / ``joined_at``, exact to the second) and ends when a later poll no longer
lists it; the end is then the last time it was seen, so a polled session is short by at most
one poll interval. Webhook events (collectors/webhooks.py) give the exact end and win:
nothing here overwrites a time that a webhook wrote.

Connection minutes follow LiveKit's metering: each connection is rounded up to a whole minute.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, select, update

from collectors.livekit_rooms import ParticipantRow, RoomSnapshot, listeners_of
from store import schema
from store.upsert import upsert

log = logging.getLogger(__name__)


def connection_minutes(joined_ts: int, left_ts: int) -> int:
    """LiveKit meters each connection rounded up to a whole minute (at least one)."""
    return max(1, math.ceil(max(0, left_ts - joined_ts) / 60))


def channel_of(room_name: str) -> str:
    """The channel a room belongs to. Rooms are channels in every seed (``channel-<id>``)."""
    return room_name


@dataclass
class _OpenRoom:
    room_name: str
    max_participants: int
    max_listeners: int
    last_seen_ts: int


class SessionTracker:
    """Keeps the open sessions of one source in memory (loaded from the store on start)."""

    def __init__(self, engine: Engine, source_id: int) -> None:
        self.engine = engine
        self.source_id = source_id
        self.open_rooms: dict[str, _OpenRoom] = {}
        self.open_participants: dict[str, str] = {}  # participant sid -> room sid
        # The newest time written as "last seen": it never goes back, so a clock set back or a
        # late snapshot cannot end a session before an earlier sighting (or before it began).
        self.high_water_ts = 0
        self._load()

    def _load(self) -> None:
        rooms, parts = schema.room_sessions, schema.participant_sessions
        with self.engine.connect() as connection:
            for row in connection.execute(
                select(
                    rooms.c.room_sid,
                    rooms.c.room_name,
                    rooms.c.max_participants,
                    rooms.c.max_listeners,
                    rooms.c.last_seen_ts,
                ).where(rooms.c.source_id == self.source_id, rooms.c.ended_ts.is_(None))
            ):
                self.open_rooms[row.room_sid] = _OpenRoom(
                    row.room_name, row.max_participants, row.max_listeners, row.last_seen_ts
                )
            for participant in connection.execute(
                select(parts.c.participant_sid, parts.c.room_sid).where(
                    parts.c.source_id == self.source_id, parts.c.left_ts.is_(None)
                )
            ):
                self.open_participants[participant.participant_sid] = participant.room_sid
            newest = connection.execute(
                select(func.max(rooms.c.last_seen_ts)).where(rooms.c.source_id == self.source_id)
            ).scalar()
            self.high_water_ts = int(newest or 0)

    def apply(self, snapshot: RoomSnapshot) -> dict[str, int]:
        """Write one snapshot in a single transaction. Returns counts of what changed."""
        now_ts = snapshot.ts
        seen_ts = max(now_ts, self.high_water_ts)
        if now_ts < self.high_water_ts:
            log.warning(
                "snapshot at %d is older than one already written (%d): sessions keep the newer time",
                now_ts,
                self.high_water_ts,
            )
        by_room: dict[str, list[ParticipantRow]] = defaultdict(list)
        for participant in snapshot.participants:
            by_room[participant.room_sid].append(participant)
        seen_rooms = {room.room_sid for room in snapshot.rooms}
        ended_rooms = [sid for sid in self.open_rooms if sid not in seen_rooms]
        # Participants of a room whose list failed this time are neither seen nor gone.
        uncertain = snapshot.rooms_without_participants & seen_rooms
        seen_participants = {p.participant_sid for p in snapshot.participants}
        gone_participants = [
            sid
            for sid, room_sid in self.open_participants.items()
            if sid not in seen_participants and room_sid not in uncertain
        ]
        room_rows: list[dict[str, Any]] = []
        sample_rows: list[dict[str, Any]] = []
        for room in snapshot.rooms:
            members = by_room.get(room.room_sid, [])
            listeners = (
                listeners_of(members)
                if room.room_sid not in uncertain
                else max(0, room.num_participants - room.num_publishers)
            )
            publishers = room.num_publishers
            previous = self.open_rooms.get(room.room_sid)
            max_participants = max(room.num_participants, previous.max_participants if previous else 0)
            max_listeners = max(listeners, previous.max_listeners if previous else 0)
            room_rows.append(
                {
                    "source_id": self.source_id,
                    "room_sid": room.room_sid,
                    "room_name": room.room_name,
                    "channel": channel_of(room.room_name),
                    "started_ts": room.created_ts or now_ts,
                    "ended_ts": None,
                    "last_seen_ts": max(seen_ts, room.created_ts),
                    "max_participants": max_participants,
                    "max_listeners": max_listeners,
                }
            )
            sample_rows.append(
                {
                    "source_id": self.source_id,
                    "room_sid": room.room_sid,
                    "ts": now_ts,
                    "participants": room.num_participants,
                    "publishers": publishers,
                    "listeners": listeners,
                }
            )
        participant_rows = [
            {
                "source_id": self.source_id,
                "participant_sid": p.participant_sid,
                "room_sid": p.room_sid,
                "identity": p.identity,
                "name": p.name,
                "kind": p.kind,
                "is_publisher": p.is_publisher,
                "joined_ts": p.joined_ts,
                "left_ts": None,
                # The server's clock may run ahead of ours: a session is never seen before it began.
                "last_seen_ts": max(seen_ts, p.joined_ts),
                "origin": "poll",
            }
            for p in snapshot.participants
        ]
        with self.engine.begin() as connection:
            # started_ts/joined_ts: keep what is stored (a webhook's exact time wins over a poll).
            upsert(
                connection,
                schema.room_sessions,
                room_rows,
                update=["room_name", "channel", "last_seen_ts", "max_participants", "max_listeners"],
            )
            upsert(
                connection,
                schema.participant_sessions,
                participant_rows,
                update=["name", "kind", "is_publisher", "last_seen_ts"],
            )
            upsert(connection, schema.room_samples, sample_rows)
            self._close(connection, schema.room_sessions, "room_sid", "ended_ts", ended_rooms)
            self._close(
                connection, schema.participant_sessions, "participant_sid", "left_ts", gone_participants
            )
            self._write_egress_ingress(connection, snapshot, seen_ts)
        for row in room_rows:
            self.open_rooms[row["room_sid"]] = _OpenRoom(
                row["room_name"], row["max_participants"], row["max_listeners"], row["last_seen_ts"]
            )
        self.high_water_ts = seen_ts
        for sid in ended_rooms:
            self.open_rooms.pop(sid, None)
        for sid in gone_participants:
            self.open_participants.pop(sid, None)
        for p in snapshot.participants:
            self.open_participants[p.participant_sid] = p.room_sid
        return {
            "rooms": len(room_rows),
            "participants": len(participant_rows),
            "rooms_ended": len(ended_rooms),
            "participants_left": len(gone_participants),
        }

    def _close(
        self, connection: Connection, table: Table, key: str, end_column: str, sids: list[str]
    ) -> None:
        """End the given sessions at the last time they were seen, unless already ended
        (a webhook may have written the exact end first)."""
        for start in range(0, len(sids), 500):
            chunk = sids[start : start + 500]
            connection.execute(
                update(table)
                .where(
                    table.c.source_id == self.source_id,
                    table.c[key].in_(chunk),
                    table.c[end_column].is_(None),
                )
                .values({end_column: table.c.last_seen_ts})
            )

    def _write_egress_ingress(self, connection: Connection, snapshot: RoomSnapshot, now_ts: int) -> None:
        if snapshot.egress is not None:
            egress = schema.egress_status
            upsert(
                connection,
                egress,
                [
                    {
                        "source_id": self.source_id,
                        "egress_id": e.egress_id,
                        "room_sid": e.room_sid,
                        "room_name": e.room_name,
                        "kind": e.kind,
                        "status": e.status,
                        "started_ts": e.started_ts,
                        "ended_ts": e.ended_ts,
                        "updated_ts": e.updated_ts,
                        "last_seen_ts": now_ts,
                        "error": e.error,
                    }
                    for e in snapshot.egress
                ],
            )
            # An active egress that is no longer listed as active has ended.
            listed = [e.egress_id for e in snapshot.egress]
            connection.execute(
                update(egress)
                .where(
                    egress.c.source_id == self.source_id,
                    egress.c.ended_ts.is_(None),
                    egress.c.egress_id.not_in(listed) if listed else egress.c.egress_id.is_not(None),
                )
                .values(ended_ts=egress.c.last_seen_ts, status="EGRESS_COMPLETE")
            )
        if snapshot.ingress is not None:
            upsert(
                connection,
                schema.ingress_status,
                [
                    {
                        "source_id": self.source_id,
                        "ingress_id": i.ingress_id,
                        "name": i.name,
                        "room_name": i.room_name,
                        "input_type": i.input_type,
                        "status": i.status,
                        "started_ts": i.started_ts,
                        "ended_ts": i.ended_ts,
                        "last_seen_ts": now_ts,
                        "error": i.error,
                    }
                    for i in snapshot.ingress
                ],
            )
