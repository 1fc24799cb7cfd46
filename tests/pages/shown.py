"""What a table in an AppTest run shows on screen: the Styler's display values when the page
styles it (ui/tables.py), else the values as st.dataframe prints them (None as "None")."""

from __future__ import annotations

from typing import Any

import pandas as pd
from streamlit import dataframe_util


def displayed(element: Any) -> pd.DataFrame:
    """Cell texts of an ``app.dataframe[i]`` element, columns and row order as on screen."""
    proto = element.proto
    arrow = getattr(proto, "arrow_data", proto)
    display = arrow.styler.display_values if arrow.HasField("styler") else b""
    if display:
        frame = dataframe_util.convert_arrow_bytes_to_pandas_df(display)
        frame.columns = list(element.value.columns)
        return frame.astype(str)
    return element.value.astype(object).where(element.value.notna(), "None").astype(str)
