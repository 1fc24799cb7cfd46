"""The fleet: what is live now, and how it moved over a window (the Overview).

"Now" is the newest sample at or before the end of the window (``as_of_ts``), not the wall
clock: a stopped collector shows its last picture (with a stale-data banner on the page)
instead of an empty fleet.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Subquery, Table, and_, case, func, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement

from store import schema
from store.queries.bind import Bind, connected, read_frame
from store.queries.results import FleetHistoryFrames, Headline
from store.queries.sources import newest_sample_ts
from store.queries.tiers import per_room_buckets, pick_tier

# A room or node counts as "live now" when it has a sample this close to the newest one.
LIVE_WINDOW_S = 60


def _newest_samples(
    table: Table, key: str, as_of_ts: int, source_id: int | None, name: str
) -> tuple[Subquery, ColumnElement[bool]]:
    """The newest raw sample time of each (source, ``key``) within ``LIVE_WINDOW_S`` of
    ``as_of_ts``, and the join condition that picks that sample's row of ``table``."""
    c = table.c
    newest = select(c.source_id, c[key], func.max(c.ts).label("ts")).where(
        c.ts > as_of_ts - LIVE_WINDOW_S, c.ts <= as_of_ts
    )
    if source_id is not None:
        newest = newest.where(c.source_id == source_id)
    newest_sq = newest.group_by(c.source_id, c[key]).subquery(name)
    is_newest = and_(c.source_id == newest_sq.c.source_id, c[key] == newest_sq.c[key], c.ts == newest_sq.c.ts)
    return newest_sq, is_newest


def live_room_samples(as_of_ts: int, source_id: int | None) -> Subquery:
    """The newest raw sample of each room that is still open and was seen within
    ``LIVE_WINDOW_S`` of ``as_of_ts``."""
    rs = schema.room_samples.c
    sessions = schema.room_sessions.c
    newest_sq, is_newest = _newest_samples(schema.room_samples, "room_sid", as_of_ts, source_id, "newest")
    query = (
        select(
            rs.source_id,
            rs.room_sid,
            rs.listeners,
            rs.publishers,
            rs.participants,
            func.coalesce(sessions.channel, rs.room_sid).label("channel"),
        )
        .select_from(
            schema.room_samples.join(newest_sq, is_newest).outerjoin(
                schema.room_sessions,
                and_(sessions.source_id == rs.source_id, sessions.room_sid == rs.room_sid),
            )
        )
        # A room that ended at or before as_of is not live, even if its last sample is recent.
        .where(or_(sessions.ended_ts.is_(None), sessions.ended_ts > as_of_ts))
    )
    return query.subquery("live_rooms")


def live_node_samples(as_of_ts: int, source_id: int | None) -> Subquery:
    """The newest raw sample of each node seen within ``LIVE_WINDOW_S`` of ``as_of_ts``."""
    newest_sq, is_newest = _newest_samples(schema.node_samples, "node_id", as_of_ts, source_id, "newest_node")
    return select(schema.node_samples).join(newest_sq, is_newest).subquery("live_nodes")


def headline(bind: Bind, start_ts: int, end_ts: int, source_id: int | None = None) -> Headline:
    with connected(bind) as connection:
        as_of_ts = newest_sample_ts(connection, source_id, until_ts=end_ts)
        n = schema.nodes.c
        total_query = select(func.count()).select_from(schema.nodes).where(n.last_seen_ts >= start_ts)
        if source_id is not None:
            total_query = total_query.where(n.source_id == source_id)
        if as_of_ts is None:
            return Headline(None, 0, 0, 0, 0, 0, int(connection.execute(total_query).scalar() or 0), 0.0)
        live = live_room_samples(as_of_ts, source_id)
        rooms = connection.execute(
            select(
                func.count(),
                func.coalesce(func.sum(live.c.listeners), 0),
                func.coalesce(func.sum(live.c.publishers), 0),
                func.coalesce(func.sum(live.c.participants), 0),
            ).select_from(live)
        ).one()
        live_nodes = live_node_samples(as_of_ts, source_id)
        node_row = connection.execute(
            select(func.count(), func.coalesce(func.sum(live_nodes.c.bytes_out_per_s), 0.0)).select_from(
                live_nodes
            )
        ).one()
        nodes_up = int(node_row[0])
        nodes_total = max(nodes_up, int(connection.execute(total_query).scalar() or 0))
    return Headline(
        as_of_ts=as_of_ts,
        live_streams=int(rooms[0]),
        listeners=int(rooms[1]),
        publishers=int(rooms[2]),
        participants=int(rooms[3]),
        nodes_up=nodes_up,
        nodes_total=nodes_total,
        bytes_out_per_s=float(node_row[1]),
    )


