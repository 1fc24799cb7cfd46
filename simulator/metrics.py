"""Per-node Prometheus exposition with livekit-server's metric names, types and labels.

Each simulated node has its own ``CollectorRegistry`` with one custom collector. Counters and
histograms integrate the model's per-second rates over wall-clock time (lazily, on scrape, in
steps of at most ``STEP_S``), so ``rate()`` in Prometheus gives back the model's rates at the
current simulated time whatever ``--speed`` is. Gauges show the model's value now.

prometheus_client writes the ``# HELP``/``# TYPE`` lines of every counter as ``<name>_total``;
livekit-server (client_golang) exposes some counters without that suffix
(``livekit_packet_bytes``, ``livekit_node_twirp_request_status``), so ``render`` renames
those two header lines back; the samples themselves are written by prometheus_client.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterator

import numpy as np
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from simulator import load
from simulator.clock import LiveFleet
from simulator.quality import (
    JITTER_US_BUCKETS,
    LOSS_BUCKETS,
    QUALITY_BUCKETS,
    RTT_MS_BUCKETS,
    lognormal_cdf,
)

STEP_S = 1.0  # integration step (wall-clock seconds)
MAX_STEPS = 60  # after a long pause, integrate coarsely rather than stall a scrape
STATS_INTERVAL_S = 10.0  # one quality observation per track per interval (LiveKit's stats tick)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

COUNTERS_WITHOUT_TOTAL = ("livekit_packet_bytes", "livekit_node_twirp_request_status")

QUALITY_SD = 0.15
BACKGROUND_API = ("RoomService", "UpdateParticipant")
# node_exporter's CPU modes for the busy share (what `mode!="idle"` adds up).
BUSY_MODES = (("user", 0.7), ("system", 0.3))


def join_funnel(success_ratio: float) -> tuple[tuple[str, str, float], ...]:
    """livekit_participant_join_total{state,warp} per successful join, for a node whose
    joins succeed with ``success_ratio`` (the model's join_success_ratio): the failed ones
    split between signalling and RTC, so the collector's rtc_success / (rtc_success +
    failures) gives the ratio back."""
    ratio = min(max(success_ratio, 1e-6), 1.0)
    failures = (1.0 - ratio) / ratio
    signal, rtc = failures * load.SIGNAL_FAILURE_SHARE, failures * (1.0 - load.SIGNAL_FAILURE_SHARE)
    return (
        ("signal_connected", "", 1.0 + rtc),
        ("signal_failed", "", signal),
        ("rtc_init", "false", 1.0 + rtc),
        ("rtc_connected", "false", 1.0),
        ("rtc_active", "false", 1.0),
        ("rtc_success", "false", 1.0),
        ("rtc_failure", "false", rtc),
    )


def _normal_cdf(x: np.ndarray, mean: float, sd: float) -> np.ndarray:
    return np.asarray([0.5 * (1.0 + math.erf((v - mean) / (sd * math.sqrt(2.0)))) for v in x])


class _Histogram:
    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.buckets = np.zeros(len(bounds))
        self.count = 0.0
        self.sum = 0.0

    def observe_lognormal(self, n: float, median: float, sigma: float) -> None:
        if n <= 0:
            return
        self.buckets += n * lognormal_cdf(self.bounds, median, sigma)
        self.count += n
        self.sum += n * median * math.exp(sigma**2 / 2)

    def observe_normal(self, n: float, mean: float, sd: float, clip: tuple[float, float]) -> None:
        if n <= 0:
            return
        cdf = _normal_cdf(np.asarray(self.bounds), mean, sd)
        cdf[np.asarray(self.bounds) >= clip[1]] = 1.0
        self.buckets += n * cdf
        self.count += n
        self.sum += n * mean


class _Row(dict[str, float]):
    """One node's metrics at one instant, with attribute access."""

    def __getattr__(self, name: str) -> float:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class FleetMetrics:
    """The integrated state of every node's counters; shared by the per-node collectors."""

    def __init__(self, fleet: LiveFleet) -> None:
        self.fleet = fleet
        self.model = fleet.model
        self._lock = threading.Lock()
        self._last_real = time.time()
        self._last_sim = fleet.to_sim(self._last_real)
        n = self.model.n_nodes
        self.counters: list[dict[tuple[str, tuple[tuple[str, str], ...]], float]] = [
            defaultdict(float) for _ in range(n)
        ]
        self.histograms: list[dict[tuple[str, tuple[tuple[str, str], ...]], _Histogram]] = [
            {} for _ in range(n)
        ]
        self.cpu_seconds = np.zeros(n)
        self.host_cpu_seconds: list[dict[str, float]] = [defaultdict(float) for _ in range(n)]
        self.api_requests: list[dict[tuple[str, str, str, str], float]] = [
            defaultdict(float) for _ in range(n)
        ]
        media = [("MICROPHONE", "AUDIO")] + ([("CAMERA", "VIDEO")] if self.model.has_video else [])
        self.track_labels = media

    # -- integration ---------------------------------------------------------------------------

    def record_request(self, service: str, method: str, http_status: int, code: str, node: int = 0) -> None:
        """One API request served by the simulator (counted on ``node``)."""
        status = str(http_status) if http_status < 400 else f"{http_status // 100}xx"
        with self._lock:
            self.api_requests[node][(service, method, status, code)] += 1.0

    def advance(self, now_real: float | None = None) -> float:
        """Integrate every counter up to ``now_real`` (default: now); returns that time."""
        now_real = time.time() if now_real is None else now_real
        with self._lock:
            elapsed = now_real - self._last_real
            if elapsed <= 0:
                return self._last_real
            steps = min(max(1, math.ceil(elapsed / STEP_S)), MAX_STEPS)
            h = elapsed / steps
            for i in range(steps):
                t0 = self._last_real + i * h
                t1 = t0 + h
                sim0, sim1 = self.fleet.to_sim(t0), self.fleet.to_sim(t1)
                self._integrate(self.fleet.to_sim(t0 + h / 2), sim0, sim1, h)
            self._last_real = now_real
            self._last_sim = self.fleet.to_sim(now_real)
            return now_real

    def _inc(self, node: int, name: str, labels: dict[str, str], value: float) -> None:
        self.counters[node][(name, tuple(sorted(labels.items())))] += value

    def _hist(self, node: int, name: str, labels: dict[str, str], bounds: tuple[float, ...]) -> _Histogram:
        key = (name, tuple(sorted(labels.items())))
        hist = self.histograms[node].get(key)
        if hist is None:
            hist = self.histograms[node][key] = _Histogram(bounds)
        return hist

    def _integrate(self, sim_mid: float, sim0: float, sim1: float, h: float) -> None:
        frame = self.model.node_load(sim_mid)
        columns = {
            name: frame[name].to_numpy(dtype=np.float64) for name in frame.columns if name != "node_id"
        }
        # Joins per simulated second, applied per wall-clock second (see module doc).
        joins = self.model.joins_between(sim0, sim1) / max(sim1 - sim0, 1e-9) * h
        for i in range(self.model.n_nodes):
            row = _Row({name: float(values[i]) for name, values in columns.items()})
            loss = float(row.packet_loss_pct) / 100.0
            for direction, bytes_rate, packets_rate in (
                ("incoming", row.bytes_in_per_s, row.packets_in_per_s),
                ("outgoing", row.bytes_out_per_s, row.packets_out_per_s),
            ):
                for transmission, share in (("initial", 1.0 - loss), ("retransmit", loss)):
                    labels = {"direction": direction, "transmission": transmission, "country": ""}
                    self._inc(i, "livekit_packet_total", labels, float(packets_rate) * share * h)
                    self._inc(i, "livekit_packet_bytes", labels, float(bytes_rate) * share * h)
            self._inc(
                i, "livekit_nack_total", {"direction": "outgoing", "country": ""}, float(row.nack_per_s) * h
            )
            self._inc(i, "livekit_nack_total", {"direction": "incoming", "country": ""},
                      0.5 * float(row.packets_in_per_s) * loss * h)  # fmt: skip
            self._inc(
                i, "livekit_pli_total", {"direction": "outgoing", "country": ""}, float(row.pli_per_s) * h
            )
            self._inc(i, "livekit_pli_total", {"direction": "incoming", "country": ""}, 0.0)
            for state, warp, share in join_funnel(float(row.join_success_ratio)):
                self._inc(
                    i, "livekit_participant_join_total", {"state": state, "warp": warp}, joins[i] * share
                )
            requests = float(row.api_requests_per_s) * h
            errors = min(float(row.api_errors_per_s) * h, requests)
            service, method = BACKGROUND_API
            self.api_requests[i][(service, method, "200", "")] += requests - errors
            self.api_requests[i][(service, method, "5xx", "internal")] += errors
            self.cpu_seconds[i] += float(row.cpu_cores) * h
            # node_exporter: seconds per CPU and mode; busy = the model's CPU %.
            busy = min(max(float(row.cpu_pct) / 100.0, 0.0), 1.0)
            self.host_cpu_seconds[i]["idle"] += (1.0 - busy) * h
            for mode, share in BUSY_MODES:
                self.host_cpu_seconds[i][mode] += busy * share * h
            self._observe_quality(i, row, h)

    def _observe_quality(self, i: int, r: _Row, h: float) -> None:
        sigmas = self.model.quality_sigmas
        loss_median = float(r.loss_median_pct)
        jitter_median_us = float(r.jitter_median_ms) * 1000
        rtt_median = float(r.rtt_median_ms)
        for source, kind in self.track_labels:
            suffix = kind.lower()
            for direction, tracks in (
                ("incoming", r[f"tracks_published_{suffix}"]),
                ("outgoing", r[f"tracks_subscribed_{suffix}"]),
            ):
                n = tracks / STATS_INTERVAL_S * h
                labels = {"direction": direction, "source": source, "type": kind, "country": ""}
                self._hist(i, "livekit_packet_loss_percent", labels, LOSS_BUCKETS).observe_lognormal(
                    n, loss_median, sigmas["loss"]
                )
                self._hist(i, "livekit_jitter_us", labels, JITTER_US_BUCKETS).observe_lognormal(
                    n, jitter_median_us, sigmas["jitter"]
                )
                self._hist(i, "livekit_rtt_ms", labels, RTT_MS_BUCKETS).observe_lognormal(
                    n, rtt_median, sigmas["rtt"]
                )
        self._hist(i, "livekit_quality_score", {}, QUALITY_BUCKETS).observe_normal(
            r.participants / STATS_INTERVAL_S * h, r.quality_score, QUALITY_SD, (1.0, 4.5)
        )


