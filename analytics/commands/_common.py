"""Shared helper of the cost commands: the catalogue with config overrides (time arguments are
core/timeargs.py's, shared by every command)."""

from __future__ import annotations

from typing import Any

from analytics.prices import Catalogue, CatalogueError, catalogue_from_settings
from core.settings import ConfigError


def catalogue_for(settings: Any | None) -> Catalogue:
    """The catalogue with the settings' overrides; a bad override is a config error (exit 2)."""
    try:
        return catalogue_from_settings(settings)
    except CatalogueError as exc:
        raise ConfigError(str(exc)) from None
