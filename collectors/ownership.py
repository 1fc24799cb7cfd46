"""Which collector process polls which source, and which one runs the once-only jobs.

On PostgreSQL any number of ``collectors run`` processes share the work through leases in the
database (store/leases.py): a :class:`LeaseKeeper` thread per process renews what it holds and
takes free or expired leases up to a fair share (sources ÷ live processes, rounded up), every
``ttl/4`` seconds. The leader lease elects the one process that runs rollups, retention, alert
evaluation and notification, and billing fetches.

Three layers keep one writer per source:

1. the database decides: a lease is taken only when expired by the DATABASE's clock;
2. a process whose keeper could not renew for ``ttl/2`` (the renew deadline, measured from
   before its last successful renewal was sent) stops claiming ownership, well before the lease
   can expire in the database;
3. each write batch is fenced (:meth:`LeaseKeeper.fence`): the same holder and generation,
   checked (and renewed) in the database right before the write.

When the database cannot be reached at all the process keeps polling what it last held into
its spool; the spool is replayed only if the lease comes back under the same generation (no one
else owned the source meanwhile), and discarded otherwise (the new owner has those ticks).

SQLite is single-process: :func:`hold_sqlite_lock` takes an exclusive lock file beside the
database, which the kernel releases when the process dies (even by SIGKILL).
"""

from __future__ import annotations

import fcntl
import logging
import math
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from core.logs import redact
from core.pause import pause
from core.settings import ConfigError
from store import leases

log = logging.getLogger(__name__)


class NotOwner(Exception):
    """This process does not own the lease (any more): the write is not made."""


