"""Reads of an HLS log source's own state (issue 17): its file cursors, and the open buckets
and playlist states it wrote last, so a restarted poller goes on from them."""

from __future__ import annotations

from sqlalchemy import func, select

from store import schema
from store.audience import AudienceSample, RelaySample
from store.log_cursors import LogCursor
from store.queries.bind import Bind, connected, scalar


def log_cursors(bind: Bind, source_id: int) -> list[LogCursor]:
    """Every cursor of ``source_id`` (read files included: Logpush skips them by content)."""
    c = schema.log_cursors.c
    query = select(c.file_key, c.path, c.fingerprint, c.offset_bytes, c.done).where(c.source_id == source_id)
    with connected(bind) as connection:
        return [
            LogCursor(row.file_key, row.path, row.fingerprint, int(row.offset_bytes), bool(row.done))
            for row in connection.execute(query)
        ]


def newest_cursor_ts(bind: Bind, source_id: int) -> int | None:
    """When ``source_id``'s cursors last moved (the ``ts`` of the snapshot that moved them)."""
    c = schema.log_cursors.c
    value = scalar(bind, select(func.max(c.updated_ts)).where(c.source_id == source_id))
    return None if value is None else int(value)


def hls_open_state(
    bind: Bind, source_id: int, open_s: float
) -> tuple[list[AudienceSample], list[RelaySample]]:
    """The newest ``hls_playlist`` relay sample per channel of ``source_id`` and its HLS
    audience samples of the last ``open_s`` seconds before the newest relay sample."""
    r, a = schema.relay_samples.c, schema.audience_samples.c
    with connected(bind) as connection:
        newest = (
            select(r.channel, func.max(r.ts).label("ts"))
            .where(r.source_id == source_id, r.kind == "hls_playlist")
            .group_by(r.channel)
            .subquery()
        )
        relays = [
            RelaySample(
                relay_id=row.relay_id,
                ts=int(row.ts),
                channel=row.channel,
                kind=row.kind,
                health=row.health,
                status=row.status,
                sink=row.sink,
                last_activity_ts=row.last_activity_ts,
                detail=row.detail,
            )
            for row in connection.execute(
                select(
                    r.relay_id,
                    r.ts,
                    r.channel,
                    r.kind,
                    r.health,
                    r.status,
                    r.sink,
                    r.last_activity_ts,
                    r.detail,
                )
                .join(newest, (newest.c.channel == r.channel) & (newest.c.ts == r.ts))
                .where(r.source_id == source_id, r.kind == "hls_playlist")
            )
        ]
        if not relays:
            return [], []
        since = max(relay.ts for relay in relays) - open_s
        samples = [
            AudienceSample(
                channel=row.channel,
                path="hls",
                ts=int(row.ts),
                viewers=int(row.viewers),
                viewer_s=row.viewer_s,
                bytes_delivered=row.bytes_delivered,
                requests=row.requests,
                errors_4xx=row.errors_4xx,
                errors_5xx=row.errors_5xx,
            )
            for row in connection.execute(
                select(
                    a.channel,
                    a.ts,
                    a.viewers,
                    a.viewer_s,
                    a.bytes_delivered,
                    a.requests,
                    a.errors_4xx,
                    a.errors_5xx,
                ).where(a.source_id == source_id, a.path == "hls", a.ts > since)
            )
        ]
    return samples, relays
