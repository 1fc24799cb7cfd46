"""Empty states that say what to do next, and banners for failing sources and stale data."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import clock
from ui import data
from ui.formatting import escape_markdown, shorten
from ui.sidebar import ViewState
from ui.timefmt import format_duration, format_ts

HOW_TO_START = (
    "**To watch your own fleet**, copy `castmeter.example.toml` to `castmeter.toml`, fill in a "
    "`[[livekit]]` source (and a `[[prometheus]]` one for node metrics), then start the collectors "
    "with `python -m collectors run`.  \n"
    "**To try castmeter with a simulated fleet**, run `make run`."
)


def no_store(state: data.StoreState) -> None:
    if state.problem == "missing":
        st.info(
            f"No castmeter database yet at `{escape_markdown(state.detail)}`.\n\n{HOW_TO_START}",
            icon=":material/database:",
        )
    elif state.problem == "no_schema":
        st.info(
            f"The database has no castmeter tables yet (the collectors create them).\n\n{HOW_TO_START}",
            icon=":material/database:",
        )
    else:
        st.error(
            f"Cannot read the database ({escape_markdown(state.detail)}). Check `[database] url` in "
            "castmeter.toml or `CASTMETER_DB_URL`.",
            icon=":material/error:",
        )


def no_data(what: str = "data") -> None:
    st.info(f"No {what} yet.\n\n{HOW_TO_START}", icon=":material/hourglass_empty:")


NO_NODE_METRICS = (
    "Node metrics (CPU, memory, bandwidth, quality) come from a `[[prometheus]]` source that scrapes "
    "your LiveKit nodes, and none is configured. LiveKit Cloud exposes no Prometheus endpoint, so a "
    "LiveKit Cloud project has no node metrics; its bandwidth per session is in its Analytics API, "
    "which the Billing page reads by day (`[billing.livekit_cloud]`)."
)


def node_metrics_missing(view: ViewState) -> str | None:
    """Why there are no node metrics to show ("" never): no Prometheus source at all, or a
    LiveKit source picked in the sidebar (node samples belong to the Prometheus source); None
    when node metrics can exist."""
    source_rows = data.sources(data.db_url())
    prometheus = source_rows[source_rows["kind"] == "prometheus"]
    if prometheus.empty:
        # Configured but not reporting yet is another matter (the banners say why).
        return None if data.settings().prometheus else NO_NODE_METRICS
    if view.source_id is not None and view.source_id not in set(prometheus["id"].astype(int)):
        names = ", ".join(str(name) for name in prometheus["name"])
        return (
            f"Node metrics belong to the Prometheus source ({names}): pick it or all sources in the sidebar."
        )
    return None


def nothing_in_window(what: str, view: ViewState) -> None:
    st.info(
        f"No {what} in {view.range_label.lower()} for {'all sources' if view.source_id is None else 'this source'}. "
        "Pick a longer time range or another data source in the sidebar.",
        icon=":material/filter_alt_off:",
    )


def banners(view: ViewState, now_ts: int | None = None) -> None:
    """A red banner per failing source, a yellow one when the newest sample is stale."""
    now = clock.now_ts() if now_ts is None else now_ts
    url = data.db_url()
    source_rows = data.sources(url)
    failing = source_rows[source_rows["status"].notna() & (source_rows["status"] != "ok")]
    if view.source_id is not None:
        failing = failing[failing["id"] == view.source_id]
    for row in failing.to_dict("records"):
        since = int(row["failing_since_ts"]) if pd.notna(row["failing_since_ts"]) else None
        last_ok = int(row["last_success_ts"]) if pd.notna(row["last_success_ts"]) else None
        error = shorten(str(row["last_error"] or "no error recorded"), 300)
        st.error(
            f"Source **{escape_markdown(str(row['name']))}** ({escape_markdown(str(row['kind']))}) is "
            f"{escape_markdown(str(row['status']))}"
            + (f" since {format_ts(since, view.timezone)}" if since else "")
            + f"; last success {format_ts(last_ok, view.timezone)}. Last error: {escape_markdown(error)}",
            icon=":material/error:",
        )
    newest = data.newest_sample_ts(url, view.source_id)
    stale_after_s = data.settings().dashboard.stale_after_s
    if newest is not None and now - newest > stale_after_s:
        st.warning(
            f"Data is stale: the newest sample is from {format_ts(newest, view.timezone)}, "
            f"{format_duration(now - newest)} ago. Are the collectors running (`python -m collectors run`)?",
            icon=":material/schedule:",
        )
