"""Who is on the other end of this session's websocket: the client's address (through a trusted
reverse proxy, the address the proxy saw) and a fingerprint that ties a sign-in to the browser
that made it.

Streamlit lets anyone who presents a session's id reconnect to it (a dropped browser resumes
its session that way, within ``server.disconnectedSessionTTL``). A sign-in therefore records
the fingerprint of the client that signed in — its address and the random token of Streamlit's
``_streamlit_xsrf`` cookie, which the browser sends with every websocket handshake — and a
session presenting another fingerprint is not signed in, whatever its session state says.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections.abc import Iterable

import streamlit as st

from ui import data

log = logging.getLogger(__name__)

XSRF_COOKIE = "_streamlit_xsrf"
LOOPBACK = "127.0.0.1"
DEFAULT_TRUSTED_PROXIES = ("127.0.0.1", "::1")


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip().strip("[]")))
    except ValueError:
        return None


def _trusted(peer: str, proxies: Iterable[str]) -> bool:
    address = ipaddress.ip_address(peer)
    for proxy in proxies:
        try:
            if address in ipaddress.ip_network(proxy, strict=False):
                return True
        except ValueError:
            continue
    return False


def _trusted_proxies() -> tuple[str, ...]:
    try:
        return tuple(data.settings().dashboard.trusted_proxies)
    except Exception:  # an invalid configuration still needs a working sign-in
        return DEFAULT_TRUSTED_PROXIES


def resolve_address(peer: str | None, forwarded_for: str | None, proxies: Iterable[str]) -> str:
    """The client's address: the peer's, or — when the peer is a trusted proxy — the last hop
    of ``X-Forwarded-For`` (the address the proxy itself saw; earlier hops are the client's
    own claims)."""
    peer_ip = _valid_ip(peer) if isinstance(peer, str) and peer else LOOPBACK
    if peer_ip is None:
        return "unknown"
    if forwarded_for and _trusted(peer_ip, proxies):
        last_hop = _valid_ip(forwarded_for.split(",")[-1])
        if last_hop is not None:
            return last_hop
    return peer_ip


def client_address() -> str:
    """This session's client address (``st.context.ip_address`` is None on loopback)."""
    peer = st.context.ip_address
    forwarded = st.context.headers.get("X-Forwarded-For")
    return resolve_address(peer if isinstance(peer, str) else None, forwarded, _trusted_proxies())


def _xsrf_token(raw: str | None) -> str:
    """The random token inside Streamlit's XSRF cookie (the cookie's text changes on every
    health check — a new mask — but the token stays); the raw text when it cannot be decoded."""
    if not raw:
        return ""
    try:
        from streamlit.web.server.starlette.starlette_app_utils import decode_xsrf_token_string

        token, _timestamp = decode_xsrf_token_string(raw)
    except Exception:  # Streamlit moved it: the raw cookie still identifies the browser
        return raw
    return token.hex() if token else raw


def fingerprint(address: str, xsrf_cookie: str | None) -> str:
    return hashlib.sha256(f"{address}|{_xsrf_token(xsrf_cookie)}".encode()).hexdigest()


def client_fingerprint() -> str:
    return fingerprint(client_address(), st.context.cookies.get(XSRF_COOKIE))
