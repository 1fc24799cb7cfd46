"""Helper of bench/tick.py (not a benchmark): the simulator in its own process, its clock set to
a chosen model time (``--sim-start``; by default yesterday's busiest point) instead of now.

    python bench/_sim_peak.py --scenario platform-500 --sim-start TS

Prints ``READY api=URL metrics=URL,...`` like ``python -m simulator``; the API key pair is the
dev pair (devkey/secret).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator.model import FleetModel
from simulator.server import FleetServer


def evening_peak(model: FleetModel, now_ts: int) -> tuple[int, int, int]:
    """(ts, live rooms, listeners) of the 5-minute point with most listeners yesterday."""
    start = now_ts - now_ts % 86_400 - 86_400
    samples = model.history(start, start + 86_400, step_s=300).room_samples
    per_ts = samples.groupby("ts").agg(rooms=("room_sid", "size"), listeners=("listeners", "sum"))
    best = int(per_ts["listeners"].to_numpy().argmax())
    return int(per_ts.index.to_numpy()[best]), int(per_ts["rooms"].to_numpy()[best]), int(per_ts["listeners"].to_numpy()[best])


async def _run(args: argparse.Namespace) -> None:
    model = FleetModel(args.scenario)
    sim_start = args.sim_start
    peak = ""
    if sim_start is None:
        sim_start, rooms, listeners = evening_peak(model, int(time.time()))
        peak = f" sim_start={sim_start} rooms={rooms} listeners={listeners}"
    server = FleetServer(model, "127.0.0.1", 0, 0, sim_start=sim_start)
    await server.start()
    print(f"READY api={server.api_url} metrics={','.join(server.metrics_targets)}{peak}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="platform-500")
    parser.add_argument("--sim-start", type=float, default=None,
                        help="model time at startup (default: the busiest point of yesterday)")
    args = parser.parse_args()
    try:
        asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
