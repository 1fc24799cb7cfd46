"""The demo's HLS origin: nginx ``combined`` access-log lines for the HLS listeners of the
simulated fleet (issue 17), read back by an ``[[hls_logs]]`` source like a real origin's log.

Which rooms: those with HLS egress (scenarios whose ``egress_output`` is ``segments``: seed
000's radio), or, in a scenario without it, every live room (the hybrid of seeds 000/003: a
share of each room's audience moved to HLS). At most ``max_channels`` channels (by name), so the
demo's log stays small. Per channel, ``round(listeners x hls_share)`` HLS listeners; each fetches
the playlist and one new segment every ``segment_s`` (one 206 per request, as ffmpeg's and most
players' ``Range`` requests get), at a fixed offset of its own within the segment; about 1 in
200 segment requests gets a 404 (a player asking for a segment the origin already deleted).
Incidents (simulator/incidents.py, from the fleet's seed): while a channel's encoder stalls,
players only reload the playlist (no new segment to fetch); during an origin 5xx burst a share of
segment requests get a 503.
Listener ``i`` of a channel is the same client (IP + User-Agent) for as long as the channel keeps
at least ``i + 1`` HLS listeners. The log rotates by rename (``access.log`` -> ``access.log.1``)
past ``rotate_bytes``, as logrotate does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from core.settings import HlsLogSource
from simulator.incidents import BURST_5XX_SHARE, origin_5xx_burst, playlist_stall_start
from simulator.incidents import unit as _unit
from simulator.model import FleetModel

DEMO_HLS = "demo-hls"
# LiveKit egress's segment length when a request leaves segment_duration at 0: the keyframe
# interval if set, else 4 s (livekit/egress, the segmented-output config).
SEGMENT_S = 4
SEGMENT_BYTES = 32_000  # 64 kbit/s x 4 s
PLAYLIST_BYTES = 412
SIZE_SPREAD_BYTES = 400  # a segment is SEGMENT_BYTES plus up to this much
MISSING_SHARE = 0.005  # segment requests answered 404
HLS_SHARE = 0.4  # of a room's listeners who listen over HLS
MAX_CHANNELS = 8
USER_AGENTS = (
    "AppleCoreMedia/1.0.0.21E230",
    "Mozilla/5.0 (Android 14) ExoPlayer/2.19.1",
    "VLC/3.0.20 LibVLC/3.0.20",
)


def _client(channel: str, index: int) -> tuple[str, str]:
    value = int(_unit("ip", channel, index) * 2**24)
    ip = f"10.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255 or 1}"
    return ip, USER_AGENTS[int(_unit("ua", channel, index) * len(USER_AGENTS))]


def _line(ts: float, ip: str, agent: str, path: str, status: int, size: int) -> tuple[float, str]:
    stamp = datetime.fromtimestamp(int(ts), UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return ts, f'{ip} - - [{stamp}] "GET {path} HTTP/1.1" {status} {size} "-" "{agent}"\n'


def segment_answer(channel: str, index: int, sequence: int, burst: bool) -> tuple[int, int]:
    """(status, body bytes) of listener ``index``'s request for segment ``sequence``."""
    if burst and _unit("5xx", channel, index, sequence) < BURST_5XX_SHARE:
        return 503, 197
    if _unit("404", channel, index, sequence) < MISSING_SHARE:
        return 404, 153
    return 206, SEGMENT_BYTES + int(_unit("size", sequence) * SIZE_SPREAD_BYTES)


class HlsLogWriter:
    """Appends the HLS requests of ``(last call, ts]`` to ``path`` on each :meth:`write_until`."""

    def __init__(
        self,
        model: FleetModel,
        path: Path,
        *,
        hls_share: float = HLS_SHARE,
        max_channels: int = MAX_CHANNELS,
        segment_s: int = SEGMENT_S,
        rotate_bytes: int = 64 * 1_048_576,
    ) -> None:
        self.model = model
        self.path = path
        self.hls_share = hls_share
        self.max_channels = max_channels
        self.segment_s = segment_s
        self.rotate_bytes = rotate_bytes
        self.last_ts: int | None = None
        self.hls_egress_only = model.spec.egress_output == "segments"

    def listeners(self, ts: float) -> dict[str, int]:
        """HLS listeners by channel at ``ts``."""
        rooms = self.model.snapshot(ts).rooms
        if self.hls_egress_only:
            rooms = rooms[rooms["egress_participants"] > 0]
        counts: dict[str, int] = {}
        for channel, listeners in zip(rooms["channel"], rooms["listeners"], strict=True):
            counts[str(channel)] = counts.get(str(channel), 0) + int(listeners)
        chosen = sorted(counts)[: self.max_channels]
        return {channel: round(counts[channel] * self.hls_share) for channel in chosen}

    def lines(self, start_ts: int, end_ts: int) -> list[str]:
        """The log lines of ``(start_ts, end_ts]``, in time order."""
        out: list[tuple[float, str]] = []
        # A request comes up to one segment after its boundary: start a segment early.
        first = start_ts // self.segment_s
        for sequence in range(first, end_ts // self.segment_s + 1):
            boundary = sequence * self.segment_s
            for channel, count in self.listeners(boundary).items():
                stalled = playlist_stall_start(self.model.seed, channel, boundary) is not None
                burst = origin_5xx_burst(self.model.seed, channel, boundary)
                for index in range(count):
                    ip, agent = _client(channel, index)
                    at = boundary + _unit("offset", channel, index) * (self.segment_s - 1)
                    if not start_ts < at <= end_ts:
                        continue
                    out.append(_line(at, ip, agent, f"/{channel}/live.m3u8", 200, PLAYLIST_BYTES))
                    if stalled:
                        continue
                    status, size = segment_answer(channel, index, sequence, burst)
                    out.append(_line(at + 0.05, ip, agent, f"/{channel}/live{sequence}.ts", status, size))
        out.sort(key=lambda item: item[0])
        return [text for _, text in out]

    def write_until(self, ts: int) -> int:
        """Append the lines up to ``ts`` (the first call starts at ``ts``); lines written."""
        if self.last_ts is None or ts <= self.last_ts:
            self.last_ts = ts if self.last_ts is None else self.last_ts
            return 0
        text = self.lines(self.last_ts, ts)
        self.last_ts = ts
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() and self.path.stat().st_size > self.rotate_bytes:
            self.path.replace(self.path.with_name(self.path.name + ".1"))
        with self.path.open("a", encoding="ascii") as handle:
            handle.writelines(text)
        return len(text)

    def hook(self) -> Callable[[Engine, int], None]:
        """A collector tick hook writing the log up to the tick (the log exists from now on)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()

        def write(_engine: Engine, ts: int) -> None:
            self.write_until(ts)

        return write


def demo_data_dir(database_url: str) -> Path:
    """Where the demo keeps its files: beside its SQLite store, else ``data/``."""
    return Path(database_url.split("///")[-1]).parent if database_url.startswith("sqlite") else Path("data")


def demo_hls_source(data_dir: Path) -> HlsLogSource:
    """The ``[[hls_logs]]`` source of the demo: its origin's log under the demo's data directory."""
    return HlsLogSource(name=DEMO_HLS, path=str(data_dir / "hls" / "access.log"), segment_s=SEGMENT_S)
