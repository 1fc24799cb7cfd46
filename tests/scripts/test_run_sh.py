"""`make run` end to end: scripts/run.sh starts the demo, serves the dashboard, Ctrl-C stops all."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from harness.realparts import REPO_ROOT, free_port, wait_http

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _group_alive(pgid: int) -> list[str]:
    listing = subprocess.run(["ps", "-eo", "pgid=,pid=,args="], capture_output=True, text=True, check=True)
    return [line for line in listing.stdout.splitlines() if line.split()[0] == str(pgid)]


def test_demo_mode_serves_the_dashboard_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CASTMETER_DB_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "CASTMETER_LOG_DIR": str(tmp_path / "logs"),
        "CASTMETER_READY_FILE": str(tmp_path / "demo.ready"),
        "CASTMETER_DEMO_DAYS": "0.05",
        "CASTMETER_DEMO_TIMEOUT_S": "240",
        "PORT": str(port),
        "CASTMETER_HOST": "127.0.0.1",
    }
    for name in ("CASTMETER_CONFIG", "LIVEKIT_URL", "PROMETHEUS_URL", "CASTMETER_PASSWORD_HASH"):
        env.pop(name, None)
    if (REPO_ROOT / "castmeter.toml").exists():
        pytest.skip("a castmeter.toml in the checkout selects the configured mode, not the demo")
    output = tmp_path / "run.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            ["bash", "scripts/run.sh"], cwd=REPO_ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", timeout_s=240, process=process)
        assert (tmp_path / "demo.ready").exists()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert response.status == 200
        text = output.read_text()
        assert "DEMO fleet" in text
        # The dashboard reads the demo's settings: the fleet is priced as what it is, self-hosted.
        dashboard = [
            line for line in _group_alive(process.pid) if "castmeter dashboard" in line or "streamlit" in line
        ]
        assert dashboard, _group_alive(process.pid)
        environ = Path(f"/proc/{dashboard[0].split()[1]}/environ").read_bytes().split(b"\0")
        assert f"CASTMETER_CONFIG={REPO_ROOT / 'simulator' / 'demo.castmeter.toml'}".encode() in environ
        assert (
            'current_model = "livekit_self_hosted"'
            in (REPO_ROOT / "simulator" / "demo.castmeter.toml").read_text()
        )
        assert "WARNING" not in text  # loopback: no exposure warning
        # A terminal's Ctrl-C reaches the whole foreground process group.
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=60) == 130
        deadline = time.monotonic() + 15
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _group_alive(process.pid) == []
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        print(output.read_text()[-3000:])
        log = tmp_path / "logs" / "collectors.log"
        if log.exists():
            print(log.read_text()[-3000:])
