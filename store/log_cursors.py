"""Writes of ``log_cursors``: where a log reader stopped in each file (issue 17). Written in the
same transaction as the samples those lines produced (collectors/pollers/hls.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from store import schema
from store.upsert import upsert


@dataclass(frozen=True)
class LogCursor:
    """One file's (or Logpush object's) read position."""

    file_key: str
    path: str
    fingerprint: str
    offset_bytes: int
    done: bool


def write_log_cursors(
    connection: Connection, source_id: int, cursors: Sequence[LogCursor], updated_ts: int
) -> int:
    """Upsert ``cursors`` of one source; returns the rows written."""
    rows = [
        {
            "source_id": source_id,
            "file_key": cursor.file_key,
            "path": cursor.path,
            "fingerprint": cursor.fingerprint,
            "offset_bytes": cursor.offset_bytes,
            "done": cursor.done,
            "updated_ts": updated_ts,
        }
        for cursor in cursors
    ]
    return upsert(connection, schema.log_cursors, rows)
