"""Price catalogue data (``*.yaml``) and its validating loader."""

from analytics.prices.catalogue import Catalogue, CatalogueError, Rate, load_catalogue

__all__ = ["Catalogue", "CatalogueError", "Rate", "load_catalogue"]
