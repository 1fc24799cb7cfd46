"""The one contract between a source and the runner (collectors/runner.py).

A source kind (LiveKit rooms, Prometheus node metrics, and the HLS logs, Agora, Cloudflare Stream
and Amazon IVS to come) is one class meeting :class:`Poller`. The runner owns everything else,
the same for every kind: the schedule and backoff (collectors/health.py), the ``sources`` and
``source_health`` rows, the spool when the store is unavailable (collectors/spool.py), and
castmeter's own metrics (collectors/self_metrics.py).

A poll is split in two so that the network and the store fail apart:

- ``poll(now_ts)`` reads the outside world and returns a *snapshot*: a plain dataclass with
  ``ts``, ``warnings`` (a partial poll) and ``row_count``; it never touches the store. Raising
  means the source is down (a failed poll: backoff).
- ``write(snapshot)`` stores it and returns rows written by table. When the store is
  unavailable the runner spools the snapshot instead (encoded by :func:`encode_snapshot`, so a
  snapshot must be a dataclass of JSON-able fields) and replays it, oldest first, through the
  same ``write`` once the store answers.

``bind(engine, source_id)`` comes first: it gives the poller its ``sources`` row and lets it
load what it keeps between polls (open sessions, a log file's offset, an API's cursor). Keep
such a cursor *in the store* and advance it inside ``write``'s transaction, so a snapshot that
waited in the spool, or a restart, neither loses nor double-counts what was read.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Generic, Protocol, TypeVar

from pydantic import TypeAdapter
from sqlalchemy import Engine

from core.settings import CollectorSettings


class Snapshot(Protocol):
    """What one poll saw (a dataclass)."""

    @property
    def ts(self) -> int:
        """When it was taken (Unix seconds)."""
        ...

    @property
    def warnings(self) -> list[str]:
        """Parts that could not be read this time (the poll is then *partial*, not failed)."""
        ...

    @property
    def row_count(self) -> int:
        """Its size in rows, for the spool's accounting."""
        ...


SnapshotT = TypeVar("SnapshotT", bound=Snapshot)


class Poller(Protocol[SnapshotT]):
    """One source, as the runner sees it."""

    @property
    def name(self) -> str:
        """The source's unique name (its ``sources`` row, health and metric labels)."""
        ...

    @property
    def kind(self) -> str:
        """``livekit``, ``prometheus``, …: the ``sources.kind`` and the metrics' ``kind`` label."""
        ...

    @property
    def url(self) -> str:
        """Where it reads (``sources.url``; never a credential)."""
        ...

    @property
    def interval_s(self) -> float:
        """Seconds between polls while the source is healthy."""
        ...

    @property
    def poll_timeout_s(self) -> float | None:
        """A bound on one whole ``poll`` (None: the client's own timeouts bound it)."""
        ...

    @property
    def spool_kind(self) -> str:
        """What its snapshots hold (``rooms``, ``nodes``): the spool's key and counter names."""
        ...

    @property
    def snapshot_type(self) -> type[SnapshotT]:
        """The snapshot dataclass (the spool decodes payloads back into it)."""
        ...

    def bind(self, engine: Engine, source_id: int) -> None:
        """Attach to the store before the first poll (load state kept between polls)."""
        ...

    async def poll(self, now_ts: int) -> SnapshotT:
        """Read the source; raise when it cannot be read at all."""
        ...

    def write(self, snapshot: SnapshotT) -> Mapping[str, int]:
        """Store one snapshot (idempotently: a replay may repeat one); rows written by table."""
        ...

    def describe_error(self, exc: BaseException) -> str:
        """A short, credential-free description of a failed poll (the health table shows it)."""
        ...


class SourceConfig(Protocol):
    """A source's settings entry: at least its name and where it reads."""

    @property
    def name(self) -> str: ...

    @property
    def url(self) -> str: ...


SourceConfigT = TypeVar("SourceConfigT", bound=SourceConfig)


class ConfiguredPoller(Generic[SourceConfigT]):
    """What a poller configured by one settings entry shares: its name, url and interval."""

    def __init__(self, source: SourceConfigT, collectors: CollectorSettings) -> None:
        self.source = source
        self.interval_s = collectors.interval_s

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def url(self) -> str:
        return self.source.url


def describe_exception(exc: BaseException) -> str:
    """The default error description: the exception's type and message."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


@functools.cache
def _adapter(snapshot_type: type[Any]) -> TypeAdapter[Any]:
    return TypeAdapter(snapshot_type)


def encode_snapshot(snapshot: Snapshot) -> dict[str, Any]:
    """A snapshot as plain JSON-able data (what the spool holds)."""
    encoded: dict[str, Any] = _adapter(type(snapshot)).dump_python(snapshot, mode="json")
    return encoded


def decode_snapshot(snapshot_type: type[SnapshotT], payload: Mapping[str, Any]) -> SnapshotT:
    """The snapshot :func:`encode_snapshot` encoded."""
    decoded: SnapshotT = _adapter(snapshot_type).validate_python(payload)
    return decoded
