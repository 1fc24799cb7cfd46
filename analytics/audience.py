"""One model of a stream's audience and its relays (issue 17).

A stream (a channel: the same key as LiveKit's ``room_sessions.channel``) has an audience by
delivery path — WebRTC listeners in LiveKit rooms, HLS viewers, the Agora audience, Cloudflare
Stream and IVS viewers — and a relay chain from its source to its viewers, each hop with a
health state:

    LiveKit room → livekit_egress → hls_playlist → HLS viewers
    Agora channel → agora_media_push / agora_cloud_recording → cloudflare_live_input / ivs_stream → viewers

Rules that flag a broken hop (:func:`relay_chain`):
- the LiveKit egress is active but the HLS playlist had not changed for ``STALE_SEGMENTS``
  segment durations (the stream's own, as its poller recorded it with the sample) when its
  poller last read it;
- Agora hosts are live but the Cloudflare live input (or the IVS stream) is not connected;
- any relay reported down while the hop upstream of it is live.

Pure: frames in (store.queries.audience and store.queries.fleet), dataclasses and frames out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

# Delivery paths in the order every page shows them.
PATHS: tuple[str, ...] = ("webrtc", "hls", "agora", "cloudflare_stream", "ivs")
PATH_LABELS: dict[str, str] = {
    "webrtc": "WebRTC (LiveKit)",
    "hls": "HLS",
    "agora": "Agora",
    "cloudflare_stream": "Cloudflare Stream",
    "ivs": "Amazon IVS",
}
# The playlist of a live egress must gain a segment at least this many segment durations apart.
STALE_SEGMENTS = 3
# A relay whose newest report is older than this is shown without a state ("no report").
RELAY_STALE_S = 300
NO_DATA = "no data"

# Hop kinds: the relay kinds of store.audience.RELAY_KINDS plus the two ends of a chain.
HOP_LABELS: dict[str, str] = {
    "livekit_room": "LiveKit room",
    "livekit_egress": "LiveKit egress",
    "hls_playlist": "HLS playlist",
    "agora_channel": "Agora channel",
    "agora_media_push": "Agora Media Push",
    "agora_cloud_recording": "Agora Cloud Recording",
    "cloudflare_live_input": "Cloudflare Stream live input",
    "ivs_stream": "Amazon IVS stream",
    "viewers_hls": "HLS viewers",
    "viewers_cloudflare_stream": "Cloudflare Stream viewers",
    "viewers_ivs": "Amazon IVS viewers",
}
# (branch, position) of each hop kind: LiveKit's chain first, then Agora's.
_ORDER: dict[str, tuple[int, int]] = {
    "livekit_room": (0, 0),
    "livekit_egress": (0, 1),
    "hls_playlist": (0, 2),
    "viewers_hls": (0, 3),
    "agora_channel": (1, 0),
    "agora_media_push": (1, 1),
    "agora_cloud_recording": (1, 1),
    "cloudflare_live_input": (1, 2),
    "ivs_stream": (1, 2),
    "viewers_cloudflare_stream": (1, 3),
    "viewers_ivs": (1, 3),
}
# LiveKit's EgressStatus names → the relay health words of store.audience.RELAY_HEALTH.
EGRESS_HEALTH: dict[str, str] = {
    "EGRESS_STARTING": "degraded",
    "EGRESS_ACTIVE": "ok",
    "EGRESS_ENDING": "idle",
    "EGRESS_COMPLETE": "idle",
    "EGRESS_FAILED": "down",
    "EGRESS_ABORTED": "down",
    "EGRESS_LIMIT_REACHED": "down",
}
LIVE_HEALTH: tuple[str, ...] = ("ok", "degraded")


# ---------------------------------------------------------------------------------------------
# The audience by path
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathAudience:
    """One delivery path's audience now: ``viewers`` None when no source reports the path."""

    path: str
    viewers: int | None
    channels: int
    hosts: int | None = None

    @property
    def label(self) -> str:
        return PATH_LABELS[self.path]


def _missing(value: object) -> bool:
    """None or a NaN/NaT/NA cell."""
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))  # type: ignore[call-overload]


def _int_or_none(value: object) -> int | None:
    return None if _missing(value) else int(float(str(value)))


