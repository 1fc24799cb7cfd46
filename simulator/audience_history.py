"""The audience and relay history the live pollers would have written for the simulated fleet
(issue 17), computed in bulk for the backfill (simulator/backfill.py).

One row per ``STEP_S`` (2 minutes: the models change once a minute) and channel, in the live
pollers' shape (store.audience.AudienceSample / RelaySample, the same delivery-path, relay-kind
and id names), so the live pollers continue the series with no seam:

- **HLS** (the demo's origin log, simulator/hls_log.py, read by collectors/pollers/hls.py): per
  channel the writer's ``round(listeners x HLS_SHARE)`` listeners (of the first ``MAX_CHANNELS``
  channels by name, rooms with HLS egress only where the scenario has it); each fetches the
  playlist and one segment every ``segment_s``. A row's ``ts`` is a bucket end of the poller's
  clock (a multiple of its ``bucket_s``); its viewer-seconds, bytes, requests and errors cover
  the step before it (the expected counts: 404s at ``MISSING_SHARE``, 503s at ``BURST_5XX_SHARE``
  during an origin burst, rounded deterministically). The ``hls_playlist`` relay: ``fresh``, or
  ``stale`` (down) during an encoder stall (simulator/incidents.py).
- **Hybrid providers** (simulator/hybrid.py's model, read by the Agora, Cloudflare Stream and IVS
  pollers): the same parsers the pollers use turn the model's state into rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from collectors.audience_apis.agora import converter_relay, recording_relays
from collectors.audience_apis.cloudflare_stream import input_state
from collectors.audience_apis.ivs import STREAM_HEALTH
from collectors.hls.counting import stale_playlist_detail
from core.settings import AgoraRecordingSession
from simulator.hls_log import (
    HLS_SHARE,
    MAX_CHANNELS,
    MISSING_SHARE,
    PLAYLIST_BYTES,
    SEGMENT_BYTES,
    SIZE_SPREAD_BYTES,
)
from simulator.hybrid import IVS_ARN, RECORDING, HybridModel, Seller, _hex, _input_status
from simulator.incidents import BURST_5XX_SHARE, BURST_S, DAY_S, STALL_S, burst_start_on, stall_start_on, unit
from store.audience import AudienceSample, RelaySample

# One poll every 2 minutes: the longest gap the ledger still integrates a concurrency-only
# sample over (store.queries.audience.AUDIENCE_STALE_S), and half the rows of one a minute.
STEP_S = 120
SAMPLE_S = 60  # the model's room samples the HLS rows are built from (the backfill's minute history)
AUDIENCE_COLUMNS = [name for name in AudienceSample.__dataclass_fields__]
RELAY_COLUMNS = [name for name in RelaySample.__dataclass_fields__]


@dataclass(frozen=True)
class AudienceRows:
    """Rows for ``audience_samples`` and ``relay_samples`` by delivery path (hls, agora,
    cloudflare_stream, ivs): the source each path's rows belong to is the backfill's business."""

    audience: dict[str, pd.DataFrame]
    relays: dict[str, pd.DataFrame]


def _row(sample: AudienceSample | RelaySample) -> dict[str, Any]:
    """A sample as a row (its fields are plain values: no deep copy needed, unlike asdict)."""
    return dict(sample.__dict__)


def _whole(values: np.ndarray, ts: np.ndarray, names: np.ndarray, kind: str) -> np.ndarray:
    """Expected counts as whole numbers: floor(value + u), u in [0, 1) drawn from (kind, channel,
    ts), so a row is the same whichever backfill writes it and sums keep their expectation."""
    salts = {name: int(unit(kind, name) * 2**32) for name in set(names)}
    salt = np.array([salts[name] for name in names], dtype=np.uint64)
    mixed = (ts.astype(np.uint64) * np.uint64(2654435761) + salt) % np.uint64(2**32)
    return np.floor(values + mixed.astype(np.float64) / 2**32).astype(np.int64)


def hls_rows(
    room_samples: pd.DataFrame,
    room_channels: Mapping[str, str],
    *,
    seed: int,
    egress_only: bool,
    segment_s: float,
    step_s: int = STEP_S,
    sample_s: int = SAMPLE_S,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(audience rows, relay rows) of the demo's HLS origin, one per poll every ``step_s``, from
    the model's room samples a minute apart (ts, room_sid, listeners, egress_participants) and
    each room's channel: a poll's row sums the minutes since the previous poll."""
    samples = room_samples
    if egress_only:
        samples = samples[samples["egress_participants"] > 0]
    if samples.empty:
        return pd.DataFrame(columns=AUDIENCE_COLUMNS), pd.DataFrame(columns=RELAY_COLUMNS)
    channel = samples["room_sid"].astype(str).map(room_channels)
    frame = (
        pd.DataFrame(
            {
                "ts": samples["ts"].to_numpy(np.int64),
                "channel": channel.to_numpy(object),
                "listeners": samples["listeners"].to_numpy(np.int64),
            }
        )
        .dropna(subset=["channel"])
        .groupby(["ts", "channel"], as_index=False, sort=True)["listeners"]
        .sum()
    )
    # The writer's channels: the first MAX_CHANNELS by name among those live at the time.
    frame = frame[frame.groupby("ts").cumcount() < MAX_CHANNELS]
    viewers = np.round(frame["listeners"].to_numpy(np.float64) * HLS_SHARE).astype(np.int64)
    frame = frame.assign(viewers=viewers)[viewers > 0].reset_index(drop=True)
    if frame.empty:
        return pd.DataFrame(columns=AUDIENCE_COLUMNS), pd.DataFrame(columns=RELAY_COLUMNS)
    minute_ts = frame["ts"].to_numpy(np.int64)
    minute_names = frame["channel"].astype(str).to_numpy(object)
    minute_stalled = ~np.isnan(_windows(minute_names, minute_ts, seed, stall_start_on, STALL_S))
    minute_burst = ~np.isnan(_windows(minute_names, minute_ts, seed, burst_start_on, BURST_S))
    n = frame["viewers"].to_numpy(np.float64)
    fetched = n * sample_s / segment_s  # playlist reloads in the minute, one segment each when fresh
    fresh = np.where(minute_stalled, 0.0, fetched)
    # Each poll's bucket: the step ending at or after the minute.
    per_poll = (
        pd.DataFrame(
            {
                "ts": -(-minute_ts // step_s) * step_s,
                "channel": minute_names,
                "fetches": fetched,
                "segments": fresh,
                "burst_segments": np.where(minute_burst, fresh, 0.0),
                "viewer_s": np.where(minute_stalled, 0.0, n * sample_s),
                "viewers": np.where(minute_stalled, 0, frame["viewers"].to_numpy(np.int64)),
                "minute_ts": minute_ts,
            }
        )
        .sort_values(["channel", "minute_ts"])
        .groupby(["ts", "channel"], as_index=False, sort=True)
        .agg(
            fetches=("fetches", "sum"),
            segments=("segments", "sum"),
            burst_segments=("burst_segments", "sum"),
            viewer_s=("viewer_s", "sum"),
            viewers=("viewers", "last"),
        )
    )
    ts = per_poll["ts"].to_numpy(np.int64)
    names = per_poll["channel"].to_numpy(object)
    stall_start = _windows(names, ts, seed, stall_start_on, STALL_S)
    stalled = ~np.isnan(stall_start)
    fetches = per_poll["fetches"].to_numpy(np.float64)
    segments = per_poll["segments"].to_numpy(np.float64)
    errors_5xx = _whole(per_poll["burst_segments"].to_numpy(np.float64) * BURST_5XX_SHARE, ts, names, "5xx")
    errors_4xx = _whole((segments - errors_5xx) * MISSING_SHARE, ts, names, "404")
    served = segments - errors_5xx - errors_4xx
    segment_bytes = SEGMENT_BYTES + SIZE_SPREAD_BYTES / 2
    audience = pd.DataFrame(
        {
            "channel": names,
            "path": "hls",
            "ts": ts,
            "viewers": np.where(stalled, 0, per_poll["viewers"].to_numpy(np.int64)),
            "hosts": None,
            "viewer_s": per_poll["viewer_s"].to_numpy(np.float64),
            "bytes_delivered": np.round(fetches * PLAYLIST_BYTES + served * segment_bytes).astype(np.int64),
            "requests": np.round(fetches + segments).astype(np.int64),
            "errors_4xx": errors_4xx,
            "errors_5xx": errors_5xx,
        }
    )
    stale_age = ts - np.nan_to_num(stall_start)
    relays = pd.DataFrame(
        {
            "relay_id": [f"/{name}/live.m3u8" for name in names],
            "ts": ts,
            "channel": names,
            "kind": "hls_playlist",
            "health": np.where(stalled, "down", "ok"),
            "status": np.where(stalled, "stale", "fresh"),
            "sink": "hls_viewers",
            # The newest segment: fetched in the last segment duration, or when the stall began.
            "last_activity_ts": np.where(stalled, np.nan_to_num(stall_start), ts - 1).astype(np.int64),
            "detail": [
                stale_playlist_detail(float(age), segment_s) if stale else None
                for age, stale in zip(stale_age, stalled, strict=True)
            ],
            "segment_s": float(segment_s),
        }
    )
    return audience, relays


def _windows(names: np.ndarray, ts: np.ndarray, seed: int, start_on: Any, length_s: int) -> np.ndarray:
    """Per row, the start of the incident covering it (NaN where none): one draw per channel-day."""
    starts = np.array(
        [
            np.nan if (s := start_on(seed, str(name), int(at) // DAY_S)) is None else float(s)
            for name, at in zip(names, ts, strict=True)
        ],
        dtype=np.float64,
    )
    covered = (starts <= ts) & (ts < starts + length_s)
    return np.where(covered, starts, np.nan)


def provider_rows(model: HybridModel, start_ts: int, end_ts: int, step_s: int = STEP_S) -> AudienceRows:
    """What the Agora, Cloudflare Stream and IVS pollers would have written, polling every
    ``step_s`` in ``(start_ts, end_ts]`` (the fake providers' answers at each poll, through the
    pollers' own parsers)."""
    audience: dict[str, list[dict[str, Any]]] = {"agora": [], "cloudflare_stream": [], "ivs": []}
    relays: dict[str, list[dict[str, Any]]] = {"agora": [], "cloudflare_stream": [], "ivs": []}
    first = -(-(start_ts + 1) // step_s) * step_s
    session = AgoraRecordingSession(channel="shop-1", resource_id=RECORDING[0], sid=RECORDING[1])
    watching = _Watching(model)
    for ts in range(first, end_ts + 1, step_s):
        minute = ts // 60
        for seller in model.sellers:
            _seller_rows(model, watching, seller, minute, ts, step_s, session, audience, relays)
    return AudienceRows(
        {path: pd.DataFrame(rows, columns=AUDIENCE_COLUMNS) for path, rows in audience.items()},
        {path: pd.DataFrame(rows, columns=RELAY_COLUMNS) for path, rows in relays.items()},
    )


class _Watching:
    """HybridModel.hls_viewers, each (seller, minute) computed once per chunk (a poll reads the
    minute it lands on and those before it since the previous poll)."""

    def __init__(self, model: HybridModel) -> None:
        self.model = model
        self.known: dict[tuple[int, int], int] = {}

    def __call__(self, seller: Seller, minute: int) -> int:
        key = (seller.index, minute)
        found = self.known.get(key)
        if found is None:
            found = self.known[key] = self.model.hls_viewers(seller, minute)
        return found


@lru_cache(maxsize=64)
def _input_state(live: bool, converter_failed: bool, input_failed: bool) -> Any:
    """input_state of the status the fake serves (its statusEnteredAt set per poll by the caller)."""
    return input_state(_input_status(0 if live else None, converter_failed, input_failed, 0))


@lru_cache(maxsize=256)
def _converter(input_uid: str, channel: str, url: str, start: int, state: str) -> RelaySample | None:
    member = {
        "rtcChannel": channel,
        "converterName": f"{channel}-relay",
        "rtmpUrl": url,
        "converterId": _hex("converter", input_uid, start),
        "updateTs": str(start * 60),
        "state": state,
    }
    return converter_relay(member, 0)


def _seller_rows(
    model: HybridModel,
    watching: _Watching,
    seller: Seller,
    minute: int,
    ts: int,
    step_s: int,
    session: AgoraRecordingSession,
    audience: dict[str, list[dict[str, Any]]],
    relays: dict[str, list[dict[str, Any]]],
) -> None:
    """One poll's rows of one seller (mirrors HybridModel._state and the pollers' reading of it)."""
    start = model.show(seller, minute)
    live, broken = start is not None, model.broken(seller, minute)
    converter_failed = live and broken and seller.index % 2 == 1
    input_failed = live and broken and seller.index % 2 == 0
    viewers = watching(seller, minute)
    if start is not None:
        hosts = 2 if seller.index % 2 == 0 else 1
        audience["agora"].append(
            _row(
                AudienceSample(
                    seller.channel, "agora", ts, viewers=model.agora_audience(seller, minute), hosts=hosts
                )
            )
        )
        key = _hex("key", seller.input_uid, start)
        url = (
            f"rtmps://live.cloudflare.com:443/live/{key}"
            if seller.to_cloudflare
            else f"rtmps://{_hex('ingest', seller.index, length=12)}.global-contribute.live-video.net:443/app/{key}"
        )
        converter = _converter(
            seller.input_uid, seller.channel, url, start, "failed" if converter_failed else "running"
        )
        if converter is not None:
            relays["agora"].append({**converter.__dict__, "ts": ts})
    if seller.index == 1:
        if live:
            body = {"serverResponse": {"status": 5, "sliceStartTime": (ts - 600) * 1000}}
            relays["agora"].extend(_row(relay) for relay in recording_relays(body, session, ts))
        else:
            relays["agora"].append(
                _row(
                    RelaySample(
                        f"recording:{session.sid}",
                        ts,
                        session.channel,
                        "agora_cloud_recording",
                        "idle",
                        "not running",
                    )
                )
            )
    if seller.to_cloudflare:
        state = _input_state(live, converter_failed, input_failed)
        relays["cloudflare_stream"].append(
            _row(
                RelaySample(
                    f"input:{seller.input_uid}",
                    ts,
                    seller.channel,
                    "cloudflare_live_input",
                    state.health,
                    state.state[:60],
                    sink=f"cloudflare_stream:{seller.input_uid}",
                    last_activity_ts=None if state.since_ts is None else ts - ts % 60,
                    detail="; ".join(state.errors) or None,
                )
            )
        )
        if state.health in ("ok", "degraded") and live and not broken:
            # Minutes viewed grew by the minutes watched since the previous poll.
            watched = sum(watching(seller, m) for m in range(minute - step_s // 60, minute))
            audience["cloudflare_stream"].append(
                _row(
                    AudienceSample(
                        seller.channel, "cloudflare_stream", ts, viewers=viewers, viewer_s=watched * 60.0
                    )
                )
            )
        return
    arn = seller.input_uid
    assert arn.startswith(IVS_ARN)
    if not (live and not converter_failed):
        relays["ivs"].append(
            _row(
                RelaySample(
                    f"ivs:{arn}", ts, seller.channel, "ivs_stream", "idle", "OFFLINE", sink=f"ivs:{arn}"
                )
            )
        )
        return
    health = "STARVING" if input_failed else "HEALTHY"
    concurrent = float(watching(seller, minute - 1))
    relays["ivs"].append(
        _row(
            RelaySample(
                f"ivs:{arn}",
                ts,
                seller.channel,
                "ivs_stream",
                STREAM_HEALTH[health],
                f"LIVE {health}",
                sink=f"ivs:{arn}",
                last_activity_ts=(start or 0) * 60,
                detail=f"CloudWatch ConcurrentViews (max, newest minute): {concurrent:g}",
            )
        )
    )
    audience["ivs"].append(_row(AudienceSample(seller.channel, "ivs", ts, viewers=viewers)))


@dataclass(frozen=True)
class AudienceTargets:
    """Where the backfill writes the audience history: the source id of each delivery path's
    poller (None: that poller does not run in this demo, nothing is written for it), and the HLS
    origin's segment duration (its ``[[hls_logs]]`` source's ``segment_s``)."""

    hls: int | None = None
    agora: int | None = None
    cloudflare_stream: int | None = None
    ivs: int | None = None
    segment_s: float = 4.0

    def source_of(self, path: str) -> int | None:
        found: int | None = getattr(self, path)
        return found


def audience_history(
    model: Any,
    targets: AudienceTargets,
    room_samples: pd.DataFrame,
    room_sessions: pd.DataFrame,
    start_ts: int,
    end_ts: int,
) -> AudienceRows:
    """Every path's rows for ``(start_ts, end_ts]`` of ``model`` (a simulator.model.FleetModel):
    HLS from its minute room samples, the providers from simulator/hybrid.py's model when the
    targets name their sources."""
    audience: dict[str, pd.DataFrame] = {}
    relays: dict[str, pd.DataFrame] = {}
    if targets.hls is not None:
        channels = dict(
            zip(room_sessions["room_sid"].astype(str), room_sessions["channel"].astype(str), strict=True)
        )
        inside = room_samples[(room_samples["ts"] > start_ts) & (room_samples["ts"] <= end_ts)]
        audience["hls"], relays["hls"] = hls_rows(
            inside,
            channels,
            seed=model.seed,
            egress_only=model.spec.egress_output == "segments",
            segment_s=targets.segment_s,
        )
    if any(targets.source_of(path) is not None for path in ("agora", "cloudflare_stream", "ivs")):
        providers = provider_rows(HybridModel(model.seed), start_ts, end_ts)
        audience.update(providers.audience)
        relays.update(providers.relays)
    return AudienceRows(audience, relays)
