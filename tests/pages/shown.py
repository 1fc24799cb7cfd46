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


def capture_downloads(monkeypatch: Any) -> list[dict[str, Any]]:
    """Record what every ``st.download_button`` of the page offers (label, data as bytes, file
    name), as the browser would download it; the button still renders."""
    import streamlit as st

    offered: list[dict[str, Any]] = []
    original = st.download_button

    def recording(label: str, data: Any, *args: Any, **kwargs: Any) -> Any:
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        offered.append({"label": label, "data": raw, "file_name": kwargs.get("file_name")})
        return original(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", recording)
    return offered


def csv_frame(raw: bytes) -> pd.DataFrame:
    """A downloaded CSV as text cells (nothing parsed as numbers or dates)."""
    import io

    return pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
