"""The seeds' hybrids.

``hybrid_livekit_hls`` (seed 000, option 4): publishers on a self-hosted LiveKit node, one HLS
egress per stream on egress workers, segments in R2 served to listeners through Cloudflare.
``hybrid_agora_cloudflare`` (seed 003): sellers on Agora, Media Push (RTMP) into Cloudflare
Stream, buyers on HLS.
"""

from __future__ import annotations

import numpy as np

from analytics.ledger import gb_per_minute
from analytics.prices import Catalogue
from analytics.pricing_models import agora, cloudflare_stream, self_hosted
from analytics.pricing_models.base import Item, ModelResult, UsageArrays, eur

LIVEKIT_HLS_ID = "hybrid_livekit_hls"
AGORA_CLOUDFLARE_ID = "hybrid_agora_cloudflare"


def price_livekit_hls(usage: UsageArrays, catalogue: Catalogue) -> ModelResult:
    cf = "cloudflare."
    cloud_spec, _dedicated = self_hosted.server_specs(catalogue)
    cap = "self_hosted.capacity."
    # The SFU only serves publishers and one egress recorder per stream.
    per_stream = usage.publishers_per_stream
    downtracks = usage.peak_publishers * np.maximum(per_stream - 1.0, 0.0) + usage.peak_streams * per_stream
    cores = np.where(
        usage.video_tier > 0,
        catalogue[cap + "cores_per_video_downtrack"],
        catalogue[cap + "cores_per_audio_downtrack"],
    )
    mbps = downtracks * (usage.audio_kbps + usage.video_kbps) / 1000.0
    servers = self_hosted.servers_needed(
        downtracks, mbps, cores, cloud_spec, catalogue[cap + "target_utilization"]
    )
    server_usd = servers * cloud_spec.monthly_usd
    workers = self_hosted.egress_workers(usage, catalogue, cloud_spec.vcpus, usage.peak_streams)
    workers_usd = workers * cloud_spec.monthly_usd
    redis = (servers > 1).astype(float)
    redis_usd = redis * catalogue["self_hosted.hetzner.cx23.monthly_eur"] * eur(catalogue)
    segment_s = catalogue[cf + "hls.segment_s"]
    # Each segment is one write plus a playlist rewrite; each listener reads both (no CDN cache hit).
    writes_m = usage.stream_min * 60.0 / segment_s * 2.0 / 1e6
    reads_m = usage.listener_min_unrounded * 60.0 / segment_s * 2.0 / 1e6
    writes_usd = (
        np.maximum(writes_m - catalogue[cf + "r2.free_class_a_million"], 0.0)
        * catalogue[cf + "r2.class_a_per_million_usd"]
    )
    reads_usd = (
        np.maximum(reads_m - catalogue[cf + "r2.free_class_b_million"], 0.0)
        * catalogue[cf + "r2.class_b_per_million_usd"]
    )
    stored_gb = usage.recording_min * gb_per_minute(usage.audio_kbps + usage.video_kbps)
    storage_usd = (
        np.maximum(stored_gb - catalogue[cf + "r2.free_storage_gb"], 0.0)
        * catalogue[cf + "r2.storage_per_gb_month_usd"]
    )
    listener_gb = usage.listener_min_unrounded * gb_per_minute(usage.audio_kbps + usage.video_kbps)
    items = [
        Item("LiveKit node for publishers (CX33)", "server-month", servers, server_usd),
        Item("HLS egress workers (CX33)", "server-month", workers, workers_usd),
        Item("Redis (multi-node)", "server-month", redis, redis_usd),
        Item("R2 Class A writes (segments, playlists)", "million", writes_m, writes_usd),
        Item("R2 Class B reads (uncached)", "million", reads_m, reads_usd),
        Item("R2 storage (recordings)", "GB-month", stored_gb, storage_usd),
        Item(
            "R2/CDN egress to listeners",
            "GB",
            listener_gb,
            listener_gb * catalogue[cf + "r2.egress_per_gb_usd"],
        ),
    ]
    total = server_usd + workers_usd + redis_usd + writes_usd + reads_usd + storage_usd

    def notes_for(_row: int) -> list[str]:
        return [
            "publishers on self-hosted LiveKit, one HLS egress per live stream, listeners on HLS from R2 (seconds of latency)",
            "R2 reads priced with no CDN cache hit (an upper bound): a cached custom domain removes most of them",
            f"HLS segments of {segment_s:g} s assumed [U]; egress to the internet from R2 is free",
        ]

    return ModelResult(LIVEKIT_HLS_ID, total, items, notes_for)


