"""Verified LiveKit webhook events → the store: the event log, exact session times, counters.

Everything here runs after the signature was checked (collectors/webhooks.py). An event is
stored once by its id; a re-delivery changes nothing. Only a newly stored event updates
``room_sessions`` / ``participant_sessions``, and it writes the *exact* times LiveKit sent:

- room_started → started_ts = Room.creation_time; room_finished → ended_ts = event.created_at;
- participant_joined → joined_ts = ParticipantInfo.joined_at;
- participant_left / participant_connection_aborted → left_ts = event.created_at.

The room poller (collectors/sessions.py) writes the same rows with origin='poll'. It never
overwrites a start time, and ends a session (at its last-seen time) only when no end is
stored; here an end from a webhook always replaces a polled estimate. So whichever comes
first, the webhook's times are what stays.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from livekit.protocol import models as models_pb
from livekit.protocol import webhook as webhook_pb
from sqlalchemy import Connection, Engine, case, select, update
from sqlalchemy.dialects import postgresql, sqlite

from store import schema

ROOM_EVENTS = frozenset({"room_started", "room_finished"})
JOIN_EVENTS = frozenset({"participant_joined"})
LEAVE_EVENTS = frozenset({"participant_left", "participant_connection_aborted"})
TRACK_EVENTS = frozenset({"track_published"})


def _insert(connection: Connection, table: Any) -> Any:
    return postgresql.insert(table) if connection.dialect.name == "postgresql" else sqlite.insert(table)


def _greatest(stored: Any, new: Any) -> Any:
    """max(stored, new) treating NULL as absent, portable between SQLite and PostgreSQL."""
    return case((stored.is_(None), new), (new > stored, new), else_=stored)


# ---------------------------------------------------------------------------------------------
# Counters
# ---------------------------------------------------------------------------------------------


def bump_counter(engine: Engine, name: str, by: int = 1, now_ts: int | None = None) -> None:
    """Add ``by`` to the counter ``name`` in ``collector_counters`` (created at 0)."""
    now_ts = int(time.time()) if now_ts is None else now_ts
    table = schema.collector_counters
    with engine.begin() as connection:
        statement = _insert(connection, table).values(name=name, value=by, updated_ts=now_ts)
        statement = statement.on_conflict_do_update(
            index_elements=["name"],
            set_={
                "value": table.c.value + statement.excluded.value,
                "updated_ts": statement.excluded.updated_ts,
            },
        )
        connection.execute(statement)


def read_counters(engine: Engine, prefix: str = "webhook_") -> dict[str, int]:
    table = schema.collector_counters
    with engine.connect() as connection:
        rows = connection.execute(select(table.c.name, table.c.value).where(table.c.name.like(f"{prefix}%")))
        return {row.name: int(row.value) for row in rows}


# ---------------------------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------------------------


def _seconds(value: int | str) -> int:
    return int(value or 0)


def _participant_kind(info: models_pb.ParticipantInfo) -> str:
    try:
        return str(models_pb.ParticipantInfo.Kind.Name(info.kind))
    except ValueError:  # a kind newer than our protocol package
        return "STANDARD"


def store_event(
    engine: Engine, event: webhook_pb.WebhookEvent, body: str, source_id: int, received_ts: int | None = None
) -> bool:
    """Store one verified event and apply it to the sessions. Returns False for a re-delivery."""
    received_ts = int(time.time()) if received_ts is None else received_ts
    created_ts = _seconds(event.created_at) or received_ts
    table = schema.webhook_events
    row = {
        "event_id": event.id,
        "source_id": source_id,
        "event": event.event,
        "created_ts": created_ts,
        "received_ts": received_ts,
        "room_sid": event.room.sid or None,
        "room_name": event.room.name or None,
        "participant_sid": event.participant.sid or None,
        "participant_identity": event.participant.identity or None,
        "body_json": body,
    }
    with engine.begin() as connection:
        statement = (
            _insert(connection, table)
            .values(row)
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(table.c.event_id)  # rowcount is unreliable for DO NOTHING across drivers
        )
        if connection.execute(statement).first() is None:
            return False
        _apply_to_sessions(connection, event, source_id, created_ts)
    return True


def _apply_to_sessions(
    connection: Connection, event: webhook_pb.WebhookEvent, source_id: int, created_ts: int
) -> None:
    name = event.event
    if event.room.sid and (name in ROOM_EVENTS or name in JOIN_EVENTS or name in LEAVE_EVENTS):
        _upsert_room(connection, event, source_id, created_ts)
    if event.participant.sid and event.room.sid and (name in JOIN_EVENTS or name in LEAVE_EVENTS):
        _upsert_participant(connection, event, source_id, created_ts)
    if name in TRACK_EVENTS and event.participant.sid:
        parts = schema.participant_sessions
        connection.execute(
            update(parts)
            .where(parts.c.source_id == source_id, parts.c.participant_sid == event.participant.sid)
            .values(is_publisher=True)
        )


def _upsert_room(
    connection: Connection, event: webhook_pb.WebhookEvent, source_id: int, created_ts: int
) -> None:
    room = event.room
    table = schema.room_sessions
    started_ts = _seconds(room.creation_time) or created_ts
    listeners = max(0, int(room.num_participants) - int(room.num_publishers))
    values = {
        "source_id": source_id,
        "room_sid": room.sid,
        "room_name": room.name,
        "channel": room.name,
        "started_ts": started_ts,
        "ended_ts": created_ts if event.event == "room_finished" else None,
        "last_seen_ts": created_ts,
        "max_participants": int(room.num_participants),
        "max_listeners": listeners,
    }
    statement = _insert(connection, table).values(values)
    excluded = statement.excluded
    set_: dict[str, Any] = {
        "last_seen_ts": _greatest(table.c.last_seen_ts, excluded.last_seen_ts),
        "max_participants": _greatest(table.c.max_participants, excluded.max_participants),
        "max_listeners": _greatest(table.c.max_listeners, excluded.max_listeners),
    }
    if event.event in ROOM_EVENTS:
        # The server's own creation time is exact; a poll may have written the same or later.
        set_["started_ts"] = excluded.started_ts
    if event.event == "room_finished":
        set_["ended_ts"] = excluded.ended_ts  # exact; replaces a polled "last seen" estimate
    connection.execute(statement.on_conflict_do_update(index_elements=["source_id", "room_sid"], set_=set_))


def _upsert_participant(
    connection: Connection, event: webhook_pb.WebhookEvent, source_id: int, created_ts: int
) -> None:
    info = event.participant
    table = schema.participant_sessions
    joined_ts = _seconds(info.joined_at) or (
        int(info.joined_at_ms) // 1000 if info.joined_at_ms else created_ts
    )
    leaving = event.event in LEAVE_EVENTS
    values = {
        "source_id": source_id,
        "participant_sid": info.sid,
        "room_sid": event.room.sid,
        "identity": info.identity,
        "name": info.name,
        "kind": _participant_kind(info),
        "is_publisher": bool(info.is_publisher),
        "joined_ts": joined_ts,
        "left_ts": created_ts if leaving else None,
        "last_seen_ts": created_ts,
        "origin": "webhook",
    }
    statement = _insert(connection, table).values(values)
    excluded = statement.excluded
    set_: dict[str, Any] = {
        "joined_ts": excluded.joined_ts,
        "origin": excluded.origin,
        "last_seen_ts": _greatest(table.c.last_seen_ts, excluded.last_seen_ts),
        # A publisher stays a publisher for the session, whatever order the events come in.
        "is_publisher": table.c.is_publisher | excluded.is_publisher,
    }
    if leaving:
        set_["left_ts"] = excluded.left_ts
    connection.execute(
        statement.on_conflict_do_update(index_elements=["source_id", "participant_sid"], set_=set_)
    )


# ---------------------------------------------------------------------------------------------
# Reconciliation: connection minutes from webhooks vs from polling
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoomConnectionMinutes:
    """Connection minutes of one room in a window, measured three ways.

    - ``webhook_min``: from the join/leave webhook events alone (exact to the second);
    - ``session_min``: from ``participant_sessions`` as stored (webhook times where known,
      polled estimates otherwise) — what the usage ledger bills;
    - ``poll_min``: from the polled ``room_samples`` (participants × time between polls), an
      independent estimate that is short by up to one poll interval per connection.
    Minutes are exact (fractional); ``*_billed_min`` rounds each connection up to a minute
    like LiveKit's metering."""

    source_id: int
    room_sid: str
    room_name: str
    webhook_min: float
    webhook_billed_min: int
    webhook_connections: int
    session_min: float
    session_connections: int
    poll_min: float
    poll_samples: int


