"""Price catalogue data (``*.yaml``) and its validating loader."""

from analytics.prices.catalogue import (
    Catalogue,
    CatalogueError,
    Rate,
    catalogue_from_settings,
    load_catalogue,
    price_overrides,
)

__all__ = [
    "Catalogue",
    "CatalogueError",
    "Rate",
    "catalogue_from_settings",
    "load_catalogue",
    "price_overrides",
]
