"""What the audience API pollers (Agora, Cloudflare Stream, Amazon IVS) share: a blocking client
read in a worker thread, its snapshot written in one transaction (audience and relay samples,
upserts, so a replayed snapshot writes nothing twice)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Protocol, TypeVar

from sqlalchemy import Engine

from collectors.audience_apis.common import POLL_ATTEMPTS, POLL_MAX_BACKOFF_S, AudienceSnapshot
from collectors.audience_metrics import publish_audience
from collectors.pollers.base import ConfiguredPoller, SourceConfig, describe_exception
from core.logs import redact
from core.settings import CollectorSettings
from store.audience import write_audience_samples, write_relay_samples


class AudienceClient(Protocol):
    def poll(self, now_ts: int) -> AudienceSnapshot: ...


SourceT = TypeVar("SourceT", bound=SourceConfig)


class AudienceApiPoller(ConfiguredPoller[SourceT]):
    spool_kind = "audience"
    snapshot_type = AudienceSnapshot
    client: AudienceClient

    def __init__(self, source: SourceT, collectors: CollectorSettings) -> None:
        super().__init__(source, collectors)
        # Each request is bounded by the HTTP timeout and retried a few times; a poll makes a
        # handful of list calls plus one per channel, so this bounds a source that trickles.
        self.poll_timeout_s: float | None = max(
            60.0, 8 * POLL_ATTEMPTS * collectors.http_timeout_s + POLL_ATTEMPTS * POLL_MAX_BACKOFF_S
        )
        self._engine: Engine | None = None
        self._source_id = 0
        self.last_calls: dict[str, int] = {}

    def bind(self, engine: Engine, source_id: int) -> None:
        self._engine, self._source_id = engine, source_id

    async def poll(self, now_ts: int) -> AudienceSnapshot:
        snapshot = await asyncio.to_thread(self.client.poll, now_ts)
        snapshot.warnings = [redact(warning)[:500] for warning in snapshot.warnings]
        self.last_calls = {"api_calls": snapshot.api_calls}
        # For the exported relay-down rule (collectors/audience_metrics.py).
        publish_audience(self.name, self.interval_s, snapshot.relays, snapshot.audience)
        return snapshot

    def write(self, snapshot: AudienceSnapshot) -> Mapping[str, int]:
        assert self._engine is not None, "bind() first"
        with self._engine.begin() as connection:
            audience = write_audience_samples(connection, self._source_id, snapshot.audience)
            relays = write_relay_samples(connection, self._source_id, snapshot.relays)
        return {"audience_samples": audience, "relay_samples": relays}

    def describe_error(self, exc: BaseException) -> str:
        return redact(describe_exception(exc))[:500]
