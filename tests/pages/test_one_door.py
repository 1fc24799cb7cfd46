"""The UI has one door to the data: ui/data.py. No other file in pages/ or ui/ opens an engine or
a connection, imports SQLAlchemy or the store, or keeps a cached reader of its own (issue 15)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from harness.realparts import REPO_ROOT

DOOR = REPO_ROOT / "ui" / "data.py"
# Caches that read no data: the background pool the Overview prices its window in.
CACHES_ALLOWED = {("ui/background.py", "shared_pending")}
CACHE_DECORATORS = {"cache_data", "cache_resource"}


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def door_violations(source: str, name: str) -> list[str]:
    """What in ``source`` (the file ``name``, relative to the repository) goes around the door."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module]
        for module in modules:
            if module.split(".")[0] in ("sqlalchemy", "store"):
                found.append(f"{name}:{getattr(node, 'lineno', 0)}: imports {module}")
        if isinstance(node, ast.Call):
            called = _dotted(node.func)
            if called.split(".")[-1] in ("engine", "connect"):
                found.append(f"{name}:{node.lineno}: calls {called}(")
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                if (
                    _dotted(decorator).split(".")[-1] in CACHE_DECORATORS
                    and (name, node.name) not in CACHES_ALLOWED
                ):
                    found.append(f"{name}:{node.lineno}: cached reader {node.name}")
    return found


def _ui_files() -> list[Path]:
    files = sorted((REPO_ROOT / "pages").glob("*.py")) + sorted((REPO_ROOT / "ui").rglob("*.py"))
    files.append(REPO_ROOT / "app.py")
    return [path for path in files if path != DOOR and DOOR not in path.parents]


def test_pages_and_ui_go_through_the_data_door() -> None:
    files = _ui_files()
    assert len(files) > 20  # every page and ui module, not an empty glob
    found = [
        v
        for path in files
        for v in door_violations(path.read_text(encoding="utf-8"), str(path.relative_to(REPO_ROOT)))
    ]
    assert found == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "from ui import data\nwith data.engine(url).connect() as c:\n    pass\n",
            ["calls data.engine(", "calls connect("],
        ),
        ("import sqlalchemy\n", ["imports sqlalchemy"]),
        ("from store.queries import fleet\n", ["imports store.queries"]),
        (
            "import streamlit as st\n@st.cache_data(ttl=5)\ndef rows(url):\n    return 1\n",
            ["cached reader rows"],
        ),
        ("from ui import data\nrows = data.headline(url, 0, 1, None)\n", []),
    ],
)
def test_the_door_check_sees_each_way_around(source: str, expected: list[str]) -> None:
    found = [v.split(": ", 1)[1] for v in door_violations(source, "pages/x.py")]
    assert sorted(found) == sorted(expected)
