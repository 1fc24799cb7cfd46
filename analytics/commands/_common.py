"""Shared helpers of the cost commands: the catalogue with config overrides, durations."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from analytics.prices import Catalogue, CatalogueError, load_catalogue
from core.settings import ConfigError

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_duration_s(text: str) -> int:
    """``30d``, ``12h``, ``90m``, ``2w`` → seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ConfigError(f"--since: expected a duration like 30d, 12h or 2w, got {text!r}")
    return int(float(match.group(1)) * _UNIT_S[match.group(2)])


def price_overrides(settings: Any) -> Mapping[str, float]:
    """``[prices.overrides]`` from the settings when the settings carry a ``prices`` table."""
    prices = getattr(settings, "prices", None)
    overrides = getattr(prices, "overrides", None) if prices is not None else None
    if overrides is None and isinstance(prices, Mapping):
        overrides = prices.get("overrides")
    return dict(overrides or {})


def catalogue_for(settings: Any | None) -> Catalogue:
    try:
        return load_catalogue(price_overrides(settings) if settings is not None else None)
    except CatalogueError as exc:
        raise ConfigError(str(exc)) from None
