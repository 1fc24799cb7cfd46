"""One request from a delivery log, and the timestamp formats the logs use."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request as a delivery log recorded it (``ts`` on the log's own clock)."""

    ts: float  # Unix seconds
    client: str  # client IP
    user_agent: str
    method: str
    path: str  # without the query string
    status: int
    body_bytes: int
    ray_id: str = ""  # Cloudflare's request id (Logpush), for de-duplication


class BadLine(ValueError):
    """A line that is not a request of the configured format (counted, never fatal)."""


@functools.lru_cache(maxsize=4096)
def parse_time_local(text: str) -> float:
    """nginx ``$time_local`` (``01/Dec/2026:15:33:32 +0000``). A log repeats the same second
    many times, hence the cache."""
    try:
        return datetime.strptime(text, "%d/%b/%Y:%H:%M:%S %z").timestamp()
    except ValueError as exc:
        raise BadLine(f"bad time {text[:40]!r}") from exc


def parse_timestamp(value: object) -> float:
    """A JSON log's time: epoch seconds (float, as nginx ``$msec`` and Caddy ``ts``),
    milliseconds, nanoseconds (Logpush ``unixnano``), or an RFC 3339 / ISO 8601 string, or
    nginx's ``$time_local``."""
    if isinstance(value, bool):
        raise BadLine("time is a boolean")
    if isinstance(value, int | float):
        number = float(value)
        if number > 1e17:
            return number / 1e9
        if number > 1e14:
            return number / 1e6
        if number > 1e11:
            return number / 1e3
        return number
    if isinstance(value, str) and value:
        if value[0].isdigit() and "/" in value[:6]:
            return parse_time_local(value)
        if value.replace(".", "", 1).isdigit():
            return parse_timestamp(float(value))
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise BadLine(f"bad time {value[:40]!r}") from exc
        # A time without an offset is read as UTC, never as the machine's zone.
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    raise BadLine("no time")