def live_by_path(webrtc: pd.DataFrame, others: pd.DataFrame) -> list[PathAudience]:
    """Every path of :data:`PATHS` now. ``webrtc``: LiveKit's live rooms by channel
    (channel, listeners, publishers; store.queries.audience.live_webrtc_by_channel);
    ``others``: the other paths' newest samples (channel, path, viewers, hosts;
    store.queries.audience.live_audience). A path nobody reports has ``viewers`` None."""
    result = [
        PathAudience(
            "webrtc",
            None if webrtc.empty else int(webrtc["listeners"].astype(float).sum()),
            0 if webrtc.empty else int(webrtc["channel"].nunique()),
            None if webrtc.empty else int(webrtc["publishers"].astype(float).sum()),
        )
    ]
    for path in PATHS[1:]:
        rows = others[others["path"] == path] if not others.empty else others
        if rows.empty:
            result.append(PathAudience(path, None, 0))
            continue
        hosts = pd.to_numeric(rows["hosts"], errors="coerce")
        result.append(
            PathAudience(
                path,
                int(rows["viewers"].astype(float).sum()),
                int(rows["channel"].nunique()),
                None if hosts.isna().all() else int(hosts.sum()),
            )
        )
    return result


def live_by_channel(webrtc: pd.DataFrame, others: pd.DataFrame) -> pd.DataFrame:
    """Viewers now per channel and path: ``channel`` then one column per path of :data:`PATHS`
    that has data (NaN where a channel has none on that path) and ``total``."""
    parts = []
    if not webrtc.empty:
        parts.append(
            webrtc.assign(path="webrtc", viewers=webrtc["listeners"])[["channel", "path", "viewers"]]
        )
    if not others.empty:
        parts.append(others[["channel", "path", "viewers"]])
    if not parts:
        return pd.DataFrame(columns=["channel", "total"])
    long = pd.concat(parts, ignore_index=True).assign(viewers=lambda f: f["viewers"].astype(float))
    wide = long.pivot_table(index="channel", columns="path", values="viewers", aggfunc="sum")
    wide = wide[[path for path in PATHS if path in wide.columns]]
    wide["total"] = wide.sum(axis=1)
    return wide.reset_index().sort_values(["total", "channel"], ascending=[False, True], ignore_index=True)


def history_by_path(
    webrtc_series: pd.DataFrame, others: pd.DataFrame, step_s: int, hold_s: int
) -> pd.DataFrame:
    """Viewers per bucket and path (bucket_ts, path, viewers), one series per path that has
    data: ``webrtc_series`` is the fleet's series (bucket_ts, listeners;
    store.queries.fleet.fleet_series), ``others`` each stream's average per bucket
    (store.queries.audience.audience_history) on the same window, so the same ``step_s``.

    A poller's sample stands until its next one, ``hold_s`` at most: a stream polled every
    2 minutes on a 1-minute step fills the bucket between its samples with the last value
    rather than leaving it out (a stacked chart would draw the missing bucket as 0: a saw)."""
    parts = []
    if not webrtc_series.empty:
        parts.append(
            pd.DataFrame(
                {
                    "bucket_ts": webrtc_series["bucket_ts"].astype("int64"),
                    "path": "webrtc",
                    "viewers": webrtc_series["listeners"].astype(float),
                }
            )
        )
    if not others.empty:
        parts.append(_held_paths(others, step_s, hold_s))
    if not parts:
        return pd.DataFrame({"bucket_ts": pd.Series(dtype="int64"), "path": pd.Series(dtype=object),
                             "viewers": pd.Series(dtype=float)})  # fmt: skip
    frame = pd.concat(parts, ignore_index=True)
    rank = frame["path"].map({path: index for index, path in enumerate(PATHS)})
    return (
        frame.assign(rank=rank).sort_values(["rank", "bucket_ts"]).drop(columns="rank").reset_index(drop=True)
    )


