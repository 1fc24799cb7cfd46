"""The known-answer fleet (fleet.yaml) in four stores, each built through a real path:

- ``backfill-sqlite``, ``backfill-postgresql``: the bulk backfill of the scripted fleet
  (simulator/backfill.py), as ``collectors demo`` writes history;
- ``live-sqlite``, ``live-postgresql``: live — ``python -m simulator --script fleet.yaml``
  (Twirp API, LiveKit and node_exporter metrics) scraped by a real Prometheus every second,
  and two ``python -m collectors run`` (one per database) ticking every 5 s. libfaketime moves
  the simulator's and the collectors' clocks to the script's T0 (a fixed offset: Prometheus,
  a Go binary it cannot move, agrees on durations and rates), so every figure is at its
  scripted date. The run lasts the scenario's 6 minutes plus about a minute and a half.

The dashboard is pinned with $CASTMETER_NOW and the command lines with --now.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import streamlit as st

from collectors.health import ensure_source
from harness.realparts import (
    REPO_ROOT,
    PostgresServer,
    faketime_env,
    free_port,
    prometheus_path,
    require,
    start_prometheus,
    stop_process,
)
from simulator.backfill import backfill
from simulator.scripted import ScriptedFleet, load_script
from store.engine import open_store
from tests.knownanswer import answers

HERE = Path(__file__).resolve().parent
FLEET = HERE / "fleet.yaml"
RULES = HERE / "rules.yaml"
STORE_KINDS = ("backfill-sqlite", "backfill-postgresql", "live-sqlite", "live-postgresql")
LIVEKIT_NAME, PROMETHEUS_NAME = "ka-livekit", "ka-prometheus"
API_KEY, API_SECRET = "ka-key", "ka-secret-0123456789-0123456789-0123456789"
TICK_S = 5
RATE_WINDOW = "20s"
LIVE_UNTIL = answers.T0 + 375  # a few ticks past the scenario's end (T0+360)
DASHBOARD_ZONE = "Europe/Berlin"


def dashboard_config(path: Path) -> Path:
    path.write_text(
        f'[dashboard]\ntimezone = "{DASHBOARD_ZONE}"\nstale_after_s = 86400\n\n'
        f'[alerts]\nrules_file = "{RULES}"\n\n[prices]\ncurrent_model = "{answers.CURRENT_MODEL}"\n'
    )
    return path


def _backfilled(url: str) -> str:
    engine = open_store(url)
    try:
        livekit_id = ensure_source(engine, LIVEKIT_NAME, "livekit", "http://127.0.0.1:7880")
        prometheus_id = ensure_source(engine, PROMETHEUS_NAME, "prometheus", "http://127.0.0.1:9090")
        backfill(
            engine, ScriptedFleet(load_script(FLEET)), livekit_id, end_ts=LIVE_UNTIL, days=0.01,
            start_ts=answers.T0, node_source_id=prometheus_id,
        )  # fmt: skip
    finally:
        engine.dispose()
    return url


def _collector_config(path: Path, api_url: str, prometheus_url: str) -> Path:
    path.write_text(f"""
[collectors]
interval_s = {TICK_S}
rollup_every_s = {TICK_S}

[[livekit]]
name = "{LIVEKIT_NAME}"
url = "{api_url}"
api_key = "{API_KEY}"
api_secret = "{API_SECRET}"

[[prometheus]]
name = "{PROMETHEUS_NAME}"
url = "{prometheus_url}"
rate_window = "{RATE_WINDOW}"

[alerts]
enabled = true
rules_file = "{RULES}"

[metrics]
port = 0  # two collectors run at once: any free port each

