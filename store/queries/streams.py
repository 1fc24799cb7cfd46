"""Room sessions: the Streams list and one stream's drill-down rows."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import and_, case, func, literal, null, or_, select

from store import schema
from store.queries.bind import Bind, connected, read_frame
from store.queries.results import StreamList, StreamRecord
from store.queries.tiers import MIN_RAW_STEP_S, Tier, node_tier_columns, per_room_buckets, pick_tier, raw_tier
from store.usage_rollup import NOT_CONNECTION_KINDS

STREAM_STATUSES = ("all", "live", "ended")
STREAM_ROWS_LIMIT = 2000  # rows the Streams table shows
PARTICIPANT_ROWS_LIMIT = 5000


def streams(
    bind: Bind,
    start_ts: int,
    end_ts: int,
    source_id: int | None = None,
    search: str = "",
    status: str = "all",
    limit: int = STREAM_ROWS_LIMIT,
    now_ts: int | None = None,
) -> StreamList:
    """Room sessions overlapping the window, newest first. ``search`` matches room name or
    channel (case-insensitive substring, no wildcards); ``status`` is all | live | ended,
    as of ``now_ts`` (default ``end_ts``): an end time after it is not an end yet.
    Columns: source_id, source, room_sid, room_name, channel, status, started_ts, ended_ts,
    duration_s, max_listeners, max_participants."""
    r, s = schema.room_sessions.c, schema.sources.c
    now = end_ts if now_ts is None else now_ts
    live = or_(r.ended_ts.is_(None), r.ended_ts > now)
    ended = case((live, null()), else_=r.ended_ts)
    # A live session has lasted until it was last seen (never beyond now).
    seen = case((r.last_seen_ts > now, literal(now)), else_=r.last_seen_ts)
    until = case((live, seen), else_=r.ended_ts)
    query = (
        select(
            r.source_id,
            s.name.label("source"),
            r.room_sid,
            r.room_name,
            r.channel,
            case((live, literal("live")), else_=literal("ended")).label("status"),
            r.started_ts,
            ended.label("ended_ts"),
            (until - r.started_ts).label("duration_s"),
            r.max_listeners,
            r.max_participants,
        )
        .select_from(schema.room_sessions.outerjoin(schema.sources, s.id == r.source_id))
        .where(r.started_ts < end_ts, or_(live, r.ended_ts >= start_ts))
    )
    if source_id is not None:
        query = query.where(r.source_id == source_id)
    if status == "live":
        query = query.where(live)
    elif status == "ended":
        query = query.where(~live)
    term = search.strip().lower()
    if term:
        query = query.where(
            or_(
                func.lower(r.room_name).contains(term, autoescape=True),
                func.lower(r.channel).contains(term, autoescape=True),
            )
        )
    counted = query.subquery("matching")
    with connected(bind) as connection:
        total, live_count = connection.execute(
            select(func.count(), func.coalesce(func.sum(case((counted.c.status == "live", 1), else_=0)), 0))
        ).one()
        query = query.order_by(r.started_ts.desc(), r.room_sid).limit(limit)
        frame = read_frame(connection, query)
    return StreamList(frame, int(total) > limit, int(total), int(live_count))


def kbps_per_subscribed_track(bind: Bind, start_ts: int, end_ts: int) -> float | None:
    """The fleet's outgoing bitrate per subscribed track over [start, end): Σ bytes/s ÷ Σ tracks
    over the node samples that have both (Prometheus sources carry no room, so this is the
    fleet's figure, not one room's). None without such samples."""
    tier = pick_tier(start_ts, end_ts)
    attempts = [tier] if tier.name == "raw" else [tier, raw_tier()]
    with connected(bind) as connection:
        for attempt in attempts:  # a recent window may not be rolled up yet: then raw
            _table, time_col, columns = node_tier_columns(attempt)
            out, tracks = columns["bytes_out_per_s"][0], columns["tracks_subscribed"][0]
            row = connection.execute(
                select(func.sum(out), func.sum(tracks)).where(
                    time_col >= start_ts, time_col < end_ts, out.is_not(None), tracks > 0
                )
            ).one()
            if row[1]:
                return float(row[0]) / float(row[1]) * 8 / 1000
    return None


def stream_record(
    bind: Bind, source_id: int, room_sid: str, now_ts: int, *, measure_kbps: bool = True
) -> StreamRecord | None:
    """One room session's rows for its drill-down (analytics.monitoring.stream_detail), or None.
    Minutes follow LiveKit's metering: each connection is billed ``ceil(duration / 60)``
    minutes, at least one; egress recorders, ingress and SIP are not connection minutes.
    ``measure_kbps``: also read the fleet's bitrate per subscribed track during the stream."""
    r = schema.room_sessions.c
    with connected(bind) as connection:
        session = connection.execute(
            select(schema.room_sessions).where(r.source_id == source_id, r.room_sid == room_sid)
        ).first()
        if session is None:
            return None
        started_ts = int(session.started_ts)
        # An end time after now is a schedule, not an end (live sessions have none).
        ended_ts = (
            int(session.ended_ts) if session.ended_ts is not None and session.ended_ts <= now_ts else None
        )
        until_ts = ended_ts if ended_ts is not None else min(int(session.last_seen_ts), now_ts)
        until_ts = max(until_ts, started_ts + 1)

        # A short, recent session may not be rolled up yet: fall back to raw when the tier is empty.
        tier = pick_tier(started_ts, until_ts + 1)
        curve = _stream_curve(connection, tier, source_id, room_sid, started_ts, until_ts + 1)
        if curve.empty and tier.name != "raw":
            tier = raw_tier(max(MIN_RAW_STEP_S, tier.step_s))
            curve = _stream_curve(connection, tier, source_id, room_sid, started_ts, until_ts + 1)

        p = schema.participant_sessions.c
        left = func.coalesce(p.left_ts, literal(until_ts))
        duration = left - p.joined_ts
        in_room = and_(p.source_id == source_id, p.room_sid == room_sid)
        billed = p.kind.not_in(NOT_CONNECTION_KINDS)
        positive = case((duration > 0, duration), else_=0)
        minutes = case(((positive + 59) // 60 > 1, (positive + 59) // 60), else_=1)
        totals = connection.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((p.is_publisher, 1), else_=0)), 0),
                func.coalesce(func.sum(case((billed, minutes), else_=0)), 0),
                func.coalesce(func.sum(case((p.kind == "EGRESS", positive), else_=0)), 0),
            ).where(in_room)
        ).one()
        participants = read_frame(
            connection,
            select(
                p.identity,
                p.name,
                p.kind,
                p.is_publisher,
                p.joined_ts,
                p.left_ts,
                duration.label("duration_s"),
                p.origin,
            )
            .where(in_room)
            .order_by(p.joined_ts, p.participant_sid)
            .limit(PARTICIPANT_ROWS_LIMIT),
        )
        if not participants.empty:
            seconds = participants["duration_s"].clip(lower=0)
            metered = ((seconds + 59) // 60).clip(lower=1).astype("int64")
            participants["connection_min"] = metered.where(
                ~participants["kind"].isin(NOT_CONNECTION_KINDS), 0
            )
        else:
            participants["connection_min"] = pd.Series(dtype="int64")

        per_track = kbps_per_subscribed_track(connection, started_ts, until_ts + 1) if measure_kbps else None

        # This session's egress and ingress only: other sessions of the same room name (earlier
        # broadcasts of the channel) have their own. Egress names its room session; a row without
        # one, and ingress (a reusable endpoint per room name), count when they ran during it.
        e = schema.egress_status.c
        during_egress = and_(
            e.room_sid.is_(None),
            e.room_name == session.room_name,
            e.started_ts <= until_ts,
            func.coalesce(e.ended_ts, e.last_seen_ts) >= started_ts,
        )
        egress = read_frame(
            connection,
            select(e.egress_id, e.kind, e.status, e.started_ts, e.ended_ts, e.error)
            .where(e.source_id == source_id, or_(e.room_sid == room_sid, during_egress))
            .order_by(e.started_ts),
        )
        i = schema.ingress_status.c
        ingress = read_frame(
            connection,
            select(i.ingress_id, i.name, i.input_type, i.status, i.started_ts, i.ended_ts, i.error)
            .where(
                i.source_id == source_id,
                i.room_name == session.room_name,
                i.started_ts <= until_ts,
                func.coalesce(i.ended_ts, i.last_seen_ts) >= started_ts,
            )
            .order_by(i.started_ts),
        )
    return StreamRecord(
        source_id=source_id,
        room_sid=room_sid,
        room_name=str(session.room_name),
        channel=str(session.channel),
        started_ts=started_ts,
        ended_ts=ended_ts,
        until_ts=until_ts,
        max_listeners=int(session.max_listeners or 0),
        step_s=tier.step_s,
        curve=curve,
        participants=participants,
        participants_total=int(totals[0]),
        publishers=int(totals[1]),
        connection_minutes=int(totals[2]),
        recorder_seconds=float(totals[3]),
        egress=egress,
        ingress=ingress,
        kbps_per_subscribed_track=per_track,
    )


def _stream_curve(
    bind: Bind, tier: Tier, source_id: int, room_sid: str, start_ts: int, end_ts: int
) -> pd.DataFrame:
    per_room = per_room_buckets(tier, start_ts, end_ts, source_id, room_sid)
    query = select(
        per_room.c.bucket_ts,
        per_room.c.listeners,
        per_room.c.listeners_peak,
        per_room.c.publishers,
        per_room.c.participants,
    ).order_by(per_room.c.bucket_ts)
    return read_frame(bind, query)
