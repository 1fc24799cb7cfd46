"""Node load -> node metrics: the formulas shared by snapshots (one ts) and history (many).

Everything is vectorized over numpy arrays of the same shape (one element per node and ts).

CPU model (https://docs.livekit.io/home/self-hosting/benchmark.md, "Large audio rooms" on a GCP c2-standard-16 = 16 vCPU):
10 publishers x 3,000 subscribers = 30,000 audio down-tracks at 80 % CPU, i.e.
0.80 x 16 / 30,000 = 0.00043 vCPU per audio down-track -> ``CORES_PER_AUDIO_DOWNTRACK``.
(That run averaged ~32 packets/s per down-track thanks to DTX; continuous music at 50 pps
would cost up to ~1.5x more, which the model ignores.)
The 720p livestream run, 1 publisher x 3,000 subscribers at 92 % CPU, gives
0.92 x 16 / 3,000 = 0.0049 vCPU per (video + audio) subscriber -> 0.0045 per video down-track.
Publishers and rooms are cheap next to fan-out (the audio run had 10 publishers in total);
the per-publisher and per-room costs below are small assumptions, not benchmark figures.
A node's CPU % is the sum over its load, divided by its vCPUs (``ScenarioSpec.node_vcpus``,
assumed to be the same kind of vCPU as the benchmark's), plus a few % of noise.
"""

from __future__ import annotations

import math

import numpy as np

from simulator.quality import (
    JITTER_US_BUCKETS,
    LOSS_BUCKETS,
    RTT_MS_BUCKETS,
    histogram_quantile,
    lognormal_cdf,
)
from simulator.scenarios import ScenarioSpec

CORES_IDLE = 0.05  # Go runtime, signalling, stats (assumption)
CORES_PER_AUDIO_DOWNTRACK = 0.0004
CORES_PER_VIDEO_DOWNTRACK = 0.0045
CORES_PER_AUDIO_PUBLISHED = 0.002
CORES_PER_VIDEO_PUBLISHED = 0.03
CORES_PER_ROOM = 0.002

AUDIO_PACKETS_PER_S = 50.0  # Opus 20 ms frames
VIDEO_PACKET_BYTES = 1100.0
RTCP_OVERHEAD = 0.03  # RTCP, headers not counted in codec bitrates
DOWNSTREAM_OVERHEAD = 0.05  # padding probes, RTCP, TURN framing

MEMORY_BASE_BYTES = 200 * 2**20
MEMORY_PER_ROOM_BYTES = 3 * 2**20
MEMORY_PER_PARTICIPANT_BYTES = 512 * 2**10

# Log-normal per-track quality observations (one per track per stats interval): medians at
# light load, their spreads, and how overload (CPU above 70 %) raises them. The stored p95 is
# what histogram_quantile over livekit-server's buckets returns for that distribution
# (simulator/quality.py), exactly what the collector reads from Prometheus on a live fleet.
# A loss median of 0.1 % puts the p95 (~0.4 %) inside the 0.3-0.5 % bucket, where it moves
# with load and noise (at 0.01 % it sat in the first bucket and always read 0.095 %).
LOSS_MEDIAN_PCT = 0.1
JITTER_MEDIAN_MS = 2.6
RTT_MEDIAN_MS = 39.0
LOSS_SIGMA = 0.8
JITTER_SIGMA = 0.5
RTT_SIGMA = 0.35
Z95 = 1.6449

# Share of participants whose media goes over TURN (livekit_connection_total counts those).
TURN_SHARE = 0.1
JOIN_FAILURE_SHARE = 0.015  # failed joins per attempt at light load
SIGNAL_FAILURE_SHARE = 0.1  # of the failed joins, the ones that fail in signalling (the rest: RTC)
API_ERROR_SHARE = 0.005


def noise(ts: np.ndarray, salt: np.ndarray | int) -> np.ndarray:
    """Deterministic noise with mean 0 and variance ~1 for (ts, salt): slow sines plus a
    per-second hash, so snapshots and history agree exactly without any stored RNG state."""
    t = np.asarray(ts, dtype=np.float64)
    s = np.asarray(salt, dtype=np.uint64) + np.zeros(t.shape, dtype=np.uint64)
    phase = (s % np.uint64(1000)).astype(np.float64) / 1000.0 * 2 * math.pi
    smooth = (
        np.sin(2 * math.pi * t / 97.0 + phase)
        + np.sin(2 * math.pi * t / 613.0 + 2.3 * phase)
        + np.sin(2 * math.pi * t / 3701.0 + 3.7 * phase)
    ) / math.sqrt(1.5)
    with np.errstate(over="ignore"):
        h = np.floor(t).astype(np.int64).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        h ^= s * np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(31)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(29)
    uniform = (h >> np.uint64(11)).astype(np.float64) / float(2**53)
    white = (uniform - 0.5) * math.sqrt(12.0)
    result: np.ndarray = 0.8 * smooth + 0.6 * white
    return result


