"""Page state in the URL (``st.query_params``), read back only through an allow-list.

Only plain strings that pass their key's validator are ever used; anything else in the URL
is ignored and dropped on the next write. Values are never deserialised (no pickle, no JSON
of arbitrary shapes), so a shared link can only choose among states the pages offer anyway.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date

import streamlit as st

RANGE_KEYS: tuple[str, ...] = ("1h", "6h", "24h", "7d", "30d", "custom")
STATUS_KEYS: tuple[str, ...] = ("all", "live", "ended")
MAX_SEARCH_CHARS = 200
MAX_NAME_CHARS = 100
MAX_TARGET_CHARS = 200  # alert targets: node ids, stream names

# "<source id>:<room sid or node id>"; ids are printable ASCII without spaces.
_KEYED_ID = re.compile(r"^[0-9]{1,9}:[A-Za-z0-9_.:\-]{1,200}$")


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def _is_plain_text(limit: int) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        return len(value) <= limit and value.isprintable()

    return check


ALLOWED: Mapping[str, Callable[[str], bool]] = {
    # Shared by every page (the sidebar).
    "source": _is_plain_text(MAX_NAME_CHARS),  # a source name, or "all"; checked against the store too
    "range": lambda value: value in RANGE_KEYS,
    "from": _is_date,
    "to": _is_date,
    "live": lambda value: value in ("0", "1"),
    # Streams page.
    "q": _is_plain_text(MAX_SEARCH_CHARS),
    "status": lambda value: value in STATUS_KEYS,
    "stream": lambda value: bool(_KEYED_ID.match(value)),
    # Nodes page.
    "node": lambda value: bool(_KEYED_ID.match(value)),
    "plan": _is_plain_text(MAX_SEARCH_CHARS),  # Planner page: key=value;… parsed strictly by ui/planner.py
    # Alerts page: the rule and target an alert links to (checked against the rules and targets).
    "rule": _is_plain_text(MAX_NAME_CHARS),
    "target": _is_plain_text(MAX_TARGET_CHARS),
}


def read(key: str) -> str | None:
    """The URL's value for ``key`` when it is allow-listed and valid, else None."""
    validator = ALLOWED.get(key)
    if validator is None:
        return None
    values = st.query_params.get_all(key)
    if len(values) != 1:  # a repeated key is ambiguous: ignore it
        return None
    value = values[0]
    return value if validator(value) else None


def write(values: Mapping[str, str | None]) -> None:
    """Put ``values`` in the URL (None removes a key) and drop every key not allow-listed
    or no longer valid, so the address bar only ever shows state the app understands."""
    for key in list(st.query_params.keys()):
        if key not in ALLOWED or read(key) is None:
            del st.query_params[key]
    for key, value in values.items():
        if key not in ALLOWED:
            raise KeyError(f"query parameter {key!r} is not allow-listed")
        if value is None or not ALLOWED[key](value):
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != value:
            st.query_params[key] = value


def split_keyed_id(value: str | None) -> tuple[int, str] | None:
    """``"3:RM_abc"`` → ``(3, "RM_abc")``; None for anything else."""
    if value is None or not _KEYED_ID.match(value):
        return None
    source, _, ident = value.partition(":")
    return int(source), ident


def keyed_id(source_id: int, ident: str) -> str:
    return f"{source_id}:{ident}"
