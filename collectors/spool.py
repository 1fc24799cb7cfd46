"""A bounded on-disk spool for writes the database refused.

When the store is unavailable (PostgreSQL stopped, SQLite locked by another writer past the
busy timeout), a tick's snapshot is appended here instead of being lost, and replayed in
order, oldest first, before anything newer is written once the store answers again.

The spool is its own small SQLite file (``<dir>/<name>.sqlite``): appends and removals are
atomic, so a collector killed mid-write leaves either the whole batch or none of it. It is
bounded by batches and by bytes; a batch that does not fit is *not* stored, and that is
counted (batches and rows, per kind) and reported — the numbers survive restarts in the
spool file and are added to ``collector_counters`` (``spool.<kind>.overflow_*``) once the
store is back. Nothing leaves the spool silently.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from collectors import self_metrics

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_BATCHES = 20_000
DEFAULT_SPOOL_DIR = Path("data/spool")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS batches (id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL,"
    " kind TEXT NOT NULL, ts INTEGER NOT NULL, rows INTEGER NOT NULL, bytes INTEGER NOT NULL,"
    " payload TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS ix_batches_key ON batches (key, id)",
    # Totals not yet reported to the store (reset when they are), per counter name.
    "CREATE TABLE IF NOT EXISTS unreported (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    # Overflow stretches per key (first and last refused ts), for gap records.
    "CREATE TABLE IF NOT EXISTS overflow (key TEXT PRIMARY KEY, first_ts INTEGER NOT NULL,"
    " last_ts INTEGER NOT NULL, batches INTEGER NOT NULL, rows INTEGER NOT NULL)",
)


def default_spool_dir(database_url: str | URL) -> Path:
    """Beside a SQLite file database (``<db dir>/spool``), else ``data/spool``."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / "spool"
    return DEFAULT_SPOOL_DIR


@dataclass(frozen=True)
class SpooledBatch:
    id: int
    key: str
    kind: str
    ts: int
    rows: int
    payload: dict[str, Any]


@dataclass(frozen=True)
class Overflow:
    key: str
    first_ts: int
    last_ts: int
    batches: int
    rows: int


@dataclass(frozen=True)
class SpoolStats:
    batches: int
    bytes: int
    oldest_ts: int | None


