"""The common start of every page: settings check, view state, title, store check."""

from __future__ import annotations

import streamlit as st

from ui import data, empty
from ui.formatting import escape_markdown
from ui.sidebar import ViewState, current_view


def through_app() -> None:
    """Make sure the page runs inside app.py's navigation (sidebar, login gate, wide layout).

    Streamlit remembers, process-wide, that a ``pages/`` folder exists and runs the first deep
    link after a server start (``/planner``) as a bare file-based page, until some session calls
    ``st.navigation``. Clearing that flag and rerunning sends this run through app.py instead."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def start(title: str) -> ViewState:
    """Title the page and return the view; stops the page with a helpful message when the
    configuration is invalid or there is no store to read yet."""
    through_app()
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
