"""The whole audience (issue 17): audience samples by delivery path, the relays between the
paths, and measured HLS usage per day for the ledger (analytics/audience.py and
analytics/usage.py do the arithmetic).

- live: the newest audience sample of each (source, channel, path) within
  ``AUDIENCE_STALE_S`` of the moment asked about; the WebRTC audience is LiveKit's live rooms
  (store.queries.fleet.live_room_samples), grouped by channel the same way;
- history: each (source, channel, path)'s average viewers per step bucket, summed per path;
- relays: the newest sample of each relay at or before the moment, and the LiveKit egress jobs
  (``egress_status``, the first hop of a LiveKit room's chain) by channel;
- usage: viewer-seconds and bytes per UTC day × channel × path. A sample's ``viewer_s`` is
  measured; when a source reports only concurrency it is ``viewers`` × the time since the
  previous sample of the same (source, channel, path), at most ``AUDIENCE_STALE_S`` (a gap in
  the samples is not counted as audience).
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import BigInteger, Float, and_, case, cast, func, literal_column, or_, select
from sqlalchemy.sql.elements import ColumnElement

from core.units import DAY_S
from store import schema
from store.queries.bind import Bind, connected, read_frame
from store.queries.fleet import live_room_samples
from store.queries.sources import newest_sample_ts
from store.queries.tiers import pick_tier

# A path's sample older than this (before the moment asked about) is not "live" any more; also
# the longest gap between two concurrency-only samples that counts as watched time.
AUDIENCE_STALE_S = 120
# LiveKit egress jobs that ended this long before the moment still show in a chain (as idle).
EGRESS_RECENT_S = 3600
# A relay that has not reported for a day is gone (a removed input), not part of a chain.
RELAY_RECENT_S = DAY_S
LIVE_COLUMNS = ["channel", "path", "viewers", "hosts", "ts", "requests", "errors_5xx"]
HISTORY_COLUMNS = ["bucket_ts", "source_id", "channel", "path", "viewers"]
RELAY_COLUMNS = [
    "source_id", "relay_id", "ts", "channel", "kind", "sink", "health", "status", "last_activity_ts", "detail",
    "segment_s",
]  # fmt: skip
EGRESS_COLUMNS = [
    "source_id", "egress_id", "channel", "room_name", "kind", "status", "started_ts", "ended_ts",
    "updated_ts", "last_seen_ts", "error",
]  # fmt: skip
USAGE_COLUMNS = ["day_ts", "channel", "path", "viewer_s", "bytes_delivered", "samples"]


def _source_filter(source_id: int | None) -> list[ColumnElement[bool]]:
    """A source's audience: its own samples and those of the channels its LiveKit rooms carry
    (an HLS or Agora poller is a source of its own, keyed to LiveKit by channel)."""
    if source_id is None:
        return []
    a, s = schema.audience_samples.c, schema.room_sessions.c
    channels = select(s.channel).where(s.source_id == source_id, s.channel.is_not(None))
    return [or_(a.source_id == source_id, a.channel.in_(channels))]


def live_audience(bind: Bind, as_of_ts: int, source_id: int | None = None) -> pd.DataFrame:
    """The audience outside LiveKit now: per channel and path, the newest sample's viewers,
    hosts, requests and 5xx answers (summed over sources) and its time (columns
    :data:`LIVE_COLUMNS`; null where no source reports them)."""
    a = schema.audience_samples.c
    newest = (
        select(a.source_id, a.channel, a.path, func.max(a.ts).label("ts"))
        .where(a.ts > as_of_ts - AUDIENCE_STALE_S, a.ts <= as_of_ts, *_source_filter(source_id))
        .group_by(a.source_id, a.channel, a.path)
        .subquery("newest_audience")
    )
    joined = schema.audience_samples.join(
        newest,
        and_(a.source_id == newest.c.source_id, a.channel == newest.c.channel, a.path == newest.c.path,
             a.ts == newest.c.ts),
    )  # fmt: skip
    query = (
        select(
            a.channel,
            a.path,
            func.sum(a.viewers).label("viewers"),
            func.sum(a.hosts).label("hosts"),
            func.max(a.ts).label("ts"),
            func.sum(a.requests).label("requests"),
            func.sum(a.errors_5xx).label("errors_5xx"),
        )
        .select_from(joined)
        .group_by(a.channel, a.path)
        .order_by(a.channel, a.path)
    )
    return read_frame(bind, query, LIVE_COLUMNS)


def live_webrtc_by_channel(bind: Bind, end_ts: int, source_id: int | None = None) -> pd.DataFrame:
    """LiveKit's live rooms by channel (the Overview's "now"): channel, listeners, publishers,
    as_of_ts (the newest room sample at or before ``end_ts``; empty when there is none)."""
    columns = ["channel", "listeners", "publishers", "as_of_ts"]
    with connected(bind) as connection:
        as_of_ts = newest_sample_ts(connection, source_id, until_ts=end_ts)
        if as_of_ts is None:
            return pd.DataFrame(columns=columns)
        live = live_room_samples(as_of_ts, source_id)
        query = (
            select(
                live.c.channel,
                func.sum(live.c.listeners).label("listeners"),
                func.sum(live.c.publishers).label("publishers"),
                literal_column(str(int(as_of_ts)), BigInteger).label("as_of_ts"),
            )
            .group_by(live.c.channel)
            .order_by(live.c.channel)
        )
        return read_frame(connection, query, columns)


def audience_history(bind: Bind, start_ts: int, end_ts: int, source_id: int | None = None) -> pd.DataFrame:
    """Each (source, channel, path)'s average viewers per step bucket (columns
    :data:`HISTORY_COLUMNS`); the step is the Overview's (store.queries.tiers.pick_tier), so the
    paths line up with the WebRTC series. A stream polled less often than the step has empty
    buckets between its samples: analytics.audience.history_by_path holds each sample until the
    next (``AUDIENCE_STALE_S`` at most) before it sums the streams."""
    a = schema.audience_samples.c
    step_s = pick_tier(start_ts, end_ts).step_s
    bucket = a.ts - a.ts % step_s
    query = (
        select(
            bucket.label("bucket_ts"),
            a.source_id,
            a.channel,
            a.path,
            func.avg(cast(a.viewers, Float)).label("viewers"),
        )
        .where(a.ts >= start_ts, a.ts < end_ts, *_source_filter(source_id))
        .group_by(bucket, a.source_id, a.channel, a.path)
        .order_by(bucket)
    )
    return read_frame(bind, query, HISTORY_COLUMNS)


def relay_states(bind: Bind, as_of_ts: int, channel: str | None = None) -> pd.DataFrame:
    """The newest sample of each relay at or before ``as_of_ts`` (its state), every channel or
    one, for relays that reported in the ``RELAY_RECENT_S`` before (columns :data:`RELAY_COLUMNS`)."""
    r = schema.relay_samples.c
    conditions = [r.ts <= as_of_ts, r.ts > as_of_ts - RELAY_RECENT_S]
    conditions += [] if channel is None else [r.channel == channel]
    newest = (
        select(r.source_id, r.relay_id, func.max(r.ts).label("ts"))
        .where(*conditions)
        .group_by(r.source_id, r.relay_id)
        .subquery("newest_relay")
    )
    query = (
        select(*(r[name] for name in RELAY_COLUMNS))
        .select_from(
            schema.relay_samples.join(
                newest,
                and_(r.source_id == newest.c.source_id, r.relay_id == newest.c.relay_id, r.ts == newest.c.ts),
            )
        )
        .order_by(r.channel, r.kind, r.relay_id)
    )
    return read_frame(bind, query, RELAY_COLUMNS)


def egress_states(bind: Bind, as_of_ts: int, channel: str | None = None) -> pd.DataFrame:
    """LiveKit egress jobs started by ``as_of_ts`` and not ended more than ``EGRESS_RECENT_S``
    before it, with their room's channel (the room name when the room session is unknown);
    columns :data:`EGRESS_COLUMNS`."""
    e = schema.egress_status.c
    s = schema.room_sessions.c
    channel_of = func.coalesce(s.channel, e.room_name, e.room_sid).label("channel")
    conditions = [
        or_(e.started_ts.is_(None), e.started_ts <= as_of_ts),
        or_(e.ended_ts.is_(None), e.ended_ts > as_of_ts - EGRESS_RECENT_S),
        e.last_seen_ts > as_of_ts - EGRESS_RECENT_S,
    ]
    query = (
        select(
            *(e[name] for name in ("source_id", "egress_id")),
            channel_of,
            *(e[name] for name in EGRESS_COLUMNS[3:]),
        )
        .select_from(
            schema.egress_status.outerjoin(
                schema.room_sessions, and_(s.source_id == e.source_id, s.room_sid == e.room_sid)
            )
        )
        .where(*conditions)
        .order_by(channel_of, e.egress_id)
    )
    frame = read_frame(bind, query, EGRESS_COLUMNS)
    if channel is not None and not frame.empty:
        frame = frame[frame["channel"].astype(str) == channel].reset_index(drop=True)
    return frame


# A window this long reads most of the samples it has: read them in primary-key order.
LONG_WINDOW_S = 2 * DAY_S


def audience_usage(bind: Bind, since_ts: int, until_ts: int, source_id: int | None = None) -> pd.DataFrame:
    """Viewer-seconds and bytes delivered per UTC day × channel × path over [since_ts,
    until_ts) (columns :data:`USAGE_COLUMNS`; ``bytes_delivered`` null where no sample of the
    group reported bytes). ``viewer_s``: the samples' measured viewer-seconds, or ``viewers`` ×
    the seconds since the previous sample (none after a gap over ``AUDIENCE_STALE_S``) where
    a source reports only concurrency."""
    a = schema.audience_samples.c
    previous_ts = (
        func.lag(a.ts).over(partition_by=(a.source_id, a.channel, a.path), order_by=a.ts).label("previous_ts")
    )
    # The previous sample may lie before the window: read one stale window earlier. Over days,
    # ``ts + 0`` keeps SQLite (no statistics) off the ts index: the primary key's order is the
    # window function's (source, channel, path, ts), so no sort of every sample (0.52 → 0.3 s
    # for 30 days of platform-500). A short window is few samples: the ts index finds them.
    low_ts = since_ts - AUDIENCE_STALE_S
    ts = a.ts + 0 if until_ts - low_ts > LONG_WINDOW_S else a.ts
    ordered = (
        select(a.source_id, a.channel, a.path, a.ts, a.viewers, a.viewer_s, a.bytes_delivered, previous_ts)
        .where(ts >= low_ts, a.ts < until_ts, *_source_filter(source_id))
        .subquery("ordered")
    )
    o = ordered.c
    gap_s = case((o.previous_ts.is_(None), 0), else_=o.ts - o.previous_ts)
    counted_gap_s = case((gap_s > AUDIENCE_STALE_S, 0), else_=gap_s)
    viewer_s = func.coalesce(o.viewer_s, cast(o.viewers, Float) * counted_gap_s)
    day_ts = o.ts - o.ts % DAY_S
    query = (
        select(
            day_ts.label("day_ts"),
            o.channel,
            o.path,
            func.sum(viewer_s).label("viewer_s"),
            func.sum(o.bytes_delivered).label("bytes_delivered"),
            func.count().label("samples"),
        )
        .where(o.ts >= since_ts)
        .group_by(day_ts, o.channel, o.path)
        .order_by(day_ts, o.channel, o.path)
    )
    return read_frame(bind, query, USAGE_COLUMNS)
