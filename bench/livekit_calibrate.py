"""Calibrate the capacity model on a real livekit-server: CPU per subscribed audio track and
memory per participant.

Starts livekit-server v1.13.5 on loopback (harness/livekit.py), one publisher
sending a 48 kHz tone, then ramps listeners 0 → --max-listeners in --steps steps. At each step
it reads the server's own ``process_cpu_seconds_total`` and ``process_resident_memory_bytes``
straight from its Prometheus port (no Prometheus server), several short windows per step,
and takes the median window (robust to a GC or a scheduler hiccup). Then a least-squares fit:

    cpu_cores      = base + cores_per_subscribed_track × livekit_track_subscribed_total
    resident_bytes = base + bytes_per_participant    × livekit_participant_total

Bounded: at most --max-listeners participants and --budget-s seconds (default 180) in all.
The listeners run in this process on the same machine, so they compete with the server for
CPU; the server's figure is its own process CPU, which that contention can only inflate.

    .venv/bin/python bench/livekit_calibrate.py
        # writes analytics/calibration/livekit-server-<version>-<date>.json: commit it, and the
        # planner's "measured livekit-server" coefficients read it (the newest file wins)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a script: make the project importable
    sys.path.insert(0, str(REPO_ROOT))

from analytics.calibration import livekit_server_file  # noqa: E402
from harness import livekit as lk  # noqa: E402
from harness import realparts  # noqa: E402

# https://docs.livekit.io/home/self-hosting/benchmark.md: 80 % of a 16-core c2-standard-16 for 10 × 3000 audio down-tracks
# (our own division of LiveKit's published benchmark, not an official figure).
BENCHMARK_CORES_PER_SUBSCRIBED_TRACK = 0.8 * 16 / 30_000


def machine() -> dict[str, Any]:
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_bytes = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_bytes = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {
        "cpu_model": model,
        "logical_cores": os.cpu_count(),
        "memory_total_bytes": memory_bytes,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def read_server(server: lk.LiveKitServer) -> dict[str, float]:
    samples = lk.metric_samples(server.metrics_text())

    def total(name: str) -> float:
        return float(sum(value for _labels, value in samples.get(name, [])))

    return {
        "cpu_s": total("process_cpu_seconds_total"),
        "rss_bytes": total("process_resident_memory_bytes"),
        "participants": total("livekit_participant_total"),
        "subscribed_tracks": total("livekit_track_subscribed_total"),
        "published_tracks": total("livekit_track_published_total"),
        "bytes_out": float(
            sum(
                v
                for labels, v in samples.get("livekit_packet_bytes_total", [])
                if labels.get("direction") == "outgoing"
            )
        ),
    }


async def measure_step(server: lk.LiveKitServer, windows: int, window_s: float) -> dict[str, Any]:
    rates, rss, out_rates = [], [], []
    before = await asyncio.to_thread(read_server, server)
    t_before = time.monotonic()
    for _ in range(windows):
        await asyncio.sleep(window_s)
        after = await asyncio.to_thread(read_server, server)
        t_after = time.monotonic()
        elapsed = t_after - t_before
        rates.append((after["cpu_s"] - before["cpu_s"]) / elapsed)
        out_rates.append((after["bytes_out"] - before["bytes_out"]) / elapsed)
        rss.append(after["rss_bytes"])
        before, t_before = after, t_after
    return {
        "participants": int(before["participants"]),
        "subscribed_tracks": int(before["subscribed_tracks"]),
        "published_tracks": int(before["published_tracks"]),
        "cpu_cores": statistics.median(rates),
        "cpu_cores_windows": [round(r, 5) for r in rates],
        "rss_bytes": statistics.median(rss),
        "bytes_out_per_s": statistics.median(out_rates),
    }


def fit(x: list[float], y: list[float]) -> dict[str, float]:
    """Least squares y = base + slope·x, with r² (numpy.linalg.lstsq)."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    design = np.column_stack([np.ones_like(xs), xs])
    (base, slope), *_ = np.linalg.lstsq(design, ys, rcond=None)
    predicted = design @ np.array([base, slope])
    ss_res = float(np.sum((ys - predicted) ** 2))
    ss_tot = float(np.sum((ys - ys.mean()) ** 2))
    return {"base": float(base), "slope": float(slope), "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0}


async def ramp(args: argparse.Namespace, binary: Path, workdir: Path) -> dict[str, Any]:
    started = time.monotonic()
    deadline = started + args.budget_s
    server = await asyncio.to_thread(lk.start_livekit_server, binary, workdir)
    participants: list[lk.Participant] = []
    steps: list[dict[str, Any]] = []
    targets = [round(args.max_listeners * i / args.steps) for i in range(args.steps + 1)]
    step_cost_s = args.windows * args.window_s + args.settle_s
    stopped_early = None
    try:
        publisher = await lk.join(server, "calibration", "dj", publish=True, max_tone_s=args.budget_s)
        participants.append(publisher)
        listeners: list[lk.Participant] = []
        for target in targets:
            if time.monotonic() + step_cost_s > deadline:
                stopped_early = f"time budget reached before {target} listeners"
                break
            while len(listeners) < target and time.monotonic() < deadline:
                listener = await lk.join(server, "calibration", f"listener-{len(listeners)}", publish=False)
                listeners.append(listener)
                participants.append(listener)
            await lk.wait_until(lambda: all(p.subscribed >= 1 for p in listeners), 30, "listeners subscribed")
            await asyncio.sleep(args.settle_s)
            step = await measure_step(server, args.windows, args.window_s)
            step["listeners"] = len(listeners)
            steps.append(step)
            print(json.dumps({"step": step}), file=sys.stderr)
    finally:
        for participant in participants:
            try:
                await participant.leave()
            except Exception as exc:
                print(f"cleanup {participant.identity}: {exc}", file=sys.stderr)
        server.stop()
    cpu = fit([s["subscribed_tracks"] for s in steps], [s["cpu_cores"] for s in steps])
    memory = fit([s["participants"] for s in steps], [s["rss_bytes"] for s in steps])
    return {
        "measured_ts": int(time.time()),
        "livekit_server_version": realparts.LIVEKIT_SERVER_VERSION,
        "machine": machine(),
        "method": {
            "publishers": 1,
            "audio": "48 kHz mono sine, Opus 48 kbps target + RED (livekit Python SDK defaults)",
            "windows_per_step": args.windows,
            "window_s": args.window_s,
            "settle_s": args.settle_s,
            "listeners_in_same_process": True,
        },
        "steps": steps,
        "coefficients": {
            "cpu_cores_per_subscribed_track": cpu["slope"],
            "cpu_cores_base": cpu["base"],
            "cpu_fit_r2": cpu["r2"],
            "memory_bytes_per_participant": memory["slope"],
            "memory_bytes_base": memory["base"],
            "memory_fit_r2": memory["r2"],
        },
        "benchmark_default": {
            "cpu_cores_per_subscribed_track": BENCHMARK_CORES_PER_SUBSCRIBED_TRACK,
            "source": "docs.livekit.io benchmark: 10 pub × 3000 sub audio, 80 % of c2-standard-16 (derived)",
        },
        "elapsed_s": round(time.monotonic() - started, 1),
        "stopped_early": stopped_early,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-listeners", type=int, default=40)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--windows", type=int, default=3, help="measurement windows per step")
    parser.add_argument("--window-s", type=float, default=5.0)
    parser.add_argument("--settle-s", type=float, default=3.0)
    parser.add_argument("--budget-s", type=float, default=180.0, help="hard bound on the whole ramp")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="default: analytics/calibration/livekit-server-<version>-<date>.json",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.max_listeners <= 200 or not 1 <= args.steps <= 20:
        parser.error("--max-listeners must be 1..200 and --steps 1..20")
    binary = realparts.livekit_server_binary()
    if binary is None:
        print(json.dumps({"error": "livekit-server binary not available (scripts/build-livekit-server.sh)"}))
        return 1
    with tempfile.TemporaryDirectory(prefix="castmeter-calibrate-") as workdir:
        result = asyncio.run(ramp(args, binary, Path(workdir)))
    measured_date = time.strftime("%Y-%m-%d", time.gmtime(result["measured_ts"]))
    out = args.out or livekit_server_file(realparts.LIVEKIT_SERVER_VERSION, measured_date)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
