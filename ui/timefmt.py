"""Times for people: Unix seconds → the configured zone, always labelled with the zone name."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd


def format_ts(ts: int | float | None, timezone: str, *, with_zone: bool = True) -> str:
    """``2026-11-21 18:04:05 CET`` (or "no data" for a missing time)."""
    if ts is None or (isinstance(ts, float) and pd.isna(ts)):
        return "no data"
    moment = datetime.fromtimestamp(int(ts), ZoneInfo(timezone))
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text} {moment.tzname()}" if with_zone else text


def to_local(seconds: pd.Series, timezone: str) -> pd.Series:
    """Unix seconds (nullable) → tz-aware datetimes in ``timezone`` (NaT where missing)."""
    numeric = pd.to_numeric(seconds, errors="coerce")
    return pd.to_datetime(numeric, unit="s", utc=True).dt.tz_convert(timezone)


def with_zone(label: str, timezone: str) -> str:
    """A column or axis label carrying the zone: ``Started (Europe/Berlin)``."""
    return f"{label} ({timezone})"


def format_duration(seconds: float | int | None) -> str:
    """``2 h 05 min``, ``4 min 10 s``, ``no data``."""
    if seconds is None or pd.isna(seconds):
        return "no data"
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def to_local_text(seconds: pd.Series, timezone: str) -> pd.Series:
    """Unix seconds → ``YYYY-MM-DD HH:MM:SS`` in ``timezone`` ("" where missing); text sorts
    like time and reads the same in the table and in its CSV."""
    local = to_local(seconds, timezone)
    return local.dt.strftime("%Y-%m-%d %H:%M:%S").fillna("")
