"""Bench: platform-5000 (issue 20) — the simulator serving it, one collector following it,
its history in a day-partitioned PostgreSQL store, and retention by the day.

    .venv/bin/python bench/platform5000.py [--ticks 6] [--backfill-days 2] [--raw-day-rooms 1143]
                                           [--no-full-tick] [--db postgresql+psycopg://...]

1. The simulator (bench/_sim_peak.py, its own process) at yesterday's evening peak of
   platform-5000: ListRooms, a sample of ListParticipants calls, and every node's /metrics.
2. Collector ticks (this process) on the default call budget (participant_lists_per_tick =
   100): wall, CPU, LiveKit API calls per tick, rooms listed/deferred; then one tick with an
   unbounded budget (every room listed), which is what the budget avoids.
3. A backfill of ``--backfill-days`` of platform-5000 into PostgreSQL (sessions for every day,
   rollups, 6 h of raw samples), timed; 30 days extrapolated linearly from it (stated so).
4. (after 3) The Overview and Costs renders and query-vs-Prometheus on the backfilled store
   (bench/pages_render.py, bench/query_vs_prometheus.py with ``--db``; ``--only-pages --db URL``
   runs this step alone on a store filled before).
5. Raw samples of one day at platform-5000's rate (``--raw-day-rooms`` rooms on average x one
   sample per 15 s) written into two day partitions by ``generate_series``: the size of a day,
   then retention's cost for a day: ``DELETE`` of one day vs dropping the other's partition.

PostgreSQL is a throwaway server (harness/realparts.py) unless ``--db`` names an EMPTY
database. Prints one JSON object; every step is bounded (ticks, days, rows).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import REPO_ROOT, emit
from bench.run_all import last_json_object

DEV_API_KEY, DEV_API_SECRET = "devkey", "secret"
DAY_S = 86_400
SCENARIO = "platform-5000"


def start_simulator() -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "bench" / "_sim_peak.py"), "--scenario", SCENARIO],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    deadline = time.monotonic() + 300
    facts: dict[str, str] = {}
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the simulator exited ({process.poll()})")
        if line.startswith(("PEAK", "READY")):
            facts.update(re.findall(r"(\w+)=(\S+)", line))
        if line.startswith("READY"):
            return process, facts
    raise TimeoutError("the simulator did not print READY")


async def serving(api_url: str, metrics: list[str], sample_calls: int = 100) -> dict[str, Any]:
    """How fast the simulator answers the calls a tick makes (sequentially, one at a time)."""
    from livekit import api

    out: dict[str, Any] = {}
    async with api.LiveKitAPI(api_url, DEV_API_KEY, DEV_API_SECRET) as lk:
        started = time.perf_counter()
        rooms = (await lk.room.list_rooms(api.ListRoomsRequest())).rooms
        out["list_rooms_s"] = round(time.perf_counter() - started, 3)
        out["rooms"] = len(rooms)
        out["participants_listed_by_list_rooms"] = sum(int(r.num_participants) for r in rooms)
        latencies = []
        for room in rooms[:sample_calls]:
            started = time.perf_counter()
            try:
                await lk.room.list_participants(api.ListParticipantsRequest(room=room.name))
            except api.TwirpError:
                continue
            latencies.append(time.perf_counter() - started)
        out["list_participants_ms_median"] = round(1000 * statistics.median(latencies), 1)
        out["list_participants_every_room_s_estimate"] = round(statistics.median(latencies) * len(rooms), 1)
    scrape_s = []
    async with aiohttp.ClientSession() as http:
        for target in metrics:
            started = time.perf_counter()
            async with http.get(f"http://{target}/metrics") as response:
                await response.read()
            scrape_s.append(time.perf_counter() - started)
    out["metrics_nodes"] = len(scrape_s)
    out["metrics_scrape_s_median"] = round(statistics.median(scrape_s), 3)
    out["metrics_scrape_all_nodes_s"] = round(sum(scrape_s), 2)
    return out


async def collector_ticks(url: str, api_url: str, ticks: int, budget: int) -> list[dict[str, Any]]:
    from collectors.pollers.livekit import LiveKitPoller
    from collectors.runner import Collector
    from collectors.spool import Spool
    from core.settings import LiveKitSource, Settings
    from store.engine import open_store

    source = LiveKitSource(
        name="bench-livekit", url=api_url, api_key=DEV_API_KEY,
        api_secret=DEV_API_SECRET, participant_lists_per_tick=budget,  # type: ignore[arg-type]
    )  # fmt: skip
    # The simulator shares this machine's two cores: a generous per-request timeout, so that a
    # slow answer shows as a long tick rather than as a failed poll.
    settings = Settings(
        database={"url": url},  # type: ignore[arg-type]
        livekit=[source],
        collectors={"http_timeout_s": 30.0},  # type: ignore[arg-type]
    )
    engine = open_store(url)
    out = []
    with tempfile.TemporaryDirectory(prefix="castmeter-bench-spool-") as spool_dir:
        collector = Collector(settings, engine, spool=Spool(Path(spool_dir)))
        poller = collector.sources[0].poller
        assert isinstance(poller, LiveKitPoller)
        now_ts = int(time.time())
        for index in range(ticks):
            started, started_cpu = time.perf_counter(), time.process_time()
            report = await collector.tick(now_ts + int(index * settings.collectors.interval_s))
            out.append({
                "wall_s": round(time.perf_counter() - started, 3),
                "cpu_s": round(time.process_time() - started_cpu, 3),
                "polled": report.polled.get("bench-livekit"),
                **poller.last_calls,
            })  # fmt: skip
    engine.dispose()
    return out


def _db_mb(engine: Any) -> float:
    from sqlalchemy import text

    with engine.connect() as connection:
        return float(connection.execute(text("SELECT pg_database_size(current_database())")).scalar()) / 1e6


def backfill_days(url: str, days: float) -> dict[str, Any]:
    from collectors.health import ensure_source
    from simulator.backfill import backfill
    from simulator.model import FleetModel
    from store.engine import open_store

    engine = open_store(url)
    empty_mb = _db_mb(engine)
    source_id = ensure_source(engine, "bench-backfill", "livekit", "http://127.0.0.1")
    end_ts = int(time.time()) // DAY_S * DAY_S
    started, started_cpu = time.perf_counter(), time.process_time()
    report = backfill(engine, FleetModel(SCENARIO), source_id, end_ts=end_ts, days=days)
    wall_s, cpu_s = time.perf_counter() - started, time.process_time() - started_cpu
    size_mb = _db_mb(engine) - empty_mb
    engine.dispose()
    rows = dict(report.rows)
    return {
        "backfill_days": days,
        "backfill_s": round(wall_s, 1),
        "backfill_cpu_s": round(cpu_s, 1),
        "backfill_rows": rows,
        "backfill_store_mb": round(size_mb, 1),
        "backfill_s_30d_platform5000_postgresql": round(wall_s * 30 / days, 0),
        "backfill_mb_per_day": round(size_mb / days, 1),
        "note": f"30 days extrapolated linearly from {days} days measured",
    }


def retention_cost(url: str, rooms: int) -> dict[str, Any]:
    """One day of raw room samples at ``rooms`` live rooms x one sample per 15 s, twice."""
    from sqlalchemy import text

    from core.settings import RetentionSettings
    from store.engine import open_store
    from store.partitions import ensure_day_partitions
    from store.rollups import apply_retention

    engine = open_store(url)
    day_a = 20_000  # two old days, far from the backfill's
    ensure_day_partitions(engine, (day_a + 1) * DAY_S)  # day_a - 1 .. day_a + 3
    fill = (
        "INSERT INTO room_samples (source_id, room_sid, ts, participants, publishers, listeners) "
        "SELECT 99, 'RM_' || r, t, 20, 1, 19 FROM generate_series(0, :rooms - 1) r, "
        "generate_series(:low, :high - 1, 15) t"
    )
    out: dict[str, Any] = {"raw_day_rooms": rooms}
    started = time.perf_counter()
    for day in (day_a, day_a + 1):
        with engine.begin() as connection:
            connection.execute(text(fill), {"rooms": rooms, "low": day * DAY_S, "high": (day + 1) * DAY_S})
    out["raw_fill_two_days_s"] = round(time.perf_counter() - started, 1)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE room_samples"))
        size = connection.execute(text("SELECT pg_total_relation_size('room_samples_p20241004')")).scalar()
        rows = connection.execute(text("SELECT count(*) FROM room_samples_p20241004")).scalar()
    out["raw_rows_per_day"] = int(rows or 0)
    out["raw_mb_per_day"] = round(float(size or 0) / 1e6, 1)
    # DELETE the first day (what retention did before partitions) ...
    started = time.perf_counter()
    with engine.begin() as connection:
        deleted = connection.execute(
            text("DELETE FROM room_samples WHERE ts >= :low AND ts < :high"),
            {"low": day_a * DAY_S, "high": (day_a + 1) * DAY_S},
        ).rowcount
    out["retention_delete_day_s"] = round(time.perf_counter() - started, 2)
    out["retention_delete_rows"] = int(deleted or 0)
    # ... and drop the second day's partition the way retention does now (now: the cutoff falls
    # at the end of day_a + 1, so that whole day is past it).
    started = time.perf_counter()
    apply_retention(engine, (day_a + 2) * DAY_S + 7 * DAY_S, RetentionSettings(raw_days=7))
    out["retention_drop_day_s"] = round(time.perf_counter() - started, 3)
    with engine.connect() as connection:
        left = connection.execute(text("SELECT to_regclass('room_samples_p20241005')")).scalar()
    out["retention_drop_partition_gone"] = left is None
    engine.dispose()
    return out


def _bench_json(script: str, *args: str) -> dict[str, Any]:
    """Run another bench script (its own process: cold caches, its own imports); its JSON."""
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / script), *args],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    parsed = last_json_object(done.stdout)
    if parsed is None:
        raise RuntimeError(f"{script} printed no JSON (exit {done.returncode}): {done.stderr[-500:]}")
    return parsed


def pages_on_store(url: str) -> dict[str, Any]:
    """Step 5: the Overview and Costs renders (AppTest, 30-day range, cold) and the
    query-vs-Prometheus ratio on the platform-5000 store (bench/pages_render.py and
    bench/query_vs_prometheus.py with ``--db``)."""
    pages = _bench_json("pages_render.py", "--db", url, "--range", "30d", "--runs", "1")
    versus = _bench_json("query_vs_prometheus.py", "--db", url, "--runs", "1")
    return {
        "overview_render_s_platform5000": pages.get("overview_render_s"),
        "costs_render_s_platform5000": pages.get("costs_render_s"),
        "query_vs_prometheus_ratio_platform5000": versus.get("query_vs_prometheus_ratio"),
        "pages_on_store": {"pages_render": pages, "query_vs_prometheus": versus.get("ours"),
                           "reason": pages.get("reason") or versus.get("reason")},
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db", default=None, help="an EMPTY PostgreSQL database (default: a throwaway server)"
    )
    parser.add_argument("--ticks", type=int, default=6)
    parser.add_argument("--backfill-days", type=float, default=2)
    parser.add_argument(
        "--raw-day-rooms", type=int, default=1143, help="average live rooms (platform-5000: 1,143)"
    )
    parser.add_argument("--no-full-tick", action="store_true", help="skip the tick with an unbounded budget")
    parser.add_argument(
        "--only-retention", action="store_true", help="step 4 alone (raw day size, DROP vs DELETE)"
    )
    parser.add_argument(
        "--only-pages", action="store_true", help="step 5 alone, on the platform-5000 store in --db"
    )
    args = parser.parse_args()
    result: dict[str, Any] = {"bench": "platform5000", "scenario": SCENARIO}
    server: Any = None
    simulator: subprocess.Popen[str] | None = None
    try:
        from harness.realparts import PostgresServer

        if args.db:
            url, backfill_url, retention_url = args.db, args.db, args.db
        else:
            server = PostgresServer.start()
            url, backfill_url, retention_url = (server.create_database() for _ in range(3))
        result["backend"] = "postgresql"
        if args.only_pages:
            if not args.db:
                raise SystemExit("--only-pages needs --db: a store a platform-5000 backfill filled")
            result.update(pages_on_store(args.db))
            emit(result)
            return 0
        if args.only_retention:
            result.update(retention_cost(retention_url, args.raw_day_rooms))
            emit(result)
            return 0
        simulator, ready = start_simulator()
        result["simulator"] = {"sim_start_ts": int(ready.get("sim_start", 0)), "rooms_at_peak": int(ready.get("rooms", 0)),
                               "listeners_at_peak": int(ready.get("listeners", 0))}  # fmt: skip
        result["simulator"].update(asyncio.run(serving(ready["api"], ready["metrics"].split(","))))
        ticks = asyncio.run(collector_ticks(url, ready["api"], max(3, args.ticks), budget=100))
        steady = ticks[1:]
        result.update(
            tick_s_platform5000=round(statistics.median(t["wall_s"] for t in steady), 3),
            tick_cpu_s_platform5000=round(statistics.median(t["cpu_s"] for t in steady), 3),
            api_calls_per_tick_platform5000=max(t.get("api_calls", 0) for t in ticks),
            ticks_to_visit_every_room=-(-max(t.get("rooms", 0) for t in ticks) // 100),
            per_tick=ticks,
        )
        if not args.no_full_tick:
            full = asyncio.run(collector_ticks(retention_url, ready["api"], 1, budget=10_000))
            result["unbounded_tick"] = full[-1]
        simulator.terminate()
        simulator.wait(timeout=30)
        simulator = None
        result.update(backfill_days(backfill_url, args.backfill_days))
        result.update(pages_on_store(backfill_url))
        result.update(retention_cost(retention_url, args.raw_day_rooms))
        # What a backfilled day takes in the store: sessions, egress/ingress, 1 min and 1 h
        # rollups, daily usage, and the raw samples the backfill writes (its last hours).
        result["store_mb_per_day_platform5000_postgresql"] = result["backfill_mb_per_day"]
    except Exception as exc:
        emit(
            {
                **result,
                "tick_s_platform5000": result.get("tick_s_platform5000"),
                "reason": f"{type(exc).__name__}: {exc}",
            }
        )
        return 0
    finally:
        if simulator is not None:
            simulator.terminate()
            simulator.wait(timeout=30)
        if server is not None:
            server.stop()
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
