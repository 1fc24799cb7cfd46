"""Shared fixtures: real components from harness/realparts.py (see its docstring)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from harness import realparts
from harness.realparts import PostgresServer, PrometheusHandle, require

# Prices are effective-dated: pin the day they are looked up for, so no test depends on today's
# date (pages and servers started by tests inherit it; a test may still pass its own as_of).
os.environ.setdefault("CASTMETER_PRICES_AS_OF", "2026-12-01")
# Collectors started by tests serve their own /metrics on any free port: two at once (or a
# `make run` demo on this machine) would otherwise collide on the default 9465.
os.environ.setdefault("CASTMETER_METRICS_PORT", "0")
# Under a clock moved by libfaketime (scripts/test-clock-edges.sh sets CASTMETER_CLOCK_EDGE),
# tests that need the machine's own clock skip: Go components (Prometheus, promtool,
# livekit-server) cannot be moved with Python, and some tests move the clock themselves.
REAL_CLOCK_FIXTURES = frozenset({"prometheus_server", "promtool", "livekit_server_bin"})


# A test that asks for one of these fixtures (directly or through another fixture) needs a real
# component, and carries its marker without writing it: `make check` deselects the markers, so a
# new test on PostgreSQL or Prometheus cannot slow the fast set by forgetting one. Tests that reach
# a real part another way (getfixturevalue, harness.realparts directly) are marked by hand.
FIXTURE_MARKERS: dict[str, str] = {
    "postgres_server": "postgres",
    "postgres_url": "postgres",
    "pg_url": "postgres",
    "pg_engine": "postgres",
    "prometheus_server": "prometheus",
    "promtool": "prometheus",
    "livekit_server_bin": "e2e",
    "chromium": "browser",
}


def mark_real_parts(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        for name in sorted({FIXTURE_MARKERS[f] for f in fixtures & FIXTURE_MARKERS.keys()}):
            if not item.get_closest_marker(name):
                item.add_marker(getattr(pytest.mark, name))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    mark_real_parts(items)
    edge = os.environ.get("CASTMETER_CLOCK_EDGE")
    if not edge:
        return
    skip = pytest.mark.skip(
        reason=f"needs the real clock (the suite runs at {edge}): a Go component or its own libfaketime"
    )
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if (
            item.get_closest_marker("realclock")
            or item.get_closest_marker("e2e")
            or fixtures & REAL_CLOCK_FIXTURES
        ):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL server for the whole session (skip/fail when unavailable)."""
    try:
        server = PostgresServer.start()
    except (FileNotFoundError, RuntimeError, OSError) as exc:
        require(False, f"PostgreSQL: {exc}")
        raise  # unreachable: require() skips or fails
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """URL of a fresh empty database shared by the session."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """URL of a fresh empty database for one test, dropped afterwards."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """A read-write engine (no migrations) on a fresh database for one test."""
    from store.engine import make_engine

    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


PrometheusFactory = Callable[..., PrometheusHandle]


@pytest.fixture
def prometheus_server(tmp_path: Path) -> Iterator[PrometheusFactory]:
    """Factory: ``start(scrape_targets, scrape_interval="1s", extra_config=None, rule_files=None)``
    starts a real Prometheus in tmp_path; all are killed at teardown."""
    require(realparts.prometheus_path() is not None, "prometheus binary (apt package prometheus)")
    handles: list[PrometheusHandle] = []

    def start(
        scrape_targets: Sequence[str],
        scrape_interval: str = "1s",
        extra_config: dict[str, Any] | None = None,
        rule_files: Sequence[str | Path] | None = None,
    ) -> PrometheusHandle:
        workdir = tmp_path / f"prometheus-{len(handles)}"
        handle = realparts.start_prometheus(
            workdir, scrape_targets, scrape_interval, extra_config, rule_files
        )
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.stop()


@pytest.fixture(scope="session")
def promtool() -> Path:
    path = realparts.promtool_path()
    require(path is not None, "promtool (apt package prometheus)")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def livekit_server_bin() -> Path:
    path = realparts.livekit_server_binary()
    require(
        path is not None,
        f"livekit-server {realparts.LIVEKIT_SERVER_VERSION} (scripts/build-livekit-server.sh)",
    )
    assert path is not None
    return path


@pytest.fixture(scope="session")
def chromium() -> Path:
    path = realparts.chromium_path()
    require(path is not None, "chromium (apt package chromium)")
    assert path is not None
    return path
