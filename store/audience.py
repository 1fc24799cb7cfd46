"""Writes of the whole audience (issue 17): audience samples by delivery path, relay samples,
log cursors. Every write is an upsert on the table's natural key, so a replayed snapshot (the
spool) or a repeated tick never duplicates a row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from sqlalchemy import Connection

from store import schema
from store.upsert import upsert

DELIVERY_PATHS: tuple[str, ...] = ("hls", "agora", "cloudflare_stream", "ivs")
RELAY_KINDS: tuple[str, ...] = (
    "livekit_egress",
    "hls_playlist",
    "agora_media_push",
    "agora_cloud_recording",
    "cloudflare_live_input",
    "ivs_stream",
)
RELAY_HEALTH: tuple[str, ...] = ("ok", "degraded", "down", "idle")


@dataclass(frozen=True)
class AudienceSample:
    """One channel's audience on one delivery path at ``ts`` (see schema.audience_samples)."""

    channel: str
    path: str
    ts: int
    viewers: int
    hosts: int | None = None
    viewer_s: float | None = None
    bytes_delivered: int | None = None
    requests: int | None = None
    errors_4xx: int | None = None
    errors_5xx: int | None = None

    def __post_init__(self) -> None:
        if self.path not in DELIVERY_PATHS:
            raise ValueError(f"unknown delivery path {self.path!r} (one of {', '.join(DELIVERY_PATHS)})")
        if self.viewers < 0:
            raise ValueError(f"viewers must be >= 0, got {self.viewers}")


@dataclass(frozen=True)
class RelaySample:
    """One relay hop's state at ``ts`` (see schema.relay_samples)."""

    relay_id: str
    ts: int
    channel: str
    kind: str
    health: str
    status: str
    sink: str = ""
    last_activity_ts: int | None = None
    detail: str | None = None
    # The stream's segment duration as the poller knows it (HLS playlists: the source's
    # segment_s); what the stale-playlist rule counts in. Null for other relays.
    segment_s: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in RELAY_KINDS:
            raise ValueError(f"unknown relay kind {self.kind!r} (one of {', '.join(RELAY_KINDS)})")
        if self.health not in RELAY_HEALTH:
            raise ValueError(f"unknown relay health {self.health!r} (one of {', '.join(RELAY_HEALTH)})")


def write_audience_samples(connection: Connection, source_id: int, samples: Sequence[AudienceSample]) -> int:
    """Upsert ``samples`` of one source; returns the rows written."""
    rows = [{"source_id": source_id, **asdict(sample)} for sample in samples]
    return upsert(connection, schema.audience_samples, rows)


def write_relay_samples(connection: Connection, source_id: int, samples: Sequence[RelaySample]) -> int:
    """Upsert ``samples`` of one source; returns the rows written."""
    rows = [{"source_id": source_id, **asdict(sample)} for sample in samples]
    return upsert(connection, schema.relay_samples, rows)
