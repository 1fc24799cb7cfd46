"""Helper of bench/tick.py (not a benchmark): the simulator in its own process, its clock set to
a chosen model time (``--sim-start``; by default yesterday's busiest point) instead of now.

    python bench/_sim_peak.py --scenario platform-500 --sim-start TS

Prints ``PEAK sim_start=TS rooms=N listeners=N`` (when it chose the time), then runs
``python -m simulator --sim-start TS``, which prints ``READY api=URL metrics=URL,...``; the API key
pair is the dev pair (devkey/secret).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator.__main__ import main as simulator_main
from simulator.model import FleetModel


def evening_peak(model: FleetModel, now_ts: int) -> tuple[int, int, int]:
    """(ts, live rooms, listeners) of the 5-minute point with most listeners yesterday."""
    start = now_ts - now_ts % 86_400 - 86_400
    samples = model.history(start, start + 86_400, step_s=300).room_samples
    per_ts = samples.groupby("ts").agg(rooms=("room_sid", "size"), listeners=("listeners", "sum"))
    best = int(per_ts["listeners"].to_numpy().argmax())
    return (
        int(per_ts.index.to_numpy()[best]),
        int(per_ts["rooms"].to_numpy()[best]),
        int(per_ts["listeners"].to_numpy()[best]),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="platform-500")
    parser.add_argument(
        "--sim-start",
        type=float,
        default=None,
        help="model time at startup (default: the busiest point of yesterday)",
    )
    args = parser.parse_args()
    sim_start = args.sim_start
    if sim_start is None:
        sim_start, rooms, listeners = evening_peak(FleetModel(args.scenario), int(time.time()))
        print(f"PEAK sim_start={sim_start} rooms={rooms} listeners={listeners}", flush=True)
    # The simulator's own CLI serves the fleet (free ports, dev key pair) and prints READY.
    return simulator_main(
        [
            "--scenario",
            args.scenario,
            "--api-port",
            "0",
            "--metrics-port",
            "0",
            "--sim-start",
            str(sim_start),
            "--log-level",
            "WARNING",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