def _held_paths(streams: pd.DataFrame, step_s: int, hold_s: int) -> pd.DataFrame:
    """Per path, the streams' viewers summed per bucket, each stream's empty buckets filled
    with its previous bucket's value while that is less than ``hold_s`` old."""
    frame = streams.assign(
        bucket_ts=streams["bucket_ts"].astype("int64"), viewers=streams["viewers"].astype(float)
    )
    wide = frame.pivot_table(
        index="bucket_ts", columns=["source_id", "channel", "path"], values="viewers", aggfunc="sum"
    )
    grid = range(int(wide.index.min()), int(wide.index.max()) + step_s, step_s)
    # A bucket b is filled from bucket b - k·step when k·step < hold_s.
    limit = -(-hold_s // step_s) - 1
    held = wide.reindex(grid)
    if limit > 0:
        held = held.ffill(limit=limit)
    per_path = held.T.groupby(level="path").sum(min_count=1).T
    per_path.index.name = "bucket_ts"
    long = per_path.reset_index().melt(id_vars="bucket_ts", var_name="path", value_name="viewers")
    long = long[long["viewers"].notna()]
    return long.astype({"bucket_ts": "int64", "viewers": float}).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# The relay chain
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hop:
    """One hop of a chain: its kind (:data:`HOP_LABELS`), id, health (ok | degraded | down |
    idle, or ``no data``), the provider's word for it, and why it is flagged broken ("" when
    it is not)."""

    kind: str
    hop_id: str
    health: str
    status: str
    sink: str = ""
    reported_ts: int | None = None
    last_activity_ts: int | None = None
    detail: str = ""
    viewers: int | None = None
    problem: str = ""
    segment_s: float | None = None  # an HLS playlist's segment duration, as its poller knows it

    @property
    def label(self) -> str:
        return HOP_LABELS[self.kind]

    @property
    def broken(self) -> bool:
        return bool(self.problem)

    @property
    def live(self) -> bool:
        return self.health in LIVE_HEALTH


@dataclass(frozen=True)
class RelayChain:
    """A channel's hops, ordered source → sink (LiveKit's branch first, then Agora's)."""

    channel: str
    hops: tuple[Hop, ...] = field(default_factory=tuple)

    @property
    def broken(self) -> tuple[Hop, ...]:
        return tuple(hop for hop in self.hops if hop.broken)

    @property
    def has_relays(self) -> bool:
        return any(hop.kind in _RELAY_KINDS for hop in self.hops)

    @property
    def summary(self) -> str:
        """The chain on one line, source → sink: ``LiveKit room (ok) → HLS playlist (down)``."""
        return " → ".join(f"{hop.label} ({hop.health})" for hop in self.hops)

    def frame(self) -> pd.DataFrame:
        """The chain as rows (for a table): hop, id, health, status, viewers, last activity,
        problem."""
        return pd.DataFrame(
            {
                "hop": [hop.label for hop in self.hops],
                "hop_id": [hop.hop_id for hop in self.hops],
                "health": [hop.health for hop in self.hops],
                "status": [hop.status for hop in self.hops],
                "viewers": [hop.viewers for hop in self.hops],
                "last_activity_ts": [hop.last_activity_ts for hop in self.hops],
                "problem": [hop.problem for hop in self.hops],
            }
        )


_RELAY_KINDS = frozenset(
    {"livekit_egress", "hls_playlist", "agora_media_push", "agora_cloud_recording", "cloudflare_live_input",
     "ivs_stream"}
)  # fmt: skip


def _text(value: object) -> str:
    return "" if _missing(value) else str(value)


def _relay_hops(relays: Iterable[Any], now_ts: int, stale_after_s: int) -> list[Hop]:
    """``relays``: rows (named tuples) of store.queries.audience.relay_states."""
    hops = []
    for row in relays:
        reported_ts = int(float(str(row.ts)))
        stale = now_ts - reported_ts > stale_after_s
        hops.append(
            Hop(
                kind=str(row.kind),
                hop_id=str(row.relay_id),
                health=NO_DATA if stale else str(row.health),
                status=f"no report for {now_ts - reported_ts:,} s (was {row.status})"
                if stale
                else str(row.status),
                sink=_text(row.sink),
                reported_ts=reported_ts,
                last_activity_ts=_int_or_none(row.last_activity_ts),
                detail=_text(row.detail),
                segment_s=None
                if _missing(segment_s := getattr(row, "segment_s", None))
                else float(str(segment_s)),
            )
        )
    return hops


def _egress_hops(egress: Iterable[Any]) -> list[Hop]:
    """``egress``: rows (named tuples) of store.queries.audience.egress_states."""
    return [
        Hop(
            kind="livekit_egress",
            hop_id=str(row.egress_id),
            health=EGRESS_HEALTH.get(str(row.status), "degraded"),
            status=str(row.status),
            reported_ts=_int_or_none(row.last_seen_ts),
            last_activity_ts=_int_or_none(row.updated_ts),
            detail=_text(row.error),
        )
        for row in egress
    ]


def _ends(channel: str, webrtc: pd.DataFrame, others: pd.DataFrame, branches: set[int]) -> list[Hop]:
    """The chain's sources (LiveKit room, Agora channel) and its audiences (HLS, Cloudflare,
    IVS viewers), for the branches that have relays."""
    hops = []
    if 0 in branches:
        rows = webrtc[webrtc["channel"] == channel] if not webrtc.empty else webrtc
        publishers = 0 if rows.empty else int(rows["publishers"].astype(float).sum())
        health = "ok" if publishers > 0 else "idle"
        status = f"{publishers} publishing" if not rows.empty else "not live"
        hops.append(Hop("livekit_room", channel, health, status,
                        viewers=None if rows.empty else int(rows["listeners"].astype(float).sum())))  # fmt: skip
    mine = others[others["channel"] == channel] if not others.empty else others
    for path, kind, branch in (("hls", "viewers_hls", 0), ("agora", "agora_channel", 1),
                               ("cloudflare_stream", "viewers_cloudflare_stream", 1), ("ivs", "viewers_ivs", 1)):  # fmt: skip
        if branch not in branches:
            continue
        rows = mine[mine["path"] == path] if not mine.empty else mine
        if kind == "agora_channel":
            hosts = None if rows.empty else _int_or_none(pd.to_numeric(rows["hosts"], errors="coerce").sum())
            if rows.empty or hosts is None:
                hops.append(Hop(kind, channel, NO_DATA, "no Agora report"))
            else:
                hops.append(Hop(kind, channel, "ok" if hosts > 0 else "idle", f"{hosts} hosts live",
                                viewers=int(rows["viewers"].astype(float).sum())))  # fmt: skip
            continue
        if rows.empty:
            continue  # an audience end shows only where a source reports it
        viewers = int(rows["viewers"].astype(float).sum())
        status = f"{viewers} watching{_error_share(rows)}"
        hops.append(Hop(kind, channel, "ok" if viewers > 0 else "idle", status, viewers=viewers))
    return hops


def _error_share(rows: pd.DataFrame) -> str:
    """`` · 5xx 2.0 % of 100 requests`` from the newest samples' counts ("" when none counted)."""
    if "requests" not in rows or "errors_5xx" not in rows:
        return ""
    requests = pd.to_numeric(rows["requests"], errors="coerce")
    if requests.isna().all() or float(requests.sum()) <= 0:
        return ""
    errors = float(pd.to_numeric(rows["errors_5xx"], errors="coerce").fillna(0.0).sum())
    return f" · 5xx {100.0 * errors / float(requests.sum()):.1f} % of {int(requests.sum()):,} requests"


def _stale_playlist(hop: Hop, now_ts: int) -> str:
    """Why a live egress's playlist is stale, counted in the stream's own segment duration (the
    one its poller recorded with the sample); "" when it is fresh. Without a recorded duration
    the poller's own verdict (``down``: it counted the segments) is all there is to go by."""
    if hop.last_activity_ts is None:
        return "egress active but the playlist has no segment yet"
    if hop.segment_s is None:
        return (
            f"egress active but the playlist is {hop.status} (its poller's verdict)"
            if hop.health == "down"
            else ""
        )
    limit_s = STALE_SEGMENTS * hop.segment_s
    # The age when its poller last read the log: between reads nothing says whether a segment
    # came. Counted from now, every live playlist read more than 3 segments ago (4 s segments,
    # a 15 s poll) was flagged between two reads.
    read_ts = now_ts if hop.reported_ts is None else min(hop.reported_ts, now_ts)
    age_s = read_ts - hop.last_activity_ts
    if age_s <= limit_s:
        return ""
    read = f" when its poller last read it, {now_ts - read_ts:,} s ago" if read_ts < now_ts else ""
    return (
        f"egress active but the playlist not updated for {age_s:,} s "
        f"(over {STALE_SEGMENTS} segments of {hop.segment_s:g} s){read}"
    )


def _flag(hops: list[Hop], now_ts: int) -> list[Hop]:
    """The rules: each hop gets the first problem that applies to it."""
    live_upstream: dict[int, list[Hop]] = {}
    flagged = []
    egress_live = any(hop.kind == "livekit_egress" and hop.live for hop in hops)
    agora_hosts = next((hop for hop in hops if hop.kind == "agora_channel" and hop.live), None)
    for hop in hops:
        branch, position = _ORDER[hop.kind]
        upstream = [other for other in live_upstream.get(branch, []) if _ORDER[other.kind][1] < position]
        problem = _stale_playlist(hop, now_ts) if hop.kind == "hls_playlist" and egress_live else ""
        if (
            not problem
            and hop.kind in ("cloudflare_live_input", "ivs_stream")
            and agora_hosts is not None
            and not hop.live
        ):
            problem = (
                f"Agora hosts live ({agora_hosts.status}) but the {hop.label} is {hop.status or hop.health}"
            )
        if not problem and hop.kind in _RELAY_KINDS and hop.health == "down" and upstream:
            problem = f"down while its upstream ({upstream[0].label}) is live"
        flagged.append(hop if not problem else _with_problem(hop, problem))
        if hop.live:
            live_upstream.setdefault(branch, []).append(hop)
    return flagged


def _with_problem(hop: Hop, problem: str) -> Hop:
    return replace(hop, problem=problem)


def relay_chain(
    channel: str,
    relays: pd.DataFrame,
    egress: pd.DataFrame,
    webrtc: pd.DataFrame,
    others: pd.DataFrame,
    now_ts: int,
    *,
    stale_after_s: int = RELAY_STALE_S,
) -> RelayChain:
    """``channel``'s chain at ``now_ts``, ordered source → sink, broken hops flagged.
    ``relays``: store.queries.audience.relay_states; ``egress``: .egress_states;
    ``webrtc``: .live_webrtc_by_channel; ``others``: .live_audience (any channels: this one is
    picked). The stale-playlist rule counts in each playlist's own segment duration (its sample's
    ``segment_s``)."""
    mine_relays = relays[relays["channel"] == channel] if not relays.empty else relays
    mine_egress = egress[egress["channel"] == channel] if not egress.empty else egress
    return _chain(
        channel,
        list(mine_relays.itertuples(index=False)),
        list(mine_egress.itertuples(index=False)),
        webrtc,
        others,
        now_ts,
        stale_after_s,
    )


def _chain(
    channel: str,
    relays: list[Any],
    egress: list[Any],
    webrtc: pd.DataFrame,
    others: pd.DataFrame,
    now_ts: int,
    stale_after_s: int,
) -> RelayChain:
    """relay_chain on this channel's relay and egress rows (named tuples)."""
    hops = _relay_hops(relays, now_ts, stale_after_s) + _egress_hops(egress)
    if not hops:
        return RelayChain(channel)
    branches = {_ORDER[hop.kind][0] for hop in hops}
    hops += _ends(channel, webrtc, others, branches)
    hops.sort(key=lambda hop: (*_ORDER[hop.kind], hop.hop_id))
    return RelayChain(channel, tuple(_flag(hops, now_ts)))


def relay_chains(
    relays: pd.DataFrame,
    egress: pd.DataFrame,
    webrtc: pd.DataFrame,
    others: pd.DataFrame,
    now_ts: int,
    *,
    stale_after_s: int = RELAY_STALE_S,
) -> list[RelayChain]:
    """Every channel with a relay or an egress job, broken chains first, then by channel."""
    channels: Sequence[str] = sorted(
        {str(name) for name in (*relays.get("channel", []), *egress.get("channel", []))}
    )
    # Each frame split by channel once: filtering every frame per channel is quadratic (on
    # platform-500's ~500 egress channels, 0.8 s of the Streams page).
    relay_rows, egress_rows = _rows_by_channel(relays), _rows_by_channel(egress)
    webrtc_of, others_of = _by_channel(webrtc), _by_channel(others)
    chains = [
        _chain(name, relay_rows.get(name, []), egress_rows.get(name, []), webrtc_of(name), others_of(name),
               now_ts, stale_after_s)
        for name in channels
    ]  # fmt: skip
    return sorted(chains, key=lambda chain: (not chain.broken, chain.channel))


def _rows_by_channel(frame: pd.DataFrame) -> dict[str, list[Any]]:
    """``frame``'s rows (named tuples) per channel, in one pass."""
    rows: dict[str, list[Any]] = {}
    if frame.empty:
        return rows
    for row in frame.itertuples(index=False):
        rows.setdefault(str(row.channel), []).append(row)
    return rows


def _by_channel(frame: pd.DataFrame) -> Callable[[str], pd.DataFrame]:
    """A lookup of ``frame``'s rows per channel (the empty frame for a channel it lacks)."""
    if frame.empty or "channel" not in frame:
        return lambda _name: frame
    groups = {str(name): rows for name, rows in frame.groupby(frame["channel"].astype(str), sort=False)}
    nothing = frame.iloc[0:0]
    return lambda name: groups.get(name, nothing)
