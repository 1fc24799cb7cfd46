"""After a full demo run, no configured secret appears anywhere an operator or a visitor can
see: logs, CLI output (incl. --json), error messages stored in the database (indeed the whole
database), and the text and tables of every page."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
from streamlit.testing.v1 import AppTest

from harness.realparts import REPO_ROOT, free_port
from tests.reliability.helpers import KEY

pytestmark = pytest.mark.slow

LIVEKIT_SECRET = "lk-secret-SCAN-7f3a9c1e5b2d4f6a8c0e"
HETZNER_TOKEN = "hetzner-token-SCAN-0a1b2c3d4e5f6a7b8c9d"
CLOUDFLARE_TOKEN = "cf-token-SCAN-9e8d7c6b5a4f3e2d1c0b"
AGORA_SECRET = "agora-secret-SCAN-13579bdf2468ace0"
SLACK_URL = "https://hooks.slack.example/services/SCAN-slack-0123456789"
PASSWORD = "dashboard-password-SCAN-42"
SECRETS = [LIVEKIT_SECRET, HETZNER_TOKEN, CLOUDFLARE_TOKEN, AGORA_SECRET, SLACK_URL, PASSWORD]
PAGES = ["overview", "streams", "nodes", "costs", "billing", "alerts"]


def _found(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


@pytest.fixture
def demo_env(tmp_path: Path) -> Iterator[tuple[dict[str, str], Path, int]]:
    dead = f"http://127.0.0.1:{free_port()}"  # billing APIs that refuse: errors get logged
    db = tmp_path / "castmeter.db"
    api_port = free_port()
    config = tmp_path / "castmeter.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{db}"\n'
        f'[alerts]\nslack_webhook_url = "{SLACK_URL}"\n'
        f"[billing]\nmax_attempts = 1\nhttp_timeout_s = 2\n"
        f'[billing.hetzner]\napi_base_url = "{dead}"\napi_token = "{HETZNER_TOKEN}"\n'
        f'[billing.cloudflare]\napi_base_url = "{dead}"\naccount_id = "acc"\napi_token = "{CLOUDFLARE_TOKEN}"\n'
        f'[billing.agora]\napi_base_url = "{dead}"\ncustomer_id = "cust"\ncustomer_secret = "{AGORA_SECRET}"\n'
        f'project_ids = ["p1"]\n'
        f'[[livekit]]\nname = "scan"\nurl = "http://127.0.0.1:{api_port}"\napi_key = "{KEY}"\n'
        f'api_secret = "{LIVEKIT_SECRET}"\n'
    )
    password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    env = {**os.environ, "CASTMETER_CONFIG": str(config), "CASTMETER_PASSWORD_HASH": password_hash}
    env.pop("CASTMETER_DB_URL", None)
    yield env, db, api_port


def _run(argv: list[str], env: dict[str, str], timeout_s: float = 180) -> str:
    result = subprocess.run(
        [sys.executable, *argv], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout_s
    )
    return f"$ {' '.join(argv)} -> {result.returncode}\n{result.stdout}\n{result.stderr}"


def test_no_secret_anywhere_after_a_full_demo(
    demo_env: tuple[dict[str, str], Path, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env, db, api_port = demo_env
    outputs: list[str] = []
    # 1. The demo: backfill, then the simulated fleet live with the real pollers, for a few seconds.
    demo_log = tmp_path / "demo.log"
    with demo_log.open("w") as log:
        demo = subprocess.Popen(
            [sys.executable, "-m", "collectors", "demo", "--days", "0.05", "--scenario", "dj-radio", "--speed", "60",
             "--api-port", str(free_port()), "--metrics-port", str(free_port()), "--prometheus-port",
             str(free_port()), "--ready-file", str(tmp_path / "ready")],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    deadline = time.monotonic() + 180
    # Live until at least one tick of the real pollers is logged.
    while " tick " not in demo_log.read_text() and demo.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(2)
    demo.send_signal(signal.SIGINT)
    demo.wait(timeout=60)
    outputs.append(demo_log.read_text())
    # 2. The configured collectors against a simulator that knows the secret (+ a failing one).
    simulator = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--scenario", "dj-radio", "--api-port", str(api_port), "--metrics-port",
         "0", "--api-key", KEY],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "LIVEKIT_API_SECRET": LIVEKIT_SECRET},
    )  # fmt: skip
    try:
        time.sleep(3)
        outputs.append(_run(["-m", "collectors", "run", "--once"], env))
        wrong = {**env, "LIVEKIT_API_SECRET": LIVEKIT_SECRET[::-1]}  # a 401, with the secret in the settings
        outputs.append(_run(["-m", "collectors", "run", "--once"], wrong))
    finally:
        simulator.terminate()
        outputs.append(simulator.communicate(timeout=30)[0])
    # 3. Billing against APIs that refuse, and the analytics CLIs with --json.
    outputs.append(_run(["-m", "collectors", "billing", "--once", "--json"], env))
    outputs.append(_run(["-m", "analytics", "costs", "--json", "--since", "7d"], env))
    outputs.append(_run(["-m", "analytics", "billing", "--json"], env))
    outputs.append(
        _run(
            [
                "-m",
                "analytics",
                "plan",
                "--json",
                "--scenario",
                str(REPO_ROOT / "analytics/scenarios/dj-radio.yaml"),
            ],
            env,
        )
    )
    outputs.append(_run(["-m", "analytics", "alerts", "backtest", "--json"], env))
    outputs.append(
        _run(
            [
                "-m",
                "analytics",
                "alerts",
                "export",
                "--rules",
                str(REPO_ROOT / "rules/castmeter.rules.example.yaml"),
                "--out",
                str(tmp_path / "rules.yaml"),
            ],
            env,
        )
    )
    if (tmp_path / "rules.yaml").exists():
        outputs.append((tmp_path / "rules.yaml").read_text())
    for index, output in enumerate(outputs):
        assert _found(output) == [], f"secret in output #{index}:\n{output[-3000:]}"
    joined = "\n".join(outputs)
    assert " tick " in outputs[0] and '"scan": "ok"' in joined  # the runs did run
    assert "analytics plan --json" in joined and "analytics costs --json --since 7d -> 0" in joined
    assert "401" in joined or "check api_key" in joined
    # 4. The database: every stored row, error messages included.
    with sqlite3.connect(db) as connection:
        dump = "\n".join(connection.iterdump())
    assert "livekit" in dump and _found(dump) == []
    # 5. Every page, signed in, with its tables (what a CSV export would hold).
    for key, value in env.items():
        if key.startswith("CASTMETER_"):
            monkeypatch.setenv(key, value)
    shown: list[str] = []
    for page in PAGES:
        app = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=60)
        app.run()
        app.text_input[0].input(PASSWORD)
        app.button[0].click().run()
        if page != "overview":
            app.switch_page(f"pages/{page}.py")
            app.run()
        assert not app.exception, (page, app.exception)
        for kind in (
            "markdown",
            "caption",
            "title",
            "header",
            "subheader",
            "text",
            "error",
            "warning",
            "info",
            "success",
            "code",
            "json",
            "metric",
            "exception",
        ):
            shown.extend(str(getattr(element, "value", "")) for element in getattr(app, kind))
        shown.extend(frame.value.to_csv() for frame in app.dataframe)
        shown.extend(str(element.label) for element in app.metric)
    page_text = "\n".join(shown)
    assert len(page_text) > 1000 and _found(page_text) == []
