"""Sign-in: the gate every page and every live fragment passes through.

Two ways in, either or both:

- a password, stored only as a bcrypt hash: ``CASTMETER_PASSWORD_HASH`` in the environment,
  or ``password_hash`` under ``[castmeter]`` in ``.streamlit/secrets.toml``. Make one with
  ``python -m core.password``;
- OIDC through Streamlit's ``st.login`` when ``.streamlit/secrets.toml`` has an ``[auth]``
  section (redirect_uri, cookie_secret, client_id, client_secret, server_metadata_url; or
  named providers as ``[auth.<name>]``).

With neither, the dashboard is open (a local tool; ``make run`` warns loudly when it serves a
non-loopback address that way).

Defence in depth: app.py calls :func:`require_login` before the sidebar and the page, *and*
every page calls it again itself (ui/page.py ``start``), *and* every fragment re-checks it on
each of its own runs (:func:`fragment`) — a timed fragment rerun skips app.py and the page, and
Streamlit can run a page file without app.py (its ``pages/`` folder routing on a fresh server).
No check trusts Streamlit's page registry.

A sign-in is a :class:`SignIn` object in the session state — no widget can ever produce one —
bound to the client that made it (ui/client.py): a session resumed by its id from another
client is not signed in. Password attempts go through one process-wide limiter
(core/signin_limiter.py) per client address and in all, and every failure is logged (address
and counts, never the guess). Runs of the sign-in page itself are paced process-wide
(core/run_pace.py) so that unauthenticated sessions cannot starve the signed-in ones.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec

import bcrypt
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core.run_pace import RunPace
from core.signin_limiter import SignInLimiter
from ui import data
from ui.client import client_address, client_fingerprint

log = logging.getLogger("castmeter.auth")

ENV_PASSWORD_HASH = "CASTMETER_PASSWORD_HASH"
SECRETS_SECTION = "castmeter"
SECRETS_HASH_KEY = "password_hash"
_SESSION_KEY = "castmeter_sign_in"
_LAST_RUN_KEY = "castmeter_unauthenticated_run_ts"
SIGN_IN_MAX_AGE_S = 12 * 3600  # a sign-in lasts a working day; then the password again
# Runs of the sign-in page, process-wide: [dashboard] sign_in_runs_per_s after a burst of
# sign_in_burst (defaults 5 and 10; each run costs ~0.1 s of CPU); at least 1 s apart per
# session. A waiting run sleeps at most 15 s, so an honest visitor never waits longer for the
# form — and a flood of N sessions gets N/15 runs a second on top (the proxy caps N per address).
UNAUTHENTICATED_MAX_WAIT_S = 15.0
SESSION_MIN_INTERVAL_S = 1.0

# One of each per dashboard process (shared by every browser session). Deliberately not
# st.cache_resource: any session could ask Streamlit to clear those caches.
LIMITER = SignInLimiter()
_pace: RunPace | None = None
_pace_lock = threading.Lock()


def _run_pace() -> RunPace:
    global _pace
    with _pace_lock:
        if _pace is None:
            rate_per_s, burst = 5.0, 10
            try:
                dashboard = data.settings().dashboard
                rate_per_s, burst = dashboard.sign_in_runs_per_s, dashboard.sign_in_burst
            except Exception:  # an invalid configuration still gets a working, paced sign-in
                pass
            _pace = RunPace(rate_per_s, burst, UNAUTHENTICATED_MAX_WAIT_S)
        return _pace


@dataclass(frozen=True)
class SignIn:
    """A session's sign-in: which client made it, when, and how."""

    fingerprint: str
    at_ts: float
    method: str  # "password"


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


def signed_in() -> bool:
    """Whether this session may see the fleet right now (always, when no sign-in is configured)."""
    providers = oidc_providers()
    if not configured_password_hash() and not providers:
        return True
    if providers and _oidc_signed_in():  # the identity comes with every websocket (a signed cookie)
        return True
    record = st.session_state.get(_SESSION_KEY)
    return (
        isinstance(record, SignIn)
        and time.time() - record.at_ts < SIGN_IN_MAX_AGE_S
        and record.fingerprint == client_fingerprint()
    )


