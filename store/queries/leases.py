"""Which collector process owns what, and since when (several collectors on one PostgreSQL;
collectors/ownership.py). SQLite has one collector process and no leases: an empty frame."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import text

from store.queries.bind import Bind, connected

OWNERSHIP_COLUMNS = ["lease", "holder", "since_ts", "live"]

_OWNERSHIP = text(
    """
    SELECT name AS lease, holder, acquired_ts AS since_ts,
           expires_ts > extract(epoch from now()) AS live
    FROM collector_leases WHERE name NOT LIKE 'member:%' ORDER BY name
    """
)


def collector_ownership(bind: Bind) -> pd.DataFrame:
    """lease (``leader`` or ``source:<name>``), holder (host:pid:random), since_ts (when that
    holder took it, by the database's clock) and live (not expired by the database's clock)."""
    with connected(bind) as connection:
        if connection.dialect.name != "postgresql":
            return pd.DataFrame(columns=OWNERSHIP_COLUMNS)
        rows = connection.execute(_OWNERSHIP).all()
    return pd.DataFrame([tuple(row) for row in rows], columns=OWNERSHIP_COLUMNS)
