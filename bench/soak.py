"""Soak: the demo fleet at 10x speed with the collectors and the dashboard up, for a bounded time.

    .venv/bin/python bench/soak.py [--minutes 20] [--speed 10] [--sample-s 30] [--no-browser]

Runs ``python -m collectors demo`` (a short backfill, then the simulated fleet live at --speed
with the real pollers, and a real Prometheus when installed) and ``streamlit run app.py``
headless, each on free loopback ports against a temporary SQLite store. A headless Chromium
keeps the Overview open (its live fragment reruns on its own) and visits every page once per
sample. Every --sample-s it records, per process tree (collectors incl. Prometheus, dashboard):
RSS, open files, threads; and the database, its WAL and the spool size. Prints JSON: the
series and a summary (first / last / max, RSS growth over the second half in MB/h).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]
PAGES = ["", "streams", "nodes", "costs", "billing", "alerts"]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree_stats(process: psutil.Process) -> dict[str, float]:
    """RSS (MB), open files and threads of a process and its children."""
    rss = files = threads = 0.0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {"rss_mb": 0.0, "open_files": 0.0, "threads": 0.0}
    for member in members:
        try:
            with member.oneshot():
                rss += member.memory_info().rss
                files += member.num_fds()
                threads += member.num_threads()
        except psutil.NoSuchProcess:
            continue
    return {"rss_mb": round(rss / 1e6, 1), "open_files": files, "threads": threads}


def file_mb(path: Path) -> float:
    return round(path.stat().st_size / 1e6, 2) if path.exists() else 0.0


def dir_mb(path: Path) -> float:
    return (
        round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6, 2)
        if path.exists()
        else 0.0
    )


def wait_for(predicate: Any, timeout_s: float, what: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.5)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def growth_mb_per_h(series: list[dict[str, Any]], key: str) -> float | None:
    """Least-squares slope over the second half of the run (after warm-up), MB per hour."""
    half = series[len(series) // 2 :]
    if len(half) < 3:
        return None
    xs = [row["elapsed_s"] / 3600 for row in half]
    ys = [row[key] for row in half]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    return (
        round(sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var, 1) if var else None
    )


def summary(series: list[dict[str, Any]]) -> dict[str, Any]:
    keys = [k for k in series[0] if k != "elapsed_s"]
    out: dict[str, Any] = {
        key: {"first": series[0][key], "last": series[-1][key], "max": max(row[key] for row in series)}
        for key in keys
    }
    for key in ("collectors_rss_mb", "dashboard_rss_mb"):
        out[key]["second_half_growth_mb_per_h"] = growth_mb_per_h(series, key)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--sample-s", type=float, default=30.0)
    parser.add_argument("--days", type=float, default=0.25, help="backfill before going live")
    parser.add_argument("--scenario", default="platform-500")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="castmeter-soak-"))
    db = workdir / "castmeter.db"
    config = workdir / "castmeter.toml"
    config.write_text("[dashboard]\nstale_after_s = 600\n")
    env = {**os.environ, "CASTMETER_DB_URL": f"sqlite:///{db}", "CASTMETER_CONFIG": str(config)}
    env.pop("CASTMETER_PASSWORD_HASH", None)
    ready = workdir / "demo.ready"
    dash_port = free_port()
    logs = (workdir / "collectors.log").open("wb"), (workdir / "dashboard.log").open("wb")
    collectors = subprocess.Popen(
        [sys.executable, "-m", "collectors", "demo", "--days", str(args.days), "--scenario", args.scenario,
         "--speed", str(args.speed), "--api-port", str(free_port()), "--metrics-port", str(free_port()),
         "--prometheus-port", str(free_port()), "--ready-file", str(ready)],
        cwd=REPO_ROOT, env=env, stdout=logs[0], stderr=subprocess.STDOUT,
    )  # fmt: skip
    dashboard: subprocess.Popen[bytes] | None = None
    playwright: Any = None
    browser: Any = None
    series: list[dict[str, Any]] = []
    errors: list[str] = []
    try:
        wait_for(ready.exists, 1800, "demo backfill", collectors)
        dashboard = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
             "--server.port", str(dash_port), "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=REPO_ROOT, env=env, stdout=logs[1], stderr=subprocess.STDOUT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{dash_port}"
        wait_for(lambda: http_ok(f"{base}/_stcore/health"), 120, "dashboard", dashboard)
        page = None
        if not args.no_browser and CHROMIUM.exists():
            from playwright.sync_api import sync_playwright

            playwright = sync_playwright().start()
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page()
        collectors_ps, dashboard_ps = psutil.Process(collectors.pid), psutil.Process(dashboard.pid)
        started = time.monotonic()
        end = started + args.minutes * 60
        visit = 0
        while True:
            if page is not None:
                try:  # one page per sample, round robin; the Overview stays open in between
                    name = PAGES[visit % len(PAGES)]
                    page.goto(f"{base}/{name}", wait_until="networkidle", timeout=60_000)
                    visit += 1
                except Exception as exc:  # a slow page is a figure, not the end of the soak
                    errors.append(f"browser: {type(exc).__name__}: {str(exc)[:200]}")
            for name, process in (("collectors", collectors), ("dashboard", dashboard)):
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode} during the soak")
            row: dict[str, Any] = {"elapsed_s": round(time.monotonic() - started, 1)}
            for name, ps in (("collectors", collectors_ps), ("dashboard", dashboard_ps)):
                for key, value in tree_stats(ps).items():
                    row[f"{name}_{key}"] = value
            row["db_mb"] = file_mb(db)
            row["wal_mb"] = file_mb(db.with_name(db.name + "-wal"))
            row["spool_mb"] = dir_mb(workdir / "spool")
            series.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
            if time.monotonic() >= end:
                break
            time.sleep(max(0.0, min(args.sample_s, end - time.monotonic())))
    finally:
        if browser is not None:
            browser.close()
        if playwright is not None:
            playwright.stop()
        for child in (dashboard, collectors):
            if child is not None and child.poll() is None:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.kill()
        for log in logs:
            log.close()
    collector_log = (workdir / "collectors.log").read_text(errors="replace")
    result = {
        "bench": "soak",
        "minutes": args.minutes,
        "speed": args.speed,
        "simulated_minutes": round(args.minutes * args.speed, 1),
        "scenario": args.scenario,
        "samples": len(series),
        "summary": summary(series) if series else {},
        "collector_log_errors": sum(1 for line in collector_log.splitlines() if " ERROR " in line),
        "collector_log_warnings": sum(1 for line in collector_log.splitlines() if " WARNING " in line),
        "browser_errors": errors[:10],
        "workdir": str(workdir),
        "series": series,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
