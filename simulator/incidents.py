"""The demo's delivery incidents, deterministic from the seed and the time (issue 17): the live
simulator (simulator/hls_log.py, simulator/hybrid.py) and the backfill (simulator/audience_history.py)
ask the same functions, so history and the live fleet break at the same moments.

- **Stale playlist**: on about 1 channel-day in 40, an HLS channel's encoder stalls for
  ``STALL_S`` (the origin keeps serving the old playlist; players keep reloading it and fetch no
  new segment), at a time of day drawn from (seed, channel, day).
- **Origin 5xx burst**: on about 1 channel-day in 40, for ``BURST_S`` the origin answers
  ``BURST_5XX_SHARE`` of the segment requests with 503.
- **Cloudflare input outage**: once a week, for ``OUTAGE_MIN`` minutes inside one show, one Cloudflare
  seller's live input fails to reconnect while the seller stays live on Agora (the relay_down
  rule's case).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

DAY_S = 86_400
STALL_S = 6 * 60
STALL_DAY_SHARE = 0.025
BURST_S = 5 * 60
BURST_DAY_SHARE = 0.025
BURST_5XX_SHARE = 0.2
OUTAGE_MIN = 60
WEEK_MIN = 7 * 1440


def unit(*parts: object) -> float:
    """A number in [0, 1) drawn from ``parts`` (the same everywhere, every run)."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@lru_cache(maxsize=8192)
def _start_on(kind: str, seed: int, channel: str, day: int, share: float, length_s: int) -> int | None:
    if unit(kind, seed, channel, day) >= share:
        return None
    return day * DAY_S + int(unit(kind, "at", seed, channel, day) * (DAY_S - length_s))


def stall_start_on(seed: int, channel: str, day: int) -> int | None:
    """When ``channel``'s encoder stalls on UTC day ``day`` (for ``STALL_S``), or None."""
    return _start_on("stall", seed, channel, day, STALL_DAY_SHARE, STALL_S)


def burst_start_on(seed: int, channel: str, day: int) -> int | None:
    """When ``channel``'s origin 5xx burst begins on UTC day ``day`` (for ``BURST_S``), or None."""
    return _start_on("5xx", seed, channel, day, BURST_DAY_SHARE, BURST_S)


def playlist_stall_start(seed: int, channel: str, ts: float) -> int | None:
    """When the stall ``ts`` falls in began, or None when ``channel``'s playlist is fresh at ``ts``."""
    start = stall_start_on(seed, channel, int(ts // DAY_S))
    return start if start is not None and start <= ts < start + STALL_S else None


def origin_5xx_burst(seed: int, channel: str, ts: float) -> bool:
    """Whether the origin answers part of ``channel``'s segment requests with 5xx at ``ts``."""
    start = burst_start_on(seed, channel, int(ts // DAY_S))
    return start is not None and start <= ts < start + BURST_S


@lru_cache(maxsize=64)
def outage_pick(seed: int, week: int, cloudflare_sellers: int) -> tuple[int, int]:
    """Week ``week``'s outage: (a minute the seller's next show is sought from, the seller: an
    even Cloudflare one). simulator/hybrid.py places the hour inside that show."""
    first = week * WEEK_MIN + int(unit("outage", seed, week) * (WEEK_MIN - 6 * OUTAGE_MIN))
    evens = list(range(2, cloudflare_sellers + 1, 2)) or [1]
    return first, evens[int(unit("outage-seller", seed, week) * len(evens))]