def node_metrics(
    spec: ScenarioSpec,
    ts: np.ndarray,
    salt: np.ndarray | int,
    rooms: np.ndarray,
    participants: np.ndarray,
    pub_audio: np.ndarray,
    pub_video: np.ndarray,
    sub_audio: np.ndarray,
    sub_video: np.ndarray,
) -> dict[str, np.ndarray]:
    """Every column of ``store.schema.NODE_METRICS`` (plus a few extras used by the
    Prometheus exposition) from a node's load."""
    f = np.float64
    rooms, participants = np.asarray(rooms, f), np.asarray(participants, f)
    pub_audio, pub_video = np.asarray(pub_audio, f), np.asarray(pub_video, f)
    sub_audio, sub_video = np.asarray(sub_audio, f), np.asarray(sub_video, f)
    salt_arr = np.asarray(salt, dtype=np.uint64)

    def n(k: int) -> np.ndarray:
        return noise(ts, salt_arr * np.uint64(31) + np.uint64(k))

    cores = (
        CORES_IDLE
        + CORES_PER_AUDIO_DOWNTRACK * sub_audio
        + CORES_PER_VIDEO_DOWNTRACK * sub_video
        + CORES_PER_AUDIO_PUBLISHED * pub_audio
        + CORES_PER_VIDEO_PUBLISHED * pub_video
        + CORES_PER_ROOM * rooms
    )
    load = cores / spec.node_vcpus
    cpu_pct = np.clip(100.0 * load * (1.0 + 0.04 * n(1)) + 0.1 * n(2), 0.05, 100.0)
    memory_bytes = (
        MEMORY_BASE_BYTES
        + MEMORY_PER_ROOM_BYTES * rooms
        + MEMORY_PER_PARTICIPANT_BYTES * participants
        + 8 * 2**20 * n(3)
    )
    memory_pct = 100.0 * memory_bytes / spec.node_memory_bytes
    overload = np.maximum(0.0, load - 0.7)
    loss_median_pct = np.maximum(0.002, LOSS_MEDIAN_PCT * (1.0 + 0.3 * n(4)) + 2.0 * overload**2)
    jitter_median_ms = np.maximum(0.2, JITTER_MEDIAN_MS * (1.0 + 0.1 * n(5)) + 18.0 * overload)
    rtt_median_ms = np.maximum(3.0, RTT_MEDIAN_MS * (1.0 + 0.08 * n(6)) + 110.0 * overload)
    packet_loss_pct = histogram_p95(LOSS_BUCKETS, loss_median_pct, LOSS_SIGMA)
    jitter_p95_ms = histogram_p95(JITTER_US_BUCKETS, jitter_median_ms * 1000.0, JITTER_SIGMA) / 1000.0
    rtt_p95_ms = histogram_p95(RTT_MS_BUCKETS, rtt_median_ms, RTT_SIGMA)
    bytes_in_per_s = (
        (pub_audio * spec.audio_kbps + pub_video * spec.video_in_kbps) * 125.0 * (1 + RTCP_OVERHEAD)
    )
    bytes_out_per_s = (
        (sub_audio * spec.audio_kbps + sub_video * spec.video_out_kbps) * 125.0 * (1 + DOWNSTREAM_OVERHEAD)
    )
    packets_in_per_s = (
        pub_audio * AUDIO_PACKETS_PER_S + pub_video * spec.video_in_kbps * 125.0 / VIDEO_PACKET_BYTES
    )
    packets_out_per_s = (
        sub_audio * AUDIO_PACKETS_PER_S + sub_video * spec.video_out_kbps * 125.0 / VIDEO_PACKET_BYTES
    )
    nack_per_s = 0.5 * packets_out_per_s * packet_loss_pct / 100.0
    pli_per_s = 0.01 * sub_video + 0.05 * pub_video
    # Failed joins rise with overload (signalling and ICE time out on a saturated node).
    join_success_ratio = np.clip(1.0 - JOIN_FAILURE_SHARE * (1.0 + 0.2 * n(7)) - 0.5 * overload, 0.5, 1.0)
    # Background API traffic from the platform's own backend (room metadata, mutes, ...).
    api_requests_per_s = np.maximum(0.0, 0.2 + 0.02 * rooms + 0.001 * participants) * (
        1.0 + 0.1 * np.abs(n(8))
    )
    api_errors_per_s = API_ERROR_SHARE * api_requests_per_s
    quality_score = np.clip(4.45 - 0.3 * packet_loss_pct - 0.004 * jitter_p95_ms + 0.02 * n(9), 1.0, 4.5)
    return {
        "cpu_pct": cpu_pct,
        "memory_bytes": memory_bytes,
        "memory_pct": memory_pct,
        "bytes_in_per_s": bytes_in_per_s,
        "bytes_out_per_s": bytes_out_per_s,
        "packets_in_per_s": packets_in_per_s,
        "packets_out_per_s": packets_out_per_s,
        "packet_loss_pct": packet_loss_pct,
        "jitter_p95_ms": jitter_p95_ms,
        "rtt_p95_ms": rtt_p95_ms,
        "nack_per_s": nack_per_s,
        "pli_per_s": pli_per_s,
        "rooms": rooms,
        "participants": participants,
        "tracks_published": pub_audio + pub_video,
        "tracks_subscribed": sub_audio + sub_video,
        "join_success_ratio": join_success_ratio,
        "api_requests_per_s": api_requests_per_s,
        "api_errors_per_s": api_errors_per_s,
        "quality_score": quality_score,
        # extras (not stored): the split of tracks by kind, for the Prometheus gauges
        "tracks_published_audio": pub_audio,
        "tracks_published_video": pub_video,
        "tracks_subscribed_audio": sub_audio,
        "tracks_subscribed_video": sub_video,
        "cpu_cores": cpu_pct / 100.0 * spec.node_vcpus,
        # the distributions the Prometheus histograms are filled from
        "loss_median_pct": loss_median_pct,
        "jitter_median_ms": jitter_median_ms,
        "rtt_median_ms": rtt_median_ms,
    }


def histogram_p95(bounds: tuple[float, ...], median: np.ndarray, sigma: float) -> np.ndarray:
    """What ``histogram_quantile(0.95, ...)`` reads from a histogram of a log-normal."""
    return histogram_quantile(0.95, bounds, lognormal_cdf(bounds, median, sigma))
