"""Recompute the cost claims of the three seed documents from the price catalogue.

Each :class:`Claim` quotes a seed, states the claimed figure (a range; ``hi`` may be
infinite for "$500+"), and computes our figure with the cost engine or the catalogue's rates.
:func:`render_markdown` writes the table behind ``docs/seed-check.md``; it prices everything on
one day (by default the catalogue's last check, :attr:`Catalogue.last_checked`), so the same
catalogue and code always give the same file, byte for byte.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analytics.costs import MODEL_IDS, MODEL_LABELS, costs_json, price_grid, usage_from_scenario_frame
from analytics.ledger import Scenario, gb_per_minute, ledger_from_scenario
from analytics.prices import Catalogue
from analytics.pricing_models import agora, heroku, self_hosted

DEFAULT_TOLERANCE = 0.10
SEEDS = {
    "000": "000 — DJ radio moving off LiveKit Cloud",
    "002": "002 — tour guiding on LiveKit at Hetzner",
    "003": "003 — live shopping on Agora with HLS for buyers",
}


@dataclass(frozen=True)
class Claim:
    seed: str
    where: str
    text: str
    lo: float
    hi: float
    unit: str
    ours: Callable[[Catalogue], float]
    how: str
    tolerance: float = DEFAULT_TOLERANCE

    def holds(self, value: float) -> bool:
        return self.lo * (1 - self.tolerance) <= value <= self.hi * (1 + self.tolerance)


BASE_SCENARIO: dict[str, Any] = {
    "streams": 1, "hours_per_day": 4, "days_per_month": 30, "listeners_per_stream": 0, "publishers_per_stream": 1,
    "audio_kbps": 128, "video": "none", "recording": False, "region": "eu", "rtmp_ingress": False,
    "hls_egress": False, "audience_product": "broadcast",
}  # fmt: skip


def _usd(model: str, catalogue: Catalogue, **scenario: Any) -> float:
    base = {**BASE_SCENARIO, **scenario}
    Scenario.model_validate(base)  # the same validation as a scenario file
    return float(price_grid(pd.DataFrame([base]), catalogue)[model].iloc[0])


def _eur(catalogue: Catalogue, rate_id: str) -> float:
    return catalogue[rate_id] * catalogue["self_hosted.fx.eur_usd"]


# Seed 000's channel: the DJ streams from OBS through RTMP ingress and the channel has an HLS
# egress to R2 ("Input: Browser audio capture + RTMP ingress (OBS)", "Output: HLS egress → R2").
_DJ = {"rtmp_ingress": True, "hls_egress": True}


def _dj(listeners: float) -> Callable[[Catalogue], float]:
    return lambda c: _usd("livekit_cloud", c, listeners_per_stream=listeners, **_DJ)


# Seed 000 "at scale": 500 broadcasters × 40 h/week × 4 weeks, 10 listeners each.
_P500 = {"streams": 500, "hours_per_day": 40 * 4 / 30, "listeners_per_stream": 10}
# Seed 003: 30 h/month of 720p to 200 buyers, one seller, buyers a Broadcast Streaming audience.
_SHOP = {"streams": 1, "hours_per_day": 1, "days_per_month": 30, "listeners_per_stream": 200, "video": "hd",
         "audio_kbps": 64, "region": "na"}  # fmt: skip


def _per_hour(model: str, buyers: float) -> Callable[[Catalogue], float]:
    return lambda c: _usd(model, c, **{**_SHOP, "listeners_per_stream": buyers}) / 30.0


def _sfu_capacity_downtracks(c: Catalogue) -> float:
    cloud, _ = self_hosted.server_specs(c)
    return (
        cloud.vcpus
        * c["self_hosted.capacity.target_utilization"]
        / c["self_hosted.capacity.cores_per_audio_downtrack"]
    )


def _ec2_p500(c: Catalogue) -> float:
    usage = usage_from_scenario_frame(pd.DataFrame([{**BASE_SCENARIO, **_P500}]))
    return float(self_hosted.ec2_autoscaled(usage, c).total_usd[0])


def _option_b(c: Catalogue) -> float:
    """Seed 003 option B: the seller on Agora, an FFmpeg relay joining as one audience member,
    the relay's RTMP into Cloudflare Stream (200 buyers), the relay on a Performance-M dyno."""
    minutes = 30 * 60.0
    tier = np.array([1.0])
    standard = minutes * 1.0 + minutes * agora.audience_ratio(c, tier, np.array([0.0]))
    bill = agora.package_bill(agora.round_up_minutes(standard), c)
    delivery = 200 * minutes * c["cloudflare.stream.delivery_per_1000_min_usd"] / 1000
    return float(bill.total_usd[0]) + delivery + heroku.dyno_cost("performance_m", c).monthly_usd