def _clip_minutes(start_ts: int, end_ts: int | None, since_ts: int, until_ts: int) -> float:
    end = until_ts if end_ts is None else min(end_ts, until_ts)
    return max(0, end - max(start_ts, since_ts)) / 60.0


def reconcile_connection_minutes(engine: Engine, since_ts: int, until_ts: int) -> list[RoomConnectionMinutes]:
    """Per-room connection minutes in [since_ts, until_ts) from webhooks, stored sessions and polls.
    A connection still open at ``until_ts`` counts up to ``until_ts``."""
    events, parts, samples, rooms = (
        schema.webhook_events,
        schema.participant_sessions,
        schema.room_samples,
        schema.room_sessions,
    )
    names: dict[tuple[int, str], str] = {}
    webhook_spans: dict[tuple[int, str], dict[str, list[int | None]]] = defaultdict(dict)
    with engine.connect() as connection:
        for room_row in connection.execute(
            select(rooms.c.source_id, rooms.c.room_sid, rooms.c.room_name).where(
                rooms.c.started_ts < until_ts, (rooms.c.ended_ts.is_(None)) | (rooms.c.ended_ts >= since_ts)
            )
        ):
            names[(room_row.source_id, room_row.room_sid)] = room_row.room_name
        # Webhooks: the join time from ParticipantInfo.joined_at is inside the stored body; the
        # participant_joined event's created_at is within a second of it, so use the event times.
        for row in connection.execute(
            select(events.c.source_id, events.c.room_sid, events.c.room_name, events.c.participant_sid,
                   events.c.event, events.c.created_ts)
            .where(events.c.event.in_(sorted(JOIN_EVENTS | LEAVE_EVENTS)), events.c.created_ts < until_ts)
            .order_by(events.c.created_ts)
        ):  # fmt: skip
            key = (row.source_id, row.room_sid)
            names.setdefault(key, row.room_name or row.room_sid)
            span = webhook_spans[key].setdefault(row.participant_sid, [None, None])
            if row.event in JOIN_EVENTS:
                span[0] = row.created_ts
            else:
                span[1] = row.created_ts
        session_rows = connection.execute(
            select(parts.c.source_id, parts.c.room_sid, parts.c.joined_ts, parts.c.left_ts).where(
                parts.c.joined_ts < until_ts, (parts.c.left_ts.is_(None)) | (parts.c.left_ts >= since_ts)
            )
        ).all()
        sample_rows = connection.execute(
            select(samples.c.source_id, samples.c.room_sid, samples.c.ts, samples.c.participants)
            .where(samples.c.ts >= since_ts, samples.c.ts <= until_ts)
            .order_by(samples.c.source_id, samples.c.room_sid, samples.c.ts)
        ).all()

    session_min: dict[tuple[int, str], list[float]] = defaultdict(list)
    for srow in session_rows:
        session_min[(srow.source_id, srow.room_sid)].append(
            _clip_minutes(srow.joined_ts, srow.left_ts, since_ts, until_ts)
        )
    poll_min: dict[tuple[int, str], float] = defaultdict(float)
    poll_count: dict[tuple[int, str], int] = defaultdict(int)
    previous: dict[tuple[int, str], Any] = {}
    for prow in sample_rows:
        key = (prow.source_id, prow.room_sid)
        poll_count[key] += 1
        before = previous.get(key)
        if before is not None:
            # Left-hand rule: the count seen at a poll holds until the next poll.
            poll_min[key] += before.participants * (prow.ts - before.ts) / 60.0
        previous[key] = prow

    result = []
    for key in sorted(set(names) | set(webhook_spans) | set(session_min) | set(poll_count)):
        spans = [
            (joined, left)
            for joined, left in webhook_spans.get(key, {}).values()
            if joined is not None and (left is None or left >= since_ts)
        ]
        minutes = [_clip_minutes(joined, left, since_ts, until_ts) for joined, left in spans]
        result.append(
            RoomConnectionMinutes(
                source_id=key[0],
                room_sid=key[1],
                room_name=names.get(key, key[1]),
                webhook_min=round(sum(minutes), 4),
                webhook_billed_min=sum(max(1, math.ceil(m)) for m in minutes if m > 0),
                webhook_connections=len(minutes),
                session_min=round(sum(session_min.get(key, [])), 4),
                session_connections=len(session_min.get(key, [])),
                poll_min=round(poll_min.get(key, 0.0), 4),
                poll_samples=poll_count.get(key, 0),
            )
        )
    return result


def sessions_by_identity(engine: Engine, source_id: int) -> Mapping[str, list[dict[str, Any]]]:
    """The stored participant sessions of a source, by identity (for diagnostics and tests)."""
    parts = schema.participant_sessions
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with engine.connect() as connection:
        for row in connection.execute(select(parts).where(parts.c.source_id == source_id)):
            out[row.identity].append(dict(row._mapping))
    return out


__all__ = [
    "RoomConnectionMinutes",
    "bump_counter",
    "read_counters",
    "reconcile_connection_minutes",
    "sessions_by_identity",
    "store_event",
]
