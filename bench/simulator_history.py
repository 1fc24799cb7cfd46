"""Benchmark: FleetModel.history() for platform-500 over 30 days at 60 s steps.

Prints one JSON object. Wall time depends on what else runs on the machine, so CPU time of
this process is printed too. Run: ``.venv/bin/python bench/simulator_history.py [--days N]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator.model import DAY_S, FleetModel


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--step-s", type=int, default=60)
    parser.add_argument("--scenario", default="platform-500")
    args = parser.parse_args()
    start_ts = 20_000 * DAY_S
    model = FleetModel(args.scenario)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    history = model.history(start_ts, start_ts + args.days * DAY_S, args.step_s)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    snap_wall0 = time.perf_counter()
    snapshot = model.snapshot(start_ts + args.days * DAY_S - 4 * 3600 + 0.5)  # 20:00 on the last day
    snapshot_s = time.perf_counter() - snap_wall0
    key = f"history_s_{args.scenario.replace('-', '')}_{args.days}d"
    print(
        json.dumps(
            {
                key: round(wall, 3),
                "history_cpu_s": round(cpu, 3),
                "step_s": args.step_s,
                "room_sessions": len(history.room_sessions),
                "participant_sessions": len(history.participant_sessions),
                "room_samples": len(history.room_samples),
                "node_samples": len(history.node_samples),
                "egress": len(history.egress),
                "ingress": len(history.ingress),
                "snapshot_s_cold": round(snapshot_s, 3),
                "snapshot_rooms": len(snapshot.rooms),
                "snapshot_participants": len(snapshot.participants),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
