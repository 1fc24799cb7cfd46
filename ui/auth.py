"""The login gate. app.py calls ``require_login()`` before anything is drawn.

Two ways in, either or both:

- a password, stored only as a bcrypt hash: ``CASTMETER_PASSWORD_HASH`` in the environment,
  or ``password_hash`` under ``[castmeter]`` in ``.streamlit/secrets.toml``. Make one with
  ``python -m core.password``;
- OIDC through Streamlit's ``st.login`` when ``.streamlit/secrets.toml`` has an ``[auth]``
  section (redirect_uri, cookie_secret, client_id, client_secret, server_metadata_url; or
  named providers as ``[auth.<name>]``).

With neither, the dashboard is open (a local tool; ``make run`` warns loudly when it serves a
non-loopback address that way).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import bcrypt
import streamlit as st

ENV_PASSWORD_HASH = "CASTMETER_PASSWORD_HASH"
SECRETS_SECTION = "castmeter"
SECRETS_HASH_KEY = "password_hash"
_SESSION_KEY = "castmeter_authenticated"
# A wrong password costs the guesser this much more than bcrypt already does.
WRONG_PASSWORD_DELAY_S = 1.0


def password_matches(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("utf-8"))
    except ValueError:  # not a bcrypt hash: refuse rather than crash
        return False


def _secrets() -> Mapping[str, Any]:
    """st.secrets as a mapping; empty when there is no secrets file (reading it then raises)."""
    try:
        return {key: st.secrets[key] for key in st.secrets}
    except Exception:  # FileNotFoundError / StreamlitSecretNotFoundError: no secrets configured
        return {}


def configured_password_hash() -> str:
    """The bcrypt hash from the environment, else from st.secrets; "" when none."""
    from_env = os.environ.get(ENV_PASSWORD_HASH, "").strip()
    if from_env:
        return from_env
    section = _secrets().get(SECRETS_SECTION)
    if isinstance(section, Mapping):
        return str(section.get(SECRETS_HASH_KEY, "")).strip()
    return ""


def oidc_providers() -> list[str | None]:
    """The st.login providers configured under [auth]: [None] for the default one, or names."""
    auth = _secrets().get("auth")
    if not isinstance(auth, Mapping):
        return []
    named = [key for key, value in auth.items() if isinstance(value, Mapping)]
    if "client_id" in auth or "server_metadata_url" in auth:
        return [None, *named]
    return list(named)


def _oidc_signed_in() -> bool:
    try:
        return bool(st.user.is_logged_in)
    except Exception:  # st.user needs [auth]; without it nobody is signed in that way
        return False


def login_required() -> bool:
    return bool(configured_password_hash() or oidc_providers())


def require_login() -> None:
    """Return when the visitor may see the dashboard; otherwise draw the sign-in and stop."""
    password_hash = configured_password_hash()
    providers = oidc_providers()
    if not password_hash and not providers:
        return
    if st.session_state.get(_SESSION_KEY) is True or (providers and _oidc_signed_in()):
        return
    st.title("castmeter")
    st.caption("Sign in to see the fleet, its usage and its costs.")
    for provider in providers:
        label = "Sign in with single sign-on" if provider is None else f"Sign in with {provider}"
        if st.button(label, key=f"oidc_{provider or 'default'}"):
            st.login(provider) if provider is not None else st.login()
    if password_hash:
        with st.form("login"):
            password = st.text_input("Password", type="password")
            submitted = st.form_submit_button("Sign in")
        if submitted:
            if password_matches(password, password_hash):
                st.session_state[_SESSION_KEY] = True
                st.rerun()
            time.sleep(WRONG_PASSWORD_DELAY_S)
            st.error("Wrong password.")
    st.stop()


def sign_out_button() -> None:
    """A sign-out control for the sidebar (only when a sign-in is configured)."""
    if not login_required():
        return
    if st.sidebar.button("Sign out", key="sign_out"):
        st.session_state.pop(_SESSION_KEY, None)
        if _oidc_signed_in():
            st.logout()
        st.rerun()
