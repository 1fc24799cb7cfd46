"""Real components for tests: PostgreSQL, Prometheus, livekit-server, Chromium.

Tests that need a real part skip with a visible reason when it is missing, except in CI
(``CI=true`` or ``CASTMETER_REQUIRE_E2E=1``), where a missing part FAILS the test.

API (import from ``harness.realparts``; fixtures live in ``tests/conftest.py``):

- ``ci_requires_real() -> bool`` — true when real parts are mandatory.
- ``require(condition, what)`` — skip (locally) or fail (CI) unless ``condition``.
- ``free_port() -> int`` — a free TCP port on 127.0.0.1.
- ``PostgresServer`` — a throwaway cluster (or ``CASTMETER_TEST_PG_URL``);
  ``.create_database(template=None) -> url``, ``.drop_database(url)``, ``.admin_url``.
- ``PrometheusHandle`` — ``.url``, ``.stop()``, ``.reload()``, ``.config_path``, ``.storage_path``;
  started by ``start_prometheus(workdir, scrape_targets, ...)``.
- ``prometheus_path()``, ``promtool_path()``, ``node_exporter_path()``, ``chromium_path()``,
  ``nginx_path()``, ``openssl_path()`` — the binary or None.
- ``nginx_proxy(upstream_base | [bases])`` — context manager: the shipped front door
  (docs/proxy/castmeter.nginx.conf, ports and certificate replaced) in front of a dashboard
  (or several replicas);
  yields an ``NginxHandle`` (``.https_base``, ``.http_base``, ``.ssl_context()``).
- ``livekit_server_binary(build=True) -> Path | None`` — livekit-server v1.13.5
  (``LIVEKIT_SERVER_BIN``, else ``$CASTMETER_CACHE/go/bin/server``, else built by
  ``scripts/build-livekit-server.sh``).
- ``wait_http(url, timeout_s)`` — poll until a URL answers 2xx.

Fixtures (tests/conftest.py):

- ``postgres_server`` (session) — a running ``PostgresServer``.
- ``postgres_url`` (session) — ``postgresql+psycopg://`` URL of a fresh empty database.
- ``pg_url`` (function) — a fresh empty database per test, dropped afterwards.
- ``pg_engine`` (function) — a SQLAlchemy Engine on ``pg_url`` (disposed afterwards).
- ``prometheus_server`` (function) — factory ``start(scrape_targets, scrape_interval="1s",
  extra_config=None, rule_files=None) -> PrometheusHandle``; every server is killed at teardown.
- ``promtool``, ``livekit_server_bin``, ``chromium`` (session) — paths, or skip/fail.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
LIVEKIT_SERVER_VERSION = "v1.13.5"


# ---------------------------------------------------------------------------------------------
# Policy
# ---------------------------------------------------------------------------------------------


def ci_requires_real() -> bool:
    """Real components are mandatory in CI (CI=true) or when CASTMETER_REQUIRE_E2E=1."""
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("CASTMETER_REQUIRE_E2E") == "1"


def require(condition: bool, what: str) -> None:
    """Skip the test (locally) or fail it (CI) when ``condition`` is false."""
    if condition:
        return
    if ci_requires_real():
        pytest.fail(f"required real component missing in CI: {what}", pytrace=False)
    pytest.skip(f"real component missing: {what}")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (bind port 0, read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[Any], grace_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``; waits for the exit either way."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_http(url: str, timeout_s: float = 30.0, *, process: subprocess.Popen[Any] | None = None) -> None:
    """Poll ``url`` until it answers 2xx; raise TimeoutError (or RuntimeError when
    ``process`` exited) otherwise."""
    deadline = time.monotonic() + timeout_s
    last_error = ""
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if 200 <= response.status < 300:
                    return
                last_error = f"HTTP {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout_s}s: {last_error}")


@contextlib.contextmanager
def streamlit_run(
    script: str | Path, *, cwd: Path, env: Mapping[str, str], log_path: Path, start_timeout_s: float = 60.0
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``streamlit run script`` headless on a free loopback port with the environment ``env``
    (complete: nothing is inherited); yields (base URL, process) once it answers its health
    check, stops it afterwards. A server that never comes up raises with its log's tail."""
    port = free_port()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true",
             "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
            cwd=cwd, env=dict(env), stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_http(f"{base}/_stcore/health", start_timeout_s, process=process)
        except (TimeoutError, RuntimeError) as exc:
            raise RuntimeError(f"streamlit did not start ({exc}):\n{_tail(log_path)}") from exc
        yield base, process
    finally:
        stop_process(process, grace_s=15)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------------------------------------