def _pace_unauthenticated_run() -> None:
    """Wait for this run's turn: per session, then process-wide (see the module docstring)."""
    now = time.monotonic()
    last = st.session_state.get(_LAST_RUN_KEY)
    if isinstance(last, float) and 0 <= now - last < SESSION_MIN_INTERVAL_S:
        time.sleep(SESSION_MIN_INTERVAL_S - (now - last))
    _run_pace().wait()
    st.session_state[_LAST_RUN_KEY] = time.monotonic()


def _check_password(password: str, password_hash: str) -> bool:
    """Whether the password is right, through the limiter; shows why when it is refused."""
    address = client_address()
    verdict = LIMITER.check(address)
    if not verdict.allowed:
        log.warning(
            "sign-in refused for %s: too many failed sign-ins %s; next attempt in %.0f s",
            address,
            "from this address" if verdict.scope == "address" else "in all",
            verdict.retry_after_s,
        )
        who = "from your address" if verdict.scope == "address" else "on this dashboard"
        st.error(
            f"Too many failed sign-ins {who}. Try again in {max(1, round(verdict.retry_after_s))} s.",
            icon=":material/hourglass_top:",
        )
        return False
    if password_matches(password, password_hash):
        LIMITER.succeeded(address)
        log.info("sign-in for %s", address)
        return True
    failure = LIMITER.failed(address)
    log.warning(
        "sign-in failed for %s: wrong password (%d failed from this address in %d min, %d in all in %d min)%s",
        address,
        failure.address_failures,
        round(LIMITER.policy.address_window_s / 60),
        failure.all_failures,
        round(LIMITER.policy.global_window_s / 60),
        f"; next attempt in {failure.next_allowed_in_s:.0f} s" if failure.next_allowed_in_s > 0 else "",
    )
    st.error("Wrong password.")
    return False


def require_login(keep_page: Callable[[], object] | None = None) -> None:
    """Return when this session may see the dashboard; otherwise draw the sign-in and stop.

    Called by app.py and again by every page, so no routing path can skip it. ``keep_page``
    runs after the form, before the stop: app.py resolves its (hidden) navigation there, so the
    address a visitor came with (``/streams?range=7d``) is where the sign-in leads."""
    if signed_in():
        return
    _pace_unauthenticated_run()
    password_hash = configured_password_hash()
    providers = oidc_providers()
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
        if submitted and _check_password(password, password_hash):
            st.session_state[_SESSION_KEY] = SignIn(client_fingerprint(), time.time(), "password")
            st.rerun()  # the same page, now signed in (the address keeps its page and parameters)
    if keep_page is not None:
        keep_page()
    st.stop()


P = ParamSpec("P")


def fragment(
    run_every: float | None = None,
) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """``st.fragment`` whose every run checks the sign-in first. A fragment's own reruns (timed,
    or a widget inside it) run neither app.py nor the page, only the fragment; a session that is
    not signed in (any more, or never was) gets a full rerun — the sign-in page — instead of
    the fragment's data."""

    def decorate(body: Callable[P, None]) -> Callable[P, None]:
        @functools.wraps(body)
        def gated(*args: P.args, **kwargs: P.kwargs) -> None:
            if not signed_in():
                _leave_fragment()
            body(*args, **kwargs)

        return st.fragment(gated, run_every=run_every)

    return decorate


def _leave_fragment() -> None:
    """From a fragment's own run: rerun the whole app (which shows the sign-in). Within a full
    run (the page's gate already let it through, so this cannot loop) just stop."""
    context = get_script_run_ctx()
    if context is not None and context.fragment_ids_this_run:
        st.rerun(scope="app")
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


def reset_for_tests() -> None:
    """Forget every failure and turn (tests share one process and one limiter)."""
    global _pace
    LIMITER.reset()
    with _pace_lock:
        _pace = None
