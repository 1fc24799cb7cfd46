"""The price catalogue: every rate as dated, sourced data (``analytics/prices/*.yaml``).

A rate id is ``<provider>.<key>``, e.g. ``livekit_cloud.ship.overage_per_min_usd``. A rate keeps
its values over time: each *version* has the value, the day it took effect (``effective_from``),
its source URL, the day that source was read (``read``) and a confidence (P primary, S
secondary, U unverified — a U version says why in ``reason``). ``also`` lists corroborating
sources; ``disputed`` the other values some sources give.

A :class:`Catalogue` answers for one day (``as_of``): ``catalogue[rate_id]`` is the value in
force that day. :meth:`Catalogue.at` gives the same catalogue on another day, and
:meth:`Catalogue.segments` splits a window of days wherever a price changes inside it, so a
cost for a past day uses the price in force that day. Overrides (negotiated rates from the
config) replace a rate's value on every day and mark it as overridden. The first version of a
rate also prices the days before it (the oldest price castmeter knows).
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import itertools
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

PRICES_DIR = Path(__file__).resolve().parent
# A rate whose source was read longer ago than this is stale (the Costs page and `prices audit`).
STALE_AFTER_DAYS = 180

Confidence = Literal["P", "S", "U"]
CONFIDENCE_LABELS: dict[str, str] = {"P": "primary", "S": "secondary", "U": "unverified"}


class CatalogueError(ValueError):
    """An invalid price file or override; the message names the rate id or file."""


class Dispute(BaseModel):
    """Another value a source gives for the same rate (sources disagree)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float = Field(ge=0)
    source: str = Field(min_length=4)
    read: dt.date
    note: str = ""


class Version(BaseModel):
    """One value of a rate, in force from ``effective_from`` until the next version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float = Field(ge=0)
    effective_from: dt.date
    source: str = Field(min_length=4)
    read: dt.date
    confidence: Confidence
    reason: str = ""  # why unverified (required for confidence U)
    also: tuple[str, ...] = ()  # corroborating sources
    disputed: tuple[Dispute, ...] = ()
    note: str = ""

    @model_validator(mode="after")
    def _unverified_says_why(self) -> Version:
        if self.confidence == "U" and not self.reason.strip():
            raise ValueError("an unverified (U) version needs a reason")
        return self


class RateEntry(BaseModel):
    """A rate's unit, note and versions (oldest first). A file may give a single version inline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit: str = Field(min_length=1)
    note: str = ""
    versions: tuple[Version, ...] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _inline_version(cls, data: Any) -> Any:
        if isinstance(data, dict) and "versions" not in data:
            rest = {k: v for k, v in data.items() if k not in ("unit", "note")}
            return {"unit": data.get("unit"), "note": data.get("note", ""), "versions": [rest]}
        return data

    @model_validator(mode="after")
    def _dates_increase(self) -> RateEntry:
        days = [v.effective_from for v in self.versions]
        if any(later <= earlier for earlier, later in itertools.pairwise(days)):
            raise ValueError("versions must be listed oldest first, one per effective_from date")
        return self


class _PriceFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(pattern=r"^[a-z_]+$")
    rates: dict[str, RateEntry]


@dataclass(frozen=True)
class Rate:
    """A rate as it stands on one day: the version in force, plus the override if any."""

    rate_id: str
    value: float
    unit: str
    effective_from: dt.date
    source: str
    read: dt.date
    confidence: Confidence
    reason: str
    note: str
    also: tuple[str, ...]
    disputed: tuple[Dispute, ...]
    version: int  # index of the version in force (0 = oldest)
    versions: int
    overridden: bool = False
    list_value: float | None = None  # the catalogue value when overridden

    @property
    def provider(self) -> str:
        return self.rate_id.split(".", 1)[0]

    @property
    def unverified(self) -> bool:
        return self.confidence == "U"

    @property
    def single_source(self) -> bool:
        """A secondary source nobody else corroborates (a primary source stands alone)."""
        return self.confidence == "S" and not self.also


@dataclass(frozen=True)
class PriceChange:
    """A rate whose value changes on ``day`` (``old`` before, ``new`` from that day)."""

    day: dt.date
    rate_id: str
    old: float
    new: float
    unit: str
    source: str

    def describe(self) -> str:
        return f"{self.rate_id}: {self.old:g} → {self.new:g} {self.unit} from {self.day.isoformat()}"


@dataclass(frozen=True)
class PriceSegment:
    """Days [first_day, last_day] with the same prices: ``catalogue`` prices them."""

    first_day: dt.date
    last_day: dt.date
    catalogue: Catalogue

    @property
    def version(self) -> dt.date:
        return self.catalogue.version_on(self.first_day)


def _version_index(entry: RateEntry, day: dt.date) -> int:
    """The version in force on ``day``; the oldest also prices the days before it."""
    days = [v.effective_from for v in entry.versions]
    return max(0, bisect.bisect_right(days, day) - 1)


