"""Sign-in: a password kept only as a bcrypt hash (env or st.secrets), OIDC via st.login,
and `make run`'s loud warning for a non-loopback address without either."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from streamlit.testing.v1 import AppTest

from core.password import hash_password
from harness.realparts import clock_env
from tests.pages.conftest import REPO_ROOT

APP = str(REPO_ROOT / "app.py")
PASSWORD = "correct horse battery"
TIMEOUT_S = 30


@pytest.fixture
def password_hash() -> str:
    return bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()


def _sign_in(app: AppTest, password: str) -> AppTest:
    app.text_input[0].input(password)
    app.button[0].click().run()
    return app


def _texts(app: AppTest) -> str:
    parts = [e.value for e in (*app.markdown, *app.caption, *app.title, *app.error, *app.text)]
    return "\n".join(str(p) for p in parts)


@pytest.mark.slow
def test_wrong_password_refused_right_one_admitted(
    populated_store: dict[str, Any], password_hash: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASTMETER_PASSWORD_HASH", password_hash)
    app = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    app.run()
    assert not app.metric and not app.dataframe  # nothing of the fleet before sign-in
    for wrong in ("", "wrong", PASSWORD.upper(), password_hash):  # the hash itself is no password
        _sign_in(app, wrong)
        assert any("Wrong password" in e.value for e in app.error)
        assert not app.metric
    _sign_in(app, PASSWORD)
    assert not app.exception, app.exception
    assert {m.label for m in app.metric} >= {"Live streams", "Listeners"}
    # Neither the password nor its hash is ever shown.
    assert PASSWORD not in _texts(app) and password_hash not in _texts(app)


def test_password_hash_from_streamlit_secrets(
    populated_store: dict[str, Any], password_hash: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    app.secrets["castmeter"] = {"password_hash": password_hash}
    app.run()
    assert not app.metric and app.text_input
    _sign_in(app, "nope")
    assert not app.metric
    _sign_in(app, PASSWORD)
    assert not app.exception, app.exception
    assert app.metric


def test_oidc_configured_offers_single_sign_on_and_blocks(populated_store: dict[str, Any]) -> None:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    app.secrets["auth"] = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "x" * 32,
        "client_id": "castmeter",
        "client_secret": "oidc-client-secret-123",
        "server_metadata_url": "https://id.example.com/.well-known/openid-configuration",
    }
    app.run()
    assert not app.exception, app.exception
    assert [b.label for b in app.button] == ["Sign in with single sign-on"]
    assert not app.metric and not app.text_input  # no password configured: SSO only
    assert "oidc-client-secret-123" not in _texts(app)


def test_no_sign_in_configured_means_open(populated_store: dict[str, Any]) -> None:
    app = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    app.run()
    assert app.metric


def test_a_garbage_hash_refuses_everyone(
    populated_store: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASTMETER_PASSWORD_HASH", "not-a-bcrypt-hash")
    app = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    app.run()
    _sign_in(app, "not-a-bcrypt-hash")
    assert not app.exception and not app.metric


@pytest.mark.slow
def test_password_helper_makes_a_working_hash() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "core.password", "--stdin"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    made = result.stdout.strip()
    assert made.startswith("$2") and PASSWORD not in result.stdout
    assert bcrypt.checkpw(PASSWORD.encode(), made.encode())
    short = subprocess.run(
        [sys.executable, "-m", "core.password", "--stdin"],
        input="short\n",
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    assert short.returncode == 2 and "at least" in short.stderr
    with pytest.raises(ValueError):
        hash_password("x" * 73)


def _run_sh(tmp_path: Path, host: str, **extra: str) -> subprocess.CompletedProcess[str]:
    # A missing config file makes the collectors stop at once (exit 2), after the warning.
    env = {
        **clock_env(),
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "CASTMETER_HOST": host,
        "CASTMETER_CONFIG": str(tmp_path / "missing.toml"),
        "CASTMETER_LOG_DIR": str(tmp_path / "logs"),
        "CASTMETER_READY_FILE": str(tmp_path / "ready"),
        **extra,
    }
    return subprocess.run(
        ["bash", "scripts/run.sh"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_make_run_warns_loudly_on_a_public_address_without_sign_in(
    tmp_path: Path, password_hash: str
) -> None:
    public = _run_sh(tmp_path, "0.0.0.0")
    assert (
        "WARNING: castmeter will listen on 0.0.0.0" in public.stderr and "WITHOUT ANY LOGIN" in public.stderr
    )
    assert public.returncode == 2  # and then it stopped on the (deliberately) missing config
    protected = _run_sh(tmp_path, "0.0.0.0", CASTMETER_PASSWORD_HASH=password_hash)
    assert "WITHOUT ANY LOGIN" not in protected.stderr
