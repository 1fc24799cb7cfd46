"""The collectors process killed with SIGKILL mid-tick, again and again, and restarted:
no partial tick (every write of a tick is one transaction), no duplicate, no broken file."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.realparts import REPO_ROOT, free_port
from tests.reliability.helpers import KEY, SECRET

KILLS = 4
pytestmark = pytest.mark.slow


@pytest.fixture
def simulator() -> Iterator[int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--scenario", "platform-500", "--api-port", str(port),
         "--metrics-port", "0", "--api-key", KEY, "--log-level", "WARNING"],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "LIVEKIT_API_SECRET": SECRET},
    )  # fmt: skip
    try:
        _wait_port(port, process)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=15)


def _wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    import socket

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("simulator exited")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError("simulator did not listen")


def _samples(db: Path) -> int:
    """Room samples written so far (0 before the first process created the schema)."""
    if not db.exists():
        return 0
    with sqlite3.connect(db) as connection:
        try:
            return int(connection.execute("SELECT count(*) FROM room_samples").fetchone()[0])
        except sqlite3.OperationalError:  # not migrated yet
            return 0


def test_sigkill_mid_tick_leaves_no_partial_or_duplicate_rows(simulator: int, tmp_path: Path) -> None:
    db = tmp_path / "castmeter.db"
    config = tmp_path / "castmeter.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{db}"\n[collectors]\ninterval_s = 0.2\nrollup_every_s = 1\n'
        f"[alerts]\nenabled = false\n"
        f'[[livekit]]\nname = "sim"\nurl = "http://127.0.0.1:{simulator}"\napi_key = "{KEY}"\napi_secret = "{SECRET}"\n'
    )
    env = {**os.environ, "CASTMETER_CONFIG": str(config)}
    env.pop("CI", None)
    rng = random.Random(7)
    killed_with_samples = 0
    for _kill in range(KILLS):
        process = subprocess.Popen(
            [sys.executable, "-m", "collectors", "run"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        before = _samples(db)
        deadline = time.monotonic() + 60
        # Wait for this process to write, then kill it at a random moment of its next ticks.
        while time.monotonic() < deadline and process.poll() is None:
            if _samples(db) > before:
                break
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.6))
        assert process.poll() is None, "the collectors stopped on their own"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        killed_with_samples += _samples(db) > before
    assert killed_with_samples == KILLS
    # A last clean run after the crashes.
    result = subprocess.run(
        [sys.executable, "-m", "collectors", "run", "--once"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]

    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        ticks = connection.execute("SELECT count(DISTINCT ts) FROM room_samples").fetchone()[0]
        assert ticks >= KILLS + 1
        # No orphans: every sample and participant belongs to a stored room session.
        assert (
            connection.execute(
                "SELECT count(*) FROM room_samples s LEFT JOIN room_sessions r "
                "ON r.source_id = s.source_id AND r.room_sid = s.room_sid WHERE r.room_sid IS NULL"
            ).fetchone()[0]
            == 0
        )
        assert (
            connection.execute(
                "SELECT count(*) FROM participant_sessions p LEFT JOIN room_sessions r "
                "ON r.source_id = p.source_id AND r.room_sid = p.room_sid WHERE r.room_sid IS NULL"
            ).fetchone()[0]
            == 0
        )
        # No partial tick: at every tick, every room that was already live and still seen
        # afterwards has its sample (a tick's sessions and samples commit together).
        missing = connection.execute(
            "SELECT t.ts, r.room_sid FROM (SELECT DISTINCT ts FROM room_samples) t "
            "JOIN room_sessions r ON r.started_ts < t.ts AND r.last_seen_ts >= t.ts "
            "LEFT JOIN room_samples s ON s.room_sid = r.room_sid AND s.ts = t.ts "
            "WHERE s.room_sid IS NULL LIMIT 5"
        ).fetchall()
        assert missing == []
        # No duplicates and no leaks across restarts: the restarted tracker picked up the open
        # sessions, so none is open in a room that ended, and none ends before it began.
        assert (
            connection.execute(
                "SELECT count(*) FROM participant_sessions p JOIN room_sessions r "
                "ON r.source_id = p.source_id AND r.room_sid = p.room_sid "
                "WHERE p.left_ts IS NULL AND r.ended_ts IS NOT NULL"
            ).fetchone()[0]
            == 0
        )
        assert (
            connection.execute(
                "SELECT count(*) FROM participant_sessions WHERE left_ts < joined_ts"
            ).fetchone()[0]
            == 0
        )
        assert (
            connection.execute(
                "SELECT count(*) FROM (SELECT source_id, room_sid, ts FROM room_samples "
                "GROUP BY 1, 2, 3 HAVING count(*) > 1)"
            ).fetchone()[0]
            == 0
        )
