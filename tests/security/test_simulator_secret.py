"""Issue 13, finding 6: the simulator's API secret never appears on its command line (where
every user of the machine reads it with ``ps``): it comes from LIVEKIT_API_SECRET or a file."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from livekit import api

from harness.realparts import REPO_ROOT

pytestmark = pytest.mark.slow  # starts the simulator CLI in a subprocess (1-2 s each)

SECRET = "simulator-secret-for-the-ps-test-0123456789"


def _simulator(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "simulator", "--scenario", "tours", "--api-port", "0", "--metrics-port", "0",
         "--api-key", "APIps", "--log-level", "WARNING", *args],
        cwd=REPO_ROOT, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _ready_url(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("READY "):
            return line.split()[1].removeprefix("api=")
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"simulator did not start (exit {process.poll()})")


def test_the_command_line_flag_is_refused_with_the_reason() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "--scenario", "tours", "--api-secret", SECRET],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--api-secret would show the secret to anyone running ps" in result.stderr
    assert "LIVEKIT_API_SECRET" in result.stderr and "--api-secret-file" in result.stderr


@pytest.mark.parametrize("source", ["environment", "file"])
def test_the_secret_comes_from_the_environment_or_a_file_and_not_ps(tmp_path: Path, source: str) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    env = {"LIVEKIT_API_SECRET": SECRET} if source == "environment" else {"LIVEKIT_API_SECRET": ""}
    args = [] if source == "environment" else ["--api-secret-file", str(secret_file)]
    process = _simulator(args, env)
    try:
        url = _ready_url(process)
        assert SECRET not in " ".join(psutil.Process(process.pid).cmdline())
        import asyncio

        async def rooms() -> int:
            async with api.LiveKitAPI(url, "APIps", SECRET) as client:
                return len((await client.room.list_rooms(api.ListRoomsRequest())).rooms)

        assert asyncio.run(rooms()) >= 0  # the secret signs requests the simulator accepts
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_an_unreadable_secret_file_stops_with_its_name(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "--scenario", "tours", "--api-secret-file", str(tmp_path / "missing")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "--api-secret-file" in result.stderr and "missing" in result.stderr