[prices]
current_model = "{answers.CURRENT_MODEL}"
""")
    return path


def _run_live(workdir: Path, urls: dict[str, str]) -> None:
    """The scripted fleet live into every store of ``urls`` at once (see the module doc)."""
    require(prometheus_path() is not None, "prometheus binary (apt package prometheus)")
    launch_fake_ts = answers.T0 - 60
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CASTMETER_", "LIVEKIT_", "PROMETHEUS_"))}
    env.update(faketime_env(launch_fake_ts))
    offset_s = int(env["FAKETIME"])

    def fake_now() -> float:
        return time.time() + offset_s

    simulator = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--script", str(FLEET), "--api-port", str(free_port()),
         "--metrics-port", "0", "--node-exporter-port", "0", "--api-key", API_KEY],
        cwd=REPO_ROOT, env={**env, "LIVEKIT_API_SECRET": API_SECRET}, stdout=subprocess.PIPE, stderr=(workdir / "simulator.log").open("wb"), text=True,
    )  # fmt: skip
    collectors: list[subprocess.Popen[bytes]] = []
    prometheus = None
    try:
        assert simulator.stdout is not None
        ready = simulator.stdout.readline()
        assert ready.startswith("READY "), ready + (workdir / "simulator.log").read_text()
        facts = dict(part.split("=", 1) for part in ready.split()[1:])
        node_ids = [node.id for node in load_script(FLEET).nodes]
        scrape_configs = [
            {"job_name": "livekit", "static_configs": [{"targets": facts["metrics"].split(",")}]},
            {"job_name": "node", "static_configs": [
                {"targets": [target], "labels": {"node_id": node_id}}
                for node_id, target in zip(node_ids, facts["node_exporter"].split(","), strict=True)
            ]},
        ]  # fmt: skip
        prometheus = start_prometheus(workdir / "prometheus", [], "1s", {"scrape_configs": scrape_configs})
        # The stores' first observation is T0 (radio-1 starts): each collector is launched
        # early and starts itself at T0 + 1 with its imports done (start_at.py).
        for name, url in urls.items():
            config = _collector_config(workdir / f"{name}.toml", facts["api"], prometheus.url)
            with (workdir / f"{name}.log").open("wb") as log:
                command = [sys.executable, "-m", "tests.knownanswer.start_at", str(answers.T0 + 1),
                           "collectors", "run", "--config", str(config), "--db", url]  # fmt: skip
                process = subprocess.Popen(
                    command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
                )
            collectors.append(process)
        while fake_now() < LIVE_UNTIL:
            for process, name in zip(collectors, urls, strict=True):
                assert process.poll() is None, (workdir / f"{name}.log").read_text()[-3000:]
            assert simulator.poll() is None, (workdir / "simulator.log").read_text()[-3000:]
            time.sleep(1)
    finally:
        for process in collectors:
            process.send_signal(signal.SIGTERM)
        for process in collectors:
            stop_process(process, grace_s=20)
        stop_process(simulator, grace_s=10)
        if prometheus is not None:
            prometheus.stop()


@pytest.fixture(scope="session")
def known_stores(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Callable[[str], str]:
    """``get(kind)``: the database URL of a store of STORE_KINDS, built on first use."""
    built: dict[str, str] = {}

    def postgres_url() -> str:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return server.create_database()

    def get(kind: str) -> str:
        reused = os.environ.get("KNOWNANSWER_" + kind.upper().replace("-", "_") + "_URL")
        if reused:  # a store built by an earlier run (kept for debugging the assertions)
            return reused
        if kind in built:
            return built[kind]
        path, backend = kind.split("-")
        if path == "backfill":
            url = (
                f"sqlite:///{tmp_path_factory.mktemp('ka-backfill') / 'fleet.db'}"
                if backend == "sqlite"
                else postgres_url()
            )
            built[kind] = _backfilled(url)
            return url
        workdir = tmp_path_factory.mktemp("ka-live")
        urls = {"live-sqlite": f"sqlite:///{workdir / 'fleet.db'}", "live-postgresql": postgres_url()}
        _run_live(workdir, urls)
        built.update(urls)
        return built[kind]

    return get


@pytest.fixture(
    params=[
        pytest.param(kind, marks=[pytest.mark.realclock] if kind.startswith("live") else [])
        for kind in STORE_KINDS
    ]
)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(store_kind: str, known_stores: Callable[[str], str]) -> str:
    return known_stores(store_kind)


@pytest.fixture
def dashboard(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[int], None]]:
    """``at(now_ts)``: point the pages (AppTest) at the store, pinned to ``now_ts``."""
    monkeypatch.setenv("CASTMETER_CONFIG", str(dashboard_config(tmp_path / "castmeter.toml")))
    monkeypatch.setenv("CASTMETER_DB_URL", store_url)
    monkeypatch.delenv("CASTMETER_PASSWORD_HASH", raising=False)

    def at(now_ts: int) -> None:
        monkeypatch.setenv("CASTMETER_NOW", str(now_ts))
        st.cache_data.clear()
        st.cache_resource.clear()

    yield at
    st.cache_data.clear()
    st.cache_resource.clear()


def is_live(kind: str) -> bool:
    return kind.startswith("live")
