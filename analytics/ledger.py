"""The usage ledger: what a fleet used (measured) or would use (a planner scenario).

One row per UTC day × channel with explicit-unit columns; the cost engine prices its monthly
totals. Measured usage (analytics/usage.py) and planned usage (:func:`ledger_from_scenario`)
are the same type, so there is one cost engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, cast

import annotated_types
import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from core.units import DAY_S

# A month of usage, for scaling a measured period to a monthly bill.
MONTH_DAYS = 30.0

# Summed per day × channel; scaled to a month when priced.
FLOW_COLUMNS: tuple[str, ...] = (
    "publisher_minutes",  # connection minutes, each connection rounded up (as LiveKit meters)
    "listener_minutes",
    "publisher_minutes_unrounded",
    "listener_minutes_unrounded",
    "stream_minutes",  # minutes a channel was live (a room open with a publisher)
    "downstream_gb",  # server → clients
    "upstream_gb",  # clients → server
    "egress_minutes",  # every egress job (composite and track)
    "ingress_minutes",  # every ingress (RTMP, WHIP, URL)
    # LiveKit Cloud's meters: transcode minutes are ingress that transcodes (RTMP, URL) and
    # composite egress (room, web, participant, track-composite; HLS included); track egress
    # minutes are single-track egress (no transcoding).
    "transcode_minutes",
    "track_egress_minutes",
    "recording_minutes",
)
# Maxima per day × channel (concurrent counts).
PEAK_COLUMNS: tuple[str, ...] = ("peak_streams", "peak_listeners", "peak_publishers")
COLUMNS: tuple[str, ...] = ("day_ts", "channel", *FLOW_COLUMNS, *PEAK_COLUMNS)
# The audience outside LiveKit's rooms, measured by its pollers (store.queries.audience), per
# day × channel: viewer-minutes by delivery path and the bytes the HLS origin/CDN delivered.
# Only a measured ledger has them (a frame without them has none); the hybrid models price
# them instead of assuming their HLS audience (analytics/pricing_models/hybrids.py).
AUDIENCE_COLUMNS: tuple[str, ...] = (
    "hls_viewer_minutes",
    "hls_delivered_gb",
    "agora_viewer_minutes",
    "cloudflare_stream_viewer_minutes",
    "ivs_viewer_minutes",
)

VideoTier = Literal["none", "hd", "fullhd"]
VIDEO_TIERS: tuple[str, ...] = ("none", "hd", "fullhd")
# Typical encoder bitrates used when only the tier is known (assumptions, not prices).
VIDEO_KBPS: dict[str, float] = {"none": 0.0, "hd": 2500.0, "fullhd": 4500.0}
Region = Literal["eu", "na", "apac", "india", "anz", "sa", "kr"]
REGIONS: tuple[str, ...] = ("eu", "na", "apac", "india", "anz", "sa", "kr")
# Agora's audience product: Broadcast Streaming audiences convert at their own (lower) ratios;
# Interactive Live Streaming audiences pay host rates. castmeter cannot see it: a scenario (or
# [prices] audience_product) says which.
AudienceProduct = Literal["broadcast", "interactive"]
AUDIENCE_PRODUCTS: tuple[str, ...] = ("broadcast", "interactive")
# Self-hosted server choice of the planner: the cheaper of the two, or one of them.
ServerType = Literal["auto", "cx33", "ax52"]
SERVER_TYPES: tuple[str, ...] = ("auto", "cx33", "ax52")


def format_days(days: float) -> str:
    """``7.0 days``, ``5.2 hours``, ``40 minutes``."""
    if days >= 1:
        return f"{days:,.1f} days"
    if days * 24 >= 1:
        return f"{days * 24:,.1f} hours"
    return f"{days * 1440:,.0f} minutes"


def empty_frame() -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series(dtype="float64") for name in COLUMNS})
    frame["day_ts"] = frame["day_ts"].astype("int64")
    frame["channel"] = frame["channel"].astype("object")
    return frame


@dataclass(frozen=True)
class UsageLedger:
    """Usage per day × channel (``frame``, columns :data:`COLUMNS`) plus what prices it needs."""

    frame: pd.DataFrame
    period_start_ts: int
    period_end_ts: int
    audio_kbps: float
    video: VideoTier = "none"
    region: Region = "eu"
    # Fleet-wide simultaneous peaks (not the sum of per-channel peaks).
    fleet_peak_streams: float = 0.0
    fleet_peak_listeners: float = 0.0
    fleet_peak_publishers: float = 0.0
    fleet_peak_egress: float = 0.0
    # Multiplier from the ledger's covered time to one billing month (1.0 for a scenario).
    month_scale: float = 1.0
    origin: Literal["measured", "scenario"] = "measured"
    audience_product: AudienceProduct = "broadcast"
    # Where the store's observations begin inside the period (None: the whole period): a
    # 30-day window over 7 days of history covers 7 days, and rates divide by those 7.
    covered_start_ts: int | None = None
    # Delivery paths (hls, agora, cloudflare_stream, ivs) with audience samples in the period:
    # their AUDIENCE_COLUMNS are measured; the others are not known (not zero).
    audience_paths: tuple[str, ...] = ()

    @property
    def period_days(self) -> float:
        return max(0.0, (self.period_end_ts - self.period_start_ts) / DAY_S)

    @property
    def covered_days(self) -> float:
        """Days of the period the store has observations for (averages divide by these)."""
        start = self.period_start_ts if self.covered_start_ts is None else self.covered_start_ts
        return max(0.0, (self.period_end_ts - max(start, self.period_start_ts)) / DAY_S)

    @property
    def coverage_note(self) -> str:
        """ "" when the data covers the whole period, else what it covers (for captions)."""
        if self.period_days <= 0 or self.covered_days >= self.period_days - 1e-9:
            return ""
        return (
            f"data covers {format_days(self.covered_days)} of the {format_days(self.period_days)} chosen: "
            "rates are per day of data"
        )

    @property
    def video_kbps(self) -> float:
        return VIDEO_KBPS[self.video]

    @property
    def is_empty(self) -> bool:
        audience_min = sum(
            value for name, value in self.audience_totals().items() if name.endswith("_minutes")
        )
        return (
            self.frame.empty
            or float(self.frame["publisher_minutes"].sum() + self.frame["listener_minutes"].sum())
            + audience_min
            == 0
        )

    def totals(self) -> dict[str, float]:
        """Flow totals over the period (not scaled) and fleet peaks."""
        sums = {name: float(self.frame[name].sum()) if not self.frame.empty else 0.0 for name in FLOW_COLUMNS}
        sums.update(
            peak_streams=self.fleet_peak_streams,
            peak_listeners=self.fleet_peak_listeners,
            peak_publishers=self.fleet_peak_publishers,
            peak_egress=self.fleet_peak_egress,
        )
        return sums

    @property
    def audience_note(self) -> str:
        """What the hybrids price for the audience outside LiveKit: measured (which paths, how
        much in the period) or assumed (for the Costs page's caption)."""
        if not self.audience_paths:
            return (
                "No HLS or Cloudflare Stream audience measured in this window: the hybrids ASSUME their HLS "
                "audience is the WebRTC listeners moved over; the other models price the LiveKit usage."
            )
        totals = self.audience_totals()
        parts = [
            f"{label} {totals[column]:,.0f} viewer-min"
            for path, label, column in (
                ("hls", "HLS", "hls_viewer_minutes"),
                ("cloudflare_stream", "Cloudflare Stream", "cloudflare_stream_viewer_minutes"),
                ("agora", "Agora", "agora_viewer_minutes"),
                ("ivs", "IVS", "ivs_viewer_minutes"),
            )
            if path in self.audience_paths
        ]
        gb = f", HLS {totals['hls_delivered_gb']:,.2f} GB delivered" if totals["hls_delivered_gb"] > 0 else ""
        return (
            f"Audience outside LiveKit MEASURED in this window: {', '.join(parts)}{gb}. The hybrids price it "
            "(plus the WebRTC listeners moved over); the other models price the LiveKit usage only."
        )

    def audience_totals(self, *, monthly: bool = False) -> dict[str, float]:
        """The measured audience outside LiveKit (:data:`AUDIENCE_COLUMNS`) over the period, or
        scaled to one billing month; 0 where the frame has none."""
        scale = self.month_scale if monthly else 1.0
        return {
            name: float(self.frame[name].sum()) * scale
            if name in self.frame and not self.frame.empty
            else 0.0
            for name in AUDIENCE_COLUMNS
        }

    def monthly_totals(self) -> dict[str, float]:
        """Flow totals scaled to one billing month; peaks unchanged."""
        totals = self.totals()
        for name in FLOW_COLUMNS:
            totals[name] *= self.month_scale
        return totals

    def scaled(self, month_scale: float) -> UsageLedger:
        return replace(self, month_scale=month_scale)

    def by_channel(self) -> pd.DataFrame:
        """Flow totals per channel over the period (unscaled)."""
        if self.frame.empty:
            return pd.DataFrame(columns=["channel", *FLOW_COLUMNS])
        return self.frame.groupby("channel", as_index=False)[list(FLOW_COLUMNS)].sum()

    def usage_summary(self) -> dict[str, object]:
        """The ``usage`` object of the JSON interface (monthly totals, rounded for display)."""
        monthly = self.monthly_totals()
        return {
            "origin": self.origin,
            "period_start_ts": self.period_start_ts,
            "period_end_ts": self.period_end_ts,
            "period_days": round(self.period_days, 4),
            "covered_days": round(self.covered_days, 4),
            "month_scale": round(self.month_scale, 6),
            "audio_kbps": self.audio_kbps,
            "video": self.video,
            "region": self.region,
            "audience_product": self.audience_product,
            "channels": int(self.frame["channel"].nunique()) if not self.frame.empty else 0,
            **{f"monthly_{name}": round(value, 4) for name, value in monthly.items()},
        }


# ---------------------------------------------------------------------------------------------
# Scenarios (the planner and the seed presets)
# ---------------------------------------------------------------------------------------------


PEAK_BELOW_AVERAGE = "peak_below_average"  # the error type of a peak below the average


class Scenario(BaseModel):
    """A what-if: ``streams`` concurrent broadcasts, each live ``hours_per_day``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    description: str = ""
    # The bounds are the planner's limits too (ui/planner.py reads them from here): above the
    # upper ones the numbers stop meaning anything (a shared link with streams=1e300 would ask
    # for a 300-digit node count); a stream needs someone publishing (the measured scenario,
    # analytics.costs.scenario_from_ledger, counts at least one).
    streams: float = Field(gt=0, le=100_000)
    hours_per_day: float = Field(gt=0, le=24)
    days_per_month: float = Field(default=30, ge=1, le=31)
    listeners_per_stream: float = Field(ge=0, le=10_000_000)
    publishers_per_stream: float = Field(default=1, ge=1, le=1000)
    audio_kbps: float = Field(default=128, gt=0, le=2000)
    video: VideoTier = "none"
    recording: bool = False
    region: Region = "eu"
    # Planner fields (analytics/capacity/planner.py); optional so older scenario files still load.
    peak_listeners_per_stream: float | None = Field(default=None, ge=0, le=10_000_000)  # None: the average
    growth_pct_per_month: float = Field(default=0, ge=-50, le=200)  # audience growth, compounded
    hls_share: float = Field(default=0, ge=0, le=1)  # share of listeners served by HLS egress
    server_type: ServerType = "auto"
    target_cpu_pct: float = Field(default=70, ge=10, le=95)
    # Transcode minutes (LiveKit Cloud): publishers arrive through RTMP ingress (OBS), and/or
    # every stream has one composite HLS egress (also implied by hls_share > 0).
    rtmp_ingress: bool = False
    hls_egress: bool = False
    audience_product: AudienceProduct = "broadcast"

    @field_validator("peak_listeners_per_stream")
    @classmethod
    def _peak_not_below_average(cls, value: float | None, info: ValidationInfo) -> float | None:
        average = info.data.get("listeners_per_stream")
        if value is not None and average is not None and value < average:
            # A typed error with its numbers, so a form can word it for its own inputs.
            raise PydanticCustomError(
                PEAK_BELOW_AVERAGE,
                "must be at least listeners_per_stream ({average})",
                {"average": f"{average:g}", "peak_value": value, "average_value": average},
            )
        return value

    @property
    def egress_jobs_per_stream(self) -> float:
        """Composite egress jobs per live stream: one for HLS (asked for, or implied by HLS
        listeners), one for recording."""
        return float(self.hls_egress or self.hls_share > 0) + float(self.recording)

    @property
    def peak_listeners(self) -> float:
        """Peak listeners per stream (the average when no peak is given)."""
        return (
            self.listeners_per_stream
            if self.peak_listeners_per_stream is None
            else self.peak_listeners_per_stream
        )


@dataclass(frozen=True)
class Bound:
    """One side of a numeric field's range: its value and whether the value itself is allowed."""

    value: float
    inclusive: bool


def field_bounds(name: str) -> tuple[Bound | None, Bound | None]:
    """(lower, upper) bounds of the :class:`Scenario` field ``name``, None for an open side, so
    forms state the model's limits instead of their own."""
    low: Bound | None = None
    high: Bound | None = None
    for constraint in Scenario.model_fields[name].metadata:
        if isinstance(constraint, annotated_types.Gt):
            low = Bound(float(cast(float, constraint.gt)), False)
        elif isinstance(constraint, annotated_types.Ge):
            low = Bound(float(cast(float, constraint.ge)), True)
        elif isinstance(constraint, annotated_types.Lt):
            high = Bound(float(cast(float, constraint.lt)), False)
        elif isinstance(constraint, annotated_types.Le):
            high = Bound(float(cast(float, constraint.le)), True)
    return low, high


class ScenarioError(ValueError):
    """An invalid scenario file; the message names the key."""


def load_scenario(path: str | Path) -> Scenario:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"cannot read scenario {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"scenario {path}: expected a mapping of keys")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = []
        for item in exc.errors():
            key = ".".join(str(part) for part in item["loc"]) or "(root)"
            message = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
            problems.append(f"{key}: {message}")
        raise ScenarioError(f"invalid scenario {path}: " + "; ".join(problems)) from None


def gb_per_minute(kbps: float | np.ndarray) -> float | np.ndarray:
    """GB (10^9 bytes) one stream of ``kbps`` moves in a minute."""
    return kbps * 1000.0 / 8.0 * 60.0 / 1e9


def ledger_from_scenario(scenario: Scenario, *, start_ts: int = 0) -> UsageLedger:
    """The ledger a scenario implies: one row per day for the channel ``all streams``.
    Each listener receives every publisher's track; each publisher every other publisher's."""
    days = max(1, math.ceil(scenario.days_per_month))
    # Spread the month evenly over the days (days_per_month may be fractional).
    day_share = scenario.days_per_month / days
    live_min = scenario.streams * scenario.hours_per_day * 60.0 * day_share
    publisher_min = live_min * scenario.publishers_per_stream
    listener_min = live_min * scenario.listeners_per_stream
    kbps = scenario.audio_kbps + VIDEO_KBPS[scenario.video]
    downtrack_min = listener_min * scenario.publishers_per_stream + publisher_min * max(
        0.0, scenario.publishers_per_stream - 1
    )
    recording_min = live_min if scenario.recording else 0.0
    egress_min = live_min * scenario.egress_jobs_per_stream
    ingress_min = live_min if scenario.rtmp_ingress else 0.0
    row = {
        "channel": "all streams",
        # A connection lasts the whole broadcast, so rounding up adds nothing measurable.
        "publisher_minutes": publisher_min,
        "listener_minutes": listener_min,
        "publisher_minutes_unrounded": publisher_min,
        "listener_minutes_unrounded": listener_min,
        "stream_minutes": live_min,
        "downstream_gb": float(gb_per_minute(kbps)) * downtrack_min,
        "upstream_gb": float(gb_per_minute(kbps)) * publisher_min,
        "egress_minutes": egress_min,
        "ingress_minutes": ingress_min,
        "transcode_minutes": egress_min + ingress_min,
        "track_egress_minutes": 0.0,
        "recording_minutes": recording_min,
        "peak_streams": scenario.streams,
        "peak_listeners": scenario.streams * scenario.listeners_per_stream,
        "peak_publishers": scenario.streams * scenario.publishers_per_stream,
    }
    frame = pd.DataFrame([{**row, "day_ts": start_ts + day * DAY_S} for day in range(days)])[list(COLUMNS)]
    live = scenario.streams > 0 and scenario.hours_per_day > 0
    return UsageLedger(
        frame=frame,
        period_start_ts=start_ts,
        period_end_ts=start_ts + days * DAY_S,
        audio_kbps=scenario.audio_kbps,
        video=scenario.video,
        region=scenario.region,
        fleet_peak_streams=scenario.streams if live else 0.0,
        fleet_peak_listeners=scenario.streams * scenario.listeners_per_stream if live else 0.0,
        fleet_peak_publishers=scenario.streams * scenario.publishers_per_stream if live else 0.0,
        fleet_peak_egress=scenario.streams * scenario.egress_jobs_per_stream if live else 0.0,
        month_scale=1.0,
        origin="scenario",
        audience_product=scenario.audience_product,
    )
