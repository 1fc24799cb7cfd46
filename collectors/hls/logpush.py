"""Cloudflare Logpush ``http_requests`` files in a directory (ndjson, gzipped or not); the same
batches as objects in an R2/S3 bucket are read by collectors/hls/logpush_bucket.py through
:func:`read_batch`.

Logpush delivers at least once as far as castmeter can tell (its docs do not promise exactly
once; the issue lists duplicated files): a file whose bytes were already read (same SHA-256,
whatever its name) is skipped, and within a file a repeated ``RayID`` is counted once. Files are
read whole, oldest first (mtime, then name), up to the poll's byte budget. Timestamps may be
``unixnano`` (the API's default), ``unix`` or ``rfc3339`` (records.parse_timestamp reads all
three). Only ndjson output is supported (Logpush's default ``output_type``).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO

from collectors.hls.jsonlog import request_from_record
from collectors.hls.records import BadLine, Request
from collectors.hls.tailer import FileCursor

LOGPUSH_FIELDS: Mapping[str, str] = {
    "time": "EdgeEndTimestamp|EdgeStartTimestamp",
    "client": "ClientIP",
    "path": "ClientRequestPath|ClientRequestURI",
    "method": "ClientRequestMethod",
    "status": "EdgeResponseStatus",
    "bytes": "EdgeResponseBodyBytes|EdgeResponseBytes",
    "user_agent": "ClientRequestUserAgent",
}
SUFFIXES = (".gz", ".log", ".json", ".ndjson", ".jsonl")


def content_key(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def parse_logpush_line(line: str) -> Request:
    """One Logpush ``http_requests`` record (its ``RayID`` kept for de-duplication)."""
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BadLine("not JSON") from exc
    if not isinstance(record, dict):
        raise BadLine("not a JSON object")
    request = request_from_record(record, LOGPUSH_FIELDS)
    ray_id = record.get("RayID")
    if isinstance(ray_id, str) and ray_id:
        return dataclasses.replace(request, ray_id=ray_id)
    return request


def read_batch(handle: IO[bytes], gzipped: bool, counts: dict[str, int]) -> Iterator[Request]:
    """The requests of one Logpush batch (a file or an object's body), a repeated RayID once.
    ``counts`` gathers ``lines``, ``bad_lines`` and ``duplicate_records``. A cut-off gzip raises
    OSError/EOFError after what came before the damage was yielded."""
    raw: IO[bytes] | gzip.GzipFile = gzip.GzipFile(fileobj=handle, mode="rb") if gzipped else handle
    text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace")
    rays: set[str] = set()  # one batch's RayIDs: bounded by Logpush's batch size
    for line in text:
        counts["lines"] = counts.get("lines", 0) + 1
        try:
            request = parse_logpush_line(line)
        except BadLine:
            counts["bad_lines"] = counts.get("bad_lines", 0) + 1
            continue
        if request.ray_id:
            if request.ray_id in rays:
                counts["duplicate_records"] = counts.get("duplicate_records", 0) + 1
                continue
            rays.add(request.ray_id)
        yield request


class LogpushDirectory:
    """The not-yet-read Logpush files of ``directory``."""

    def __init__(self, directory: str, *, budget_bytes: int) -> None:
        self.directory = Path(directory)
        self.budget_bytes = budget_bytes
        self.done_keys: set[str] = set()
        self._seen_paths: dict[str, tuple[int, int]] = {}  # path -> (size, mtime_ns) already handled
        self._touched: list[FileCursor] = []

    def load(self, cursors: list[FileCursor]) -> None:
        self.done_keys = {cursor.file_key for cursor in cursors if cursor.done}

    def touched(self) -> list[FileCursor]:
        return list(self._touched)

    def read(self, warnings: list[str], counts: dict[str, int]) -> Iterator[Request]:
        """The requests of each new file, in order, a repeated RayID once. ``counts`` gathers
        ``bytes_read``, ``lines``, ``bad_lines`` and ``duplicate_records``."""
        self._touched = []
        if not self.directory.is_dir():
            warnings.append(f"Logpush directory {self.directory} not found")
            return
        files = []
        for entry in self.directory.iterdir():
            if entry.is_file() and entry.name.endswith(SUFFIXES):
                stat = entry.stat()
                if self._seen_paths.get(str(entry)) != (stat.st_size, stat.st_mtime_ns):
                    files.append((stat.st_mtime_ns, entry.name, entry, stat))
        for _mtime, _name, entry, stat in sorted(files):
            if counts.get("bytes_read", 0) >= self.budget_bytes:
                return
            key = content_key(entry)
            self._seen_paths[str(entry)] = (stat.st_size, stat.st_mtime_ns)
            if key in self.done_keys:
                warnings.append(f"Logpush file {entry.name} repeats a file already read: skipped")
                continue
            try:
                with entry.open("rb") as handle:
                    yield from read_batch(handle, entry.name.endswith(".gz"), counts)
            except (OSError, EOFError) as exc:  # a cut-off gzip (an aborted upload)
                warnings.append(
                    f"Logpush file {entry.name} is damaged ({type(exc).__name__}): read up to the damage"
                )
            counts["bytes_read"] = counts.get("bytes_read", 0) + stat.st_size
            self.done_keys.add(key)
            self._touched.append(FileCursor(key, str(entry), "", stat.st_size, done=True))