# Binaries
# ---------------------------------------------------------------------------------------------


def _which(env_var: str, *candidates: str) -> Path | None:
    explicit = os.environ.get(env_var)
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    for candidate in candidates:
        found = shutil.which(candidate) if "/" not in candidate else candidate
        if found and Path(found).is_file() and os.access(found, os.X_OK):
            return Path(found)
    return None


def prometheus_path() -> Path | None:
    return _which("PROMETHEUS_BIN", "/usr/bin/prometheus", "prometheus")


def promtool_path() -> Path | None:
    return _which("PROMTOOL_BIN", "/usr/bin/promtool", "promtool")


def node_exporter_path() -> Path | None:
    return _which(
        "NODE_EXPORTER_BIN", "/usr/bin/prometheus-node-exporter", "prometheus-node-exporter", "node_exporter"
    )


def libfaketime_path() -> Path | None:
    """Debian's libfaketime (package faketime / libfaketime), for a process with a moved clock."""
    explicit = os.environ.get("LIBFAKETIME")
    candidates = (
        [Path(explicit)] if explicit else sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))
    )
    return next((path for path in candidates if path.exists()), None)


CLOCK_VARIABLES = ("LD_PRELOAD", "FAKETIME", "FAKETIME_DONT_RESET", "TZ")


def clock_env() -> dict[str, str]:
    """The variables that set this process's clock and zone (libfaketime under
    scripts/test-clock-edges.sh), for a child started with an environment built from scratch:
    it must share the test's clock."""
    return {name: os.environ[name] for name in CLOCK_VARIABLES if name in os.environ}


def faketime_env(at_ts: float) -> dict[str, str]:
    """Environment for child processes whose clock reads ``at_ts`` now and then runs normally:
    a fixed offset, so every process started with it shares one clock (and Prometheus, a Go
    binary that libfaketime cannot move, still agrees on durations and rates). Under it a timed
    condition wait never returns: background threads pause with core.pause, not Event.wait."""
    library = libfaketime_path()
    require(library is not None, "libfaketime (apt package faketime)")
    offset_s = round(at_ts - time.time())
    return {"LD_PRELOAD": str(library), "FAKETIME": f"{offset_s:+d}", "FAKETIME_DONT_RESET": "1"}


def chromium_path() -> Path | None:
    return _which("CHROMIUM_BIN", "/usr/bin/chromium", "chromium", "chromium-browser")


def postgres_bindir() -> Path | None:
    """Debian's PostgreSQL binaries (15 preferred, else the newest installed)."""
    explicit = os.environ.get("CASTMETER_PG_BINDIR")
    if explicit:
        return Path(explicit) if (Path(explicit) / "initdb").is_file() else None
    preferred = Path("/usr/lib/postgresql/15/bin")
    if (preferred / "initdb").is_file():
        return preferred
    installed = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return installed[-1].parent if installed else None


def cache_dir() -> Path:
    return Path(os.environ.get("CASTMETER_CACHE", Path.home() / ".cache" / "castmeter"))


def go_path() -> Path | None:
    return _which("GO_BIN", "go", "/usr/local/go/bin/go")