INF = math.inf
CLAIMS: tuple[Claim, ...] = (
    # ---- Seed 000 ------------------------------------------------------------------------
    Claim("000", "Usage pattern", "Bandwidth per listener-hour ~60-90 MB at 128-192 kbps (checked at 128 kbps)",
          60, 90, "MB/h", lambda c: float(gb_per_minute(128.0)) * 60 * 1000, "128 kbps × 3600 s / 8", 0.05),
    Claim("000", "Cost projection, LiveKit Cloud", "10 listeners, 4 h/day: $50-100/month", 50, 100, "USD/month",
          _dj(10), "cheapest eligible plan, 1 DJ + 10 listeners, 128 kbps, 30 days, with the seed's OBS (RTMP) "
          "ingress and HLS egress: 14,400 transcode min, (14,400 − 600) × $0.02 = $276 on Ship"),
    Claim("000", "Cost projection, LiveKit Cloud", "50 listeners, 4 h/day: $100-200/month", 100, 200, "USD/month",
          _dj(50), "same, 50 listeners"),
    Claim("000", "Cost projection, LiveKit Cloud", "100 listeners, 4 h/day: $200-400/month", 200, 400, "USD/month",
          _dj(100), "same, 100 listeners"),
    Claim("000", "Cost projection, LiveKit Cloud", "500 listeners, 4 h/day: $500+ (Scale plan)", 500, INF,
          "USD/month", _dj(500), "same, 500 listeners (open-ended claim)"),
    Claim("000", "Cost projection, LiveKit Cloud", "1000+ listeners, 4 h/day: $1000+", 1000, INF, "USD/month",
          _dj(1000), "same, 1,000 listeners (open-ended claim)"),
    Claim("000", "Option 1: Cloudflare Stream", "100 listeners, 4 h/day: ~$20-40/month", 20, 40, "USD/month",
          lambda c: _usd("cloudflare_stream", c, listeners_per_stream=100),
          "720,000 minutes delivered × $1/1,000 (storage only if recorded)"),
    Claim("000", "Option 1: Cloudflare Stream", "...vs $200+ on LiveKit (100 listeners)", 200, INF, "USD/month",
          _dj(100), "LiveKit Cloud, 100 listeners, with the seed's ingress and egress"),
    Claim("000", "Option 3: Amazon IVS", "~$0.20/hour for video output", 0.20, 0.20, "USD/viewer-hour",
          lambda c: c["amazon_ivs.hd.na_eu.t1_usd"], "HD output, North America/Europe, first 10,000 h"),
    Claim("000", "Option 3: Amazon IVS", "Free tier: 5 hrs input (first year)", 5, 5, "h/month",
          lambda c: c["amazon_ivs.free_tier.basic_input_hours"], "Basic-channel input hours, first 12 months"),
    Claim("000", "Option 3: Amazon IVS", "Free tier: 100 hrs SD output (first year)", 100, 100, "h/month",
          lambda c: c["amazon_ivs.free_tier.sd_or_audio_output_hours"], "audio-only or SD output hours, first 12 months"),
    Claim("000", "Option 4: hybrid", "~$20-50/month total at any scale (1 channel, 100 listeners)", 20, 50,
          "USD/month", lambda c: _usd("hybrid_livekit_hls", c, listeners_per_stream=100),
          "self-hosted LiveKit + 1 HLS egress + R2"),
    Claim("000", "Option 4: hybrid", "~$20-50/month total at any scale (500 channels × 10 listeners)", 20, 50,
          "USD/month", lambda c: _usd("hybrid_livekit_hls", c, **_P500),
          "500 HLS egress jobs need egress workers; R2 reads uncached"),
    Claim("000", "Cost analysis at scale", "Broadcaster minutes 500 × 40 h × 4 weeks = 4.8M/month", 4.8e6, 4.8e6,
          "min/month", lambda c: 500 * 40 * 4 * 60.0, "arithmetic (a month is 4.33 weeks: 5.2M)", 0.001),
    Claim("000", "Cost analysis at scale", "Scale plan overage for 50M+ minutes: ~$290,000/month", 290_000, 290_000,
          "USD/month", lambda c: _usd("livekit_cloud", c, **_P500),
          "Scale: $500 + (52.8M − 1.5M) min × $0.0004 + data over 3 TB × $0.10 (Scale has no concurrency cap)"),
    Claim("000", "Self-hosted at scale", "500 streams need ~50-100 CPU cores", 50, 100, "cores",
          lambda c: 500 * 10 * c["self_hosted.capacity.cores_per_audio_downtrack"],
          "5,000 audio down-tracks × derived cores per down-track [U]"),
    Claim("000", "Self-hosted at scale", "Bandwidth ~500 Mbps - 2 Gbps", 500, 2000, "Mbit/s",
          lambda c: 500 * 10 * 128 / 1000.0, "5,000 listeners × 128 kbps"),
    Claim("000", "Self-hosted at scale", "Hetzner Dedicated AX102 × 3: ~$300/mo", 300, 300, "USD/month",
          lambda c: 3 * _eur(c, "self_hosted.hetzner.ax102.monthly_eur"), "3 × AX102 at €122 [U] × ECB rate"),
    Claim("000", "Self-hosted at scale", "AWS/GCP auto-scale: $500-2000/mo", 500, 2000, "USD/month", _ec2_p500,
          "EC2 m7g.large autoscaled for 500 streams × 10 listeners (nodes at the peak while live, one otherwise) "
          "+ data transfer out on the us-east-1 ladder, which is most of it"),
    Claim("000", "Cost projection at scale", "50 streams: 1× Hetzner AX52 ~$100/mo", 100, 100, "USD/month",
          lambda c: _eur(c, "self_hosted.hetzner.ax52.monthly_eur"), "AX52 at €59 [U] × ECB rate"),
    Claim("000", "Cost projection at scale", "200 streams: 2× Hetzner AX52 ~$200/mo", 200, 200, "USD/month",
          lambda c: 2 * _eur(c, "self_hosted.hetzner.ax52.monthly_eur"), "2 × AX52"),
    Claim("000", "Cost projection at scale", "500 streams: 3× Hetzner AX102 ~$400/mo", 400, 400, "USD/month",
          lambda c: 3 * _eur(c, "self_hosted.hetzner.ax102.monthly_eur"), "3 × AX102 at €122 [U]"),
    Claim("000", "Cost projection at scale", "500 streams + egress workers ~$600/mo", 600, 600, "USD/month",
          lambda c: _usd("hybrid_livekit_hls", c, **_P500),
          "hybrid: SFU + one audio HLS egress (1 CPU) per stream + R2"),
    Claim("000", "Recommendation", "LiveKit Cloud at 500 broadcasters: $200,000+/month", 200_000, INF, "USD/month",
          lambda c: _usd("livekit_cloud", c, **_P500), "Scale list rates"),
    Claim("000", "Phase 1", "Hetzner AX52 ~$85/mo", 85, 85, "USD/month",
          lambda c: _eur(c, "self_hosted.hetzner.ax52.monthly_eur"), "€59 (one third-party read [U])"),
    Claim("000", "Start simple", "Hetzner CX22 single VPS ~$10-20/mo", 10, 20, "USD/month",
          lambda c: _eur(c, "self_hosted.hetzner.cx23.monthly_eur"),
          "CX22 was replaced by CX23: €5.49 for orders since 2026-06-15"),
    Claim("000", "Start simple", "DigitalOcean Droplet (2 vCPU, 4 GB) ~$10-20/mo", 10, 20, "USD/month",
          lambda c: c["digitalocean.droplet.basic_2vcpu_4gb.monthly_usd"], "Basic droplet, 2 vCPU / 4 GB"),
    # ---- Seed 002 ------------------------------------------------------------------------
    Claim("002", "Why Hetzner", "CX32 (4 vCPU, 8 GB) at $7.59/month", 7.59, 7.59, "USD/month",
          lambda c: _eur(c, "self_hosted.hetzner.cx33.monthly_eur"),
          "CX33 (CX32's successor) €8.49 for orders since 2026-06-15 × ECB rate (€6.49 = $7.55 before)", 0.05),
    Claim("002", "Bottlenecks", "Each tour room (25 listeners): ~23 MBps out", 23, 23, "MB/s",
          lambda c: 25 * 7.7 / 1000.0, "25 listeners × 7.7 KB/s; 23 MB/s is the benchmark's 3,000-subscriber figure"),
    Claim("002", "Concurrent tours", "4 vCPU handles ~40-50 concurrent tours", 40, 50, "tours",
          lambda c: _sfu_capacity_downtracks(c) / 25.0, "CX33 capacity at 70% CPU / 25 down-tracks per tour [U]"),
    Claim("002", "Monthly capacity", "320 tours/day (40 concurrent × 8 hours)", 320, 320, "tours/day",
          lambda c: 40 * 8 / 2.5, "2-3 h tours: 40 × 8 h / 2.5 h; 320 is tour-hours"),
    Claim("002", "Monthly capacity", "Limited by the 20 TB monthly bandwidth", 20, INF, "TB/month",
          lambda c: _usd_traffic_tb(), "40 tours × 25 × 7.7 KB/s × 8 h × 30 days (the limit binds only at ≥ 20 TB)"),
    Claim("002", "Why Hetzner", "A CX32 is sufficient: $7.59/month for 40 tours × 25 listeners", 7.59, 7.59,
          "USD/month",
          lambda c: _usd("livekit_self_hosted", c, streams=40, hours_per_day=8, listeners_per_stream=25,
                         audio_kbps=61.6),
          "self-hosted model for the tours scenario: one CX33 at the new-order price", 0.05),
    # ---- Seed 003 ------------------------------------------------------------------------
    Claim("003", "Agora only", "Seller: $0.06 per stream hour", 0.06, 0.06, "USD/h",
          lambda c: c["agora.standard.audio_ratio"] * c["agora.standard.per_1000_usd"] * 60 / 1000,
          "a single host receives no video: 1 standard min per min × $0.99/1,000"),
    Claim("003", "Agora only", "200 buyers: 200 × $0.06 = $12.00 per hour", 12, 12, "USD/h",
          lambda c: 200 * 60 * c["agora.standard.broadcast_audience_hd_ratio"] * c["agora.standard.per_1000_usd"]
          / 1000,
          "buyers watch 720p as a Broadcast Streaming audience: 2 standard min per min × $0.99/1,000 (list)"),
    Claim("003", "Agora only", "Monthly (30 h): $361.80", 361.80, 361.80, "USD/month",
          lambda c: _usd("agora", c, **_SHOP),
          "721,800 standard min on the cheapest package: Business $339.99 (400,000) + 321,800 × $0.99/1,000"),
    Claim("003", "Cloud Recording", "Agora Cloud Recording: $0.09 per hour", 0.09, 0.09, "USD/h",
          lambda c: c["agora.recording.hd_per_1000_usd"] * 60 / 1000, "720p recording bills the HD rate, not audio"),
    Claim("003", "Cloud Recording", "Cloudflare Stream (RTMP → HLS): $0.30 per hour", 0.30, 0.30, "USD/h",
          lambda c: 0.0, "ingest and encoding are free; $5/1,000 min is storage, only when recorded"),
    Claim("003", "Cloud Recording", "CDN bandwidth (200 viewers @ 720p): $0.60 per hour", 0.60, 0.60, "USD/h",
          lambda c: 200 * 60 * c["cloudflare.stream.delivery_per_1000_min_usd"] / 1000,
          "Stream bills minutes delivered: 12,000 min/h × $1/1,000"),
    Claim("003", "Cloud Recording", "Total ~$1.05 per hour", 1.05, 1.05, "USD/h",
          _per_hour("hybrid_agora_cloudflare", 200), "hybrid model / 30 h"),
    Claim("003", "Cloud Recording", "Monthly total ~$36.50 (incl. $5 Eco dyno)", 36.50, 36.50, "USD/month",
          lambda c: _usd("hybrid_agora_cloudflare", c, **_SHOP) + heroku.dyno_cost("eco", c).monthly_usd,
          "hybrid model + Heroku Eco ($5 flat, 1,000 dyno-hour pool)"),
    Claim("003", "Heroku", "Eco dyno (512 MB RAM): $5/month", 5, 5, "USD/month",
          lambda c: heroku.dyno_cost("eco", c).monthly_usd, "one always-on Eco dyno: 720 h of the 1,000 h pool"),
    Claim("003", "Heroku", "Performance dyno upgrade: $25+/month", 25, INF, "USD/month",
          lambda c: heroku.dyno_cost("performance_m", c).monthly_usd, "Performance-M, a whole month"),
    Claim("003", "Scalability", "10 buyers, Agora only: $0.66/hour", 0.66, 0.66, "USD/h", _per_hour("agora", 10),
          "37,800 standard min: over the Free package's 10,000, so Starter ($45.99) / 30 h"),
    Claim("003", "Scalability", "200 buyers, Agora only: $12.06/hour", 12.06, 12.06, "USD/h",
          _per_hour("agora", 200), "agora model / 30 h"),
    Claim("003", "Scalability", "1,000 buyers, Agora only: $60.06/hour", 60.06, 60.06, "USD/h",
          _per_hour("agora", 1000), "agora model / 30 h"),
    Claim("003", "Scalability", "10 buyers, hybrid: $1.05/hour", 1.05, 1.05, "USD/h",
          _per_hour("hybrid_agora_cloudflare", 10), "hybrid model / 30 h"),
    Claim("003", "Scalability", "1,000 buyers, hybrid: $1.20/hour", 1.20, 1.20, "USD/h",
          _per_hour("hybrid_agora_cloudflare", 1000), "hybrid model / 30 h"),
    Claim("003", "Option B", "Seller (Agora) $1.80/month for 30 h", 1.80, 1.80, "USD/month",
          lambda c: 30 * 60 * c["agora.standard.per_1000_usd"] / 1000,
          "1,800 standard min × $0.99/1,000 (inside the Free package's 10,000: $0 while nothing else is used)"),
    Claim("003", "Option B", "Cloudflare Stream $9.00 + CDN $18.00 for 30 h × 200 buyers", 27, 27, "USD/month",
          lambda c: _usd("cloudflare_stream", c, **_SHOP), "360,000 minutes delivered × $1/1,000"),
    Claim("003", "Option B", "Performance-M dyno: $25.00", 25, 25, "USD/month",
          lambda c: heroku.dyno_cost("performance_m", c).monthly_usd, "Heroku Performance-M is $250/month"),
    Claim("003", "Option B", "Total ~$53.80 per month", 53.80, 53.80, "USD/month", _option_b,
          "Agora (seller + relay, inside the Free package) + Cloudflare Stream delivery + Performance-M"),
    Claim("003", "Success metrics", "Agora: ~$1,000-3,000 per 1,000 viewer-hours", 1000, 3000, "USD/1000 viewer-h",
          lambda c: 1000 * 60 * c["agora.standard.broadcast_audience_hd_ratio"] * c["agora.standard.per_1000_usd"]
          / 1000, "Broadcast Streaming HD audience at list: 2 standard min per min"),
    Claim("003", "Success metrics", "HLS/CDN: ~$50-200 per 1,000 viewer-hours", 50, 200, "USD/1000 viewer-h",
          lambda c: 1000 * 60 * c["cloudflare.stream.delivery_per_1000_min_usd"] / 1000, "Cloudflare Stream delivery"),
    Claim("003", "External integrations", "Cloudflare Stream: ~$5 per 1,000 minutes streamed", 5, 5,
          "USD/1000 viewer-min", lambda c: c["cloudflare.stream.delivery_per_1000_min_usd"],
          "delivery is $1/1,000 viewer-min; $5 is storage"),
    Claim("003", "External integrations", "AWS IVS: ~$0.40/hour (input)", 0.40, 0.40, "USD/input-h",
          lambda c: c["amazon_ivs.input.advanced_hd_per_hour_usd"], "Advanced HD input (720p)"),
    Claim("003", "External integrations", "AWS IVS: + $0.015/GB bandwidth", 0.015, 0.015, "USD/GB",
          lambda c: c["amazon_ivs.output.per_gb_usd"], "IVS has no per-GB fee: output is billed per hour delivered"),
)  # fmt: skip


