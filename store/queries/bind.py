"""What every query takes and how its rows become a frame.

A reader accepts an :data:`Bind` — an engine (it opens and closes its own connection) or an
open connection (the caller's, e.g. a page reading several things in one connection).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine
from sqlalchemy.sql import Executable

Bind = Engine | Connection


@contextmanager
def connected(bind: Bind) -> Iterator[Connection]:
    """A connection from an engine, or the caller's own connection as is."""
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.connect() as connection:
            yield connection


def _floats_if_decimal(values: list[Any]) -> list[Any]:
    # PostgreSQL returns AVG/SUM over integers and NUMERIC as Decimal (float - Decimal raises in
    # pandas arithmetic); SQLite never does. Both give floats (None stays None: NaN).
    first = next((value for value in values if value is not None), None)
    if isinstance(first, Decimal):
        return [None if value is None else float(value) for value in values]
    return values


def read_frame(bind: Bind, query: Executable, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of ``query`` as a frame, columns named as the query labels them (or
    ``columns``, in order); Decimals converted to floats."""
    with connected(bind) as connection:
        result = connection.execute(query)
        names = list(columns) if columns is not None else list(result.keys())
        rows = result.fetchall()
    if not rows:
        return pd.DataFrame(columns=names)
    # Column-wise construction: far cheaper than letting pandas inspect every Row object.
    values = zip(*rows, strict=True)
    return pd.DataFrame(
        {name: _floats_if_decimal(list(column)) for name, column in zip(names, values, strict=True)}
    )


def scalar(bind: Bind, query: Executable) -> Any:
    """The first column of the first row (None when there is none)."""
    with connected(bind) as connection:
        return connection.execute(query).scalar()