def livekit_server_binary(build: bool = True) -> Path | None:
    """livekit-server v1.13.5: LIVEKIT_SERVER_BIN, else the cached build, else build it
    (needs Go and the module proxy; takes minutes once). None when unavailable."""
    explicit = os.environ.get("LIVEKIT_SERVER_BIN")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    cached = cache_dir() / "go" / "bin" / "server"
    if cached.is_file():
        return cached
    script = REPO_ROOT / "scripts" / "build-livekit-server.sh"
    if not build or go_path() is None or not script.is_file():
        return None
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=1800, check=False)
    if result.returncode != 0 or not cached.is_file():
        print(f"building livekit-server failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        return None
    return cached


# ---------------------------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------------------------


def _as_sqlalchemy_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _with_database(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=database).render_as_string(hide_password=False)


@dataclass
class PostgresServer:
    """A PostgreSQL server for tests: ``CASTMETER_TEST_PG_URL`` when set, otherwise a
    throwaway cluster (initdb + pg_ctl, run as the ``postgres`` user when we are root)
    on 127.0.0.1:<free port> with trust auth, deleted on ``stop()``."""

    admin_url: str = ""
    workdir: Path | None = None
    port: int = 0
    _bindir: Path | None = None
    _databases: list[str] = field(default_factory=list)

    @classmethod
    def start(cls) -> PostgresServer:
        external = os.environ.get("CASTMETER_TEST_PG_URL")
        if external:
            return cls(admin_url=_as_sqlalchemy_url(external))
        bindir = postgres_bindir()
        if bindir is None:
            raise FileNotFoundError("PostgreSQL binaries (apt package postgresql) not found")
        server = cls(_bindir=bindir)
        server._start_cluster()
        return server

    def _as_owner(self, argv: Sequence[str]) -> list[str]:
        # initdb/postgres refuse to run as root: drop to the postgres OS user.
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *argv]
        return list(argv)

    def _start_cluster(self) -> None:
        assert self._bindir is not None
        self.workdir = Path(tempfile.mkdtemp(prefix="castmeter-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.workdir, user="postgres", group="postgres")
        data = self.workdir / "data"
        initdb = self._as_owner(
            [str(self._bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--locale=C", "--no-sync"]
        )  # fmt: skip
        result = subprocess.run(initdb, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed: {result.stderr or result.stdout}")
        last_error = ""
        for _attempt in range(3):  # the free port can be taken between probe and bind
            self.port = free_port()
            # Durability off: a test cluster trades crash safety for speed.
            options = (
                f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            log = self.workdir / "postgres.log"
            start = self._as_owner(
                [str(self._bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
                 "-o", options, "start"]
            )  # fmt: skip
            result = subprocess.run(start, capture_output=True, text=True, timeout=90, check=False)
            if result.returncode == 0:
                self.admin_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
                return
            last_error = _tail(log)
        self.stop()
        raise RuntimeError(f"pg_ctl start failed: {last_error}")

    def _admin_execute(self, statement: Any) -> None:
        import psycopg
        from sqlalchemy.engine import make_url

        url = make_url(self.admin_url)
        with psycopg.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 5432,
            user=url.username or "postgres",
            password=url.password or None,
            dbname=url.database or "postgres",
            autocommit=True,
            connect_timeout=10,
        ) as connection:
            connection.execute(statement)

    def create_database(self, template: str | None = None) -> str:
        """A fresh database (empty, or a copy of the database ``template`` — a URL or a name,
        which must have no open connections); returns its SQLAlchemy URL."""
        from psycopg import sql
        from sqlalchemy.engine import make_url

        name = f"test_{uuid.uuid4().hex[:16]}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            source = make_url(template).database if "://" in template else template
            statement = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(source or "")
            )
        self._admin_execute(statement)
        self._databases.append(name)
        return _with_database(self.admin_url, name)

    def drop_database(self, url: str) -> None:
        from psycopg import sql
        from sqlalchemy.engine import make_url

        name = make_url(url).database
        if not name or name not in self._databases:
            return
        with contextlib.suppress(Exception):  # a failed drop must not mask the test's outcome
            self._admin_execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        self._databases.remove(name)

    def stop(self) -> None:
        if self.workdir is None:
            for name in list(self._databases):
                self.drop_database(_with_database(self.admin_url, name))
            return
        data = self.workdir / "data"
        if self._bindir is not None and (data / "postmaster.pid").exists():
            stop = self._as_owner([str(self._bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
            subprocess.run(stop, capture_output=True, timeout=60, check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = None


# ---------------------------------------------------------------------------------------------
# Prometheus
# ---------------------------------------------------------------------------------------------


@dataclass
class PrometheusHandle:
    url: str
    process: subprocess.Popen[bytes]
    config_path: Path
    storage_path: Path
    log_path: Path

    def reload(self) -> None:
        """Re-read the config file (POST /-/reload; needs --web.enable-lifecycle)."""
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.status != 200:
                raise RuntimeError(f"reload failed: HTTP {response.status}")

    def write_config(self, config: dict[str, Any]) -> None:
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Merge ``extra`` into ``base``: lists are appended, dicts merged, scalars replaced."""
    merged = dict(base)
    for key, value in extra.items():
        current = merged.get(key)
        if isinstance(current, list) and isinstance(value, list):
            merged[key] = current + value
        elif isinstance(current, dict) and isinstance(value, dict):
            merged[key] = _merge(current, value)
        else:
            merged[key] = value
    return merged


def prometheus_config(
    scrape_targets: Sequence[str],
    scrape_interval: str = "1s",
    extra_config: dict[str, Any] | None = None,
    rule_files: Sequence[str | Path] | None = None,
) -> dict[str, Any]:
    """A Prometheus config scraping ``scrape_targets`` (``host:port``) as job ``castmeter-test``."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
        "scrape_configs": [],
    }
    if scrape_targets:
        config["scrape_configs"].append(
            {"job_name": "castmeter-test", "static_configs": [{"targets": list(scrape_targets)}]}
        )
    if rule_files:
        config["rule_files"] = [str(path) for path in rule_files]
    if extra_config:
        config = _merge(config, extra_config)
    return config


def start_prometheus(
    workdir: Path,
    scrape_targets: Sequence[str],
    scrape_interval: str = "1s",
    extra_config: dict[str, Any] | None = None,
    rule_files: Sequence[str | Path] | None = None,
    *,
    binary: Path | None = None,
    ready_timeout_s: float = 60.0,
) -> PrometheusHandle:
    binary = binary or prometheus_path()
    if binary is None:
        raise FileNotFoundError("prometheus (apt package prometheus) not found")
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "prometheus.yml"
    config_path.write_text(
        yaml.safe_dump(prometheus_config(scrape_targets, scrape_interval, extra_config, rule_files))
    )
    storage_path = workdir / "tsdb"
    log_path = workdir / "prometheus.log"
    last_error: Exception | None = None
    for _attempt in range(3):
        port = free_port()
        argv = [
            str(binary),
            f"--config.file={config_path}",
            f"--storage.tsdb.path={storage_path}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
            "--web.enable-admin-api",
            "--storage.tsdb.retention.time=400d",  # backfilled history must not be dropped
        ]
        with log_path.open("ab") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
        handle = PrometheusHandle(f"http://127.0.0.1:{port}", process, config_path, storage_path, log_path)
        try:
            wait_http(f"{handle.url}/-/ready", ready_timeout_s, process=process)
            return handle
        except (RuntimeError, TimeoutError) as exc:
            handle.stop()
            last_error = exc
    raise RuntimeError(f"prometheus did not start: {last_error}\n{_tail(log_path)}")


# ---------------------------------------------------------------------------------------------
# nginx: the shipped front door (docs/proxy/castmeter.nginx.conf) in front of a dashboard
# ---------------------------------------------------------------------------------------------

NGINX_EXAMPLE = REPO_ROOT / "docs" / "proxy" / "castmeter.nginx.conf"


def nginx_path() -> Path | None:
    return _which("NGINX_BIN", "/usr/sbin/nginx", "nginx")


def openssl_path() -> Path | None:
    return _which("OPENSSL_BIN", "/usr/bin/openssl", "openssl")


def self_signed_certificate(workdir: Path) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1, valid for two days (the openssl command line)."""
    openssl = openssl_path()
    if openssl is None:
        raise FileNotFoundError("openssl (apt package openssl) not found")
    cert, key = workdir / "fullchain.pem", workdir / "privkey.pem"
    subprocess.run(
        [str(openssl), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def render_nginx_example(
    upstream_ports: Sequence[int], https_port: int, http_port: int, cert: Path, key: Path
) -> str:
    """The shipped configuration with only its ports and certificate paths replaced (each
    replaced line must exist, so a change to the example cannot silently skip a test); one
    ``server`` line per dashboard replica in ``upstream_ports``."""
    text = NGINX_EXAMPLE.read_text()
    servers = "\n    ".join(f"server 127.0.0.1:{port};" for port in upstream_ports)
    replacements = {
        "server 127.0.0.1:8501;": servers,
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "/etc/ssl/castmeter/fullchain.pem": str(cert),
        "/etc/ssl/castmeter/privkey.pem": str(key),
    }
    for old, new in replacements.items():
        if old not in text:
            raise ValueError(f"{NGINX_EXAMPLE.name} no longer has {old!r}")
        text = text.replace(old, new)
    return text


@dataclass
class NginxHandle:
    https_base: str  # https://127.0.0.1:port
    http_base: str  # http://127.0.0.1:port (redirects)
    cert: Path
    workdir: Path
    process: subprocess.Popen[bytes]

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def error_log(self) -> str:
        return _tail(self.workdir / "error.log", 50)

    def access_log(self) -> str:
        """Every request so far: ``address "request" status upstream=<replica(s) tried>``."""
        path = self.workdir / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def nginx_proxy(
    upstream_base: str | Sequence[str], certificate: tuple[Path, Path] | None = None
) -> Iterator[NginxHandle]:
    """The shipped nginx example in front of ``upstream_base`` (http://127.0.0.1:port, or several:
    dashboard replicas), on free loopback ports with ``certificate`` (cert, key) or a fresh
    self-signed one; stopped afterwards. The working directory is world-readable: nginx's workers run as an
    unprivileged user."""
    binary = nginx_path()
    if binary is None:
        raise FileNotFoundError("nginx (apt package nginx) not found")
    workdir = Path(tempfile.mkdtemp(prefix="castmeter-nginx-"))
    workdir.chmod(0o755)
    try:
        cert, key = certificate or self_signed_certificate(workdir)
        https_port, http_port = free_port(), free_port()
        bases = [upstream_base] if isinstance(upstream_base, str) else list(upstream_base)
        upstream_ports = [int(base.rsplit(":", 1)[1]) for base in bases]
        (workdir / "castmeter.conf").write_text(
            render_nginx_example(upstream_ports, https_port, http_port, cert, key)
        )
        temp = workdir / "temp"
        temp.mkdir(mode=0o777)
        temp.chmod(0o777)
        (workdir / "nginx.conf").write_text(
            f"worker_processes 1;\npid {workdir / 'nginx.pid'};\nerror_log {workdir / 'error.log'} warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            "    include /etc/nginx/mime.types;\n"
            "    log_format upstream '$remote_addr \"$request\" $status upstream=$upstream_addr';\n"
            f"    access_log {workdir / 'access.log'} upstream;\n"
            f"    client_body_temp_path {temp}/body;\n    proxy_temp_path {temp}/proxy;\n"
            f"    fastcgi_temp_path {temp}/fastcgi;\n    uwsgi_temp_path {temp}/uwsgi;\n    scgi_temp_path {temp}/scgi;\n"
            f"    include {workdir / 'castmeter.conf'};\n"
            "}\n"
        )  # fmt: skip
        test = subprocess.run(
            [str(binary), "-t", "-q", "-p", str(workdir), "-c", str(workdir / "nginx.conf"), "-e", "stderr"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        if test.returncode != 0:
            raise RuntimeError(f"nginx -t refused the example:\n{test.stderr}")
        with (workdir / "nginx.out").open("wb") as out:
            process = subprocess.Popen(
                [str(binary), "-p", str(workdir), "-c", str(workdir / "nginx.conf"), "-e", str(workdir / "error.log"),
                 "-g", "daemon off;"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        handle = NginxHandle(
            f"https://127.0.0.1:{https_port}", f"http://127.0.0.1:{http_port}", cert, workdir, process
        )
        try:
            wait_nginx_listening(https_port, process, workdir)
            yield handle
        finally:
            stop_process(process, grace_s=10)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def wait_nginx_listening(
    port: int, process: subprocess.Popen[bytes], workdir: Path, timeout_s: float = 30.0
) -> None:
    """Until the nginx ``process`` (running in ``workdir``) accepts connections on ``port``; its
    error log's tail when it exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode}:\n{_tail(workdir / 'error.log')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nginx not listening on {port} after {timeout_s}s")
