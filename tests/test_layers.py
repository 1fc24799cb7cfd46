"""analytics/ holds no SQL: it takes frames and plain values (store.queries reads them).

No module under analytics/ imports sqlalchemy or any part of store/ but
``store.queries.results`` (the dataclasses the queries return), and none writes SQL text. The
command-line entry points (analytics/commands/) are the exception by design: a command opens
the store, reads through store.queries and hands the frames to analytics, as ui/data.py does
for the pages.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.realparts import REPO_ROOT

ANALYTICS = REPO_ROOT / "analytics"
EDGES = (ANALYTICS / "commands",)
# Still reading through store.queries until the capacity split (issue 15, item 2) lands.
ALLOWED_STORE = {"store.queries.results"}
SQL = re.compile(r"\b(SELECT\s+[\w*(]|INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET|CREATE\s+TABLE)")


def analytics_modules() -> Iterator[Path]:
    for path in sorted(ANALYTICS.rglob("*.py")):
        if not any(path.is_relative_to(edge) for edge in EDGES):
            yield path


def _relative(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "store":
                yield from ((node.lineno, f"store.{alias.name}") for alias in node.names)
            elif node.module == "store.queries":
                yield from ((node.lineno, f"store.queries.{alias.name}") for alias in node.names)
            else:
                yield node.lineno, node.module


def violations(path: Path, name: str) -> list[str]:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    found = []
    for line, module in imported_modules(tree):
        top = module.split(".", 1)[0]
        if top == "sqlalchemy" or (top == "store" and module not in ALLOWED_STORE):
            found.append(f"{name}:{line} imports {module}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value):
            found.append(f"{name}:{node.lineno} holds SQL text")
    return found


@pytest.mark.parametrize("path", list(analytics_modules()), ids=_relative)
def test_analytics_reads_no_store(path: Path) -> None:
    assert violations(path, _relative(path)) == []


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    # The rule itself: a module that reads the store is caught, one that takes frames is not.
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from sqlalchemy import select\nfrom store import schema\nfrom store.queries import usage\n"
        "import store.engine\nQUERY = 'SELECT id FROM sources'\n",
        encoding="utf-8",
    )
    good = tmp_path / "good.py"
    good.write_text(
        "from store.queries.results import UsageParts\nTEXT = 'select a plan'\n", encoding="utf-8"
    )
    assert [v.split(" ", 1)[1] for v in violations(bad, bad.name)] == [
        "imports sqlalchemy",
        "imports store.schema",
        "imports store.queries.usage",
        "imports store.engine",
        "holds SQL text",
    ]
    assert violations(good, good.name) == []
