"""nginx's ``combined`` format (also what Caddy writes with a combined-style format):

``$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"``

nginx escapes ``"``, ``\\`` and bytes outside 0x20-0x7E as ``\\xXX``; the quoted fields below
accept any escaped character. A malformed request line is still logged (status 400); it is not a
request of a stream and is counted as skipped. Regex checked on 220 real nginx 1.22 lines
(issue 17 research notes, 1.1).
"""

from __future__ import annotations

import re

from collectors.hls.records import BadLine, Request, parse_time_local

# A quoted field: runs of plain characters between escapes ("unrolled", much faster than an
# alternation per character).
_QUOTED = r'[^"\\]*(?:\\.[^"\\]*)*'
COMBINED = re.compile(
    r"^(?P<remote_addr>\S+) \S+ (?P<remote_user>\S+) \[(?P<time_local>[^\]]+)\] "
    rf'"(?P<request>{_QUOTED})" (?P<status>\d{{3}}) (?P<body_bytes_sent>\d+|-)'
    rf'(?: "(?P<http_referer>{_QUOTED})" "(?P<http_user_agent>{_QUOTED})")?'
)
REQUEST_LINE = re.compile(r"^(?P<method>[A-Z]+) (?P<target>\S+) HTTP/\d(?:\.\d)?$")


def parse_combined(line: str) -> Request:
    """One combined (or common) log line; :class:`BadLine` when it is not one."""
    match = COMBINED.match(line)
    if match is None:
        raise BadLine("not a combined log line")
    request = REQUEST_LINE.match(match["request"])
    if request is None:
        raise BadLine("malformed request line")
    size = match["body_bytes_sent"]
    return Request(
        ts=parse_time_local(match["time_local"]),
        client=match["remote_addr"],
        user_agent=match["http_user_agent"] or "",
        method=request["method"],
        path=request["target"].split("?", 1)[0],
        status=int(match["status"]),
        body_bytes=0 if size == "-" else int(size),
    )
