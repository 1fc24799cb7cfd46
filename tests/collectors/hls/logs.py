"""Hand-written access-log lines for the HLS tests."""

from __future__ import annotations

from datetime import UTC, datetime

# 2026-12-01T10:00:00Z: a multiple of every bucket size the tests use.
E = 1796119200


def combined(
    offset_s: int, path: str, status: int = 200, size: int = 1000, ip: str = "1.1.1.1", ua: str = "ua/1"
) -> str:
    """One nginx combined line ``offset_s`` seconds after :data:`E`."""
    stamp = datetime.fromtimestamp(E + offset_s, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'{ip} - - [{stamp}] "GET {path} HTTP/1.1" {status} {size} "-" "{ua}"\n'


# The hand-built log of the counting tests (segment 2 s, window 6 s, buckets of 10 s):
# A (1.1.1.1 ua/1) starts with a 3-segment burst at +1, then one segment every 2 s to +11, and
# keeps reloading the playlist to +18 after the encoder stopped (no new segment after +11).
# B (2.2.2.2 ua/2) listens at +4 and +6, comes back at +18 (a new session: gap 12 s > 6 s).
# C (1.1.1.1 ua/3, A's address) gets a 404 at +8, then a segment at +9.
SCENARIO = [
    combined(1, "/ch1/s1.ts"), combined(1, "/ch1/s2.ts"), combined(1, "/ch1/s3.ts"),
    combined(2, "/ch1/live.m3u8", size=300),
    combined(3, "/ch1/s4.ts"),
    combined(3, "/index.html", size=5000),  # no stream's path
    combined(4, "/ch1/s2.ts", ip="2.2.2.2", ua="ua/2"),
    combined(5, "/ch1/s5.ts"),
    '1.1.1.1 - - [01/Dec/2026:10:00:05 +0000] "garbage" 400 157 "-" "-"\n',
    combined(6, "/ch1/s3.ts", ip="2.2.2.2", ua="ua/2"),
    combined(7, "/ch1/s6.ts"),
    combined(8, "/ch1/s6.ts", status=404, size=150, ua="ua/3"),
    combined(9, "/ch1/s7.ts"),
    combined(9, "/ch1/s7.ts", ua="ua/3"),
    combined(10, "/ch1/live.m3u8", size=300),
    combined(11, "/ch1/s8.ts"),
    combined(12, "/ch1/live.m3u8", size=300),
    '9.9.9.9 - - [01/Dec/2026:10:00:12 +0000] "GET /ch1/x.ts HTTP/1.1" 404 150 "-" "evil\\x22agent\\x5C"\n',
    combined(14, "/ch1/live.m3u8", size=300),
    "truncated garbage without a closing\n",
    combined(16, "/ch1/live.m3u8", size=300),
    combined(18, "/ch1/s8.ts", ip="2.2.2.2", ua="ua/2"),
    combined(18, "/ch1/live.m3u8", size=300),
    combined(19, "/ch1/s9.ts", status=503, size=0, ip="2.2.2.2", ua="ua/2"),
]  # fmt: skip
# Where the scenario splits for the restart tests: after the line at +5.
SPLIT = 8
