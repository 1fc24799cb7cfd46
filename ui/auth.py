"""The login gate. app.py calls ``require_login()`` before anything is drawn.

Without ``CASTMETER_PASSWORD_HASH`` the dashboard is open (a local tool behind your own
network). With it set to a bcrypt hash (``python -c "import bcrypt; print(bcrypt.hashpw(b'pw',
bcrypt.gensalt()).decode())"``), a password form blocks every page until the password
matches. OIDC (st.login) is another issue's; it belongs here too.
"""

from __future__ import annotations

import os

import bcrypt
import streamlit as st

ENV_PASSWORD_HASH = "CASTMETER_PASSWORD_HASH"
_SESSION_KEY = "castmeter_authenticated"


def password_matches(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("utf-8"))
    except ValueError:  # not a bcrypt hash: refuse rather than crash
        return False


def require_login() -> None:
    """Return when the visitor may see the dashboard; otherwise draw a login form and stop."""
    password_hash = os.environ.get(ENV_PASSWORD_HASH, "").strip()
    if not password_hash or st.session_state.get(_SESSION_KEY) is True:
        return
    st.title("castmeter")
    with st.form("login"):
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in")
    if submitted:
        if password_matches(password, password_hash):
            st.session_state[_SESSION_KEY] = True
            st.rerun()
        st.error("Wrong password.")
    st.stop()
