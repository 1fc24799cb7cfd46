"""The audience pollers' figures as Prometheus series, for the exported relay and HLS rules.

The alert metrics ``relay_down`` and ``hls_5xx_pct`` (analytics/alerts/metrics.py) are
backtested on the store's relay_samples / audience_samples. So that Prometheus can evaluate
the same rules, every audience poller (the HLS log poller and the Agora, Cloudflare Stream and
IVS pollers) publishes what its last poll reported, on castmeter's own ``/metrics``
(collectors/self_metrics.py's registry):

- ``castmeter_relay_down{stream,kind,relay_id,source}``: 1 while the relay hop reports itself
  down, else 0 (ok, degraded, idle): relay_samples' ``health == "down"``.
- ``castmeter_hls_bucket_requests{stream,source}`` and
  ``castmeter_hls_bucket_5xx_requests{stream,source}``: the HLS requests, and those answered
  5xx, in the stream's newest bucket of the log's clock (running totals, the figures the newest
  audience sample holds); ``castmeter_hls_bucket_seconds{source}`` is that bucket's length.

Each source's series are exactly those of its last successful poll: a stream or relay the poll
no longer reports is gone from the next scrape (Prometheus marks it stale, as the store has no
newer sample), and a source that has not been polled successfully for ``ttl_s`` (3 poll
intervals, at least 60 s: failing, removed from the config, or handed to another collector
process by collectors/ownership.py) loses all its series. Cardinality is therefore bounded by
the streams and relays live now.

Several collector processes: each source is polled by the one process that owns it, but during
a hand-over the old owner still shows its last figures for up to ``ttl_s``. The exported PromQL
therefore takes ``max by (stream, source)`` (the same source's figures from two processes are
one source) before summing sources per stream, and ``max`` over relays of one stream and kind.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from collectors.self_metrics import REGISTRY
from store.audience import AudienceSample, RelaySample

log = logging.getLogger(__name__)

MIN_TTL_S = 60.0
TTL_POLLS = 3

RELAY_LABELS = ("stream", "kind", "relay_id", "source")
HLS_LABELS = ("stream", "source")


@dataclass
class _Published:
    updated_s: float  # monotonic time of the poll
    ttl_s: float
    relays: dict[tuple[str, str, str], float] = field(default_factory=dict)  # (stream, kind, id) -> down
    hls: dict[str, tuple[int, int]] = field(default_factory=dict)  # stream -> (requests, 5xx)
    bucket_s: float | None = None


def _newest_hls(samples: Iterable[AudienceSample]) -> dict[str, tuple[int, int]]:
    """Per channel, the requests and 5xx of its newest HLS sample that counted requests."""
    newest: dict[str, AudienceSample] = {}
    for sample in samples:
        if sample.path != "hls" or sample.requests is None:
            continue
        held = newest.get(sample.channel)
        if held is None or sample.ts >= held.ts:
            newest[sample.channel] = sample
    return {channel: (int(s.requests or 0), int(s.errors_5xx or 0)) for channel, s in newest.items()}


class AudienceSeries(Collector):
    """What each audience source's last poll reported, served at scrape time."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._sources: dict[str, _Published] = {}

    def publish(
        self,
        source: str,
        interval_s: float,
        relays: Sequence[RelaySample],
        audience: Sequence[AudienceSample] = (),
        *,
        hls_bucket_s: float | None = None,
    ) -> None:
        """Replace ``source``'s series with those of a poll that returned ``relays`` and
        ``audience``. Never raises into the poller."""
        try:
            published = _Published(
                self._clock(), max(MIN_TTL_S, TTL_POLLS * float(interval_s)), bucket_s=hls_bucket_s
            )
            for relay in relays:
                key = (relay.channel, relay.kind, relay.relay_id)
                down = 1.0 if relay.health == "down" else 0.0
                published.relays[key] = max(down, published.relays.get(key, 0.0))
            published.hls = _newest_hls(audience)
            with self._lock:
                self._sources[source] = published
        except Exception:  # a metrics failure must not fail the poll
            log.exception("audience metrics of %s not published", source)

    def forget(self, source: str) -> None:
        with self._lock:
            self._sources.pop(source, None)

    def _current(self) -> list[tuple[str, _Published]]:
        now = self._clock()
        with self._lock:
            expired = [name for name, p in self._sources.items() if now - p.updated_s > p.ttl_s]
            for name in expired:
                del self._sources[name]
            return sorted(self._sources.items())

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return list(self._families([]))

    def collect(self) -> Iterable[GaugeMetricFamily]:
        return list(self._families(self._current()))

    def _families(self, sources: Sequence[tuple[str, _Published]]) -> Iterator[GaugeMetricFamily]:
        down = GaugeMetricFamily(
            "castmeter_relay_down",
            "1 while the relay hop reports itself down, else 0 (castmeter's last poll of the source)",
            labels=RELAY_LABELS,
        )
        requests = GaugeMetricFamily(
            "castmeter_hls_bucket_requests",
            "HLS requests of the stream in the newest bucket of the log's clock (running total)",
            labels=HLS_LABELS,
        )
        errors = GaugeMetricFamily(
            "castmeter_hls_bucket_5xx_requests",
            "HLS requests of the stream answered 5xx in the newest bucket of the log's clock",
            labels=HLS_LABELS,
        )
        bucket = GaugeMetricFamily(
            "castmeter_hls_bucket_seconds",
            "Length of the HLS log source's buckets (castmeter_hls_bucket_* count one)",
            labels=("source",),
        )
        for name, published in sources:
            for (stream, kind, relay_id), value in sorted(published.relays.items()):
                down.add_metric([stream, kind, relay_id, name], value)
            for stream, (total, failed) in sorted(published.hls.items()):
                requests.add_metric([stream, name], total)
                errors.add_metric([stream, name], failed)
            if published.bucket_s is not None:
                bucket.add_metric([name], published.bucket_s)
        yield from (down, requests, errors, bucket)


AUDIENCE_SERIES = AudienceSeries()
REGISTRY.register(AUDIENCE_SERIES)


def publish_audience(
    source: str,
    interval_s: float,
    relays: Sequence[RelaySample],
    audience: Sequence[AudienceSample] = (),
    *,
    hls_bucket_s: float | None = None,
) -> None:
    """What the pollers call after a successful poll (see the module docstring)."""
    AUDIENCE_SERIES.publish(source, interval_s, relays, audience, hls_bucket_s=hls_bucket_s)
