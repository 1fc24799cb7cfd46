"""Plotly figures for the pages, built with graph_objects: plotly.express costs ~0.2 s per
figure in argument processing, which a live page redrawing a dozen charts cannot afford."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

MARGIN = {"l": 0, "r": 0, "t": 10, "b": 0}
# An x axis's extent: the window's start and end, as the x values are (local timestamps).
XRange = tuple[Any, Any]


def _layout(
    figure: go.Figure, x_title: str, y_title: str, height: int, title: str | None, x_range: XRange | None
) -> go.Figure:
    figure.update_layout(
        height=height,
        margin={**MARGIN, "t": 40 if title else MARGIN["t"]},
        title=title,
        xaxis_title=x_title,
        yaxis_title=y_title,
        # Every figure charted here is a count, rate or share: from zero, so a step from 1 to 3
        # streams is not drawn as from nothing to everything.
        yaxis_rangemode="tozero",
        hovermode="x unified",
    )
    if x_range is not None:
        # The whole window the page shows: a series that stops early visibly stops.
        figure.update_xaxes(range=list(x_range))
    return figure


def stacked_area(
    frame: pd.DataFrame,
    x: str,
    y: str,
    series: str,
    *,
    x_title: str,
    y_title: str,
    legend_title: str,
    height: int = 360,
    x_range: XRange | None = None,
) -> go.Figure:
    """One stacked area per value of ``series`` (in order of first appearance). Series names
    must already be safe for plotly (see ui.formatting.plotly_text)."""
    traces = [
        go.Scatter(
            x=group[x], y=group[y], name=str(name), mode="lines", stackgroup="one", line={"width": 0.5}
        )
        for name, group in frame.groupby(series, sort=False)
    ]
    figure = _layout(go.Figure(traces), x_title, y_title, height, None, x_range)
    figure.update_layout(legend_title_text=legend_title)
    return figure


def lines(
    frame: pd.DataFrame,
    x: str,
    columns: Sequence[str],
    *,
    x_title: str,
    y_title: str,
    title: str | None = None,
    height: int = 300,
    x_range: XRange | None = None,
) -> go.Figure:
    """One line per column (column names are the legend)."""
    traces = [go.Scatter(x=frame[x], y=frame[column], name=column, mode="lines") for column in columns]
    figure = _layout(go.Figure(traces), x_title, y_title, height, title, x_range)
    figure.update_layout(showlegend=len(columns) > 1)
    return figure
