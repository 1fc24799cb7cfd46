"""castmeter's entry point: page config, navigation, login gate and the shared sidebar.

Run with ``streamlit run app.py``. To add a page, add one ``st.Page`` line to PAGES.
A deep link (``/streams?range=7d``) survives the sign-in: the navigation is resolved, hidden,
behind the sign-in form. Every page checks the sign-in again itself (ui/page.py).
"""

from __future__ import annotations

import streamlit as st

from ui import hardening, heap
from ui.auth import require_login, sign_out_button
from ui.data import settings_error
from ui.page import page_requested, via_app
from ui.sidebar import render_sidebar

st.set_page_config(page_title="castmeter", page_icon=":material/graphic_eq:", layout="wide")
hardening.install()

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/monitoring:", default=True),
    st.Page("pages/streams.py", title="Streams", icon=":material/podcasts:"),
    st.Page("pages/nodes.py", title="Nodes", icon=":material/dns:"),
    st.Page("pages/costs.py", title="Costs", icon=":material/payments:"),
    st.Page("pages/planner.py", title="Planner", icon=":material/query_stats:"),
    st.Page("pages/billing.py", title="Billing", icon=":material/receipt_long:"),
    st.Page("pages/alerts.py", title="Alerts", icon=":material/notifications_active:"),
]


def _keep_requested_page() -> None:
    """Behind the sign-in form: resolve the navigation (hidden) for a visitor who asked for a
    page, so the sign-in leads there. (Not for the default page: the form's widgets stay
    app.py's, and AppTest, which reroutes a run after st.navigation, keeps working.)"""
    if page_requested():
        st.navigation(PAGES, position="hidden")


require_login(keep_page=_keep_requested_page)
page = st.navigation(PAGES)
if settings_error() is None:  # the page itself explains an invalid configuration
    render_sidebar(publish=True)
sign_out_button()
with via_app():
    page.run()
# After the first full run of each page its imports are loaded: freeze them out of the forced
# post-run collection (ui/heap.py; a slider move no longer waits for a scan of every module).
heap.freeze_after_first_run(page.url_path)
# What the run allocated outside Python and freed goes back to the system (RSS follows use).
heap.release_free_memory()
