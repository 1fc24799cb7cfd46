"""castmeter's own Prometheus metrics: how the collectors are doing, and what the fleet costs.

``castmeter run`` (and ``castmeter demo``) serve them on ``http://[metrics] host:port/metrics``
(prometheus-client, a registry of this module's own). The collector parts call the small
``observe_*`` / ``count_*`` functions below; none of them can raise into their caller.

Cost series in the OpenCost manner, recomputed in a background thread every
``[metrics] cost_refresh_s`` over the trailing ``[metrics] cost_window_s``, by the cost engine
itself (``analytics.costs.estimate_cost_per_hour_usd``, the Overview's "cost per hour") and
the usage ledger (``analytics.usage.measured_ledger``) — never a second calculation:

- ``castmeter_cost_usd_per_hour{model,source}``: the window's usage rate priced for a month
  under ``model``, per hour. ``source`` is a LiveKit source's name, or ``all`` for the whole
  fleet priced together (NOT the sum of the sources: free tiers and servers are shared, so
  chart ``source="all"`` rather than ``sum()``).
- ``castmeter_listener_hours{source}``, ``castmeter_connection_minutes{source,role}``: the
  window's listener-hours and connection minutes (each connection rounded up to a minute,
  as LiveKit meters them); with the default 1 h window, listener-hours = average listeners.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import start_http_server

from analytics.costs import MODELS, estimate_cost_per_hour_usd
from analytics.ledger import AudienceProduct
from analytics.prices import catalogue_from_settings
from analytics.usage import measured_ledger
from core.pause import pause
from store.queries.usage import usage_parts

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

ALL_SOURCES = "all"
POLL_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0)
BILLING_STATUSES = ("ok", "partial", "failing")

BUILD = Info("castmeter_build", "castmeter's version", registry=REGISTRY)
SOURCE_UP = Gauge(
    "castmeter_source_up",
    "1 when the source's last poll succeeded (partly or wholly), 0 when it failed",
    ["source", "kind"],
    registry=REGISTRY,
)
SOURCE_LAST_SUCCESS = Gauge(
    "castmeter_source_last_success_timestamp_seconds",
    "Unix time of the source's last successful poll (0: none since the collector started)",
    ["source", "kind"],
    registry=REGISTRY,
)
SOURCE_FAILURES = Gauge(
    "castmeter_source_consecutive_failures",
    "Polls of the source that failed in a row (0 after a success)",
    ["source", "kind"],
    registry=REGISTRY,
)
POLL_DURATION = Histogram(
    "castmeter_source_poll_duration_seconds",
    "Wall time of one poll of a source, storing included",
    ["source", "kind"],
    buckets=POLL_BUCKETS_S,
    registry=REGISTRY,
)
TICK_DURATION = Histogram(
    "castmeter_tick_duration_seconds",
    "Wall time of one collector tick (polls, maintenance and hooks such as alert evaluation)",
    buckets=POLL_BUCKETS_S,
    registry=REGISTRY,
)
LAST_TICK = Gauge(
    "castmeter_last_tick_timestamp_seconds", "Unix time of the collector's last tick", registry=REGISTRY
)
ROWS_WRITTEN = Counter(
    "castmeter_rows_written",
    "Rows the collectors wrote to the store, by source and table",
    ["source", "table"],
    registry=REGISTRY,
)
SPOOL_BATCHES = Gauge(
    "castmeter_spool_batches", "Snapshots held in the spool while the store is unavailable", registry=REGISTRY
)
SPOOL_BYTES = Gauge("castmeter_spool_bytes", "Bytes held in the spool", registry=REGISTRY)
SPOOL_MAX_BATCHES = Gauge("castmeter_spool_max_batches", "The spool's bound in snapshots", registry=REGISTRY)
SPOOL_MAX_BYTES = Gauge("castmeter_spool_max_bytes", "The spool's bound in bytes", registry=REGISTRY)
SPOOL_OLDEST = Gauge(
    "castmeter_spool_oldest_batch_timestamp_seconds",
    "Unix time of the oldest snapshot in the spool (0: the spool is empty)",
    registry=REGISTRY,
)
SPOOL_OVERFLOW_BATCHES = Counter(
    "castmeter_spool_overflow_batches",
    "Snapshots NOT stored: the store was unavailable and the spool full",
    ["kind"],
    registry=REGISTRY,
)
SPOOL_OVERFLOW_ROWS = Counter(
    "castmeter_spool_overflow_rows",
    "Rows of the snapshots not stored (spool full)",
    ["kind"],
    registry=REGISTRY,
)
WEBHOOK_REFUSALS = Counter(
    "castmeter_webhook_refusals",
    "LiveKit webhook requests refused, by reason (unsigned, forged, stale, oversized, ...)",
    ["reason"],
    registry=REGISTRY,
)
ALERT_EVALUATIONS = Counter(
    "castmeter_alert_evaluations",
    "Live alert evaluation passes, by outcome (ok, failed)",
    ["outcome"],
    registry=REGISTRY,
)
ALERTS_ACTIVE = Gauge(
    "castmeter_alerts_active",
    "castmeter's own alerts that are pending or firing, by state and severity",
    ["state", "severity"],
    registry=REGISTRY,
)
ALERT_NOTIFICATIONS = Counter(
    "castmeter_alert_notifications",
    "Alert notifications, by receiver (webhook, slack, alertmanager) and outcome (sent, failed, dropped)",
    ["receiver", "outcome"],
    registry=REGISTRY,
)
ALERTMANAGER_UP = Gauge(
    "castmeter_alertmanager_up",
    "1 when the last exchange with the Alertmanager succeeded, else 0",
    ["alertmanager"],
    registry=REGISTRY,
)
BILLING_STATUS = Gauge(
    "castmeter_billing_fetch_status",
    "The last billing fetch of a provider: 1 for its status (ok, partial, failing), 0 for the others",
    ["provider", "status"],
    registry=REGISTRY,
)
BILLING_LAST_FETCH = Gauge(
    "castmeter_billing_last_fetch_timestamp_seconds",
    "Unix time of the provider's last billing fetch (successful or not)",
    ["provider"],
    registry=REGISTRY,
)
BILLING_ROWS = Counter(
    "castmeter_billing_rows_fetched", "Billing rows stored, by provider", ["provider"], registry=REGISTRY
)
COST_USD_PER_HOUR = Gauge(
    "castmeter_cost_usd_per_hour",
    "The trailing window's usage priced for a month under a provider model, per hour, USD "
    "(source=all: the fleet priced together)",
    ["model", "source"],
    registry=REGISTRY,
)
CURRENT_MODEL = Gauge(
    "castmeter_cost_current_model",
    "1 for the model the fleet runs on ([prices] current_model)",
    ["model"],
    registry=REGISTRY,
)
LISTENER_HOURS = Gauge(
    "castmeter_listener_hours",
    "Listener-hours in the trailing cost window (each connection rounded up to a minute)",
    ["source"],
    registry=REGISTRY,
)
CONNECTION_MINUTES = Gauge(
    "castmeter_connection_minutes",
    "Connection minutes in the trailing cost window, by role (listener, publisher), each rounded up",
    ["source", "role"],
    registry=REGISTRY,
)
COST_WINDOW = Gauge(
    "castmeter_cost_window_seconds", "Length of the window the cost series price", registry=REGISTRY
)
COST_WINDOW_END = Gauge(
    "castmeter_cost_window_end_timestamp_seconds",
    "End of the window the cost series priced last (Unix time)",
    registry=REGISTRY,
)
COST_REFRESH_FAILURES = Counter(
    "castmeter_cost_refresh_failures", "Cost series refreshes that failed", registry=REGISTRY
)


def _safely(what: str) -> Any:
    """A decorator: a metrics call never raises into the collector."""

    def wrap(function: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> None:
            try:
                function(*args, **kwargs)
            except Exception as exc:
                log.debug("self-metrics: %s failed: %s", what, exc)

        call.__doc__ = function.__doc__
        return call

    return wrap


# --- the collector's parts -------------------------------------------------------------------


class _Health(Protocol):
    name: str
    consecutive_failures: int
    last_success_ts: float | None


@dataclass(frozen=True)
class SpoolState:
    batches: int
    bytes: int
    oldest_ts: int | None
    max_batches: int
    max_bytes: int


@_safely("tick")
def observe_tick(
    duration_s: float,
    now_ts: float,
    rows: Mapping[str, int],
    poll_s: Mapping[str, float],
    sources: Iterable[tuple[_Health, str]],
    spool: SpoolState | None,
) -> None:
    """After each tick: its duration, rows written (``"<source>.<table>": n``), each polled
    source's poll time and health, and the spool's depth."""
    TICK_DURATION.observe(duration_s)
    LAST_TICK.set(now_ts)
    for key, count in rows.items():
        source, _, table = key.rpartition(".")
        ROWS_WRITTEN.labels(source, table).inc(max(0, count))
    for health, kind in sources:
        labels = (health.name, kind)
        if health.name in poll_s:
            POLL_DURATION.labels(*labels).observe(poll_s[health.name])
        SOURCE_UP.labels(*labels).set(0 if health.consecutive_failures else 1)
        SOURCE_FAILURES.labels(*labels).set(health.consecutive_failures)
        SOURCE_LAST_SUCCESS.labels(*labels).set(health.last_success_ts or 0)
    if spool is not None:
        SPOOL_BATCHES.set(spool.batches)
        SPOOL_BYTES.set(spool.bytes)
        SPOOL_OLDEST.set(spool.oldest_ts or 0)
        SPOOL_MAX_BATCHES.set(spool.max_batches)
        SPOOL_MAX_BYTES.set(spool.max_bytes)


@_safely("spool overflow")
def count_spool_overflow(kind: str, rows: int) -> None:
    SPOOL_OVERFLOW_BATCHES.labels(kind).inc()
    SPOOL_OVERFLOW_ROWS.labels(kind).inc(max(0, rows))


@_safely("webhook refusal")
def count_webhook_refusal(reason: str) -> None:
    WEBHOOK_REFUSALS.labels(reason).inc()


_active_keys: set[tuple[str, str]] = set()


@_safely("alert evaluation")
def observe_alert_evaluation(ok: bool, active: Iterable[tuple[str, str, int]] = ()) -> None:
    """One evaluation pass, and the (state, severity, count) of the alerts now active."""
    ALERT_EVALUATIONS.labels("ok" if ok else "failed").inc()
    if not ok:
        return
    now = {(state, severity): count for state, severity, count in active}
    for key in _active_keys - now.keys():  # no longer active: 0, not a stale number
        ALERTS_ACTIVE.labels(*key).set(0)
    for key, count in now.items():
        ALERTS_ACTIVE.labels(*key).set(count)
    _active_keys.update(now)


@_safely("alert notification")
def count_alert_notification(receiver: str, outcome: str) -> None:
    ALERT_NOTIFICATIONS.labels(receiver, outcome).inc()


@_safely("alertmanager state")
def set_alertmanager_up(url: str, up: bool) -> None:
    ALERTMANAGER_UP.labels(url).set(1 if up else 0)


@_safely("billing")
def observe_billing(summary: Mapping[str, Any]) -> None:
    """A billing run's summary (collectors.billing.runner.run_billing_once)."""
    started = float(summary.get("started_ts") or time.time())
    for provider, result in dict(summary.get("providers") or {}).items():
        status = str(result.get("status", "failing"))
        for candidate in BILLING_STATUSES:
            BILLING_STATUS.labels(provider, candidate).set(1 if candidate == status else 0)
        BILLING_LAST_FETCH.labels(provider).set(started)
        BILLING_ROWS.labels(provider).inc(max(0, int(result.get("rows") or 0)))


