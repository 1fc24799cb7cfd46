"""Measured usage as a :class:`~analytics.ledger.UsageLedger`, from the parts
store.queries.usage reads (all aggregation is in SQL there; pandas only joins the few grouped
frames here).

- the parts: connection, stream, egress/ingress (transcode, track-egress, recording) minutes
  per UTC day × channel, peaks per channel and fleet-wide, and fleet GB per day;
- downstream/upstream GB are shared out to channels by listener (publisher) minutes, because
  nodes are not per channel; a day with traffic but no sessions keeps it on ``(unattributed)``;
- monthly figures scale the part of the window the store has observations for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.ledger import (
    AUDIENCE_COLUMNS,
    COLUMNS,
    DAY_S,
    FLOW_COLUMNS,
    MONTH_DAYS,
    PEAK_COLUMNS,
    AudienceProduct,
    Region,
    UsageLedger,
    VideoTier,
    empty_frame,
)
from store.queries.results import UsageParts


def measured_ledger(
    parts: UsageParts,
    since_ts: int,
    until_ts: int,
    *,
    audio_kbps: float = 128.0,
    video: VideoTier = "none",
    region: Region = "eu",
    audience_product: AudienceProduct = "broadcast",
) -> UsageLedger:
    """Usage per UTC day × channel over [since_ts, until_ts) from what
    store.queries.usage.usage_parts read for that window, scaled to a 30-day month from the part
    of the window the store has observations for (``covered_start_ts`` on).
    ``video``, ``region`` and ``audience_product`` are what castmeter cannot see: the caller
    says them (settings, command-line flags)."""
    if until_ts <= since_ts:
        raise ValueError("until_ts must be after since_ts")
    keys = ["day_ts", "channel"]
    frame = empty_frame()[keys]
    for part in (parts.sessions, parts.rooms, parts.ingress, parts.egress, parts.peaks):
        if not part.empty:
            part = part.assign(day_ts=part["day_ts"].astype("int64"), channel=part["channel"].astype(str))
            frame = frame.merge(part, on=keys, how="outer")
    for name in (*FLOW_COLUMNS, *PEAK_COLUMNS, "ingress_transcode_minutes"):
        frame[name] = (
            pd.to_numeric(frame[name], errors="coerce").fillna(0.0).astype(float) if name in frame else 0.0
        )
    frame["transcode_minutes"] = frame["transcode_minutes"] + frame.pop("ingress_transcode_minutes")
    frame = _share_traffic(frame, parts.traffic)
    frame = _with_audience(frame[list(COLUMNS)], parts.audience)
    frame = frame.sort_values(keys, ignore_index=True)
    first_ts = parts.first_observed_ts
    covered_start_ts = since_ts if first_ts is None else min(max(since_ts, first_ts), until_ts)
    # Rates (per month, per hour) divide by the time the store has observations for.
    covered_days = max((until_ts - covered_start_ts) / DAY_S, 1 / 1440)
    fleet = parts.fleet_peaks
    return UsageLedger(
        frame=frame,
        period_start_ts=since_ts,
        period_end_ts=until_ts,
        audio_kbps=audio_kbps,
        video=video,
        region=region,
        fleet_peak_streams=fleet["streams"],
        fleet_peak_listeners=fleet["listeners"],
        fleet_peak_publishers=fleet["publishers"],
        fleet_peak_egress=_peak_overlap(parts.egress_spans),
        month_scale=MONTH_DAYS / covered_days,
        origin="measured",
        audience_product=audience_product,
        covered_start_ts=covered_start_ts,
        audience_paths=_audience_paths(parts.audience),
    )


def _audience_paths(audience: pd.DataFrame) -> tuple[str, ...]:
    if audience.empty:
        return ()
    return tuple(sorted({str(path) for path in audience["path"]}))


def _with_audience(frame: pd.DataFrame, audience: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with :data:`AUDIENCE_COLUMNS` per day × channel: viewer-seconds ÷ 60 by path,
    the HLS path's bytes ÷ 10^9 (0 where none was measured; a channel only outside LiveKit
    gets a row of its own with no LiveKit usage)."""
    frame = frame.assign(**dict.fromkeys(AUDIENCE_COLUMNS, 0.0))
    if audience.empty:
        return frame
    audience = audience.assign(
        day_ts=audience["day_ts"].astype("int64"),
        channel=audience["channel"].astype(str),
        minutes=pd.to_numeric(audience["viewer_s"], errors="coerce").fillna(0.0) / 60.0,
        gb=pd.to_numeric(audience["bytes_delivered"], errors="coerce").fillna(0.0) / 1e9,
    )
    wide = audience.pivot_table(index=["day_ts", "channel"], columns="path", values="minutes", aggfunc="sum")
    measured = pd.DataFrame(index=wide.index)
    for path in ("hls", "agora", "cloudflare_stream", "ivs"):
        measured[f"{path}_viewer_minutes"] = wide.get(path, 0.0)
    hls = audience[audience["path"] == "hls"].groupby(["day_ts", "channel"])["gb"].sum()
    measured["hls_delivered_gb"] = hls.reindex(measured.index)
    measured = measured.fillna(0.0).reset_index()
    keys = ["day_ts", "channel"]
    merged = frame.drop(columns=list(AUDIENCE_COLUMNS)).merge(measured, on=keys, how="outer")
    return merged.fillna(0.0)[[*COLUMNS, *AUDIENCE_COLUMNS]]


def _peak_overlap(spans: pd.DataFrame) -> float:
    """Most intervals open at once (sweep over sorted start/end events, vectorized)."""
    if spans.empty:
        return 0.0
    times = np.concatenate([spans["start"].to_numpy(), spans["end"].to_numpy()])
    deltas = np.concatenate([np.ones(len(spans)), -np.ones(len(spans))])
    order = np.lexsort((deltas, times))  # ends before starts at the same instant
    return float(np.cumsum(deltas[order]).max())


def _share_traffic(frame: pd.DataFrame, traffic: pd.DataFrame) -> pd.DataFrame:
    """Give each channel its day's share of fleet GB, by listener (downstream) and publisher
    (upstream) minutes; a day with traffic but no sessions keeps it on ``(unattributed)``."""
    frame = frame.copy()
    frame["downstream_gb"] = 0.0
    frame["upstream_gb"] = 0.0
    if traffic.empty:
        return frame
    traffic = traffic.assign(day_ts=traffic["day_ts"].astype("int64"))
    for column, weight_column in (
        ("downstream_gb", "listener_minutes"),
        ("upstream_gb", "publisher_minutes"),
    ):
        day_weight = frame.groupby("day_ts")[weight_column].transform("sum")
        share = np.where(day_weight > 0, frame[weight_column] / day_weight.where(day_weight > 0, 1.0), 0.0)
        day_gb = frame["day_ts"].map(traffic.set_index("day_ts")[column]).fillna(0.0)
        frame[column] = day_gb.to_numpy() * share
    attributed = frame.groupby("day_ts")[["downstream_gb", "upstream_gb"]].sum()
    rest = (
        traffic.set_index("day_ts")[["downstream_gb", "upstream_gb"]]
        .astype(float)
        .sub(attributed, fill_value=0.0)
    )
    rest = rest[(rest["downstream_gb"] > 1e-9) | (rest["upstream_gb"] > 1e-9)].reset_index()
    if not rest.empty:
        rest["channel"] = "(unattributed)"
        frame = pd.concat([frame, rest], ignore_index=True).fillna(0.0)
    return frame
