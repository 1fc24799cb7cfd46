"""Missing cells read "no data" in the browser too: the grid draws a null cell as "None" unless
the table carries a placeholder, whatever a Styler's na_rep says (seen in Chromium on the Nodes
page). Every table goes through ui.tables.show_table, which sets it."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from harness.realparts import REPO_ROOT
from tests.pages.conftest import page_path
from ui.tables import NO_DATA

PAGE_MODULES = sorted([*(REPO_ROOT / "pages").glob("*.py"), *(REPO_ROOT / "ui").glob("*.py")])


def dataframe_calls(source: str) -> list[int]:
    """Lines calling ``<anything>.dataframe(…)``: st.dataframe, a column's, a container's."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "dataframe"
    ]


@pytest.mark.parametrize("path", PAGE_MODULES, ids=lambda path: path.relative_to(REPO_ROOT).as_posix())
def test_tables_are_drawn_through_show_table(path: Path) -> None:
    if path == REPO_ROOT / "ui" / "tables.py":
        return
    assert dataframe_calls(path.read_text()) == [], f"{path.name}: use ui.tables.show_table"


def test_the_check_sees_a_direct_call() -> None:
    assert dataframe_calls("import streamlit as st\ncolumn = st\ncolumn.dataframe(frame)\n") == [3]


def test_a_down_node_reads_no_data_in_the_browser_grid(populated_store: dict[str, Any]) -> None:
    app = AppTest.from_file(page_path("nodes"), default_timeout=30)
    app.run()
    assert not app.exception, app.exception
    assert app.dataframe, "the Nodes table"
    assert {table.proto.placeholder for table in app.dataframe} == {NO_DATA}
