"""The catalogue's provenance audit: which rates need a look.

For the day the catalogue answers for, lists the rates in force that are

- **stale**: their source was read more than ``older_than_days`` ago;
- **unverified**: confidence U (each says why);
- **single-source**: a secondary source nobody else corroborates;
- **disputed**: another source gives another value.

A report, not a gate: `python -m analytics prices audit` always exits 0 when it can read the
catalogue (CI prints it so a reviewer sees what aged).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analytics.prices.catalogue import STALE_AFTER_DAYS, Catalogue

SECTIONS: tuple[str, ...] = ("stale", "unverified", "single_source", "disputed")
SECTION_TITLES: dict[str, str] = {
    "stale": "Stale (source read more than {days} days before {as_of})",
    "unverified": "Unverified (confidence U)",
    "single_source": "Single-source (one secondary source, not corroborated)",
    "disputed": "Disputed (sources give other values)",
}
COLUMNS = ["rate_id", "value", "unit", "effective_from", "read", "age_days", "confidence", "source", "why"]


@dataclass(frozen=True)
class AuditReport:
    as_of: dt.date
    older_than_days: int
    total: int
    sections: dict[str, pd.DataFrame]

    def counts(self) -> dict[str, int]:
        return {name: len(frame) for name, frame in self.sections.items()}

    def as_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "older_than_days": self.older_than_days,
            "rates": self.total,
            "counts": self.counts(),
            **{name: frame.to_dict("records") for name, frame in self.sections.items()},
        }

    def as_text(self) -> str:
        counts = self.counts()
        lines = [
            f"price catalogue audit on {self.as_of.isoformat()}: {self.total} rates; "
            + ", ".join(f"{counts[name]} {name.replace('_', '-')}" for name in SECTIONS)
        ]
        for name in SECTIONS:
            frame = self.sections[name]
            title = SECTION_TITLES[name].format(days=self.older_than_days, as_of=self.as_of.isoformat())
            lines += ["", f"== {title}: {len(frame)}"]
            for row in frame.itertuples(index=False):
                lines.append(
                    f"  {row.rate_id} = {row.value:g} {row.unit} (read {row.read}, {row.age_days} d, "
                    f"{row.confidence}) — {row.why}"
                )
        return "\n".join(lines) + "\n"


def audit(catalogue: Catalogue, older_than_days: int = STALE_AFTER_DAYS) -> AuditReport:
    """The audit of the rates in force on ``catalogue.as_of``."""
    if older_than_days < 0:
        raise ValueError("older_than_days must be >= 0")
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in SECTIONS}
    for rate_id in sorted(catalogue):
        rate = catalogue.rate(rate_id)
        age = (catalogue.as_of - rate.read).days
        base = {"rate_id": rate_id, "value": rate.value, "unit": rate.unit,
                "effective_from": rate.effective_from.isoformat(), "read": rate.read.isoformat(), "age_days": age,
                "confidence": rate.confidence, "source": rate.source}  # fmt: skip
        if age > older_than_days:
            rows["stale"].append({**base, "why": f"read {age} days ago"})
        if rate.unverified:
            rows["unverified"].append({**base, "why": rate.reason})
        if rate.single_source:
            rows["single_source"].append({**base, "why": f"only {rate.source}"})
        if rate.disputed:
            others = "; ".join(
                f"{d.value:g} per {d.source} (read {d.read.isoformat()})" for d in rate.disputed
            )
            rows["disputed"].append({**base, "why": others})
    sections = {name: pd.DataFrame(found, columns=COLUMNS) for name, found in rows.items()}
    return AuditReport(catalogue.as_of, older_than_days, len(list(catalogue)), sections)
