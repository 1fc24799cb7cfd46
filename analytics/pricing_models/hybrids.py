"""The seeds' hybrids.

``hybrid_livekit_hls`` (seed 000, option 4): publishers on a self-hosted LiveKit node, one HLS
egress per stream on egress workers, segments in R2 served to listeners through Cloudflare.
``hybrid_agora_cloudflare`` (seed 003): sellers on Agora (standard-minute packages), Media Push
(RTMP) into Cloudflare Stream, buyers on HLS.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from analytics.ledger import gb_per_minute
from analytics.prices import Catalogue
from analytics.pricing_models import agora, cloudflare_stream, self_hosted
from analytics.pricing_models.base import Item, ModelResult, PriceModel, UsageArrays, choose, eur

LIVEKIT_HLS_ID = "hybrid_livekit_hls"
AGORA_CLOUDFLARE_ID = "hybrid_agora_cloudflare"


def hls_listener_min(usage: UsageArrays) -> np.ndarray:
    """Listener-minutes the HLS hybrid serves: every WebRTC listener moved to HLS, plus the HLS
    audience castmeter measured (0 where none was)."""
    return usage.listener_min_unrounded + usage.hls_viewer_min


def hls_listener_gb(usage: UsageArrays, kbps: np.ndarray) -> np.ndarray:
    """GB to HLS listeners: measured bytes where the delivery logs gave them, plus the moved
    WebRTC listeners at the stream's bitrate; else every HLS listener-minute at that bitrate."""
    moved_gb = usage.listener_min_unrounded * gb_per_minute(kbps)
    return np.where(usage.hls_gb > 0, usage.hls_gb + moved_gb, hls_listener_min(usage) * gb_per_minute(kbps))


def hls_usage_note(usage: UsageArrays, row: int, delivered_by: str) -> str:
    """Says whether the HLS audience priced was measured or assumed (the Costs page's notes)."""
    pick = 0 if usage.hls_measured.shape[0] == 1 else row
    moved = float(usage.listener_min_unrounded[row])
    if usage.hls_measured[pick] > 0:
        gb = float(usage.hls_gb[pick])
        return (
            f"HLS audience MEASURED from {delivered_by}: {float(usage.hls_viewer_min[pick]):,.0f} viewer-min/month"
            + (
                f", {gb:,.2f} GB/month delivered"
                if gb > 0
                else " (bytes not reported: GB at the stream's bitrate)"
            )
            + f"; plus {moved:,.0f} listener-min/month now on WebRTC, moved to HLS"
        )
    return (
        f"HLS audience ASSUMED: the {moved:,.0f} listener-min/month of the usage moved to HLS "
        "(no HLS audience measured in this window)"
    )


def delivered_min(usage: UsageArrays) -> np.ndarray:
    """Cloudflare Stream minutes delivered in the Agora hybrid: every listener moved to it plus
    the Cloudflare Stream audience castmeter measured (0 where none was)."""
    return usage.listener_min_unrounded + usage.cdn_viewer_min


def price_livekit_hls(usage: UsageArrays, catalogue: Catalogue) -> ModelResult:
    cf = "cloudflare."
    cloud_spec, _dedicated = self_hosted.server_specs(catalogue)
    cap = "self_hosted.capacity."
    # The SFU only serves publishers and one egress recorder per stream.
    per_stream = usage.publishers_per_stream
    downtracks = usage.peak_publishers * np.maximum(per_stream - 1.0, 0.0) + usage.peak_streams * per_stream
    cores = choose(catalogue, (usage.video_tier > 0).astype(float),
                   [cap + "cores_per_audio_downtrack", cap + "cores_per_video_downtrack"])  # fmt: skip
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
    reads_m = hls_listener_min(usage) * 60.0 / segment_s * 2.0 / 1e6
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
    listener_gb = hls_listener_gb(usage, usage.audio_kbps + usage.video_kbps)
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

    def notes_for(row: int) -> list[str]:
        return [
            "publishers on self-hosted LiveKit, one HLS egress per live stream, listeners on HLS from R2 (seconds of latency)",
            hls_usage_note(usage, row, "the HLS delivery logs"),
            "R2 reads priced with no CDN cache hit (an upper bound): a cached custom domain removes most of them",
            f"HLS segments of {segment_s:g} s assumed [U]; egress to the internet from R2 is free",
        ]

    return ModelResult(LIVEKIT_HLS_ID, total, items, notes_for)


