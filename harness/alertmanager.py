"""The real Alertmanager (Debian ``prometheus-alertmanager``, with ``amtool``) for tests.

Kept beside harness/realparts.py (whose helpers it uses): ``alertmanager_path()``,
``amtool_path()``, ``start_alertmanager(workdir, config) -> AlertmanagerHandle`` (loopback, a
free port, clustering off; ``.stop()`` / ``.start()`` again on the same port and storage,
``.silence(...)`` through amtool). Skips locally / fails in CI without the binaries
(``harness.realparts.require``)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.realparts import _tail, _which, free_port, stop_process, wait_http


def alertmanager_path() -> Path | None:
    return _which("ALERTMANAGER_BIN", "/usr/bin/prometheus-alertmanager", "alertmanager")


def amtool_path() -> Path | None:
    return _which("AMTOOL_BIN", "/usr/bin/amtool", "amtool")


@dataclass
class AlertmanagerHandle:
    binary: Path
    workdir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "alertmanager.log"

    def start(self, ready_timeout_s: float = 60.0) -> None:
        argv = [
            str(self.binary),
            f"--config.file={self.workdir / 'alertmanager.yml'}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",  # a single instance: no gossip port
            "--log.level=info",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        try:
            wait_http(f"{self.url}/-/ready", ready_timeout_s, process=self.process)
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            raise RuntimeError(f"alertmanager did not start: {exc}\n{_tail(self.log_path)}") from exc

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None

    def silence(self, *matchers: str, author: str, comment: str, duration: str = "1h") -> str:
        """A silence added with amtool; returns its id."""
        amtool = amtool_path()
        if amtool is None:
            raise FileNotFoundError("amtool (apt package prometheus-alertmanager) not found")
        result = subprocess.run(
            [str(amtool), "silence", "add", f"--alertmanager.url={self.url}", f"--author={author}",
             f"--comment={comment}", f"--duration={duration}", *matchers],
            capture_output=True, text=True, timeout=60, check=True,
        )  # fmt: skip
        return result.stdout.strip()


def start_alertmanager(
    workdir: Path, config: dict[str, Any], *, binary: Path | None = None
) -> AlertmanagerHandle:
    binary = binary or alertmanager_path()
    if binary is None:
        raise FileNotFoundError("prometheus-alertmanager (apt package prometheus-alertmanager) not found")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "alertmanager.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    last_error: Exception | None = None
    for _attempt in range(3):  # the free port can be taken between probe and bind
        handle = AlertmanagerHandle(binary, workdir, free_port())
        try:
            handle.start()
            return handle
        except RuntimeError as exc:
            last_error = exc
    raise RuntimeError(f"alertmanager did not start: {last_error}")