@dataclass(frozen=True)
class Catalogue:
    """Every rate's history, answering for the day ``as_of`` (``catalogue[id]``)."""

    entries: Mapping[str, RateEntry] = field(repr=False)
    as_of: dt.date = field(default_factory=lambda: dt.datetime.now(dt.UTC).date())
    overrides: Mapping[str, float] = field(default_factory=dict)
    # Rate ids read through __getitem__ when tracking (see :meth:`tracked`).
    _used: set[str] | None = field(default=None, compare=False, repr=False)
    _values: dict[str, float] = field(default_factory=dict, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        values = {
            rate_id: self.overrides.get(rate_id, entry.versions[_version_index(entry, self.as_of)].value)
            for rate_id, entry in self.entries.items()
        }
        object.__setattr__(self, "_values", values)

    # -- values on as_of ------------------------------------------------------------------

    def __getitem__(self, rate_id: str) -> float:
        try:
            value = self._values[rate_id]
        except KeyError:
            raise KeyError(f"unknown rate id {rate_id!r}") from None
        if self._used is not None:
            self._used.add(rate_id)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __contains__(self, rate_id: object) -> bool:
        return rate_id in self.entries

    @property
    def today(self) -> dt.date:
        """The day the catalogue answers for (older name of :attr:`as_of`)."""
        return self.as_of

    def rate(self, rate_id: str) -> Rate:
        return self.rate_on(rate_id, self.as_of)

    def rate_on(self, rate_id: str, day: dt.date) -> Rate:
        try:
            entry = self.entries[rate_id]
        except KeyError:
            raise KeyError(f"unknown rate id {rate_id!r}") from None
        index = _version_index(entry, day)
        version = entry.versions[index]
        overridden = rate_id in self.overrides
        return Rate(
            rate_id=rate_id,
            value=self.overrides[rate_id] if overridden else version.value,
            unit=entry.unit,
            effective_from=version.effective_from,
            source=version.source,
            read=version.read,
            confidence=version.confidence,
            reason=version.reason,
            note=version.note or entry.note,
            also=version.also,
            disputed=version.disputed,
            version=index,
            versions=len(entry.versions),
            overridden=overridden,
            list_value=version.value if overridden else None,
        )

    @property
    def rates(self) -> dict[str, Rate]:
        """Every rate as it stands on ``as_of``."""
        return {rate_id: self.rate(rate_id) for rate_id in self.entries}

    def is_stale(self, rate_id: str, older_than_days: int = STALE_AFTER_DAYS) -> bool:
        """The source of the version in force was read more than ``older_than_days`` before as_of."""
        return (self.as_of - self.rate(rate_id).read).days > older_than_days

    # -- other days -------------------------------------------------------------------------

    def at(self, day: dt.date) -> Catalogue:
        """The same catalogue answering for ``day``."""
        if day == self.as_of:
            return self
        return Catalogue(entries=self.entries, as_of=day, overrides=self.overrides)

    def with_value(self, rate_id: str, value: float, *, note: str = "planner input") -> Catalogue:
        """A copy where ``rate_id`` is ``value`` on every day (a what-if input, not an override)."""
        entry = self.entries[rate_id]
        current = entry.versions[_version_index(entry, self.as_of)]
        replaced = entry.model_copy(
            update={"versions": (current.model_copy(update={"value": float(value), "note": note}),)}
        )
        return Catalogue(
            entries={**self.entries, rate_id: replaced}, as_of=self.as_of, overrides=self.overrides
        )

    def tracked(self) -> Catalogue:
        """A copy that records which rate ids are read (:attr:`used`)."""
        copy = object.__new__(Catalogue)
        for name in ("entries", "as_of", "overrides", "_values"):  # no recomputation of the values
            object.__setattr__(copy, name, getattr(self, name))
        object.__setattr__(copy, "_used", set())
        return copy

    @property
    def used(self) -> frozenset[str]:
        return frozenset(self._used or ())

    def version_on(self, day: dt.date) -> dt.date:
        """The catalogue's price version on ``day``: the newest effective_from on or before it
        (the oldest one when the catalogue starts later)."""
        dates = [v.effective_from for entry in self.entries.values() for v in entry.versions]
        started = [d for d in dates if d <= day]
        return max(started) if started else min(dates)

    @property
    def last_checked(self) -> dt.date:
        """The newest date any source was read (the catalogue's last check)."""
        return max(v.read for entry in self.entries.values() for v in entry.versions)

    def changes(self, first_day: dt.date, last_day: dt.date) -> list[PriceChange]:
        """Rates whose value changes on a day in (first_day, last_day] (overridden rates never do)."""
        found = []
        for rate_id, entry in self.entries.items():
            if rate_id in self.overrides:
                continue
            for before, after in itertools.pairwise(entry.versions):
                if first_day < after.effective_from <= last_day and after.value != before.value:
                    found.append(
                        PriceChange(
                            after.effective_from, rate_id, before.value, after.value, entry.unit, after.source
                        )
                    )
        return sorted(found, key=lambda c: (c.day, c.rate_id))

    def segments(self, first_day: dt.date, last_day: dt.date) -> list[PriceSegment]:
        """[first_day, last_day] split where a price changes: each part has one set of prices."""
        if last_day < first_day:
            raise ValueError("last_day is before first_day")
        starts = [first_day, *sorted({c.day for c in self.changes(first_day, last_day)})]
        ends = [day - dt.timedelta(days=1) for day in starts[1:]] + [last_day]
        return [PriceSegment(start, end, self.at(start)) for start, end in zip(starts, ends, strict=True)]

    # -- frames for the UI and the audit ----------------------------------------------------

    def frame(self, older_than_days: int = STALE_AFTER_DAYS) -> pd.DataFrame:
        """One row per rate as it stands on as_of, with its provenance and flags."""
        rows = []
        for rate_id in sorted(self.entries):
            rate = self.rate(rate_id)
            rows.append(
                {
                    "rate_id": rate_id,
                    "provider": rate.provider,
                    "value": rate.value,
                    "unit": rate.unit,
                    "effective_from": rate.effective_from.isoformat(),
                    "read": rate.read.isoformat(),
                    "confidence": rate.confidence,
                    "reason": rate.reason,
                    "source": rate.source,
                    "also": len(rate.also),
                    "disputed": "; ".join(
                        f"{d.value:g} ({d.source}, {d.read.isoformat()})" for d in rate.disputed
                    ),
                    "note": rate.note,
                    "versions": rate.versions,
                    "overridden": rate.overridden,
                    "list_value": rate.list_value,
                    "stale": (self.as_of - rate.read).days > older_than_days,
                    "unverified": rate.unverified,
                    "single_source": rate.single_source,
                }
            )
        return pd.DataFrame(rows)

    def history_frame(self) -> pd.DataFrame:
        """Every version of every rate (rate_id, effective_from, value, source, read, confidence)."""
        rows = [
            {
                "rate_id": rate_id,
                "effective_from": v.effective_from.isoformat(),
                "value": v.value,
                "unit": entry.unit,
                "source": v.source,
                "read": v.read.isoformat(),
                "confidence": v.confidence,
            }
            for rate_id, entry in sorted(self.entries.items())
            for v in entry.versions
        ]
        return pd.DataFrame(rows)


@functools.lru_cache(maxsize=4)
def _read_files(directory: Path) -> Mapping[str, RateEntry]:
    entries: dict[str, RateEntry] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            parsed = _PriceFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (ValidationError, yaml.YAMLError) as exc:
            raise CatalogueError(f"invalid price file {path.name}: {exc}") from None
        for key, entry in parsed.rates.items():
            rate_id = f"{parsed.provider}.{key}"
            if rate_id in entries:
                raise CatalogueError(f"rate {rate_id} defined twice ({path.name})")
            entries[rate_id] = entry
    return entries


def load_catalogue(
    overrides: Mapping[str, float] | None = None,
    *,
    as_of: dt.date | None = None,
    today: dt.date | None = None,
    directory: Path = PRICES_DIR,
) -> Catalogue:
    """The catalogue from ``directory`` with ``overrides`` (rate id → value) applied, answering
    for ``as_of`` (``today`` is its older name; default: :func:`default_as_of`). An unknown id
    or a negative value is an error naming the id."""
    entries = _read_files(directory)
    checked: dict[str, float] = {}
    for rate_id, value in (overrides or {}).items():
        if rate_id not in entries:
            raise CatalogueError(f"prices.overrides: unknown rate id {rate_id!r}")
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise CatalogueError(f"prices.overrides.{rate_id}: must be a number >= 0")
        checked[rate_id] = float(value)
    day = as_of or today or default_as_of()
    return Catalogue(entries=entries, as_of=day, overrides=checked)


AS_OF_ENV = "CASTMETER_PRICES_AS_OF"


def default_as_of() -> dt.date:
    """The day prices are looked up for when nobody says: ``CASTMETER_PRICES_AS_OF``
    (YYYY-MM-DD; tests pin it) or today, UTC."""
    text = os.environ.get(AS_OF_ENV, "").strip()
    if not text:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CatalogueError(f"{AS_OF_ENV}: expected YYYY-MM-DD, got {text!r}") from None


def price_overrides(settings: object) -> dict[str, float]:
    """``[prices.overrides]`` from the settings, when they carry a ``prices`` table (a model with
    an ``overrides`` mapping, a plain mapping, or a mapping that is the ``prices`` table itself)."""
    prices = (
        settings.get("prices", settings)
        if isinstance(settings, Mapping)
        else getattr(settings, "prices", None)
    )
    overrides = getattr(prices, "overrides", None) if prices is not None else None
    if overrides is None and isinstance(prices, Mapping):
        overrides = prices.get("overrides")
    return dict(overrides or {})


def catalogue_from_settings(
    settings: object | None, *, as_of: dt.date | None = None, today: dt.date | None = None
) -> Catalogue:
    return load_catalogue(price_overrides(settings) if settings is not None else None, as_of=as_of or today)
