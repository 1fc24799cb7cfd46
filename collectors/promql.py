"""The PromQL behind every node metric, over LiveKit's real metric names.

Names, types and labels: livekit-server's https://github.com/livekit/livekit/tree/master/pkg/telemetry/prometheus
(docs/ARCHITECTURE.md, Facts). Every ``livekit_*`` series carries
``node_id``; the process metrics (``process_cpu_seconds_total``,
``process_resident_memory_bytes``, ``go_sched_gomaxprocs_threads``) do not, so they are joined
to a node through Prometheus's ``instance`` label. Counters are read with ``rate()`` /
``increase()``, which handle counter resets (a restarted server) the way Prometheus does.
"""

from __future__ import annotations

# instance -> node_id (and node_type), value 1: the join key for process_* metrics.
NODE_MAP = "(0 * max by (instance, node_id, node_type) (livekit_participant_total) + 1)"

JOIN_FAILURE_STATES = "rtc_failure|signal_failed|signal_validation_failed|signal_upgrade_failed|signal_write_initial_response_failed"


def _on_node(expr: str) -> str:
    return f"sum by (node_id) ({expr} * on (instance) group_left (node_id) {NODE_MAP})"


def node_queries(window: str) -> dict[str, str]:
    """Column (store.schema.NODE_METRICS or a helper value) -> PromQL, one value per node_id."""
    w = window
    return {
        "rooms": "sum by (node_id) (livekit_room_total)",
        "participants": "sum by (node_id) (livekit_participant_total)",
        "tracks_published": "sum by (node_id) (livekit_track_published_total)",
        "tracks_subscribed": "sum by (node_id) (livekit_track_subscribed_total)",
        "bytes_in_per_s": f'sum by (node_id) (rate(livekit_packet_bytes{{direction="incoming"}}[{w}]))',
        "bytes_out_per_s": f'sum by (node_id) (rate(livekit_packet_bytes{{direction="outgoing"}}[{w}]))',
        "packets_in_per_s": f'sum by (node_id) (rate(livekit_packet_total{{direction="incoming"}}[{w}]))',
        "packets_out_per_s": f'sum by (node_id) (rate(livekit_packet_total{{direction="outgoing"}}[{w}]))',
        "nack_per_s": f"sum by (node_id) (rate(livekit_nack_total[{w}]))",
        "pli_per_s": f"sum by (node_id) (rate(livekit_pli_total[{w}]))",
        # p95 of the per-interval loss percentage histogram.
        "packet_loss_pct": (
            f"histogram_quantile(0.95, sum by (node_id, le) (rate(livekit_packet_loss_percent_bucket[{w}])))"
        ),
        # livekit_jitter_us is in microseconds.
        "jitter_p95_ms": f"histogram_quantile(0.95, sum by (node_id, le) (rate(livekit_jitter_us_bucket[{w}]))) / 1000",
        "rtt_p95_ms": f"histogram_quantile(0.95, sum by (node_id, le) (rate(livekit_rtt_ms_bucket[{w}])))",
        "quality_score": (
            f"sum by (node_id) (rate(livekit_quality_score_sum[{w}]))"
            f" / sum by (node_id) (rate(livekit_quality_score_count[{w}]))"
        ),
        "join_success_ratio": (
            f'sum by (node_id) (increase(livekit_participant_join_total{{state="rtc_success"}}[{w}]))'
            f' / sum by (node_id) (increase(livekit_participant_join_total{{state=~"rtc_success|{JOIN_FAILURE_STATES}"}}[{w}]))'
        ),
        "api_requests_per_s": f"sum by (node_id) (rate(livekit_node_twirp_request_status[{w}]))",
        # status is the HTTP code ("503") or the family ("5xx").
        "api_errors_per_s": f'sum by (node_id) (rate(livekit_node_twirp_request_status{{status=~"5.*"}}[{w}]))',
        "memory_bytes": _on_node("process_resident_memory_bytes"),
        "cpu_cores_used": _on_node(f"rate(process_cpu_seconds_total[{w}])"),
        "cpu_cores_available": _on_node("go_sched_gomaxprocs_threads"),
    }


# node_exporter, by instance (and node_id where the scrape config labels the target with the
# LiveKit node it runs beside); joined to a LiveKit node by that label, else through the host
# part of `instance`.
def host_queries(window: str) -> dict[str, str]:
    return {
        # Busy over all modes rather than 1 − idle: every mode of a target is scraped at the
        # same instants, so rate()'s edge extrapolation (up to half a scrape interval per edge)
        # cancels in the ratio instead of being amplified in 1 − idle.
        "host_cpu_busy_pct": (
            f'100 * sum by (instance, node_id) (rate(node_cpu_seconds_total{{mode!="idle"}}[{window}]))'
            f" / sum by (instance, node_id) (rate(node_cpu_seconds_total[{window}]))"
        ),
        "host_memory_used_pct": (
            "100 * (1 - max by (instance, node_id) (node_memory_MemAvailable_bytes)"
            " / max by (instance, node_id) (node_memory_MemTotal_bytes))"
        ),
    }


NODE_INVENTORY = "max by (instance, node_id, node_type) (livekit_participant_total)"
