"""castmeter's entry point: page config, login gate, navigation and the shared sidebar.

Run with ``streamlit run app.py``. To add a page, add one ``st.Page`` line to PAGES.
"""

from __future__ import annotations

import streamlit as st

from ui.auth import require_login, sign_out_button
from ui.data import settings_error
from ui.sidebar import render_sidebar

st.set_page_config(page_title="castmeter", page_icon=":material/graphic_eq:", layout="wide")
require_login()

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/monitoring:", default=True),
    st.Page("pages/streams.py", title="Streams", icon=":material/podcasts:"),
    st.Page("pages/nodes.py", title="Nodes", icon=":material/dns:"),
    st.Page("pages/costs.py", title="Costs", icon=":material/payments:"),
    st.Page("pages/planner.py", title="Planner", icon=":material/query_stats:"),
    st.Page("pages/billing.py", title="Billing", icon=":material/receipt_long:"),
    st.Page("pages/alerts.py", title="Alerts", icon=":material/notifications_active:"),
]

page = st.navigation(PAGES)
if settings_error() is None:  # the page itself explains an invalid configuration
    render_sidebar(publish=True)
sign_out_button()
page.run()