def busiest_channels(bind: Bind, end_ts: int, source_id: int | None = None, limit: int = 10) -> pd.DataFrame:
    """Channels with the most listeners now: channel, live_streams, listeners, publishers."""
    with connected(bind) as connection:
        as_of_ts = newest_sample_ts(connection, source_id, until_ts=end_ts)
        columns = ["channel", "live_streams", "listeners", "publishers"]
        if as_of_ts is None:
            return pd.DataFrame(columns=columns)
        live = live_room_samples(as_of_ts, source_id)
        listeners = func.sum(live.c.listeners)
        query = (
            select(
                live.c.channel,
                func.count().label("live_streams"),
                listeners.label("listeners"),
                func.sum(live.c.publishers).label("publishers"),
            )
            .group_by(live.c.channel)
            .order_by(listeners.desc(), live.c.channel)
            .limit(limit)
        )
        return read_frame(connection, query)


def fleet_series(bind: Bind, start_ts: int, end_ts: int, source_id: int | None = None) -> pd.DataFrame:
    """Per step bucket: bucket_ts, live_streams, listeners, publishers (averages per bucket)."""
    tier = pick_tier(start_ts, end_ts)
    per_room = per_room_buckets(tier, start_ts, end_ts, source_id)
    query = (
        select(
            per_room.c.bucket_ts,
            func.count().label("live_streams"),
            func.sum(per_room.c.listeners).label("listeners"),
            func.sum(per_room.c.publishers).label("publishers"),
        )
        .group_by(per_room.c.bucket_ts)
        .order_by(per_room.c.bucket_ts)
    )
    return read_frame(bind, query)


def _overlapping_sessions(start_ts: int, end_ts: int, source_id: int | None) -> list[ColumnElement[bool]]:
    r = schema.room_sessions.c
    conditions = [r.started_ts < end_ts, or_(r.ended_ts.is_(None), r.ended_ts >= start_ts)]
    if source_id is not None:
        conditions.append(r.source_id == source_id)
    return conditions


def top_channels(bind: Bind, start_ts: int, end_ts: int, source_id: int | None, top_n: int) -> list[str]:
    """The ``top_n`` channels by approximate listener volume in the window: each session's
    peak listeners × its time inside the window. Read from the sessions table (thousands of
    rows), not the samples (hundreds of thousands), so ranking costs milliseconds."""
    r = schema.room_sessions.c
    until = func.coalesce(r.ended_ts, r.last_seen_ts)
    inside_from = case((r.started_ts > start_ts, r.started_ts), else_=literal(start_ts))
    inside_to = case((until < end_ts, until), else_=literal(end_ts))
    volume = func.sum(r.max_listeners * (inside_to - inside_from))
    query = (
        select(r.channel)
        .where(*_overlapping_sessions(start_ts, end_ts, source_id))
        .group_by(r.channel)
        .order_by(volume.desc(), r.channel)
        .limit(top_n)
    )
    with connected(bind) as connection:
        return [str(row[0]) for row in connection.execute(query)]


def channel_listeners(
    bind: Bind, start_ts: int, end_ts: int, source_id: int | None, channels: list[str]
) -> pd.DataFrame:
    """Listeners per bucket of each of ``channels``: bucket_ts, channel, listeners."""
    r = schema.room_sessions.c
    with connected(bind) as connection:
        rooms = [
            str(row[0])
            for row in connection.execute(
                select(r.room_sid).where(
                    r.channel.in_(channels), *_overlapping_sessions(start_ts, end_ts, source_id)
                )
            )
        ]
        tier = pick_tier(start_ts, end_ts)
        per_room = per_room_buckets(tier, start_ts, end_ts, source_id, room_sids=rooms)
        joined = per_room.join(
            schema.room_sessions, and_(r.source_id == per_room.c.source_id, r.room_sid == per_room.c.room_sid)
        )
        query = (
            select(per_room.c.bucket_ts, r.channel, func.sum(per_room.c.listeners).label("listeners"))
            .select_from(joined)
            .where(r.channel.in_(channels))
            .group_by(per_room.c.bucket_ts, r.channel)
        )
        return read_frame(connection, query)


def fleet_history_frames(
    bind: Bind, start_ts: int, end_ts: int, source_id: int | None = None, top_n: int = 8
) -> FleetHistoryFrames:
    """The Overview's two charts' rows from one pass over the samples."""
    with connected(bind) as connection:
        series = fleet_series(connection, start_ts, end_ts, source_id)
        top = top_channels(connection, start_ts, end_ts, source_id, top_n)
        top_listeners = (
            channel_listeners(connection, start_ts, end_ts, source_id, top)
            if top and not series.empty
            else pd.DataFrame(columns=["bucket_ts", "channel", "listeners"])
        )
    return FleetHistoryFrames(series, top, top_listeners)
