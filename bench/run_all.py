"""Run every benchmark script in bench/ and merge their JSON into bench/results.json.

Each ``bench/*.py`` (except this file and ``_``-prefixed helpers) prints one JSON object on
stdout (its last JSON line counts; anything else on stdout is ignored). Usage::

    python bench/run_all.py [--only NAME ...] [--timeout-s 900] [--output bench/results.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent


def bench_scripts(only: list[str] | None = None) -> list[Path]:
    scripts = [
        path
        for path in sorted(BENCH_DIR.glob("*.py"))
        if path.name != Path(__file__).name and not path.name.startswith("_")
    ]
    if only:
        scripts = [path for path in scripts if path.stem in only]
    return scripts


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


def run_one(script: Path, timeout_s: float) -> dict[str, Any]:
    started = time.monotonic()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    try:
        completed = subprocess.run(
            [sys.executable, str(script)], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
            timeout=timeout_s, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "timeout_s": timeout_s, "duration_s": round(time.monotonic() - started, 3)}
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
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", nargs="*", help="script names (without .py) to run")
    parser.add_argument("--timeout-s", type=float, default=float(os.environ.get("BENCH_TIMEOUT_S", "900")))
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results.json")
    args = parser.parse_args(argv)

    scripts = bench_scripts(args.only)
    if not scripts:
        print("no benchmark scripts found in bench/", file=sys.stderr)
    # Keep earlier results of scripts not run this time (e.g. with --only).
    results: dict[str, Any] = {}
    if args.output.exists():
        try:
            results = json.loads(args.output.read_text()).get("benchmarks", {})
        except (json.JSONDecodeError, AttributeError):
            results = {}
    failures = 0
    for script in scripts:
        print(f"bench: {script.stem} ...", file=sys.stderr, flush=True)
        outcome = run_one(script, args.timeout_s)
        outcome["ran_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        results[script.stem] = outcome
        failures += outcome["status"] != "ok"
        print(f"bench: {script.stem}: {outcome['status']} in {outcome['duration_s']} s", file=sys.stderr)
    document = {"machine": machine(), "benchmarks": dict(sorted(results.items()))}
    args.output.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    print(json.dumps({"output": str(args.output), "ran": len(scripts), "failed": failures}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
