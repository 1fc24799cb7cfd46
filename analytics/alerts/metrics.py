"""The metrics a rule can watch: unit, valid range, allowed scopes, store source, PromQL.

One catalogue entry per metric keeps the backtest, the live evaluator and the Prometheus
export in agreement about what a metric means and in which unit it is measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Scope = Literal["node", "stream", "fleet"]
# How a metric's value at an evaluation time is obtained from stored samples:
#   value    — the latest sample (within the lookback);
#   absence  — 1 when a known target has no sample within the lookback, else 0;
#   drop_pct — % drop of the value from its maximum over the last `window` (listeners).
Derivation = Literal["value", "absence", "drop_pct"]
FleetAggregate = Literal["mean", "sum", "max"]


@dataclass(frozen=True)
class MetricSpec:
    name: str
    title: str
    unit: str
    low: float  # valid threshold range, inclusive
    high: float
    scopes: tuple[Scope, ...]
    # Where the backtest reads it: "node_samples.<column>", "room_samples.listeners", "spend",
    # "audience_samples.hls_5xx_pct", "relay_samples.down".
    source: str
    derivation: Derivation = "value"
    fleet_aggregate: FleetAggregate = "mean"
    # Multiply the stored column by this to get the metric's unit.
    scale: float = 1.0
    # Subtract-from: value = offset - scale * column (join failure from success ratio).
    offset: float | None = None
    # PromQL over the real exporter metrics, aggregated per target label; None = not exportable.
    promql: str | None = None
    # The label that identifies a target in that PromQL (LiveKit: node_id; node_exporter:
    # instance; castmeter's audience series: stream, relay).
    target_label: str = "node_id"
    # The scope that PromQL computes per target; a fleet rule aggregates its recorded series.
    promql_scope: Scope = "node"
    # The PromQL reads castmeter's own /metrics (collectors/audience_metrics.py): Prometheus
    # must scrape castmeter's collectors for the exported rule to see anything.
    castmeter_series: bool = False
    not_exportable_reason: str = ""


_HIST = "histogram_quantile(0.95, sum by (node_id, le) (rate({metric}[{window}])))"

METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec(
            "cpu_pct",
            "CPU",
            "%",
            0,
            100,
            ("node", "fleet"),
            "node_samples.cpu_pct",
            promql='100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{{mode="idle"}}[{window}])))',
            target_label="instance",
        ),
        MetricSpec(
            "memory_pct",
            "Memory",
            "%",
            0,
            100,
            ("node", "fleet"),
            "node_samples.memory_pct",
            promql="100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)",
            target_label="instance",
        ),
        MetricSpec(
            "bandwidth_out_mbps",
            "Outgoing bandwidth",
            "Mbit/s",
            0,
            1_000_000,
            ("node", "fleet"),
            "node_samples.bytes_out_per_s",
            fleet_aggregate="sum",
            scale=8 / 1e6,
            promql='8 * sum by (node_id) (rate(livekit_packet_bytes{{direction="outgoing"}}[{window}])) / 1e6',
        ),
        MetricSpec(
            "packet_loss_p95_pct",
            "Packet loss p95",
            "%",
            0,
            100,
            ("node", "fleet"),
            "node_samples.packet_loss_pct",
            fleet_aggregate="max",
            promql=_HIST.replace("{metric}", "livekit_packet_loss_percent_bucket"),
        ),
        MetricSpec(
            "jitter_p95_ms",
            "Jitter p95",
            "ms",
            0,
            60_000,
            ("node", "fleet"),
            "node_samples.jitter_p95_ms",
            fleet_aggregate="max",
            # livekit_jitter_us is in microseconds.
            promql=_HIST.replace("{metric}", "livekit_jitter_us_bucket") + " / 1000",
        ),
        MetricSpec(
            "rtt_p95_ms",
            "RTT p95",
            "ms",
            0,
            60_000,
            ("node", "fleet"),
            "node_samples.rtt_p95_ms",
            fleet_aggregate="max",
            promql=_HIST.replace("{metric}", "livekit_rtt_ms_bucket"),
        ),
        MetricSpec(
            "join_failure_pct",
            "Join failure rate",
            "%",
            0,
            100,
            ("node", "fleet"),
            "node_samples.join_success_ratio",
            scale=100.0,
            offset=100.0,
            # Failed signal joins plus failed RTC connections over signal join attempts.
            promql=(
                "100 * sum by (node_id) (rate(livekit_participant_join_total{{state=~"
                '"signal_failed|signal_validation_failed|signal_upgrade_failed|'
                'signal_write_initial_response_failed|rtc_failure"}}[{window}]))'
                " / sum by (node_id) (rate(livekit_participant_join_total{{state=~"
                '"signal_connected|signal_failed|signal_validation_failed|signal_upgrade_failed|'
                'signal_write_initial_response_failed"}}[{window}]))'
            ),
        ),
        MetricSpec(
            "api_5xx_per_s",
            "API 5xx rate",
            "req/s",
            0,
            1_000_000,
            ("node", "fleet"),
            "node_samples.api_errors_per_s",
            fleet_aggregate="sum",
            # status is the HTTP code ("503") or its family ("5xx"): match both.
            promql='sum by (node_id) (rate(livekit_node_twirp_request_status{{status=~"5.."}}[{window}]))',
        ),
        MetricSpec(
            "node_down",
            "Node down (no samples)",
            "",
            0,
            1,
            ("node", "fleet"),
            "node_samples.ts",
            derivation="absence",
            fleet_aggregate="sum",
            promql='1 - max by (instance) (up{{job="{livekit_job}"}})',
            target_label="instance",
        ),
        MetricSpec(
            "listeners_drop_pct",
            "Listeners drop",
            "%",
            0,
            100,
            ("stream", "fleet"),
            "room_samples.listeners",
            derivation="drop_pct",
            fleet_aggregate="sum",
            not_exportable_reason="LiveKit exports no per-room listener count to Prometheus",
        ),
        MetricSpec(
            "hls_5xx_pct",
            "HLS 5xx share",
            "% of requests",
            0,
            100,
            ("stream", "fleet"),
            "audience_samples.hls_5xx_pct",
            fleet_aggregate="max",
            # castmeter's own /metrics (collectors/audience_metrics.py): the newest log bucket's
            # requests and 5xx per stream. max by (stream, source): one source seen from two
            # collector processes (an ownership hand-over) counts once; sources of a stream add
            # up, as in the store. No requests: no value, as the store has no sample.
            promql=(
                "100 * sum by (stream) (max by (stream, source) (castmeter_hls_bucket_5xx_requests))"
                " / (sum by (stream) (max by (stream, source) (castmeter_hls_bucket_requests)) > 0)"
            ),
            target_label="stream",
            promql_scope="stream",
            castmeter_series=True,
        ),
        MetricSpec(
            "relay_down",
            "Relay down",
            "",
            0,
            1,
            ("stream", "fleet"),
            "relay_samples.down",
            fleet_aggregate="sum",
            # castmeter's own /metrics (collectors/audience_metrics.py); the target is the
            # store's "channel/kind", any hop of that kind down (from any collector process).
            promql='max by (relay) (label_join(castmeter_relay_down, "relay", "/", "stream", "kind"))',
            target_label="relay",
            promql_scope="stream",
            castmeter_series=True,
        ),
        MetricSpec(
            "spend_run_rate_pct",
            "Spend run-rate vs monthly budget",
            "% of budget",
            0,
            10_000,
            ("fleet",),
            "spend",
            not_exportable_reason="spend is computed by castmeter's cost engine, not Prometheus",
        ),
    )
}


def metric(name: str) -> MetricSpec:
    return METRICS[name]