_HELP = {
    "livekit_room_total": "rooms currently open",
    "livekit_participant_total": "participants currently connected",
    "livekit_track_published_total": "tracks currently published",
    "livekit_track_subscribed_total": "tracks currently subscribed",
    "livekit_connection_total": "open connections",
    "livekit_packet_total": "packets",
    "livekit_packet_bytes": "bytes",
    "livekit_nack_total": "NACKs",
    "livekit_pli_total": "PLIs",
    "livekit_participant_join_total": "participant join funnel",
    "livekit_node_twirp_request_status": "Twirp API requests",
    "livekit_packet_loss_percent": "packet loss percent",
    "livekit_jitter_us": "jitter in microseconds",
    "livekit_rtt_ms": "round-trip time in milliseconds",
    "livekit_quality_score": "connection quality score",
}


class NodeCollector(Collector):
    """All metric families of one simulated node."""

    def __init__(self, metrics: FleetMetrics, node: int) -> None:
        self.metrics = metrics
        self.node = node
        self.const = {"node_id": metrics.model.node_ids[node], "node_type": "SERVER"}

    def _counter(self, exposed: str) -> Metric:
        # prometheus_client counters carry the name without "_total" (samples get it back).
        return Metric(exposed.removesuffix("_total"), _HELP[exposed], "counter")

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        m.advance()
        node = self.node
        frame = m.model.node_load(m.fleet.sim_now())
        row = {
            name: float(frame[name].to_numpy(dtype=np.float64)[node])
            for name in frame.columns
            if name != "node_id"
        }
        const_names = sorted(self.const)
        const_values = [self.const[k] for k in const_names]

        def gauge(name: str, value: float, **labels: str) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, _HELP[name], labels=[*const_names, *labels])
            family.add_metric([*const_values, *labels.values()], value)
            return family

        yield gauge("livekit_room_total", float(row["rooms"]))
        yield gauge("livekit_participant_total", float(row["participants"]))
        for gauge_name, prefix in (
            ("livekit_track_published_total", "tracks_published"),
            ("livekit_track_subscribed_total", "tracks_subscribed"),
        ):
            family = GaugeMetricFamily(gauge_name, _HELP[gauge_name], labels=[*const_names, "kind"])
            for _source, kind in m.track_labels:
                family.add_metric([*const_values, kind], float(row[f"{prefix}_{kind.lower()}"]))
            yield family
        connections = GaugeMetricFamily(
            "livekit_connection_total", _HELP["livekit_connection_total"], labels=[*const_names, "kind"]
        )
        connections.add_metric([*const_values, "incoming"], round(row["participants"] * load.TURN_SHARE))
        connections.add_metric([*const_values, "outgoing"], 0.0)
        yield connections

        with m._lock:
            counters = dict(m.counters[node])
            histograms = {
                key: (h.bounds, h.buckets.copy(), h.count, h.sum) for key, h in m.histograms[node].items()
            }
            api = dict(m.api_requests[node])
            cpu_seconds = float(m.cpu_seconds[node])

        families: dict[str, Metric] = {}
        for (name, label_pairs), value in sorted(counters.items()):
            counter = families.get(name)
            if counter is None:
                counter = families[name] = self._counter(name)
            counter.add_sample(name, {**self.const, **dict(label_pairs)}, value)
        yield from families.values()

        twirp = self._counter("livekit_node_twirp_request_status")
        for (service, method, status, code), value in sorted(api.items()):
            request_labels = {
                **self.const,
                "service": service,
                "method": method,
                "status": status,
                "code": code,
            }
            twirp.add_sample("livekit_node_twirp_request_status", request_labels, value)
        yield twirp

        hist_families: dict[str, HistogramMetricFamily] = {}
        for (name, hist_labels), (bounds, buckets, count, total) in sorted(histograms.items()):
            label_names = [*const_names, *(k for k, _ in hist_labels)]
            family_h = hist_families.get(name)
            if family_h is None:
                family_h = hist_families[name] = HistogramMetricFamily(name, _HELP[name], labels=label_names)
            points = [(_le(b), float(v)) for b, v in zip(bounds, buckets, strict=True)] + [("+Inf", count)]
            family_h.add_metric([*const_values, *(v for _, v in hist_labels)], points, total)
        yield from hist_families.values()

        # Process metrics carry no node_id: Prometheus' `instance` label is the only link.
        cpu = Metric("process_cpu_seconds", "Total user and system CPU time spent in seconds.", "counter")
        cpu.add_sample("process_cpu_seconds_total", {}, cpu_seconds)
        yield cpu
        rss = GaugeMetricFamily("process_resident_memory_bytes", "Resident memory size in bytes.")
        rss.add_metric([], float(row["memory_bytes"]))
        yield rss
        # client_golang's Go collector: the CPUs the process may use (the real server exposes it).
        procs = GaugeMetricFamily("go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting.")
        procs.add_metric([], float(self.metrics.model.spec.node_vcpus))
        yield procs


