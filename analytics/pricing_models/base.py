"""What every price model shares: monthly usage as arrays (one row per scenario), the result
type, and graduated-tier arithmetic. Everything is vectorized over rows with numpy."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np

from analytics.ledger import REGIONS, VIDEO_KBPS, VIDEO_TIERS, UsageLedger, gb_per_minute
from analytics.prices import Catalogue

FloatArray = np.ndarray


@dataclass(frozen=True)
class UsageArrays:
    """Monthly usage, one element per row (a measured month or one planner scenario)."""

    publisher_min: FloatArray  # connection minutes, rounded up per connection
    listener_min: FloatArray
    publisher_min_unrounded: FloatArray
    listener_min_unrounded: FloatArray
    stream_min: FloatArray
    downstream_gb: FloatArray
    upstream_gb: FloatArray
    egress_min: FloatArray  # every egress job
    ingress_min: FloatArray  # every ingress
    transcode_min: FloatArray  # LiveKit transcode minutes: RTMP/URL ingress + composite egress
    track_egress_min: FloatArray
    recording_min: FloatArray
    peak_streams: FloatArray
    peak_listeners: FloatArray
    peak_publishers: FloatArray
    peak_egress: FloatArray
    audio_kbps: FloatArray
    video_kbps: FloatArray
    video_tier: FloatArray  # index into VIDEO_TIERS: 0 none, 1 hd, 2 fullhd
    region: FloatArray  # index into REGIONS
    audience_interactive: FloatArray  # 1: Agora Interactive Live Streaming audience, 0: Broadcast
    # The audience outside LiveKit's rooms, measured by castmeter's pollers (a measured ledger
    # with audience samples; 0 otherwise): HLS viewer-minutes and GB delivered, Cloudflare
    # Stream minutes viewed, and 1 where each was measured. The hybrids price these.
    hls_viewer_min: FloatArray = field(default_factory=lambda: np.zeros(1))
    hls_gb: FloatArray = field(default_factory=lambda: np.zeros(1))
    hls_measured: FloatArray = field(default_factory=lambda: np.zeros(1))
    cdn_viewer_min: FloatArray = field(default_factory=lambda: np.zeros(1))
    cdn_measured: FloatArray = field(default_factory=lambda: np.zeros(1))

    def __len__(self) -> int:
        return int(self.publisher_min.shape[0])

    @property
    def publishers_per_stream(self) -> FloatArray:
        return np.divide(
            self.peak_publishers,
            self.peak_streams,
            out=np.zeros_like(self.peak_streams),
            where=self.peak_streams > 0,
        )

    @property
    def peak_downtracks(self) -> FloatArray:
        """Simultaneous subscribed tracks on the SFU: listeners × publishers + publishers × others."""
        per_stream = self.publishers_per_stream
        return self.peak_listeners * per_stream + self.peak_publishers * np.maximum(per_stream - 1.0, 0.0)

    @classmethod
    def from_ledger(cls, ledger: UsageLedger) -> UsageArrays:
        monthly = ledger.monthly_totals()
        audience = ledger.audience_totals(monthly=True)

        def one(value: float) -> FloatArray:
            return np.array([float(value)], dtype=np.float64)

        return cls(
            publisher_min=one(monthly["publisher_minutes"]),
            listener_min=one(monthly["listener_minutes"]),
            publisher_min_unrounded=one(monthly["publisher_minutes_unrounded"]),
            listener_min_unrounded=one(monthly["listener_minutes_unrounded"]),
            stream_min=one(monthly["stream_minutes"]),
            downstream_gb=one(monthly["downstream_gb"]),
            upstream_gb=one(monthly["upstream_gb"]),
            egress_min=one(monthly["egress_minutes"]),
            ingress_min=one(monthly["ingress_minutes"]),
            transcode_min=one(monthly["transcode_minutes"]),
            track_egress_min=one(monthly["track_egress_minutes"]),
            recording_min=one(monthly["recording_minutes"]),
            peak_streams=one(monthly["peak_streams"]),
            peak_listeners=one(monthly["peak_listeners"]),
            peak_publishers=one(monthly["peak_publishers"]),
            peak_egress=one(monthly["peak_egress"]),
            audio_kbps=one(ledger.audio_kbps),
            video_kbps=one(ledger.video_kbps),
            video_tier=one(VIDEO_TIERS.index(ledger.video)),
            region=one(REGIONS.index(ledger.region)),
            audience_interactive=one(float(ledger.audience_product == "interactive")),
            hls_viewer_min=one(audience["hls_viewer_minutes"]),
            hls_gb=one(audience["hls_delivered_gb"]),
            hls_measured=one(float("hls" in ledger.audience_paths)),
            cdn_viewer_min=one(audience["cloudflare_stream_viewer_minutes"]),
            cdn_measured=one(float("cloudflare_stream" in ledger.audience_paths)),
        )

    @classmethod
    def from_scenarios(
        cls,
        *,
        streams: FloatArray,
        hours_per_day: FloatArray,
        days_per_month: FloatArray,
        listeners_per_stream: FloatArray,
        publishers_per_stream: FloatArray,
        audio_kbps: FloatArray,
        video_tier: FloatArray,
        recording: FloatArray,
        region: FloatArray,
        rtmp_ingress: FloatArray | float = 0.0,
        hls_egress: FloatArray | float = 0.0,
        audience_interactive: FloatArray | float = 0.0,
    ) -> UsageArrays:
        """Vectorized twin of :func:`analytics.ledger.ledger_from_scenario` (same arithmetic).
        ``hls_egress`` is 1 where every stream has an HLS egress (asked for or implied by HLS
        listeners), ``rtmp_ingress`` 1 where publishers arrive over RTMP."""
        f = np.asarray
        streams, hours, days = f(streams, float), f(hours_per_day, float), f(days_per_month, float)
        listeners, pubs = f(listeners_per_stream, float), f(publishers_per_stream, float)
        tier = f(video_tier, float)
        video_kbps = np.choose(tier.astype(int), [VIDEO_KBPS[name] for name in VIDEO_TIERS]).astype(float)
        kbps = f(audio_kbps, float) + video_kbps
        live_min = streams * hours * 60.0 * days
        publisher_min = live_min * pubs
        listener_min = live_min * listeners
        downtrack_min = listener_min * pubs + publisher_min * np.maximum(pubs - 1.0, 0.0)
        recording_on = (f(recording, float) > 0).astype(float)
        recording_min = live_min * recording_on
        jobs = (f(hls_egress, float) > 0).astype(float) + recording_on
        egress_min = live_min * jobs
        ingress_min = live_min * (f(rtmp_ingress, float) > 0)
        live = (streams > 0) & (hours > 0) & (days > 0)
        return cls(
            publisher_min=publisher_min,
            listener_min=listener_min,
            publisher_min_unrounded=publisher_min,
            listener_min_unrounded=listener_min,
            stream_min=live_min,
            downstream_gb=gb_per_minute(kbps) * downtrack_min,
            upstream_gb=gb_per_minute(kbps) * publisher_min,
            egress_min=egress_min,
            ingress_min=ingress_min,
            transcode_min=egress_min + ingress_min,
            track_egress_min=np.zeros_like(live_min),
            recording_min=recording_min,
            peak_streams=np.where(live, streams, 0.0),
            peak_listeners=np.where(live, streams * listeners, 0.0),
            peak_publishers=np.where(live, streams * pubs, 0.0),
            peak_egress=np.where(live, streams * jobs, 0.0),
            audio_kbps=f(audio_kbps, float) * np.ones_like(live_min),
            video_kbps=video_kbps * np.ones_like(live_min),
            video_tier=tier * np.ones_like(live_min),
            region=f(region, float) * np.ones_like(live_min),
            audience_interactive=(f(audience_interactive, float) > 0) * np.ones_like(live_min),
            hls_viewer_min=np.zeros_like(live_min),
            hls_gb=np.zeros_like(live_min),
            hls_measured=np.zeros_like(live_min),
            cdn_viewer_min=np.zeros_like(live_min),
            cdn_measured=np.zeros_like(live_min),
        )

    @classmethod
    def metered(cls, **meters: float) -> UsageArrays:
        """One row of usage with only ``meters`` set (the rest 0): a provider's billed meters
        (reconciliation) priced by the same models as a ledger."""
        names = {f.name for f in fields(cls)}
        unknown = set(meters) - names
        if unknown:
            raise ValueError(f"not a usage meter: {', '.join(sorted(unknown))}")
        return cls(**{name: np.array([float(meters.get(name, 0.0))], dtype=np.float64) for name in names})

    def take(self, index: int) -> UsageArrays:
        def row(values: FloatArray) -> FloatArray:
            # A one-element default (the measured-audience fields) stands for every row.
            return values if values.shape[0] == 1 else values[index : index + 1]

        return UsageArrays(**{f.name: row(getattr(self, f.name)) for f in fields(self)})


@dataclass(frozen=True)
class Item:
    name: str
    unit: str
    quantity: FloatArray
    usd: FloatArray


@dataclass(frozen=True)
class ModelResult:
    model_id: str
    total_usd: FloatArray
    items: Sequence[Item]
    # Notes for one row (plan picked, servers, caveats); built lazily so a grid stays cheap.
    notes_for: Callable[[int], list[str]] = field(default=lambda _row: [])
    # Unverified catalogue rates that priced the usage (not overridden), set by :func:`tracked`.
    unverified: tuple[str, ...] = ()


def unverified_rates(catalogue: Catalogue, rate_ids: Iterable[str]) -> tuple[str, ...]:
    """The unverified (U) rates among ``rate_ids`` that no override replaces."""
    return tuple(
        sorted(
            rate_id
            for rate_id in rate_ids
            if catalogue.rate(rate_id).unverified and not catalogue.rate(rate_id).overridden
        )
    )


def tracked(price_fn: Callable[[Catalogue], ModelResult], catalogue: Catalogue) -> ModelResult:
    """``price_fn`` run on a tracked copy of ``catalogue``: the result names the unverified
    rates it read."""
    watched = catalogue.tracked()
    result = price_fn(watched)
    return replace(result, unverified=unverified_rates(catalogue, watched.used))


PriceFn = Callable[[UsageArrays, Catalogue], ModelResult]


@dataclass(frozen=True)
class PriceModel:
    """One provider's price model as the cost engine knows it: its id (part of the JSON
    interface), the label every page shows, and the function that prices usage arrays.
    Each model module defines its own; analytics/pricing_models/registry.py lists them."""

    model_id: str
    label: str
    price: PriceFn

    def __call__(self, usage: UsageArrays, catalogue: Catalogue) -> ModelResult:
        return self.price(usage, catalogue)


def choose(catalogue: Catalogue, index: FloatArray, rate_ids: Sequence[str]) -> FloatArray:
    """``catalogue[rate_ids[i]]`` where ``index`` is i: reads only the rates some row uses, so a
    tracked catalogue (the unverified-rate markers) names only what priced the usage."""
    positions = np.asarray(index).astype(int)
    out = np.zeros(positions.shape, dtype=np.float64)
    for position, rate_id in enumerate(rate_ids):
        mask = positions == position
        if mask.any():
            out[mask] = catalogue[rate_id]
    return out


def graduated(quantity: FloatArray, bounds: Sequence[float], prices: Sequence[float]) -> FloatArray:
    """Cost of ``quantity`` priced by bands: ``prices[i]`` applies between ``bounds[i-1]`` and
    ``bounds[i]`` (``bounds`` are cumulative upper limits; the last price has no limit)."""
    total = np.zeros_like(quantity, dtype=np.float64)
    lower = 0.0
    for index, price in enumerate(prices):
        upper = bounds[index] if index < len(bounds) else np.inf
        total += np.clip(quantity - lower, 0.0, upper - lower) * price
        lower = upper
    return total


def ceil_to(values: FloatArray, step: float) -> FloatArray:
    """Round up to a multiple of ``step`` (tolerant of float noise just above a multiple)."""
    return np.ceil(np.round(values / step, 9)) * step


def eur(catalogue: Catalogue) -> float:
    return catalogue["self_hosted.fx.eur_usd"]