# --- cost series ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CostFigures:
    """One refresh: USD per hour by (model, source); usage by source."""

    end_ts: int
    window_s: int
    usd_per_hour: Mapping[tuple[str, str], float | None]
    listener_minutes: Mapping[str, float]
    publisher_minutes: Mapping[str, float]


def compute_cost_figures(
    engine: Any,
    sources: Sequence[tuple[str, int]],
    end_ts: int,
    window_s: int,
    catalogue: Any,
    models: Sequence[str],
    audience_product: AudienceProduct = "broadcast",
) -> CostFigures:
    """The cost engine's figures for ``[end_ts - window_s, end_ts)``: per LiveKit source
    (name, id) and for the whole fleet (``all``); ``audience_product``: ``[prices]
    audience_product``, as the Costs page prices Agora's audience."""
    start_ts = end_ts - window_s
    usd: dict[tuple[str, str], float | None] = {}
    listeners: dict[str, float] = {}
    publishers: dict[str, float] = {}
    scopes: list[tuple[str, int | None]] = [*sources, (ALL_SOURCES, None)]
    for name, source_id in scopes:
        # Read once, priced per model.
        ledger = measured_ledger(
            usage_parts(engine, start_ts, end_ts, source_id),
            start_ts,
            end_ts,
            audience_product=audience_product,
        )
        totals = ledger.totals()
        listeners[name] = totals["listener_minutes"]
        publishers[name] = totals["publisher_minutes"]
        for model in models:
            usd[(model, name)] = estimate_cost_per_hour_usd(
                engine, start_ts, end_ts, source_id, model_id=model, catalogue=catalogue, ledger=ledger
            )
    return CostFigures(end_ts, window_s, usd, listeners, publishers)


