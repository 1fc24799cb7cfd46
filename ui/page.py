"""The common start of every page: the sign-in gate, settings check, view state, title, store check."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx

from ui import data, empty, hardening
from ui.auth import require_login
from ui.formatting import escape_markdown
from ui.sidebar import ViewState, current_view

_ROUTE = threading.local()  # .via_app: app.py is running this page in this thread right now


@contextlib.contextmanager
def via_app() -> Iterator[None]:
    """app.py runs the page inside this: the page then knows app.py's gate, sidebar and
    navigation ran first in this very run."""
    _ROUTE.via_app = True
    try:
        yield
    finally:
        _ROUTE.via_app = False


def page_requested() -> bool:
    """Whether the browser asked for a page by its address (a deep link such as ``/streams``):
    it names the page until it has been told the page's hash by a navigation message."""
    context = get_script_run_ctx()
    return context is not None and bool(context.pages_manager.intended_page_name)


def through_app() -> None:
    """Make sure the page runs inside app.py's navigation (sidebar, login gate, wide layout).

    On a freshly started server Streamlit runs the first requests for a page (``/planner``) as
    bare files from ``pages/`` until some run calls ``st.navigation``; concurrent first visits
    race on that process-wide flag. Whether *this* run came through app.py is known per run
    (:func:`via_app`), so a bare run clears the flag and reruns through app.py. (Only when
    app.py is the main script: AppTest runs a page file as its own main script.)"""
    context = get_script_run_ctx()
    if (
        getattr(_ROUTE, "via_app", False)
        or context is None
        or Path(context.main_script_path).name != "app.py"
    ):
        return
    PagesManager.uses_pages_directory = False
    st.rerun()


def gate() -> None:
    """What every page does first: check the sign-in itself (whatever route Streamlit took to
    get here), then make sure it runs inside app.py. Sign-in first: a visitor who is not signed
    in gets the form in one run, with or without app.py around it."""
    hardening.install()
    require_login()
    through_app()


def start(title: str) -> ViewState:
    """Title the page and return the view; stops the page with a helpful message when the
    configuration is invalid or there is no store to read yet."""
    gate()
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