class Spool:
    """Thread-safe; the file is created on the first push (a healthy store never needs it)."""

    def __init__(
        self, directory: str | Path, name: str = "collectors", *,
        max_bytes: int = DEFAULT_MAX_BYTES, max_batches: int = DEFAULT_MAX_BATCHES,
    ) -> None:  # fmt: skip
        if max_bytes <= 0 or max_batches <= 0:
            raise ValueError("spool bounds must be positive")
        self.path = Path(directory) / f"{name}.sqlite"
        self.max_bytes = max_bytes
        self.max_batches = max_batches
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    # --- storage -------------------------------------------------------------------------

    def _db(self, create: bool) -> sqlite3.Connection | None:
        if self._connection is None:
            if not create and not self.path.exists():
                return None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")  # the spool exists for when things break
            for statement in _SCHEMA:
                connection.execute(statement)
            self._connection = connection
        return self._connection

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    # --- writing -------------------------------------------------------------------------

    def push(self, key: str, kind: str, ts: int, rows: int, payload: dict[str, Any]) -> bool:
        """Hold one batch. False when it does not fit: it is then counted as overflow."""
        text = json.dumps(payload, separators=(",", ":"))
        size = len(text.encode("utf-8"))
        with self._lock:
            db = self._db(create=True)
            assert db is not None
            db.execute("BEGIN IMMEDIATE")
            try:
                count, total = db.execute("SELECT count(*), coalesce(sum(bytes), 0) FROM batches").fetchone()
                fits = count + 1 <= self.max_batches and total + size <= self.max_bytes
                if fits:
                    db.execute(
                        "INSERT INTO batches (key, kind, ts, rows, bytes, payload) VALUES (?, ?, ?, ?, ?, ?)",
                        (key, kind, int(ts), int(rows), size, text),
                    )
                    self._add(db, f"spool.{kind}.spooled_batches", 1)
                else:
                    self._add(db, f"spool.{kind}.overflow_batches", 1)
                    self._add(db, f"spool.{kind}.overflow_rows", rows)
                    db.execute(
                        "INSERT INTO overflow (key, first_ts, last_ts, batches, rows) VALUES (?, ?, ?, 1, ?) "
                        "ON CONFLICT (key) DO UPDATE SET first_ts = min(first_ts, excluded.first_ts), "
                        "last_ts = max(last_ts, excluded.last_ts), batches = batches + 1, rows = rows + excluded.rows",
                        (key, int(ts), int(ts), int(rows)),
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        if not fits:
            self_metrics.count_spool_overflow(kind, rows)
            log.error(
                "spool full (%d batches, %.1f MB; bounds %d batches, %.1f MB): %s batch of %d rows at %d NOT kept",
                count, total / 1e6, self.max_batches, self.max_bytes / 1e6, kind, rows, ts,
            )  # fmt: skip
        return fits

    @staticmethod
    def _add(db: sqlite3.Connection, name: str, value: int) -> None:
        db.execute(
            "INSERT INTO unreported (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            (name, int(value)),
        )

    # --- reading -------------------------------------------------------------------------

    def pending(self, key: str | None = None) -> int:
        with self._lock:
            db = self._db(create=False)
            if db is None:
                return 0
            if key is None:
                return int(db.execute("SELECT count(*) FROM batches").fetchone()[0])
            return int(db.execute("SELECT count(*) FROM batches WHERE key = ?", (key,)).fetchone()[0])

    def batches(self, key: str) -> Iterator[SpooledBatch]:
        """The batches of ``key``, oldest first (one at a time: the spool may be large)."""
        last_id = 0
        while True:
            with self._lock:
                db = self._db(create=False)
                if db is None:
                    return
                row = db.execute(
                    "SELECT id, key, kind, ts, rows, payload FROM batches WHERE key = ? AND id > ? ORDER BY id LIMIT 1",
                    (key, last_id),
                ).fetchone()
            if row is None:
                return
            last_id = int(row[0])
            yield SpooledBatch(last_id, row[1], row[2], int(row[3]), int(row[4]), json.loads(row[5]))

    def remove(self, batch_id: int, kind: str, *, outcome: str = "replayed") -> None:
        """Forget a batch: it is in the store now (``replayed``), or the store refused it
        for good (``rejected``; counted like an overflow)."""
        with self._lock:
            db = self._db(create=False)
            if db is None:
                return
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM batches WHERE id = ?", (batch_id,))
            self._add(db, f"spool.{kind}.{outcome}_batches", 1)
            db.execute("COMMIT")

    def discard(self, key: str, kind: str) -> int:
        """Forget every batch of ``key`` (another collector owns that source now and has polled
        it meanwhile); counted as ``spool.<kind>.handed_over_batches``."""
        with self._lock:
            db = self._db(create=False)
            if db is None:
                return 0
            db.execute("BEGIN IMMEDIATE")
            dropped = db.execute("DELETE FROM batches WHERE key = ?", (key,)).rowcount
            if dropped:
                self._add(db, f"spool.{kind}.handed_over_batches", dropped)
            db.execute("COMMIT")
        return int(dropped)

    def stats(self) -> SpoolStats:
        with self._lock:
            db = self._db(create=False)
            if db is None:
                return SpoolStats(0, 0, None)
            count, total, oldest = db.execute(
                "SELECT count(*), coalesce(sum(bytes), 0), min(ts) FROM batches"
            ).fetchone()
            return SpoolStats(int(count), int(total), int(oldest) if oldest is not None else None)

    # --- reporting -----------------------------------------------------------------------

    def unreported(self) -> dict[str, int]:
        with self._lock:
            db = self._db(create=False)
            if db is None:
                return {}
            return {name: int(value) for name, value in db.execute("SELECT name, value FROM unreported")}

    def mark_reported(self, counts: dict[str, int]) -> None:
        """Subtract what was just added to the store's counters (more may have arrived since)."""
        with self._lock:
            db = self._db(create=False)
            if db is None:
                return
            db.execute("BEGIN IMMEDIATE")
            for name, value in counts.items():
                db.execute("UPDATE unreported SET value = value - ? WHERE name = ?", (int(value), name))
            db.execute("DELETE FROM unreported WHERE value <= 0")
            db.execute("COMMIT")

    def overflows(self) -> list[Overflow]:
        with self._lock:
            db = self._db(create=False)
            if db is None:
                return []
            return [
                Overflow(row[0], int(row[1]), int(row[2]), int(row[3]), int(row[4]))
                for row in db.execute(
                    "SELECT key, first_ts, last_ts, batches, rows FROM overflow ORDER BY key"
                )
            ]

    def clear_overflow(self, overflow: Overflow) -> None:
        """Forget an overflow stretch once it is recorded in the store (unless it grew since)."""
        with self._lock:
            db = self._db(create=False)
            if db is None:
                return
            db.execute(
                "DELETE FROM overflow WHERE key = ? AND batches = ? AND last_ts = ?",
                (overflow.key, overflow.batches, overflow.last_ts),
            )
