"""Scenario parameters for the simulated fleet, as data.

Each scenario comes from one of the owner's planning notes (000, 002, 003; not public: the
figures used are written next to each scenario, see docs/ARCHITECTURE.md), named in
``seed_ref``. Times of day are UTC hours; curves are 24 hourly weights, interpolated linearly.

Broadcast windows: a broadcast belongs to the UTC day it starts on. Starts fall in
``[start_window_h[0], start_window_h[1])`` of that day, and every room is closed by
``ends_by_h`` (which may exceed 24, i.e. run past midnight) and never later than
``24 + start_window_h[0]``, so one room name is never live twice at once and a snapshot only
needs the current and the previous day's plan.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# ParticipantInfo.Kind and friends, as the names LiveKit uses on the wire.
KIND_STANDARD = "STANDARD"
KIND_INGRESS = "INGRESS"
KIND_EGRESS = "EGRESS"


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    seed_ref: str  # which seed document (and section) the numbers come from
    description: str
    channels: int  # broadcasters (one room name each)
    default_nodes: int
    room_prefix: str  # room_name = room_prefix + channel key
    publisher_prefix: str  # publisher identity = publisher_prefix + channel key
    listener_prefix: str
    # P(n broadcasts on one channel on one day), n = 0, 1, 2, ...
    broadcasts_per_day_p: tuple[float, ...]
    broadcast_median_s: float  # log-normal broadcast duration
    broadcast_sigma: float
    broadcast_min_s: float
    broadcast_max_s: float
    gap_min_s: float  # pause between two broadcasts of the same channel
    start_window_h: tuple[float, float]
    ends_by_h: float
    start_curve: tuple[float, ...]  # 24 hourly weights for broadcast start times
    # Listeners: "poisson" = arrivals at a time-varying rate (radio, shopping);
    # "group" = a tour group that joins at the start and stays (tours).
    listener_mode: str
    listeners_mean: float  # mean concurrent listeners per broadcast at curve value 1
    listeners_popularity_sigma: float  # log-normal spread of channel popularity
    listeners_day_sigma: float  # day-to-day variation of a channel's audience
    listener_curve: tuple[float, ...]  # 24 hourly multipliers of the audience size
    listener_session_median_s: float  # log-normal listening session
    listener_session_sigma: float
    group_size: tuple[int, int] = (0, 0)  # group mode: listeners per broadcast, inclusive
    group_dropout_p: float = 0.0  # group mode: share of listeners who leave early
    audio_kbps: float = 64.0  # per audio track, as forwarded
    video_in_kbps: float = 0.0  # per published video track (all simulcast layers); 0 = audio only
    video_out_kbps: float = 0.0  # per subscribed video track (the layer a viewer receives)
    egress_output: str = ""  # "" = no egress; "segments" = HLS; "stream" = RTMP
    ingress_share: float = 0.0  # share of broadcasts published through the channel's RTMP ingress
    egress_failure_p: float = 0.01
    node_vcpus: int = 8
    node_memory_bytes: int = 16 * 2**30
    tz_note: str = "UTC"


# A radio-like evening-heavy day (UTC).
_EVENING_STARTS = (0.2, 0.1, 0.05, 0.05, 0.05, 0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 1.0,
                   1.0, 1.0, 1.0, 1.1, 1.3, 1.6, 2.0, 2.3, 2.3, 1.9, 1.2, 0.6)  # fmt: skip
_RADIO_AUDIENCE = (0.45, 0.35, 0.3, 0.3, 0.3, 0.35, 0.5, 0.7, 0.8, 0.85, 0.9, 0.95,
                   1.0, 1.0, 0.95, 1.0, 1.1, 1.25, 1.45, 1.6, 1.65, 1.5, 1.1, 0.7)  # fmt: skip

_PLATFORM_AUDIENCE = (0.35, 0.3, 0.25, 0.25, 0.25, 0.3, 0.4, 0.55, 0.65, 0.7, 0.75, 0.8,
                      0.85, 0.85, 0.85, 0.9, 1.05, 1.3, 1.6, 1.85, 1.9, 1.7, 1.2, 0.6)  # fmt: skip

SCENARIOS: dict[str, ScenarioSpec] = {
    # seed 000 "Current Setup Summary": a DJ radio on `channel-<id>` rooms, one DJ publishing
    # 128-192 kbps audio, listeners coming and going, HLS egress to R2, OBS via RTMP ingress.
    "dj-radio": ScenarioSpec(
        name="dj-radio",
        seed_ref="planning note 000 (Current Setup Summary; Phase 2 multi-channel rooms)",
        description="DJ radio: ~20 channel-<id> rooms, one DJ each, HLS egress, RTMP ingress",
        channels=20,
        default_nodes=1,
        room_prefix="channel-",
        publisher_prefix="dj-",
        listener_prefix="listener-",
        broadcasts_per_day_p=(0.1, 0.4, 0.35, 0.15),
        broadcast_median_s=2 * 3600,
        broadcast_sigma=0.35,
        broadcast_min_s=20 * 60,
        broadcast_max_s=6 * 3600,
        gap_min_s=15 * 60,
        start_window_h=(3.0, 24.0),
        ends_by_h=27.0,
        start_curve=_EVENING_STARTS,
        listener_mode="poisson",
        listeners_mean=25.0,
        listeners_popularity_sigma=0.8,
        listeners_day_sigma=0.25,
        listener_curve=_RADIO_AUDIENCE,
        listener_session_median_s=20 * 60,
        listener_session_sigma=1.0,
        audio_kbps=128.0,
        egress_output="segments",
        ingress_share=0.3,
        node_vcpus=8,
        node_memory_bytes=16 * 2**30,
    ),
    # seed 002: tour guiding, 20-30 listeners per tour, 2-3 h tours, ~40 concurrent tours over
    # an 8-hour day on one Hetzner CX32 (4 vCPU, 8 GB). Guide voice at ~7.7 KB/s per stream.
    "tours": ScenarioSpec(
        name="tours",
        seed_ref="planning note 002 (Hetzner Instance Capacity; Capacity Calculations)",
        description="Tour guiding: ~40 concurrent 2-3 h tours of 20-30 listeners, 09:00-17:00",
        channels=140,
        default_nodes=1,
        room_prefix="tour-",
        publisher_prefix="guide-",
        listener_prefix="guest-",
        broadcasts_per_day_p=(0.1, 0.9),
        broadcast_median_s=2.5 * 3600,
        broadcast_sigma=0.12,
        broadcast_min_s=2 * 3600,
        broadcast_max_s=3 * 3600,
        gap_min_s=30 * 60,
        start_window_h=(9.0, 14.5),
        ends_by_h=17.5,
        start_curve=(0.0,) * 9 + (1.0,) * 6 + (0.0,) * 9,
        listener_mode="group",
        listeners_mean=25.0,
        listeners_popularity_sigma=0.0,
        listeners_day_sigma=0.0,
        listener_curve=(1.0,) * 24,
        listener_session_median_s=2.5 * 3600,
        listener_session_sigma=0.1,
        group_size=(20, 30),
        group_dropout_p=0.08,
        audio_kbps=61.6,  # seed: "Each participant: ~7.7 KB/s audio stream"
        node_vcpus=4,
        node_memory_bytes=8 * 2**30,
    ),
    # seed 003: live shopping, a few sellers streaming video, 200-1,000 buyers each, evening
    # peaks, the stream forwarded to a CDN over RTMP (here: room composite egress -> RTMP).
    "live-shopping": ScenarioSpec(
        name="live-shopping",
        seed_ref="planning note 003 (Business Value: 200 buyers, 1,000+ concurrent viewers)",
        description="Live shopping: 6 video sellers, 200-1,000 buyers each, evening shows",
        channels=6,
        default_nodes=2,
        room_prefix="shop-",
        publisher_prefix="seller-",
        listener_prefix="buyer-",
        broadcasts_per_day_p=(0.2, 0.7, 0.1),
        broadcast_median_s=1.5 * 3600,
        broadcast_sigma=0.3,
        broadcast_min_s=30 * 60,
        broadcast_max_s=3 * 3600,
        gap_min_s=60 * 60,
        start_window_h=(12.0, 22.0),
        ends_by_h=25.0,
        start_curve=(0.0,) * 12 + (0.3, 0.3, 0.4, 0.5, 0.8, 1.4, 2.0, 2.2, 1.6, 0.6) + (0.0,) * 2,
        listener_mode="poisson",
        listeners_mean=600.0,
        listeners_popularity_sigma=0.45,
        listeners_day_sigma=0.2,
        listener_curve=(0.5,) * 12 + (0.6, 0.6, 0.7, 0.7, 0.8, 1.0, 1.3, 1.5, 1.4, 1.1, 0.8, 0.6),
        listener_session_median_s=10 * 60,
        listener_session_sigma=0.9,
        audio_kbps=64.0,
        video_in_kbps=2500.0,  # 720p simulcast, all layers
        video_out_kbps=1200.0,  # the layer a typical viewer receives
        egress_output="stream",
        node_vcpus=16,
        node_memory_bytes=32 * 2**30,
    ),
    # seed 000 "Updated Scale": 500 broadcasters x 40 h/week, ~10 listeners per stream,
    # 3-5 LiveKit nodes, HLS egress workers. 40 h/week = 5.7 h/day -> ~120 concurrent streams
    # on average (500 * 5.7 / 24), ~5,000 listeners at the evening peak.
    "platform-500": ScenarioSpec(
        name="platform-500",
        seed_ref="planning note 000 (Updated Scale: Multi-Channel Platform)",
        description="Multi-channel platform: 500 broadcasters x 40 h/week, ~10 listeners per stream",
        channels=500,
        default_nodes=4,
        room_prefix="channel-",
        publisher_prefix="host-",
        listener_prefix="user-",
        broadcasts_per_day_p=(0.05, 0.3, 0.45, 0.2),
        broadcast_median_s=3.0 * 3600,
        broadcast_sigma=0.4,
        broadcast_min_s=30 * 60,
        broadcast_max_s=8 * 3600,
        gap_min_s=20 * 60,
        start_window_h=(3.0, 24.0),
        ends_by_h=27.0,
        start_curve=_EVENING_STARTS,
        listener_mode="poisson",
        listeners_mean=12.5,
        listeners_popularity_sigma=0.9,
        listeners_day_sigma=0.25,
        listener_curve=_PLATFORM_AUDIENCE,
        listener_session_median_s=25 * 60,
        listener_session_sigma=1.0,
        audio_kbps=96.0,
        egress_output="segments",
        ingress_share=0.25,
        node_vcpus=8,
        node_memory_bytes=32 * 2**30,
    ),
}


# issue 20: platform-500 ten times over — 5,000 broadcasters at the same 40 h/week and ~10
# listeners each, spread over ~20 nodes: ~1,200 live rooms on average, ~2,400 rooms and
# ~47,000 participants at the evening peak. The scale a single collector has to follow.
SCENARIOS["platform-5000"] = replace(
    SCENARIOS["platform-500"],
    name="platform-5000",
    seed_ref="planning note 000 (Updated Scale) x 10: issue 20's growth scenario",
    description="Platform x10: 5,000 broadcasters x 40 h/week, ~10 listeners per stream, ~20 nodes",
    channels=5000,
    default_nodes=20,
)


# issue 17: every seed ends on a hybrid. The LiveKit side is seed 000's radio (channel-<id> rooms,
# HLS egress to R2 behind a CDN); beside it, seed 003's sellers on Agora relayed to Cloudflare
# Stream / Amazon IVS, served by the fake provider APIs of simulator/hybrid.py in the demo.
SCENARIOS["hybrid"] = replace(
    SCENARIOS["dj-radio"],
    name="hybrid",
    seed_ref="planning notes 000 (HLS egress on R2 behind Cloudflare) and 003 (Agora -> RTMP -> Cloudflare/IVS)",
    description="Hybrid: DJ radio on LiveKit with HLS egress, plus 6 Agora sellers relayed to Cloudflare Stream/IVS",
)

# The scenarios whose demo also serves the Agora, Cloudflare Stream and IVS APIs (simulator/hybrid.py).
WITH_PROVIDERS = frozenset({"hybrid"})


def get_scenario(name: str) -> ScenarioSpec:
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(sorted(SCENARIOS))
        raise ValueError(f"unknown scenario {name!r} (known: {known})") from None
