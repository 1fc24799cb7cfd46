"""Bench: measured_ledger() over 30 days × 500 channels in SQLite. Prints JSON.

The fixture: 500 channels, each live 4 h a day with one publisher and 10 listener sessions,
plus 1 h room and node rollups; built once under bench/out/ (reused when present).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.usage import measured_ledger
from store import schema
from store.engine import make_engine, open_store
from store.queries.usage import usage_parts
from store.upsert import upsert

DAY = 86_400
START = 1_793_491_200  # 2026-11-01 00:00 UTC
CHANNELS, DAYS, LISTENERS = 500, 30, 10


def build(path: Path) -> None:
    engine = open_store(f"sqlite:///{path}")
    node_cols = {f"{m}_{a}": None for m in schema.NODE_METRICS for a in ("avg", "max")}
    with engine.begin() as c:
        for day in range(DAYS):
            t0 = START + day * DAY
            rooms, people, room_rollups, node_rollups = [], [], [], []
            for ch in range(CHANNELS):
                sid = f"RM_{day}_{ch}"
                start = t0 + (ch % 20) * 3600
                rooms.append(
                    {
                        "source_id": 1,
                        "room_sid": sid,
                        "room_name": f"ch{ch}",
                        "channel": f"ch{ch}",
                        "started_ts": start,
                        "ended_ts": start + 4 * 3600,
                        "last_seen_ts": start + 4 * 3600,
                    }
                )
                for i in range(LISTENERS + 1):
                    people.append(
                        {
                            "source_id": 1,
                            "participant_sid": f"PA_{day}_{ch}_{i}",
                            "room_sid": sid,
                            "identity": f"u{i}",
                            "is_publisher": i == 0,
                            "joined_ts": start + i * 7,
                            "left_ts": start + 4 * 3600 - i * 11,
                            "last_seen_ts": start + 4 * 3600,
                        }
                    )
                for hour in range(4):
                    room_rollups.append(
                        {
                            "source_id": 1,
                            "room_sid": sid,
                            "bucket_ts": start + hour * 3600,
                            "samples": 240,
                            "participants_avg": 11.0,
                            "participants_max": 11,
                            "publishers_avg": 1.0,
                            "publishers_max": 1,
                            "listeners_avg": 10.0,
                            "listeners_max": LISTENERS,
                        }
                    )
            for hour in range(24):
                node_rollups.append(
                    {
                        **node_cols,
                        "source_id": 1,
                        "node_id": "n1",
                        "bucket_ts": t0 + hour * 3600,
                        "samples": 240,
                        "bytes_out_per_s_avg": 3.2e6,
                        "bytes_in_per_s_avg": 3.2e5,
                    }
                )
            upsert(c, schema.room_sessions, rooms)
            upsert(c, schema.participant_sessions, people)
            upsert(c, schema.room_samples_1h, room_rollups)
            upsert(c, schema.node_samples_1h, node_rollups)
    engine.dispose()


def main() -> dict[str, object]:
    path = Path(__file__).resolve().parent / "out" / "usage_load.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    built = not path.exists()
    if built:
        build(path)
    engine = make_engine(f"sqlite:///{path}", read_only=True)
    timings, cpu = [], []
    for _ in range(3):
        start, start_cpu = time.perf_counter(), time.process_time()
        ledger = measured_ledger(usage_parts(engine, START, START + DAYS * DAY), START, START + DAYS * DAY)
        timings.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    engine.dispose()
    return {"bench": "usage_load", "channels": CHANNELS, "days": DAYS, "participant_sessions": CHANNELS * DAYS * (LISTENERS + 1),
            "ledger_rows": len(ledger.frame), "best_s": round(min(timings), 4), "best_cpu_s": round(min(cpu), 4), "goal_s": 1.0, "built_fixture": built,
            "listener_minutes": round(ledger.totals()["listener_minutes"])}  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(main()))
