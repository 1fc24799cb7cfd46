"""Run every benchmark script in bench/ and merge their JSON into bench/results.json.

Each ``bench/*.py`` (except this file and ``_``-prefixed helpers) prints one JSON object on
stdout (its last JSON line counts; anything else on stdout is ignored). Usage::

    python bench/run_all.py [--only NAME ...] [--timeout-s 900] [--output bench/results.json]
                            [--db URL] [--postgres | --no-postgres]

The 30-day platform-500 store the benchmarks read is prepared once per run (``--db`` names a
filled one, e.g. ``postgresql+psycopg://...``) and handed to every script as
``CASTMETER_BENCH_DB``. With ``--postgres`` (the default when PostgreSQL is installed and no
``--db`` is given) the store benchmarks run a second time on a throwaway PostgreSQL server
(harness/realparts.py), stored as ``<name>@postgresql``. Scripts in ON_REQUEST_ONLY (the
20-minute soak) run only when named with ``--only``. ``summary`` in the output holds the
issue's headline keys (null with a reason when a benchmark could not produce one).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent


# Long-running scripts that `make bench` leaves out (its whole run stays within ~15 minutes);
# run them by name: `run_all.py --only soak`, `--only security_attacks` (~8 minutes).
# platform5000 (~10 minutes: its own PostgreSQL, a 2-day backfill, two days of raw samples):
# `run_all.py --only platform5000 --timeout-s 3600` (up to ~30 min on a busy 2-core machine).
ON_REQUEST_ONLY = ("soak", "security_attacks", "platform5000")


def bench_scripts(only: list[str] | None = None) -> list[Path]:
    scripts = [
        path
        for path in sorted(BENCH_DIR.glob("*.py"))
        if path.name != Path(__file__).name and not path.name.startswith("_")
    ]
    if only:
        return [path for path in scripts if path.stem in only]
    return [path for path in scripts if path.stem not in ON_REQUEST_ONLY]


def last_json_object(stdout: str) -> dict[str, Any] | None:
    """The whole stdout when it is one JSON object, else its last line that is one."""
    try:
        whole = json.loads(stdout)
        if isinstance(whole, dict):
            return whole
    except json.JSONDecodeError:
        pass
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def run_one(
    script: Path, timeout_s: float, extra_env: dict[str, str] | None = None, args: list[str] | None = None
) -> dict[str, Any]:
    started = time.monotonic()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    env.update(extra_env or {})
    try:
        completed = subprocess.run(
            [sys.executable, str(script), *(args or [])], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
            timeout=timeout_s, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {
            "status": "timeout",
            "timeout_s": timeout_s,
            "duration_s": round(time.monotonic() - started, 3),
        }
    duration_s = round(time.monotonic() - started, 3)
    result = last_json_object(completed.stdout)
    if completed.returncode != 0 or result is None:
        return {
            "status": "error",
            "exit_code": completed.returncode,
            "duration_s": duration_s,
            "stderr_tail": completed.stderr[-2000:],
        }
    return {"status": "ok", "duration_s": duration_s, "result": result}


def machine() -> dict[str, Any]:
    sys.path.insert(0, str(REPO_ROOT))
    from bench._common import machine as bench_machine

    return bench_machine()


# Benchmarks that read the shared 30-day store: run again on PostgreSQL with --postgres
# (extra arguments for that pass). rss runs last: "after the above".
STORE_BENCHES: dict[str, list[str]] = {
    # The browser side is the same on both backends: the PostgreSQL pass takes fewer samples.
    "browser_latency": ["--steps", "2", "--navs", "1", "--budget-s", "150"],
    "query_vs_prometheus": ["--prometheus-from-file"],
    "pages_render": [],
    "tick": [],
    "rss": [],
}
RUN_LAST = ("rss",)
# Arguments of the main pass. livekit_calibrate writes its measurement under bench/out: the
# planner reads the newest analytics/calibration/ file, which moves only when a developer runs
# the script alone and commits what it wrote (a benchmark run must not change the product).
MAIN_ARGS: dict[str, list[str]] = {
    "livekit_calibrate": ["--out", str(BENCH_DIR / "out" / "livekit-server-calibration.json")],
}

# The headline keys: (key, benchmarks that may report it in order of preference, target, lower is better).
SUMMARY_KEYS: list[tuple[str, list[str], float | None]] = [
    ("query_vs_prometheus_ratio", ["query_vs_prometheus"], 0.1),
    ("overview_render_s", ["pages_render", "overview_render"], 1.0),
    ("costs_render_s", ["pages_render"], 1.0),
    ("tick_s_platform500", ["tick"], 2.0),
    ("tick_cpu_s_platform500", ["tick"], 1.0),
    ("planner_rerun_ratio", ["planner_rerun"], 3.0),
    ("backtest_s_30d_50nodes", ["backtest"], 1.0),
    ("dashboard_rss_mb", ["rss"], 400.0),
    ("collector_rss_mb", ["tick"], 150.0),
    ("browser_first_load_max_s", ["browser_latency"], 1.5),
    ("browser_sidebar_nav_max_s", ["browser_latency"], 0.7),
    ("browser_interaction_ratio_max", ["browser_latency"], 3.0),
    ("browser_slider_ratio", ["browser_latency"], 3.0),
    ("browser_refresh_tick_main_thread_ms", ["browser_latency"], 300.0),
    ("store_mb_per_day_platform500_sqlite", ["store_size"], None),
    ("store_mb_per_day_platform500_postgresql", ["store_size"], None),
    # issue 20 (bench/platform5000.py, on request): one collector within a 15 s poll interval
    # and within LiveKit Cloud's 1,000 API requests a minute (250 per 15 s tick).
    ("tick_s_platform5000", ["platform5000"], 15.0),
    ("tick_cpu_s_platform5000", ["platform5000"], None),
    ("api_calls_per_tick_platform5000", ["platform5000"], 250.0),
    ("backfill_s_30d_platform5000_postgresql", ["platform5000"], None),
    ("store_mb_per_day_platform5000_postgresql", ["platform5000"], None),
    ("retention_drop_day_s", ["platform5000"], None),
    ("retention_delete_day_s", ["platform5000"], None),
    # issue 17 (bench/hls_ingest.py): a 1 GB HLS access log through the real poller; memory must
    # not grow with the file (higher lines/s is better, so no <= target for it).
    ("hls_ingest_lines_per_s", ["hls_ingest"], None),
    ("hls_ingest_mb_per_s", ["hls_ingest"], None),
    ("hls_ingest_peak_rss_mb", ["hls_ingest"], None),
    # Several collectors on one PostgreSQL (issue 20): a SIGKILLed owner's source moves within
    # two poll intervals (the bench's interval is 5 s).
    ("ownership_failover_s", ["ownership_failover"], 10.0),
    ("tick_s_3collectors", ["ownership_failover"], None),
    ("tick_cpu_s_3collectors", ["ownership_failover"], None),
]


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """Each headline key with its value, where it came from, its target and whether it is met;
    null and a reason when no benchmark produced it. PostgreSQL figures get a ``_postgresql``
    twin when the store benchmarks ran there too."""
    out: dict[str, Any] = {}

    def pick(key: str, names: list[str], suffix: str) -> dict[str, Any]:
        reasons = []
        for name in names:
            outcome = results.get(name + suffix)
            if outcome is None:
                reasons.append(f"{name}{suffix}: not run (bench/{name}.py missing?)")
                continue
            result = outcome.get("result") or {}
            value = result.get(key)
            if value is not None:
                return {"value": value, "from": name + suffix}
            why = result.get("reason") or result.get(key.split("_")[0] + "_reason") or outcome.get("status")
            reasons.append(f"{name}{suffix}: {why}")
        return {"value": None, "reason": "; ".join(reasons)}

    for key, names, target in SUMMARY_KEYS:
        entry = pick(key, names, "")
        if target is not None:
            entry["target"] = target
            entry["meets_target"] = None if entry["value"] is None else entry["value"] <= target
        out[key] = entry
        postgres_names = [name for name in names if name in STORE_BENCHES and name + "@postgresql" in results]
        if postgres_names:
            twin = pick(key, postgres_names, "@postgresql")
            if target is not None:
                twin["target"] = target
                twin["meets_target"] = None if twin["value"] is None else twin["value"] <= target
            out[f"{key}_postgresql"] = twin
    return out


def prepare_store(db: str | None) -> tuple[str | None, dict[str, Any]]:
    """The shared 30-day store (built once here, so no benchmark pays for it)."""
    sys.path.insert(0, str(REPO_ROOT))
    from bench._common import demo_db

    started = time.monotonic()
    try:
        url, how = demo_db(db)
    except Exception as exc:  # every store benchmark then reports null with its own reason
        return None, {"error": f"{type(exc).__name__}: {exc}"}
    return url, {**how, "backend": "postgresql" if url.startswith("postgresql") else "sqlite",
                 "prepare_s": round(time.monotonic() - started, 1)}  # fmt: skip


def postgres_available() -> bool:
    sys.path.insert(0, str(REPO_ROOT))
    from harness.realparts import postgres_bindir

    return bool(os.environ.get("CASTMETER_TEST_PG_URL")) or postgres_bindir() is not None


def run_scripts(
    scripts: list[Path],
    timeout_s: float,
    env: dict[str, str],
    suffix: str,
    results: dict[str, Any],
    extra_args: dict[str, list[str]] | None = None,
) -> int:
    failures = 0
    for script in scripts:
        name = script.stem + suffix
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        outcome = run_one(script, timeout_s, env, (extra_args or {}).get(script.stem))
        outcome["ran_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        results[name] = outcome
        failures += outcome["status"] != "ok"
        print(f"bench: {name}: {outcome['status']} in {outcome['duration_s']} s", file=sys.stderr)
    return failures


def postgres_pass(
    scripts: list[Path], timeout_s: float, results: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    """The store benchmarks again on a throwaway PostgreSQL server with its own 30-day backfill."""
    sys.path.insert(0, str(REPO_ROOT))
    from bench._common import backfill_demo
    from harness.realparts import PostgresServer

    chosen = [script for script in scripts if script.stem in STORE_BENCHES]
    if not chosen:
        return 0, {}
    server = PostgresServer.start()
    try:
        url = server.create_database()
        tick_url = server.create_database()
        print("bench: backfilling 30 days into PostgreSQL ...", file=sys.stderr, flush=True)
        backfill_s = backfill_demo(url)
        env = {"CASTMETER_BENCH_DB": url, "CASTMETER_BENCH_TICK_DB": tick_url}
        failures = run_scripts(chosen, timeout_s, env, "@postgresql", results, STORE_BENCHES)
    finally:
        server.stop()
    return failures, {"backend": "postgresql", "backfill_s": round(backfill_s, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", nargs="*", help="script names (without .py) to run")
    parser.add_argument("--timeout-s", type=float, default=float(os.environ.get("BENCH_TIMEOUT_S", "900")))
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results.json")
    parser.add_argument(
        "--db",
        default=os.environ.get("CASTMETER_BENCH_DB") or None,
        help="a store filled with the 30-day platform-500 demo (default: a cached SQLite backfill)",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--postgres",
        dest="postgres",
        action="store_true",
        default=None,
        help="also run the store benchmarks on a throwaway PostgreSQL server",
    )
    group.add_argument("--no-postgres", dest="postgres", action="store_false")
    args = parser.parse_args(argv)

    scripts = bench_scripts(args.only)
    scripts = [s for s in scripts if s.stem not in RUN_LAST] + [s for s in scripts if s.stem in RUN_LAST]
    if not scripts:
        print("no benchmark scripts found in bench/", file=sys.stderr)
    # Keep earlier results of scripts not run this time (e.g. with --only).
    results: dict[str, Any] = {}
    if args.only and args.output.exists():
        try:
            results = json.loads(args.output.read_text()).get("benchmarks", {})
        except (json.JSONDecodeError, AttributeError):
            results = {}
    stores: dict[str, Any] = {}
    env: dict[str, str] = {}
    if any(
        script.stem in STORE_BENCHES or script.stem in ("store_size", "overview_render") for script in scripts
    ):
        print("bench: preparing the 30-day platform-500 store ...", file=sys.stderr, flush=True)
        url, stores["main"] = prepare_store(args.db)
        if url:
            env["CASTMETER_BENCH_DB"] = url
    failures = run_scripts(scripts, args.timeout_s, env, "", results, MAIN_ARGS)
    use_postgres = args.postgres if args.postgres is not None else (args.db is None and postgres_available())
    if use_postgres:
        try:
            pg_failures, stores["postgresql"] = postgres_pass(scripts, args.timeout_s, results)
            failures += pg_failures
        except Exception as exc:
            stores["postgresql"] = {"error": f"{type(exc).__name__}: {exc}"}
            failures += 1
    document = {
        "machine": machine(),
        "stores": stores,
        "summary": summary(results),
        "benchmarks": dict(sorted(results.items())),
    }
    args.output.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    print(
        json.dumps(
            {
                "output": str(args.output),
                "ran": len(scripts),
                "failed": failures,
                "summary": {key: entry["value"] for key, entry in document["summary"].items()},
            },
            indent=1,
        )
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
