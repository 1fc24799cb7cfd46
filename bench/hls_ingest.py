"""Bench: ingesting a 1 GB nginx access log of HLS listeners with the real hls_logs poller.

    .venv/bin/python bench/hls_ingest.py [--size-mb 1024] [--keep-log PATH]

Writes (once, to a temp file unless ``--keep-log`` names one that exists) a combined-format log
of ``--channels`` HLS channels: per listener a playlist reload and a 206 segment request every
2 s, listeners joining and leaving, a few 404s. Then the real ``HlsLogPoller`` (bind, poll,
write on a fresh SQLite store) reads it to its end, ``read_budget_mb`` (64 MB) a poll, as a
collector catching up on a backlog does. Prints lines/s, MB/s and the process's peak RSS
(getrusage; it includes the interpreter, pandas and SQLAlchemy), also after each poll, to show
memory does not grow with the file. ``--heap`` adds tracemalloc's peak of Python allocations
(it slows parsing ~5x, so the rates of such a run are not the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import emit

START_TS = 1796119200  # 2026-12-01T10:00:00Z
SEGMENT_S = 2
AGENTS = (
    "AppleCoreMedia/1.0.0.21E230",
    "Mozilla/5.0 (Android 14) ExoPlayer/2.19.1",
    "VLC/3.0.20 LibVLC/3.0.20",
)


def write_log(path: Path, size_bytes: int, channels: int, listeners: int, seed: int = 7) -> dict[str, Any]:
    """A combined log of about ``size_bytes``: ``listeners`` per channel on average, each
    staying ~10 minutes, every segment boundary in time order."""
    rng = random.Random(seed)
    written, lines, second = 0, 0, 0
    # Per channel: the listeners (ip, agent, leaves_at_s).
    audience: list[list[tuple[str, str, int]]] = [[] for _ in range(channels)]
    next_ip = 1
    stamp_cache: dict[int, str] = {}
    with path.open("w", encoding="ascii", buffering=1 << 20) as handle:
        while written < size_bytes:
            ts = START_TS + second
            stamp = stamp_cache.setdefault(
                ts, datetime.fromtimestamp(ts, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
            )
            if len(stamp_cache) > 4:
                stamp_cache.clear()
            chunk: list[str] = []
            sequence = second // SEGMENT_S
            for channel, present in enumerate(audience):
                present[:] = [entry for entry in present if entry[2] > second]
                while len(present) < listeners and rng.random() < 0.5:
                    ip = f"10.{next_ip >> 16 & 255}.{next_ip >> 8 & 255}.{next_ip & 255}"
                    next_ip += 1
                    present.append((ip, AGENTS[next_ip % len(AGENTS)], second + rng.randint(60, 1200)))
                for index, (ip, agent, _leaves) in enumerate(present):
                    if (second + index) % SEGMENT_S:
                        continue
                    chunk.append(
                        f'{ip} - - [{stamp}] "GET /ch{channel}/live.m3u8 HTTP/1.1" 200 412 "-" "{agent}"\n'
                    )
                    status, size = (404, 153) if rng.random() < 0.002 else (206, 18_000 + (sequence % 400))
                    chunk.append(
                        f'{ip} - - [{stamp}] "GET /ch{channel}/live{sequence}.ts HTTP/1.1" {status} {size} "-" "{agent}"\n'
                    )
            text = "".join(chunk)
            handle.write(text)
            written += len(text)
            lines += len(chunk)
            second += 1
    return {"log_bytes": written, "log_lines": lines, "log_span_s": second, "clients_total": next_ip - 1}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def ingest(log: Path, workdir: Path, heap: bool) -> dict[str, Any]:
    from sqlalchemy import func, select

    from collectors.health import ensure_source
    from collectors.pollers.hls import HlsLogPoller
    from core.settings import CollectorSettings, HlsLogSource
    from store import schema
    from store.engine import open_store

    engine = open_store(f"sqlite:///{workdir / 'castmeter.db'}")
    source = HlsLogSource(name="bench", path=str(log), segment_s=SEGMENT_S)
    poller = HlsLogPoller(source, CollectorSettings())
    poller.bind(engine, ensure_source(engine, source.name, poller.kind, poller.url))
    rss_before = rss_mb()
    if heap:
        tracemalloc.start()
    polls, lines, bytes_read, rows = 0, 0, 0, 0
    rss_after_poll: list[float] = []
    heap_after_poll: list[float] = []
    started, started_cpu = time.perf_counter(), time.process_time()
    now_ts = START_TS + 10**6  # the collector reads a backlog long after it was written
    while True:
        snapshot = asyncio.run(poller.poll(now_ts))
        rows += sum(poller.write(snapshot).values())
        polls += 1
        lines += snapshot.lines
        bytes_read += snapshot.bytes_read
        rss_after_poll.append(round(rss_mb(), 1))
        if heap:
            heap_after_poll.append(round(tracemalloc.get_traced_memory()[0] / 1_048_576, 1))
        if snapshot.bytes_read == 0:
            break
    wall_s, cpu_s = time.perf_counter() - started, time.process_time() - started_cpu
    _current, peak_heap = tracemalloc.get_traced_memory() if heap else (0, None)
    tracemalloc.stop()
    a = schema.audience_samples.c
    with engine.connect() as connection:
        stored = connection.execute(select(func.count(), func.max(a.viewers), func.sum(a.viewer_s))).one()
    engine.dispose()
    return {
        "polls": polls,
        "lines": lines,
        "bytes_read": bytes_read,
        "rows_written": rows,
        "ingest_s": round(wall_s, 2),
        "ingest_cpu_s": round(cpu_s, 2),
        "hls_ingest_lines_per_s": round(lines / wall_s),
        "hls_ingest_mb_per_s": round(bytes_read / 1_048_576 / wall_s, 1),
        "hls_ingest_peak_heap_mb": None if peak_heap is None else round(peak_heap / 1_048_576, 1),
        "hls_ingest_peak_rss_mb": round(rss_mb(), 1),
        "rss_before_ingest_mb": round(rss_before, 1),
        "rss_after_each_poll_mb": rss_after_poll,
        "heap_after_each_poll_mb": heap_after_poll or None,
        "audience_rows": stored[0],
        "max_viewers": stored[1],
        "viewer_hours": round((stored[2] or 0) / 3600, 1),
        "note": "with --heap, tracemalloc slows parsing ~5x: take rates from a run without it"
        if heap
        else "",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=1024)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--listeners", type=int, default=120, help="per channel, on average")
    parser.add_argument("--heap", action="store_true", help="also trace Python allocations (slow)")
    parser.add_argument("--keep-log", default=None, help="write the log here (reused when it exists)")
    args = parser.parse_args()
    result: dict[str, Any] = {"bench": "hls_ingest", "size_mb": args.size_mb}
    with tempfile.TemporaryDirectory(prefix="castmeter-hls-bench-") as tmp:
        workdir = Path(tmp)
        log = Path(args.keep_log) if args.keep_log else workdir / "access.log"
        started = time.perf_counter()
        if not log.exists():
            result.update(write_log(log, int(args.size_mb * 1_048_576), args.channels, args.listeners))
        result["log_bytes"] = os.path.getsize(log)
        result["write_log_s"] = round(time.perf_counter() - started, 1)
        result.update(ingest(log, workdir, args.heap))
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