class HostCollector(Collector):
    """What node_exporter on a simulated node's host shows: CPU seconds per CPU and mode, and
    memory (MemAvailable = MemTotal − the node's resident memory, so used % is the model's)."""

    def __init__(self, metrics: FleetMetrics, node: int) -> None:
        self.metrics = metrics
        self.node = node

    def collect(self) -> Iterator[Metric]:
        m = self.metrics
        m.advance()
        spec = m.model.spec
        frame = m.model.node_load(m.fleet.sim_now())
        memory_bytes = float(frame["memory_bytes"].to_numpy(dtype=np.float64)[self.node])
        with m._lock:
            seconds = dict(m.host_cpu_seconds[self.node])
        cpu = Metric("node_cpu_seconds", "Seconds the CPUs spent in each mode.", "counter")
        for index in range(int(spec.node_vcpus)):
            for mode in ("idle", *(name for name, _share in BUSY_MODES)):
                cpu.add_sample(
                    "node_cpu_seconds_total", {"cpu": str(index), "mode": mode}, seconds.get(mode, 0.0)
                )
        yield cpu
        total = float(spec.node_memory_bytes)
        yield GaugeMetricFamily(
            "node_memory_MemTotal_bytes", "Memory information field MemTotal_bytes.", total
        )
        yield GaugeMetricFamily(
            "node_memory_MemAvailable_bytes",
            "Memory information field MemAvailable_bytes.",
            max(0.0, total - memory_bytes),
        )


def _le(bound: float) -> str:
    return floatToGoString(bound)


def node_registries(
    metrics: FleetMetrics,
    collector: type[NodeCollector] | type[HostCollector] | None = None,
) -> list[CollectorRegistry]:
    """One registry per node: its LiveKit metrics (NodeCollector) or, with
    ``collector=HostCollector``, what node_exporter on its host shows."""
    kind = collector or NodeCollector
    registries = []
    for node in range(metrics.model.n_nodes):
        registry = CollectorRegistry(auto_describe=False)
        registry.register(kind(metrics, node))
        registries.append(registry)
    return registries


def render(registry: CollectorRegistry) -> bytes:
    """Prometheus text 0.0.4, with client_golang's names for counters that lack ``_total``."""
    text = generate_latest(registry)
    for name in COUNTERS_WITHOUT_TOTAL:
        wrong = f"{name}_total".encode()
        text = text.replace(b"# HELP " + wrong + b" ", b"# HELP " + name.encode() + b" ")
        text = text.replace(b"# TYPE " + wrong + b" counter", b"# TYPE " + name.encode() + b" counter")
    return text
