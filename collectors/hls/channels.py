"""Which stream a request belongs to: a playlist pattern and a segment pattern over the path.

``{channel}`` matches one path segment; the pattern matches the end of the path (so
``{channel}/live.m3u8`` matches ``/ch1/live.m3u8`` and ``/hls/ch1/live.m3u8``). A segment is a
path matching the segment pattern (``{channel}/{segment}``) whose name ends with one of the
segment extensions (seed 000: ``.ts``; fMP4 ``.m4s``; packed audio ``.aac``)."""

from __future__ import annotations

import re
from typing import Literal

DEFAULT_PLAYLIST_PATTERN = "{channel}/live.m3u8"
DEFAULT_SEGMENT_PATTERN = "{channel}/{segment}"
DEFAULT_SEGMENT_EXTENSIONS = (".ts", ".m4s", ".aac", ".mp4")

Kind = Literal["playlist", "segment"]


def compile_pattern(pattern: str, *, segment: bool) -> re.Pattern[str]:
    """A path pattern as an anchored regex; ValueError when it lacks ``{channel}`` (or, for a
    segment pattern, ``{segment}``)."""
    if pattern.count("{channel}") != 1:
        raise ValueError("must contain {channel} exactly once")
    if segment and pattern.count("{segment}") != 1:
        raise ValueError("must contain {segment} exactly once")
    if not segment and "{segment}" in pattern:
        raise ValueError("a playlist pattern has no {segment}")
    regex = re.escape(pattern.strip("/"))
    regex = regex.replace(re.escape("{channel}"), r"(?P<channel>[^/]+)")
    regex = regex.replace(re.escape("{segment}"), r"(?P<segment>[^/]+)")
    if "\\{" in regex:
        raise ValueError("only {channel} and {segment} are placeholders")
    return re.compile(r"(?:^|/)" + regex + "$")


class ChannelMatcher:
    """Path -> (channel, playlist|segment), or None for a path of no stream."""

    def __init__(
        self,
        playlist_pattern: str = DEFAULT_PLAYLIST_PATTERN,
        segment_pattern: str = DEFAULT_SEGMENT_PATTERN,
        segment_extensions: tuple[str, ...] = DEFAULT_SEGMENT_EXTENSIONS,
    ) -> None:
        self.playlist = compile_pattern(playlist_pattern, segment=False)
        self.segment = compile_pattern(segment_pattern, segment=True)
        self.extensions = tuple(ext.lower() for ext in segment_extensions)

    def match(self, path: str) -> tuple[str, Kind] | None:
        found = self.playlist.search(path)
        if found is not None:
            return found["channel"], "playlist"
        if path.lower().endswith(self.extensions):
            found = self.segment.search(path)
            if found is not None:
                return found["channel"], "segment"
        return None
