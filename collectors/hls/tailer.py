"""Reading a growing access log from where the last poll stopped.

Each file is known by ``dev:inode`` plus a fingerprint of its first bytes (an inode number can be
reused by a new file). Across polls and restarts a cursor (collectors/pollers/hls.py keeps it in
``log_cursors``) says how far a file was read:

- *rename rotation* (Debian's logrotate, Caddy's roller): the path now names a new inode; the old
  one is found beside it (``access.log.1``) and read to its end first, then the new file from 0;
- *copytruncate*: the same inode got shorter, or its first bytes changed: read again from 0;
- a partial last line (the writer is mid-line) is left for the next poll; in a rotated file it is
  a truncated line: skipped and counted;
- a line longer than ``max_line_bytes`` is skipped and counted; at most ``budget_bytes`` are
  read per poll (the rest next poll), so memory and a poll's time stay bounded on any backlog.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

FINGERPRINT_BYTES = 256


@dataclass
class FileCursor:
    """How far one file was read (the ``log_cursors`` row)."""

    file_key: str
    path: str
    fingerprint: str
    offset_bytes: int
    done: bool = False


def file_key(stat: os.stat_result) -> str:
    return f"{stat.st_dev}:{stat.st_ino}"


def fingerprint(path: Path, length: int = FINGERPRINT_BYTES) -> str:
    """``<n>:<sha1 of the first n bytes>`` (n <= length; "" for an empty file)."""
    with path.open("rb") as handle:
        head = handle.read(length)
    return f"{len(head)}:{hashlib.sha1(head).hexdigest()}" if head else ""


def same_start(path: Path, stored: str) -> bool:
    """Whether ``path`` still starts with the bytes ``stored`` fingerprinted."""
    if not stored:
        return True
    length = int(stored.split(":", 1)[0])
    return fingerprint(path, length) == stored


@dataclass
class TailStats:
    lines: int = 0
    bytes_read: int = 0
    skipped_overlong: int = 0
    skipped_truncated: int = 0


class FileTailer:
    """The lines appended to ``path`` (and its rotated predecessor) since the last read."""

    def __init__(self, path: str, *, budget_bytes: int, max_line_bytes: int = 16_384) -> None:
        self.path = Path(path)
        self.budget_bytes = budget_bytes
        self.max_line_bytes = max_line_bytes
        self.cursors: dict[str, FileCursor] = {}

    def load(self, cursors: list[FileCursor]) -> None:
        """The cursors stored for this source (unfinished ones; done files are never re-read)."""
        self.cursors = {cursor.file_key: cursor for cursor in cursors if not cursor.done}

    def read(self, warnings: list[str], stats: TailStats) -> Iterator[str]:
        """Every complete new line, oldest first, within the byte budget. The cursors advance as
        lines are yielded; :attr:`cursors` (and :meth:`touched`) hold them afterwards."""
        self._touched: dict[str, FileCursor] = {}
        try:
            current: os.stat_result | None = self.path.stat()
        except FileNotFoundError:
            current = None
        current_key = file_key(current) if current is not None else None
        for cursor in [c for c in self.cursors.values() if c.file_key != current_key]:
            yield from self._finish_rotated(cursor, warnings, stats)
        if current is None:
            warnings.append(f"log file {self.path} not found")
            return
        assert current_key is not None
        known = self.cursors.get(current_key)
        if known is None:
            cursor = self.cursors[current_key] = FileCursor(current_key, str(self.path), "", 0)
        else:
            cursor = known
        if known is not None and (
            current.st_size < cursor.offset_bytes or not same_start(self.path, cursor.fingerprint)
        ):
            warnings.append(
                f"{self.path} was truncated or replaced (copytruncate?): read again from its start "
                f"(was at byte {cursor.offset_bytes})"
            )
            cursor.offset_bytes, cursor.fingerprint = 0, ""
        yield from self._read_file(self.path, cursor, rotated=False, stats=stats, warnings=warnings)

    def touched(self) -> list[FileCursor]:
        """The cursors the last :meth:`read` moved or finished (what the snapshot stores)."""
        return list(getattr(self, "_touched", {}).values())

    def _finish_rotated(self, cursor: FileCursor, warnings: list[str], stats: TailStats) -> Iterator[str]:
        rotated = self._find(cursor)
        if rotated is None:
            warnings.append(
                f"rotated log {cursor.path} ({cursor.file_key}) is gone (compressed or deleted): "
                f"its lines after byte {cursor.offset_bytes} were not read"
            )
            cursor.done = True
            self._touched[cursor.file_key] = cursor
            del self.cursors[cursor.file_key]
            return
        cursor.path = str(rotated)
        yield from self._read_file(rotated, cursor, rotated=True, stats=stats, warnings=warnings)
        if cursor.done:
            del self.cursors[cursor.file_key]

    def _find(self, cursor: FileCursor) -> Path | None:
        """The file now holding ``cursor``'s inode: its old path, or a sibling named after the
        log (``access.log.1``, Caddy's ``access-<time>.log``); never a compressed one."""
        stem = self.path.stem if self.path.suffix else self.path.name
        candidates = [Path(cursor.path)]
        try:
            candidates += sorted(
                entry
                for entry in self.path.parent.iterdir()
                if entry.name.startswith(stem) and not entry.name.endswith((".gz", ".zst", ".bz2", ".xz"))
            )
        except FileNotFoundError:
            return None
        for candidate in candidates:
            try:
                stat = candidate.stat()
            except (FileNotFoundError, NotADirectoryError):
                continue
            if file_key(stat) == cursor.file_key and same_start(candidate, cursor.fingerprint):
                return candidate
        return None

    def _read_file(
        self, path: Path, cursor: FileCursor, *, rotated: bool, stats: TailStats, warnings: list[str]
    ) -> Iterator[str]:
        limit = self.max_line_bytes
        with path.open("rb") as handle:
            if not cursor.fingerprint:
                cursor.fingerprint = fingerprint(path)
            handle.seek(cursor.offset_bytes)
            self._touched[cursor.file_key] = cursor
            while stats.bytes_read < self.budget_bytes:
                line = handle.readline(limit + 1)
                if not line:
                    cursor.done = rotated  # a rotated file read to its end is finished
                    return
                if not line.endswith(b"\n"):
                    if len(line) > limit:  # overlong: skip to its end
                        skipped = len(line)
                        while line and not line.endswith(b"\n"):
                            line = handle.readline(limit + 1)
                            skipped += len(line)
                        if not line and not rotated:  # its end is not written yet: retry later
                            return
                        stats.skipped_overlong += 1
                        cursor.offset_bytes += skipped
                        stats.bytes_read += skipped
                        continue
                    if not rotated:  # the writer is mid-line: the rest comes next poll
                        return
                    stats.skipped_truncated += 1  # a rotated file's cut-off last line
                    cursor.offset_bytes += len(line)
                    stats.bytes_read += len(line)
                    continue
                cursor.offset_bytes += len(line)
                stats.bytes_read += len(line)
                stats.lines += 1
                yield line.decode("utf-8", "replace")
