"""Shared helpers of the cost commands: the catalogue with config overrides, durations."""

from __future__ import annotations

import re
from typing import Any

from analytics.prices import Catalogue, CatalogueError, catalogue_from_settings
from core.settings import ConfigError

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_duration_s(text: str) -> int:
    """``30d``, ``12h``, ``90m``, ``2w`` → seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ConfigError(f"--since: expected a duration like 30d, 12h or 2w, got {text!r}")
    return int(float(match.group(1)) * _UNIT_S[match.group(2)])


def catalogue_for(settings: Any | None) -> Catalogue:
    """The catalogue with the settings' overrides; a bad override is a config error (exit 2)."""
    try:
        return catalogue_from_settings(settings)
    except CatalogueError as exc:
        raise ConfigError(str(exc)) from None