def store_unavailable(exc: BaseException) -> bool:
    """The store cannot be reached or is busy (server down, SQLite locked past the busy
    timeout, connection lost): the data is worth holding and retrying. Other errors
    (a constraint, bad data) would fail again on every retry."""
    if isinstance(exc, NotOwner):
        return False
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def new_holder_id() -> str:
    """``host:pid:random``: unique per process start (a restarted process is a new holder)."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{secrets.token_hex(4)}"


def source_lease(name: str) -> str:
    return f"{leases.SOURCE_PREFIX}{name}"


class LeaseKeeper:
    """Holds this process's leases; thread-safe. ``start()`` runs the renew loop."""

    def __init__(
        self, engine: Engine, source_names: Sequence[str], ttl_s: float, *, holder: str | None = None
    ) -> None:
        self.engine = engine
        self.holder = holder or new_holder_id()
        self.ttl_s = ttl_s
        self.period_s = ttl_s / 4
        self.renew_deadline_s = ttl_s / 2
        self._sources = [source_lease(name) for name in source_names]
        self._member = f"{leases.MEMBER_PREFIX}{self.holder}"
        self._lock = threading.Lock()
        self._granted: dict[str, int] = {}  # lease name -> generation
        self._confirmed_mono = -math.inf  # monotonic time before the last successful round was sent
        self._unreachable = False
        self._changed = threading.Event()
        self._gained: set[str] = set()
        self._lost: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rng = random.Random()
        self._rounds = 0

    # --- what the collector asks ----------------------------------------------------------

    def owns(self, name: str) -> bool:
        """Held, and confirmed by the database within the renew deadline."""
        with self._lock:
            return name in self._granted and time.monotonic() - self._confirmed_mono < self.renew_deadline_s

    def may_poll(self, name: str) -> bool:
        """Held at the last renewal that reached the database (a renewal late under load, or a
        database out of reach, does not skip a poll: the write's fence decides, and a poll made
        while out of reach goes to the spool, replayed only if the lease comes back unchanged)."""
        with self._lock:
            return name in self._granted

    def fence(self, name: str) -> None:
        """Right before a write batch: raise :class:`NotOwner` unless the database confirms (and
        renews) this process's lease under the generation it was granted. A database that
        cannot be reached raises its own error (the caller spools)."""
        with self._lock:
            generation = self._granted.get(name)
        if generation is None:
            raise NotOwner(name)
        with self.engine.begin() as connection:
            ok = leases.fence(connection, self.holder, name, generation, self.ttl_s)
        if not ok:
            with self._lock:
                if self._granted.get(name) == generation:
                    del self._granted[name]
                    self._lost.add(name)
                    self._changed.set()
            raise NotOwner(name)

    def changed(self) -> bool:
        return self._changed.is_set()

    def take_changes(self) -> tuple[set[str], set[str]]:
        """Leases gained and lost since the last call."""
        with self._lock:
            gained, lost = self._gained, self._lost
            self._gained, self._lost = set(), set()
            self._changed.clear()
        return gained, lost

    def held(self) -> dict[str, int]:
        with self._lock:
            return {n: g for n, g in self._granted.items() if n != self._member}

    # --- the renew loop -------------------------------------------------------------------

    def start(self) -> None:
        self.round()
        self._thread = threading.Thread(target=self._loop, name="leases", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not pause(self._stop, self.period_s):
            self.round()

    def stop(self) -> None:
        """Stop renewing and release every lease at once (a clean stop hands over at once)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            names = list(self._granted)
            self._granted.clear()
        try:
            with self.engine.begin() as connection:
                leases.release(connection, self.holder, names)
        except Exception as exc:  # they expire by themselves
            log.warning("leases not released (they expire in %.1f s): %s", self.ttl_s, _line(exc))

    def round(self) -> None:
        """One renewal: keep what is ours, take free leases up to a fair share, give up extras."""
        started = time.monotonic()
        try:
            with self.engine.begin() as connection:
                rows = leases.state(connection)
                with self._lock:
                    mine = {n for n in self._granted if n in self._sources}
                live = {row.name: row.holder for row in rows if row.live}
                members = {n for n in live if n.startswith(leases.MEMBER_PREFIX)} | {self._member}
                share = math.ceil(len(self._sources) / len(members))
                extra = sorted(mine)[share:] if len(mine) > share else []
                if extra:
                    with self._lock:
                        for name in extra:
                            self._granted.pop(name, None)
                            self._lost.add(name)
                        self._changed.set()
                    leases.release(connection, self.holder, extra)
                    mine -= set(extra)
                free = [n for n in self._sources if n not in mine and live.get(n, self.holder) == self.holder]
                self._rng.shuffle(free)
                wanted = [self._member, leases.LEADER, *sorted(mine), *free[: max(0, share - len(mine))]]
                granted = leases.acquire(connection, self.holder, wanted, self.ttl_s)
                self._rounds += 1
                if self._rounds % 600 == 0:
                    leases.forget_departed(connection)
        except Exception as exc:
            with self._lock:
                was = self._unreachable
                self._unreachable = store_unavailable(exc)
            if not was:
                log.warning("leases not renewed: %s", _line(exc))
            return
        with self._lock:
            if self._unreachable:
                log.info("leases renewed again")
            self._unreachable = False
            self._confirmed_mono = started
            before = self._granted
            for name, generation in granted.items():
                if before.get(name) != generation:
                    if name in before:
                        self._lost.add(name)  # retaken under a new generation: lost meanwhile
                    self._gained.add(name)
            for name in before.keys() - granted.keys():
                self._lost.add(name)
            self._granted = granted
            if self._gained or self._lost:
                self._changed.set()


def _line(exc: BaseException) -> str:
    return redact(str(exc)).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def lease_ttl_s(interval_s: float, configured: float | None) -> float:
    """The lease's time to live: ``collectors.lease_ttl_s``, else 0.4 poll intervals, so a
    source moves to a survivor (expiry + a renew round + the next poll) within two intervals."""
    return configured if configured is not None else 0.4 * interval_s


# --- SQLite: one collector process --------------------------------------------------------------


def hold_sqlite_lock(url: str) -> IO[str] | None:
    """Take ``<database>.collectors.lock`` for this process's lifetime (keep the returned file
    open); None for an in-memory database. A second process stops with a clear error."""
    database = make_url(url).database
    if not database or database == ":memory:":
        return None
    path = Path(database).resolve().with_name(Path(database).name + ".collectors.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        other = handle.read().strip() or "another process"
        handle.close()
        raise ConfigError(
            f"database.url: SQLite supports one collector process, and {other} already collects "
            f"into {database} (lock {path}); to run several collectors, set database.url "
            "(or CASTMETER_DB_URL) to a postgresql+psycopg:// URL"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
    handle.flush()
    return handle
