"""A real Prometheus scrapes `castmeter run`'s /metrics (a real collector process polling the
simulated fleet and a dead source) with castmeter's own health rules loaded."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from analytics.alerts.promql import export_rules
from analytics.alerts.rules import load_rules
from analytics.costs import MODELS
from harness.realparts import REPO_ROOT, free_port, stop_process, wait_http
from simulator.model import FleetModel
from simulator.server import FleetServer
from tests.conftest import PrometheusFactory
from tests.reliability.helpers import EVENING

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

KEY, SECRET = "metricskey", "metrics-secret-0123456789-0123456789"


@contextlib.contextmanager
def fleet_in_thread() -> Iterator[FleetServer]:
    """The simulated fleet on its own event loop thread (the collector is another process)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fleet", daemon=True)
    thread.start()
    # An evening of the model (live rooms in every audio scenario), whatever the time of day: at
    # 03:00 UTC the radio has no live room and the cost series would stay at 0.
    server = FleetServer(
        FleetModel("dj-radio"), api_port=0, metrics_port=0, api_key=KEY, api_secret=SECRET, sim_start=EVENING
    )
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(60)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def query(prometheus_url: str, expr: str) -> list[dict[str, Any]]:
    response = requests.get(f"{prometheus_url}/api/v1/query", params={"query": expr}, timeout=10)
    response.raise_for_status()
    return list(response.json()["data"]["result"])


def wait_for(what: str, check: Callable[[], bool], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"not seen within {timeout_s:.0f} s: {what}")


def scalar(prometheus_url: str, expr: str) -> float:
    result = query(prometheus_url, expr)
    assert len(result) == 1, (expr, result)
    return float(result[0]["value"][1])


def test_prometheus_scrapes_the_collector_and_the_health_rules_see_it(
    tmp_path: Path, prometheus_server: PrometheusFactory
) -> None:
    metrics_port = free_port()
    dead_port = free_port()  # nothing listens there
    with fleet_in_thread() as fleet:
        config = tmp_path / "castmeter.toml"
        config.write_text(
            f'[database]\nurl = "sqlite:///{tmp_path / "castmeter.db"}"\n'
            "[collectors]\ninterval_s = 1\nmax_backoff_s = 2\n"
            f'[[livekit]]\nname = "sim"\nurl = "{fleet.api_url}"\napi_key = "{KEY}"\napi_secret = "{SECRET}"\n'
            f'[[livekit]]\nname = "dead"\nurl = "http://127.0.0.1:{dead_port}"\napi_key = "{KEY}"\n'
            f'api_secret = "{SECRET}"\n'
            f"[metrics]\nport = {metrics_port}\ncost_refresh_s = 2\n"
        )
        env = {
            key: value for key, value in os.environ.items() if not key.startswith(("LIVEKIT_", "PROMETHEUS_"))
        }
        env.update(CASTMETER_CONFIG=str(config), PYTHONPATH=str(REPO_ROOT))
        env.pop("CASTMETER_DB_URL", None)
        env.pop("CASTMETER_METRICS_PORT", None)  # this test chooses the port (the config)
        log_path = tmp_path / "collector.log"
        with log_path.open("wb") as log:
            collector = subprocess.Popen(
                [sys.executable, "-m", "castmeter", "run"], cwd=tmp_path, env=env,
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            wait_http(f"http://127.0.0.1:{metrics_port}/metrics", 60, process=collector)
            rules = tmp_path / "rules.yml"
            rules.write_text(
                export_rules(load_rules(REPO_ROOT / "rules" / "castmeter.rules.example.yaml")).text
            )
            job = {"job_name": "castmeter", "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}
            prometheus = prometheus_server([], "1s", {"scrape_configs": [job]}, [rules])
            url = prometheus.url

            wait_for(
                "cost series for the simulated source",
                lambda: bool(
                    query(url, 'castmeter_cost_usd_per_hour{source="sim",model="livekit_cloud"} > 0')
                ),
            )
            assert scalar(url, 'up{job="castmeter"}') == 1
            assert scalar(url, 'castmeter_source_up{source="sim",kind="livekit"}') == 1
            assert scalar(url, 'castmeter_source_up{source="dead",kind="livekit"}') == 0
            assert scalar(url, 'castmeter_source_consecutive_failures{source="dead"}') >= 1
            assert scalar(url, 'castmeter_source_last_success_timestamp_seconds{source="sim"}') > 1.7e9
            assert scalar(url, 'castmeter_source_poll_duration_seconds_count{source="sim"}') >= 1
            assert scalar(url, 'sum(castmeter_rows_written_total{source="sim"})') > 0
            assert scalar(url, "castmeter_tick_duration_seconds_count") >= 1
            assert scalar(url, "castmeter_spool_batches") == 0
            assert scalar(url, 'castmeter_alert_evaluations_total{outcome="ok"}') >= 1
            assert scalar(url, 'castmeter_listener_hours{source="sim"}') > 0
            assert scalar(url, "castmeter_cost_window_seconds") == 3600
            # Every model for each LiveKit source and for the fleet as a whole.
            assert scalar(url, "count(castmeter_cost_usd_per_hour)") == len(MODELS) * 3
            assert scalar(url, 'castmeter_cost_current_model{model="livekit_cloud"}') == 1
            assert scalar(url, "process_resident_memory_bytes") > 0
            # The health rules evaluate castmeter's series: the dead source is failing (pending:
            # the rule waits 5m before it fires).
            wait_for(
                "CastmeterSourceFailing pending for the dead source",
                lambda: bool(query(url, 'ALERTS{alertname="CastmeterSourceFailing",source="dead"}')),
            )
            assert not query(url, 'ALERTS{alertname="CastmeterSourceFailing",source="sim"}')
            assert not query(url, 'ALERTS{alertname="CastmeterCollectorDown"}')
            # The collector stops: Prometheus sees it down and the rule starts counting.
            collector.send_signal(signal.SIGTERM)
            assert collector.wait(timeout=60) == 0
            wait_for("up == 0", lambda: bool(query(url, 'up{job="castmeter"} == 0')), 30)
            wait_for(
                "CastmeterCollectorDown pending",
                lambda: bool(query(url, 'ALERTS{alertname="CastmeterCollectorDown",alertstate="pending"}')),
                30,
            )
        finally:
            stop_process(collector)
            print(log_path.read_text(errors="replace")[-3000:])
