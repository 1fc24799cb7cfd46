"""One time grammar for every command line: ``--now``, ``--since`` and ``--until``.

Durations: whole numbers with a unit, combinable — ``90s``, ``15m``, ``1h30m``, ``30d``, ``2w``,
``1w2d``. Instants: an ISO date (``2026-11-18``, midnight UTC), an ISO date-time
(``2026-11-18T12:00``, UTC unless it carries an offset or ``Z``) or Unix seconds
(``1795176000``). ``--since`` takes either: a duration back from the window's end, or an instant.
``--until DATE`` includes that whole day. ``--now`` is the moment the command takes as "now"
(default: the machine's clock); tests pin it so no figure depends on today's date.
"""

from __future__ import annotations

import argparse
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from core.settings import ConfigError
from core.units import DAY_S

_UNIT_S = {"w": 7 * DAY_S, "d": DAY_S, "h": 3600, "m": 60, "s": 1}
_DURATION_RE = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DURATION_HELP = "a duration (90s, 15m, 1h30m, 30d, 2w)"
INSTANT_HELP = "an ISO date or date-time (UTC unless it says otherwise) or Unix seconds"


def parse_duration_s(text: str, option: str = "duration") -> int:
    """``1h30m`` → 5400. Units w, d, h, m, s, largest first, each at most once."""
    value = text.strip().lower()
    match = _DURATION_RE.match(value)
    if not value or not match or not any(match.groups()):
        raise ConfigError(f"{option}: {text!r} is not {DURATION_HELP}")
    return sum(
        int(count) * _UNIT_S[unit] for count, unit in zip(match.groups(), "wdhms", strict=True) if count
    )


def is_duration(text: str) -> bool:
    match = _DURATION_RE.match(text.strip().lower())
    return bool(text.strip()) and match is not None and any(match.groups())


def parse_instant_ts(text: str, option: str, *, end_of_day: bool = False) -> int:
    """An instant as Unix seconds. A bare date is midnight UTC, or the next midnight with
    ``end_of_day`` (so ``--until 2026-11-30`` includes the 30th)."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    try:
        if _DATE_RE.match(value):
            day = date.fromisoformat(value)
            return day_start_ts(day + timedelta(days=1) if end_of_day else day)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{option}: {text!r} is not {INSTANT_HELP}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def parse_since_ts(text: str, end_ts: int) -> int:
    """``--since``: a duration back from ``end_ts`` or an instant."""
    if is_duration(text):
        return end_ts - parse_duration_s(text, "--since")
    try:
        return parse_instant_ts(text, "--since")
    except ConfigError:
        raise ConfigError(f"--since: {text!r} is neither {DURATION_HELP} nor {INSTANT_HELP}") from None


def day_start_ts(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def utc_day(ts: int) -> date:
    return datetime.fromtimestamp(ts, tz=UTC).date()


def add_now_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--now",
        metavar="WHEN",
        default=None,
        help=f"take this moment as now: {INSTANT_HELP} (default: the machine's clock)",
    )


def add_window_arguments(
    parser: argparse.ArgumentParser, *, since_default: str | None, since_help: str = "start of the window"
) -> None:
    """``--since``, ``--until`` and ``--now`` with the shared grammar."""
    default = f" (default {since_default})" if since_default else ""
    parser.add_argument(
        "--since",
        metavar="WHEN",
        default=since_default,
        help=f"{since_help}: {DURATION_HELP} back from --until, or {INSTANT_HELP}{default}",
    )
    parser.add_argument(
        "--until",
        metavar="WHEN",
        default=None,
        help=f"end of the window: {INSTANT_HELP}; a date includes that day (default: --now)",
    )
    add_now_argument(parser)


def now_ts(args: argparse.Namespace) -> int:
    """``--now`` or the machine's clock."""
    text = getattr(args, "now", None)
    return parse_instant_ts(text, "--now") if text else int(time.time())


@dataclass(frozen=True)
class Window:
    """A half-open window ``[start_ts, end_ts)`` and the moment taken as now."""

    start_ts: int
    end_ts: int
    now_ts: int

    @property
    def first_day(self) -> date:
        return utc_day(self.start_ts)

    @property
    def last_day(self) -> date:
        """The last UTC day the window touches (its end is exclusive)."""
        return utc_day(max(self.start_ts, self.end_ts - 1))


def window_from(args: argparse.Namespace) -> Window:
    """The window of ``--since``/``--until``/``--now``; ``--since`` may be None (then the
    window starts at the Unix epoch: everything up to ``--until``)."""
    now = now_ts(args)
    until_text = getattr(args, "until", None)
    end = parse_instant_ts(until_text, "--until", end_of_day=True) if until_text else now
    since_text = getattr(args, "since", None)
    start = parse_since_ts(since_text, end) if since_text else 0
    if start >= end:
        raise ConfigError(f"--since ({since_text}) is not before --until ({until_text or 'now'})")
    return Window(start_ts=start, end_ts=end, now_ts=now)


def day_window_from(args: argparse.Namespace) -> tuple[date, date, int]:
    """Whole UTC days for day-granular commands (billing): ``(first_day, last_day, now_ts)``,
    both days included. ``--since 30d`` is the 30 days ending with the last day."""
    now = now_ts(args)
    until_text = getattr(args, "until", None)
    last = (
        utc_day(parse_instant_ts(until_text, "--until", end_of_day=True) - 1) if until_text else utc_day(now)
    )
    since_text = getattr(args, "since", None)
    if not since_text:
        first = last
    elif is_duration(since_text):
        days = max(1, -(-parse_duration_s(since_text, "--since") // DAY_S))
        first = last - timedelta(days=days - 1)
    else:
        first = utc_day(parse_since_ts(since_text, day_start_ts(last)))
    if first > last:
        raise ConfigError(f"--since ({since_text}) is after --until ({until_text or 'today'})")
    return first, last, now
