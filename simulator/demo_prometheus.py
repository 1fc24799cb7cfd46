"""A real Prometheus server (Debian's `prometheus` binary) scraping the demo fleet's nodes."""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from pathlib import Path

import requests
import yaml

log = logging.getLogger(__name__)


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


class DemoPrometheus:
    """``scrape_configs``: the simulator's (FleetServer.scrape_configs: the LiveKit nodes and
    their node_exporters, labelled by node_id)."""

    def __init__(
        self, port: int, scrape_configs: list[dict[str, object]], workdir: Path, scrape_interval_s: int = 5
    ) -> None:
        self.port = port
        self.scrape_configs = scrape_configs
        self.workdir = workdir
        self.scrape_interval_s = scrape_interval_s
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> None:
        binary = prometheus_binary()
        if binary is None:
            raise FileNotFoundError("prometheus binary not found (apt-get install prometheus)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": f"{self.scrape_interval_s}s", "evaluation_interval": "15s"},
            "scrape_configs": self.scrape_configs,
        }
        config_path = self.workdir / "prometheus.yml"
        config_path.write_text(yaml.safe_dump(config))
        log_file = (self.workdir / "prometheus.log").open("ab")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config_path}",
                f"--storage.tsdb.path={self.workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=2d",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"prometheus exited with {self.process.returncode}; see {self.workdir}/prometheus.log"
                )
            try:
                if requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    log.info(
                        "Prometheus scraping the simulated nodes and their node_exporters at %s", self.url
                    )
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"prometheus did not become ready in {timeout_s:.0f} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None
