"""The common start of every page: settings check, view state, title, store check."""

from __future__ import annotations

import streamlit as st

from ui import data, empty
from ui.formatting import escape_markdown
from ui.sidebar import ViewState, current_view


def start(title: str) -> ViewState:
    """Title the page and return the view; stops the page with a helpful message when the
    configuration is invalid or there is no store to read yet."""
    error = data.settings_error()
    if error is not None:
        st.title(title)
        st.error(
            f"castmeter's configuration is invalid: {escape_markdown(str(error))}", icon=":material/error:"
        )
        st.stop()
    view = current_view()
    st.title(title)
    state = data.store_state(data.db_url())
    if not state.ok:
        empty.no_store(state)
        st.stop()
    return view
