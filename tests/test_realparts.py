"""The real-component helpers themselves: PostgreSQL cluster, Prometheus, policy."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from harness import realparts
from tests.conftest import PrometheusFactory


def test_require_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("CASTMETER_REQUIRE_E2E", raising=False)
    assert not realparts.ci_requires_real()
    realparts.require(True, "present")  # no-op
    with pytest.raises(pytest.skip.Exception, match="widget"):
        realparts.require(False, "widget")
    monkeypatch.setenv("CI", "true")
    assert realparts.ci_requires_real()
    with pytest.raises(pytest.fail.Exception, match="widget"):
        realparts.require(False, "widget")
    monkeypatch.delenv("CI")
    monkeypatch.setenv("CASTMETER_REQUIRE_E2E", "1")
    assert realparts.ci_requires_real()


def test_free_port_is_bindable() -> None:
    import socket

    port = realparts.free_port()
    assert 0 < port < 65536
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_prometheus_config_merges_extra() -> None:
    config = realparts.prometheus_config(
        ["127.0.0.1:1"],
        "2s",
        extra_config={"scrape_configs": [{"job_name": "other", "static_configs": [{"targets": ["x:2"]}]}]},
        rule_files=["rules.yml"],
    )
    assert [job["job_name"] for job in config["scrape_configs"]] == ["castmeter-test", "other"]
    assert config["global"]["scrape_interval"] == "2s"
    assert config["rule_files"] == ["rules.yml"]


@pytest.mark.postgres
def test_postgres_databases_are_fresh_and_separate(postgres_url: str, pg_url: str) -> None:
    assert postgres_url != pg_url
    for url in (postgres_url, pg_url):
        engine = create_engine(url)
        with engine.connect() as connection:
            tables = connection.execute(
                text("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
            ).scalar()
            host = connection.execute(text("SELECT inet_server_addr()::text")).scalar()
        engine.dispose()
        assert tables == 0
        assert host is None or host.startswith("127.0.0.1")


@pytest.mark.prometheus
def test_prometheus_scrapes_itself_and_reloads(prometheus_server: PrometheusFactory) -> None:
    handle = prometheus_server([])
    own = handle.url.removeprefix("http://")
    handle.write_config(realparts.prometheus_config([own], "1s"))
    handle.reload()
    import time

    deadline = time.monotonic() + 30
    value = None
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{handle.url}/api/v1/query?query=up", timeout=5) as response:
            result = json.load(response)["data"]["result"]
        if result:
            value = result[0]["value"][1]
            break
        time.sleep(0.5)
    assert value == "1"


def test_promtool_checks_a_config(promtool: Path, tmp_path: Path) -> None:
    import subprocess

    import yaml

    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(realparts.prometheus_config(["127.0.0.1:9"], "1s")))
    result = subprocess.run([str(promtool), "check", "config", str(config)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_livekit_server_binary_runs(livekit_server_bin: Path) -> None:
    import subprocess

    result = subprocess.run(
        [str(livekit_server_bin), "--version"], capture_output=True, text=True, timeout=30
    )
    assert "1.13.5" in result.stdout + result.stderr
