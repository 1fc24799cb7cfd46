"""Tables as people read them: missing values say "no data" (st.dataframe would print "None"),
numbers keep their type so a column still sorts as numbers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import streamlit as st
from pandas.io.formats.style import Styler

NO_DATA = "no data"


def show_table(data: Any, **kwargs: Any) -> Any:
    """``st.dataframe`` with missing cells drawn as "no data". The browser's grid draws a missing
    cell as "None" whatever a Styler's ``na_rep`` says; its ``placeholder`` is what it shows.
    Every table of the pages goes through here (tests/test_layers.py checks it)."""
    return st.dataframe(data, placeholder=NO_DATA, **kwargs)


def no_data_styler(frame: pd.DataFrame, digits: Mapping[str, int] | None = None) -> Styler:
    """``frame`` for st.dataframe: NaN/None shown as "no data"; the numeric columns in
    ``digits`` with that many decimals and thousands separators (other columns as they are)."""
    formats: dict[Any, str | Callable[[object], str] | None] = {
        column: f"{{:,.{places}f}}" for column, places in (digits or {}).items() if column in frame
    }
    return frame.style.format(formats, na_rep=NO_DATA).format(
        na_rep=NO_DATA, subset=[column for column in frame.columns if column not in formats]
    )