def price_agora_cloudflare(usage: UsageArrays, catalogue: Catalogue) -> ModelResult:
    mp = "agora.media_push."
    hosts_video = agora.host_tier(usage) > 0
    host_rate = agora.tier_rate(catalogue, "host", agora.host_tier(usage))
    # The push server joins the channel as an audience member at the stream's tier.
    push_rate = agora.tier_rate(catalogue, "audience", usage.video_tier)
    hosts = usage.publisher_min_unrounded
    audio_stream = usage.video_tier == 0
    segments = [
        (np.where(audio_stream, usage.stream_min, 0.0), push_rate),
        (np.where(hosts_video, 0.0, hosts), host_rate),
        (np.where(audio_stream, 0.0, usage.stream_min), push_rate),
        (np.where(hosts_video, hosts, 0.0), host_rate),
    ]
    billable, usd = agora.minutes_cost(segments, catalogue)
    single = usage.publishers_per_stream <= 1.0
    single_rate = np.choose(
        usage.video_tier.astype(int),
        [
            catalogue[mp + "single_audio_per_1000_usd"],
            catalogue[mp + "single_hd_per_1000_usd"],
            catalogue[mp + "multi_fullhd_per_1000_usd"],
        ],
    )
    multi_rate = np.choose(
        usage.video_tier.astype(int),
        [
            catalogue[mp + "multi_audio_per_1000_usd"],
            catalogue[mp + "multi_hd_per_1000_usd"],
            catalogue[mp + "multi_fullhd_per_1000_usd"],
        ],
    )
    transcode_usd = usage.stream_min * np.where(single, single_rate, multi_rate) / 1000.0
    delivered = usage.listener_min_unrounded
    delivery_usd = cloudflare_stream.delivery_usd(delivered, catalogue)
    blocks = cloudflare_stream.storage_blocks(usage.recording_min)
    storage_usd = blocks * catalogue["cloudflare.stream.storage_per_1000_min_usd"]
    push_min = billable[0] + billable[2]
    push_usd = usd[0] + usd[2]
    host_min = billable[1] + billable[3]
    host_usd = usd[1] + usd[3]
    items = [
        Item("Agora host minutes", "min", host_min, host_usd),
        Item("Media Push subscription (audience minutes)", "min", push_min, push_usd),
        Item("Media Push transcoding", "min", usage.stream_min, transcode_usd),
        Item("Cloudflare Stream minutes delivered", "min", delivered, delivery_usd),
        Item("Cloudflare Stream minutes stored (blocks)", "block", blocks, storage_usd),
    ]
    total = host_usd + push_usd + transcode_usd + delivery_usd + storage_usd
    recording_rate = agora.tier_rate(catalogue, "recording", usage.video_tier)

    def notes_for(row: int) -> list[str]:
        return [
            "sellers on Agora; Media Push (RTMP) into Cloudflare Stream; buyers on HLS, billed per minute delivered",
            f"with Cloud Recording instead of Media Push: ${usage.stream_min[row] * recording_rate[row]:,.2f} "
            "for recording minutes at the stream's tier",
        ]

    return ModelResult(AGORA_CLOUDFLARE_ID, total, items, notes_for)