def _usd_traffic_tb() -> float:
    return 40 * 25 * 7.7e3 * 8 * 3600 * 30 / 1e12


def evaluate(catalogue: Catalogue, claims: Sequence[Claim] = CLAIMS) -> list[tuple[Claim, float]]:
    """Each claim with our figure."""
    return [(claim, float(claim.ours(catalogue))) for claim in claims]


def check(catalogue: Catalogue, claims: Sequence[Claim] = CLAIMS) -> pd.DataFrame:
    rows = [
        {"seed": claim.seed, "where": claim.where, "claim": claim.text, "claimed_lo": claim.lo, "claimed_hi": claim.hi,
         "unit": claim.unit, "ours": ours, "holds": claim.holds(ours), "how": claim.how, "tolerance": claim.tolerance}
        for claim, ours in evaluate(catalogue, claims)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def _fmt(value: float) -> str:
    if math.isinf(value):
        return "∞"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.4g}"


def seed_check_catalogue(catalogue: Catalogue) -> Catalogue:
    """The catalogue on the day the seed check prices: its last check (a date in the data, so
    the file does not change from one day to the next)."""
    return catalogue.at(catalogue.last_checked)


def render_markdown(catalogue: Catalogue) -> str:
    """The seed check as Markdown, priced on ``catalogue.as_of`` (no other date in it)."""
    watched = catalogue.tracked()
    results = evaluate(watched)
    holding = sum(claim.holds(ours) for claim, ours in results)
    overridden = [rate_id for rate_id in catalogue if catalogue.rate(rate_id).overridden]
    unverified = [
        r for r in sorted(watched.used) if catalogue.rate(r).unverified and not catalogue.rate(r).overridden
    ]
    lines = [
        "# Seed check",
        "",
        "<!-- generated by `python -m analytics seed-check`; do not edit by hand -->",
        "",
        f"Recomputed from the price catalogue (`analytics/prices/*.yaml`) at the prices in force on "
        f"{catalogue.as_of.isoformat()} (price version {catalogue.version_on(catalogue.as_of).isoformat()}; the "
        f"catalogue was last checked on {catalogue.last_checked.isoformat()}). A claim holds when our figure lies "
        "inside the claimed range widened by the tolerance. Rates marked [U] are unverified: each says why "
        "(`python -m analytics prices audit`).",
        "",
        f"**{holding} of {len(results)} claims hold.**",
    ]
    if overridden:
        lines += ["", "Overridden rates: " + ", ".join(f"`{r}`" for r in overridden)]
    for seed, title in SEEDS.items():
        lines += ["", f"## Seed {title}", "", "| Where | Claim | Claimed | Ours | Unit | Holds | How we computed it |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        for claim, ours in results:
            if claim.seed != seed:
                continue
            claimed = _fmt(claim.lo) if claim.lo == claim.hi else f"{_fmt(claim.lo)}–{_fmt(claim.hi)}"
            if claim.holds(ours):
                verdict = "yes"
            else:
                verdict = "**no** (ours lower)" if ours < claim.lo else "**no** (ours higher)"
            lines.append(f"| {claim.where} | {claim.text} | {claimed} | {_fmt(ours)} | {claim.unit} | {verdict} "
                         f"(±{claim.tolerance:.0%}) | {claim.how} |")  # fmt: skip
    if unverified:
        lines += ["", "## Unverified rates these figures use", ""]
        lines += [
            f"- `{r}` = {catalogue[r]:g} {catalogue.rate(r).unit}: {catalogue.rate(r).reason}"
            for r in unverified
        ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# The README's table of the seed presets at the seed check's prices
# ---------------------------------------------------------------------------------------------

README_BEGIN = "<!-- prices:begin -->"
README_END = "<!-- prices:end -->"
README_PRESETS: tuple[str, ...] = ("dj-radio", "tours", "live-shopping", "platform-500")


def readme_block(catalogue: Catalogue, scenarios: dict[str, Scenario]) -> str:
    """Monthly cost of each seed preset under every model, at ``catalogue.as_of``'s prices."""
    costs = {
        name: {
            p["id"]: p["monthly_usd"]
            for p in costs_json(ledger_from_scenario(scenarios[name]), catalogue)["providers"]
        }
        for name in README_PRESETS
    }
    lines = [
        README_BEGIN,
        "<!-- generated by `python -m analytics seed-check`; do not edit by hand -->",
        "",
        f"Monthly cost of the seed presets (`analytics/scenarios/`) at the prices in force on "
        f"{catalogue.as_of.isoformat()}, USD:",
        "",
        "| Model | " + " | ".join(f"`{name}`" for name in README_PRESETS) + " |",
        "|---|" + "---:|" * len(README_PRESETS),
    ]
    for model_id in MODEL_IDS:
        lines.append(
            f"| {MODEL_LABELS[model_id]} | "
            + " | ".join(f"{costs[n][model_id]:,.2f}" for n in README_PRESETS)
            + " |"
        )
    lines += ["", README_END]
    return "\n".join(lines)


def replace_readme_block(text: str, block: str) -> str:
    """``text`` with the generated block between the markers replaced (an error without markers)."""
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError("README has no prices:begin/prices:end markers")
    return text[:start] + block + text[end + len(README_END) :]
