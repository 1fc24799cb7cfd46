"""Quality distributions of the simulated fleet and what Prometheus reads back from them.

livekit-server observes per-track loss, jitter and RTT into histograms with fixed buckets
(https://github.com/livekit/livekit/tree/master/pkg/telemetry/prometheus); the collector reads their p95 with ``histogram_quantile``,
which interpolates linearly inside the bucket that holds the 95th percentile. The simulator
fills those histograms from a distribution per node and instant, and the backfill stores what
``histogram_quantile`` returns for the same distribution, so a backfilled p95 and a live one
are the same quantity (and both move when the distribution moves between or within buckets).
"""

from __future__ import annotations

import math

import numpy as np

# livekit-server's buckets (pkg/telemetry/prometheus, linked above).
LOSS_BUCKETS = (0.0, 0.1, 0.3, 0.5, 0.7, 1.0, 5.0, 10.0, 40.0, 100.0)  # percent
JITTER_US_BUCKETS = (1e3, 2.5e3, 5e3, 1e4, 2.5e4, 5e4, 1e5, 2.5e5, 5e5, 1e6)  # microseconds
RTT_MS_BUCKETS = (50.0, 75.0, 100.0, 150.0, 200.0, 300.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0)
QUALITY_BUCKETS = (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5)


def erf(x: np.ndarray) -> np.ndarray:
    """Vectorized error function (Abramowitz & Stegun 7.1.26, absolute error < 1.5e-7)."""
    x = np.asarray(x, dtype=np.float64)
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    result: np.ndarray = sign * (1.0 - poly * np.exp(-a * a))
    return result


def lognormal_cdf(bounds: tuple[float, ...], median: np.ndarray | float, sigma: float) -> np.ndarray:
    """P(X ≤ bound) for every bound (last axis) and every median (leading axes); ``sigma`` 0
    is a point mass at the median (a scripted fleet's exact figure)."""
    if sigma <= 0:
        return point_cdf(bounds, median)
    medians = np.asarray(median, dtype=np.float64)[..., None]
    edges = np.asarray(bounds, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (np.log(np.where(edges > 0, edges, 1.0)) - np.log(np.maximum(medians, 1e-300))) / (
            sigma * math.sqrt(2.0)
        )
    cdf = 0.5 * (1.0 + erf(z))
    return np.where(edges > 0, cdf, 0.0)


def point_cdf(bounds: tuple[float, ...], value: np.ndarray | float) -> np.ndarray:
    """P(X ≤ bound) when every observation is ``value`` (a scripted fleet's exact figure)."""
    values = np.asarray(value, dtype=np.float64)[..., None]
    return (np.asarray(bounds, dtype=np.float64) >= values).astype(np.float64)


def histogram_quantile(q: float, bounds: tuple[float, ...], cdf: np.ndarray) -> np.ndarray:
    """Prometheus's ``histogram_quantile(q, ...)`` of cumulative fractions ``cdf`` (last axis:
    one per finite bucket bound; the +Inf bucket holds everything): linear interpolation
    inside the bucket where the rank falls; the first bucket starts at 0 (if its bound is
    positive); a rank in the +Inf bucket returns the largest finite bound."""
    cdf = np.asarray(cdf, dtype=np.float64)
    edges = np.asarray(bounds, dtype=np.float64)
    index = np.minimum((cdf < q).sum(axis=-1), len(bounds))  # first bucket whose count reaches the rank
    inside = index < len(bounds)
    safe = np.minimum(index, len(bounds) - 1)
    upper = edges[safe]
    lower = np.where(safe > 0, edges[np.maximum(safe - 1, 0)], np.minimum(0.0, edges[0]))
    below = np.where(safe > 0, np.take_along_axis(cdf, np.maximum(safe - 1, 0)[..., None], -1)[..., 0], 0.0)
    count = np.take_along_axis(cdf, safe[..., None], -1)[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(count > below, (q - below) / (count - below), 1.0)
    value = lower + (upper - lower) * fraction
    # The first bucket with a bound at or below 0 is a point: Prometheus returns the bound.
    value = np.where((safe == 0) & (edges[0] <= 0), edges[0], value)
    result: np.ndarray = np.where(inside, value, edges[-1])
    return result