def media_push_rate(usage: UsageArrays, catalogue: Catalogue) -> np.ndarray:
    """Media Push transcoding per minute: one host with the output unchanged pays the
    single-host rate (H.264, any resolution); several hosts pay the multi-host rate by tier."""
    mp = "agora.media_push."
    single = usage.publishers_per_stream <= 1.0
    out = np.zeros(len(usage))
    if single.any():
        out[single] = choose(catalogue, (usage.video_tier[single] > 0).astype(float),
                             [mp + "single_audio_per_1000_usd", mp + "single_video_per_1000_usd"])  # fmt: skip
    if (~single).any():
        out[~single] = choose(catalogue, usage.video_tier[~single],
                              [mp + "multi_audio_per_1000_usd", mp + "multi_hd_per_1000_usd",
                               mp + "multi_fullhd_per_1000_usd"])  # fmt: skip
    return out / 1000.0


def price_agora_cloudflare(usage: UsageArrays, catalogue: Catalogue) -> ModelResult:
    """Standard-minute packages (accounts since 2025-08-29): the hosts and the Media Push
    server (which joins the channel as an audience member of the stream's product and tier)
    add up to standard minutes billed by the cheapest package; Media Push transcoding is billed
    outside standard minutes."""
    hosts_std = usage.publisher_min_unrounded * agora.host_ratio(catalogue, agora.host_tier(usage))
    push_ratio = agora.audience_ratio(catalogue, usage.video_tier, usage.audience_interactive)
    push_std = usage.stream_min * push_ratio
    bill = agora.package_bill(agora.round_up_minutes(hosts_std + push_std), catalogue)
    transcode_usd = usage.stream_min * media_push_rate(usage, catalogue)
    delivered = delivered_min(usage)
    delivery_usd = cloudflare_stream.delivery_usd(delivered, catalogue)
    blocks = cloudflare_stream.storage_blocks(usage.recording_min)
    storage_usd = blocks * catalogue["cloudflare.stream.storage_per_1000_min_usd"]
    items = [
        Item(
            "Agora package fee (hosts + Media Push subscription)",
            "month",
            (bill.fee_usd > 0).astype(float),
            bill.fee_usd,
        ),
        Item("Agora standard minutes over the package", "standard min", bill.over_min, bill.over_usd),
        Item("Media Push transcoding", "min", usage.stream_min, transcode_usd),
        Item("Cloudflare Stream minutes delivered", "min", delivered, delivery_usd),
        Item("Cloudflare Stream minutes stored (blocks)", "block", blocks, storage_usd),
    ]
    total = bill.total_usd + transcode_usd + delivery_usd + storage_usd

    def notes_for(row: int) -> list[str]:
        name = agora.PACKAGES[int(bill.package[row])]
        recording = float(agora.recording_usd(replace(usage.take(row), recording_min=usage.stream_min[row : row + 1]),
                                              catalogue)[0])  # fmt: skip
        pick = 0 if usage.cdn_measured.shape[0] == 1 else row
        moved = float(usage.listener_min_unrounded[row])
        audience = (
            f"buyers' minutes MEASURED from Cloudflare Stream: {float(usage.cdn_viewer_min[pick]):,.0f} min/month, "
            f"plus {moved:,.0f} listener-min/month now on WebRTC moved to it"
            if usage.cdn_measured[pick] > 0
            else f"buyers' minutes ASSUMED: the {moved:,.0f} listener-min/month of the usage "
            "(no Cloudflare Stream audience measured in this window)"
        )
        return [
            "sellers on Agora; Media Push (RTMP) into Cloudflare Stream; buyers on HLS, billed per minute delivered",
            audience,
            f"Agora: {bill.standard_min[row]:,.0f} standard min (hosts + the push server as a "
            f"{agora.audience_label(usage, row)} member) on the {agora.PACKAGE_LABELS[name]} package",
            f"with Cloud Recording instead of Media Push: ${recording:,.2f} for recording minutes at the stream's tier",
        ]

    return ModelResult(AGORA_CLOUDFLARE_ID, total, items, notes_for)


LIVEKIT_HLS_MODEL = PriceModel(LIVEKIT_HLS_ID, "LiveKit + HLS (R2)", price_livekit_hls)
AGORA_CLOUDFLARE_MODEL = PriceModel(AGORA_CLOUDFLARE_ID, "Agora + Cloudflare Stream", price_agora_cloudflare)
