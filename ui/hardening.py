"""Refuse the websocket messages no castmeter user needs, for every session, signed in or not.

Any websocket client — signed in or not — can send Streamlit these and Streamlit obeys:

- ``clear_cache``: empties *every* user's ``st.cache_data`` / ``st.cache_resource`` (the
  developer menu's "Clear cache"; castmeter's toolbar is in viewer mode, so no user has it).
  Looped, it keeps every page cold: a CPU denial of service.
- ``file_urls_request``: hands out upload URLs (no castmeter page uploads anything;
  ``server.maxUploadSize = 0`` refuses the bytes too).
- ``load_git_info``: reports the repository, branch and remote of the checkout.
- ``set_run_on_save``: flips the server's rerun-on-save.

They travel inside the websocket's binary frames, where no reverse proxy can see them, and
Streamlit has no setting or hook to refuse them; so castmeter wraps Streamlit's one message
dispatcher (``AppSession.handle_backmsg``) once per process. Refusals are logged at most once
a minute per kind, with the count. tests/security/test_session_messages.py proves it against a
real server, so a Streamlit upgrade that moves the dispatcher fails the suite.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any

from core.logs import ensure_logger

log = logging.getLogger("castmeter.hardening")

REFUSED_MESSAGES = frozenset({"clear_cache", "file_urls_request", "load_git_info", "set_run_on_save"})
LOG_EVERY_S = 60.0

_lock = threading.Lock()
_refused: Counter[str] = Counter()
_last_log = {"ts": 0.0}


def _note_refusal(kind: str) -> None:
    with _lock:
        _refused[kind] += 1
        now = time.monotonic()
        if now - _last_log["ts"] < LOG_EVERY_S:
            return
        counts = ", ".join(f"{name}={count}" for name, count in sorted(_refused.items()))
        _refused.clear()
        _last_log["ts"] = now
    log.warning("refused websocket messages (since the last report): %s", counts)


def install() -> bool:
    """Wrap Streamlit's dispatcher (idempotent); False when Streamlit no longer has it. Also
    gives castmeter's own dashboard loggers (``castmeter.*``: sign-ins, refusals) a handler."""
    ensure_logger("castmeter")
    try:
        from streamlit.runtime.app_session import AppSession
    except ImportError:
        log.error("streamlit.runtime.app_session is gone: clear_cache and uploads are NOT refused")
        return False
    original = getattr(AppSession, "handle_backmsg", None)
    if original is None:
        log.error("AppSession.handle_backmsg is gone: clear_cache and uploads are NOT refused")
        return False
    if getattr(original, "castmeter_guarded", False):
        return True

    def handle_backmsg(self: Any, msg: Any) -> None:
        kind = msg.WhichOneof("type")
        if kind in REFUSED_MESSAGES:
            _note_refusal(kind)
            return
        original(self, msg)

    handle_backmsg.castmeter_guarded = True  # type: ignore[attr-defined]
    AppSession.handle_backmsg = handle_backmsg  # type: ignore[method-assign]
    return True
