"""Fixtures for the page tests: a populated, an empty and a missing store, with settings
pointing at them through the environment (as `streamlit run` would see them)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.fixture_store import build_fixture
from store.engine import open_store

REPO_ROOT = Path(__file__).resolve().parents[2]
PAGE_TIMEZONE = "Europe/Berlin"
STALE_AFTER_S = 1800


@pytest.fixture(autouse=True)
def fresh_sign_in_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """AppTest runs every test in this one process, with one sign-in limiter and one pace:
    each test starts with no failed sign-ins and no waiting between the sign-in page's runs
    (the pace is measured on a real server, tests/security/test_signin_limits.py)."""
    from ui import auth

    auth.reset_for_tests()
    monkeypatch.setattr(auth, "SESSION_MIN_INTERVAL_S", 0.0)


def page_path(name: str) -> str:
    return str(REPO_ROOT / "pages" / f"{name}.py")


@pytest.fixture
def page_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Point castmeter at ``url`` with a config file that sets a non-UTC display zone."""
    config = tmp_path / "castmeter.toml"
    # A generous stale limit: the shared fixture store is built once per session.
    config.write_text(f'[dashboard]\ntimezone = "{PAGE_TIMEZONE}"\nstale_after_s = {STALE_AFTER_S}\n')
    monkeypatch.setenv("CASTMETER_CONFIG", str(config))
    monkeypatch.delenv("CASTMETER_PASSWORD_HASH", raising=False)

    def use(url: str) -> None:
        monkeypatch.setenv("CASTMETER_DB_URL", url)

    return use


@pytest.fixture(scope="session")
def _fleet_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('pages') / 'fleet.db'}"
    return url, build_fixture(url, int(time.time()))


@pytest.fixture
def populated_store(_fleet_db: tuple[str, dict[str, Any]], page_env: Callable[[str], None]) -> dict[str, Any]:
    """The fixture fleet (shared by the session; pages only read it)."""
    url, facts = _fleet_db
    page_env(url)
    return facts


@pytest.fixture
def stale_store(tmp_path: Path, page_env: Callable[[str], None]) -> dict[str, Any]:
    """The fixture fleet as the collectors left it 3 hours ago."""
    url = f"sqlite:///{tmp_path / 'stale.db'}"
    facts = build_fixture(url, int(time.time()) - 3 * 3600)
    page_env(url)
    return facts


@pytest.fixture
def empty_store(tmp_path: Path, page_env: Callable[[str], None]) -> str:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    open_store(url).dispose()
    page_env(url)
    return url


@pytest.fixture
def missing_store(tmp_path: Path, page_env: Callable[[str], None]) -> str:
    url = f"sqlite:///{tmp_path / 'never-created.db'}"
    page_env(url)
    return url
