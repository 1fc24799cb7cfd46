"""The price catalogue: every rate as dated, sourced data (``analytics/prices/*.yaml``).

A rate id is ``<provider>.<key>``, e.g. ``livekit_cloud.ship.overage_per_min_usd``. Overrides
(negotiated discounts from the config) replace a value and mark the rate as overridden; a rate
whose effective date is more than a year before ``today`` is stale.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

PRICES_DIR = Path(__file__).resolve().parent
STALE_AFTER_DAYS = 365


class CatalogueError(ValueError):
    """An invalid price file or override; the message names the rate id or file."""


class Rate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float = Field(ge=0)
    unit: str = Field(min_length=1)
    effective: dt.date
    source: str = Field(min_length=4)
    confidence: Literal["P", "S", "U"]
    note: str = ""
    overridden: bool = False
    list_value: float | None = None  # the catalogue value when overridden


class _PriceFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(pattern=r"^[a-z_]+$")
    rates: dict[str, Rate]


@dataclass(frozen=True)
class Catalogue:
    rates: Mapping[str, Rate]
    today: dt.date = field(default_factory=dt.date.today)

    def __getitem__(self, rate_id: str) -> float:
        try:
            return self.rates[rate_id].value
        except KeyError:
            raise KeyError(f"unknown rate id {rate_id!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.rates)

    def rate(self, rate_id: str) -> Rate:
        return self.rates[rate_id]

    def is_stale(self, rate_id: str) -> bool:
        return (self.today - self.rates[rate_id].effective).days > STALE_AFTER_DAYS

    def frame(self) -> pd.DataFrame:
        """One row per rate, for the UI: id, provider, value, unit, dates, source, flags."""
        rows = [
            {
                "rate_id": rate_id,
                "provider": rate_id.split(".", 1)[0],
                "value": rate.value,
                "unit": rate.unit,
                "effective": rate.effective.isoformat(),
                "confidence": rate.confidence,
                "source": rate.source,
                "note": rate.note,
                "overridden": rate.overridden,
                "list_value": rate.list_value,
                "stale": self.is_stale(rate_id),
            }
            for rate_id, rate in sorted(self.rates.items())
        ]
        return pd.DataFrame(rows)


def _read_files(directory: Path) -> dict[str, Rate]:
    rates: dict[str, Rate] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            parsed = _PriceFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (ValidationError, yaml.YAMLError) as exc:
            raise CatalogueError(f"invalid price file {path.name}: {exc}") from None
        for key, rate in parsed.rates.items():
            rate_id = f"{parsed.provider}.{key}"
            if rate_id in rates:
                raise CatalogueError(f"rate {rate_id} defined twice ({path.name})")
            rates[rate_id] = rate
    return rates


def load_catalogue(
    overrides: Mapping[str, float] | None = None,
    *,
    today: dt.date | None = None,
    directory: Path = PRICES_DIR,
) -> Catalogue:
    """The catalogue from ``directory`` with ``overrides`` (rate id → value) applied.
    An unknown id or a negative value is an error naming the id."""
    rates = _read_files(directory)
    for rate_id, value in (overrides or {}).items():
        if rate_id not in rates:
            raise CatalogueError(f"prices.overrides: unknown rate id {rate_id!r}")
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise CatalogueError(f"prices.overrides.{rate_id}: must be a number >= 0")
        base = rates[rate_id]
        rates[rate_id] = base.model_copy(
            update={"value": float(value), "overridden": True, "list_value": base.value}
        )
    return Catalogue(rates=rates, today=today or dt.date.today())


def price_overrides(settings: object) -> dict[str, float]:
    """``[prices.overrides]`` from the settings, when they carry a ``prices`` table (either a
    model with an ``overrides`` mapping or a plain mapping)."""
    prices = getattr(settings, "prices", None)
    overrides = getattr(prices, "overrides", None) if prices is not None else None
    if overrides is None and isinstance(prices, Mapping):
        overrides = prices.get("overrides")
    return dict(overrides or {})


def catalogue_from_settings(settings: object | None, *, today: dt.date | None = None) -> Catalogue:
    return load_catalogue(price_overrides(settings) if settings is not None else None, today=today)