def publish_cost_figures(figures: CostFigures, current_model: str) -> None:
    """Set the cost gauges; a model with no usage to price reads 0 USD per hour."""
    COST_WINDOW.set(figures.window_s)
    COST_WINDOW_END.set(figures.end_ts)
    for (model, source), value in figures.usd_per_hour.items():
        COST_USD_PER_HOUR.labels(model, source).set(0.0 if value is None else value)
    for model in {model for model, _ in figures.usd_per_hour}:
        CURRENT_MODEL.labels(model).set(1 if model == current_model else 0)
    for source, minutes in figures.listener_minutes.items():
        LISTENER_HOURS.labels(source).set(minutes / 60.0)
        CONNECTION_MINUTES.labels(source, "listener").set(minutes)
        CONNECTION_MINUTES.labels(source, "publisher").set(figures.publisher_minutes.get(source, 0.0))


class CostRefresher:
    """Recomputes the cost series every ``refresh_s`` on a daemon thread until stopped."""

    def __init__(self, engine: Any, settings: Any, sources: Sequence[tuple[str, int]]) -> None:
        self.engine = engine
        self.settings = settings
        self.sources = list(sources)
        self.window_s = int(settings.metrics.cost_window_s)
        self.refresh_s = float(settings.metrics.cost_refresh_s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cost-metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def refresh(self, end_ts: int | None = None) -> CostFigures:
        figures = compute_cost_figures(
            self.engine,
            self.sources,
            int(time.time()) if end_ts is None else end_ts,
            self.window_s,
            catalogue_from_settings(self.settings),
            list(MODELS),
            self.settings.prices.audience_product,
        )
        publish_cost_figures(figures, self.settings.prices.current_model)
        return figures

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception as exc:  # the store may be down; try again next time
                COST_REFRESH_FAILURES.inc()
                log.warning("cost metrics not refreshed: %s", exc)
            pause(self._stop, self.refresh_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)


# --- the endpoint ---------------------------------------------------------------------------


def _version() -> str:
    try:
        return version("castmeter")
    except PackageNotFoundError:  # a checkout that was never installed
        return "0+checkout"


class MetricsServer:
    """/metrics on ``host:port`` and the cost refresher; ``stop()`` ends both."""

    def __init__(self, host: str, port: int, refresher: CostRefresher | None) -> None:
        BUILD.info({"version": _version()})
        self._server, self._thread = start_http_server(port, addr=host, registry=REGISTRY)
        self.host = host
        self.port = int(self._server.server_address[1])
        self.refresher = refresher
        if refresher is not None:
            refresher.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def stop(self) -> None:
        if self.refresher is not None:
            self.refresher.stop()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_metrics(
    settings: Any, engine: Any, livekit_sources: Sequence[tuple[str, int]]
) -> MetricsServer | None:
    """Start /metrics as ``[metrics]`` says (None when disabled). Raises OSError when the
    address cannot be bound."""
    metrics = settings.metrics
    if not metrics.enabled:
        return None
    server = MetricsServer(metrics.host, metrics.port, CostRefresher(engine, settings, livekit_sources))
    log.info("castmeter's own metrics on %s", server.url)
    return server
