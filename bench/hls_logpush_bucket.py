"""Bench: Cloudflare Logpush batches read from an S3-compatible bucket by the real hls_logs poller.

    .venv/bin/python bench/hls_logpush_bucket.py [--objects 4] [--object-mb 64]

Starts moto's S3 server in a child process on a free loopback port (its memory is not this
process's), uploads ``--objects`` gzip ndjson ``http_requests`` batches of ``--object-mb`` MB
(uncompressed) each, named as Logpush names them, then reads them with the real
``HlsLogPoller`` (``LogpushBucket``: list, stream each body into a spooled temporary file, parse)
on a fresh SQLite store until a poll reads nothing. Prints records/s, MB/s (uncompressed and
as stored) and this process's peak RSS (getrusage) before the first poll and after each, to show
that memory does not grow with an object's size (a body is held in RAM up to 8 MiB, then on disk).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import random
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import emit

START_TS = 1796119200  # 2026-12-01T10:00:00Z
SEGMENT_S = 2
BUCKET = "logpush-bench"
PREFIX = "http_requests/"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_s3() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):  # at most ~20 s
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("moto's S3 server did not start")


def write_batch(path: Path, offset_s: int, size_bytes: int, channels: int, listeners: int) -> tuple[int, int]:
    """One gzip ndjson batch of about ``size_bytes`` starting ``offset_s`` after START_TS:
    ``listeners`` per channel, one segment request each every 2 s. Returns (records, seconds)."""
    rng = random.Random(offset_s)
    written, records, second = 0, 0, offset_s
    with gzip.open(path, "wt", compresslevel=1, encoding="ascii") as handle:
        while written < size_bytes:
            ts_ns = (START_TS + second) * 1_000_000_000
            chunk = []
            for channel in range(channels):
                for listener in range(listeners):
                    if (second + listener) % SEGMENT_S:
                        continue
                    chunk.append(
                        json.dumps(
                            {
                                "ClientIP": f"10.{channel}.{listener >> 8}.{listener & 255}",
                                "ClientRequestMethod": "GET",
                                "ClientRequestPath": f"/ch{channel}/live{second // SEGMENT_S}.ts",
                                "ClientRequestUserAgent": "AppleCoreMedia/1.0.0.21E230",
                                "EdgeEndTimestamp": ts_ns,
                                "EdgeResponseStatus": 404 if rng.random() < 0.002 else 200,
                                "EdgeResponseBodyBytes": 18_000,
                                "RayID": f"{rng.getrandbits(64):016x}",
                            }
                        )
                        + "\n"
                    )
            text = "".join(chunk)
            handle.write(text)
            written += len(text)
            records += len(chunk)
            second += 1
    return records, second - offset_s


def key_for(offset_s: int, span_s: int) -> str:
    def stamp(ts: int) -> str:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y%m%dT%H%M%SZ")

    day = datetime.fromtimestamp(START_TS + offset_s, UTC).strftime("%Y%m%d")
    return f"{PREFIX}{day}/{stamp(START_TS + offset_s)}_{stamp(START_TS + offset_s + span_s)}_{offset_s:08x}.log.gz"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=4)
    parser.add_argument("--object-mb", type=float, default=64, help="uncompressed size of each object")
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--listeners", type=int, default=120, help="per channel")
    args = parser.parse_args()

    import boto3
    from pydantic import SecretStr
    from sqlalchemy import func, select

    from collectors.health import ensure_source
    from collectors.pollers.hls import HlsLogPoller
    from core.settings import CollectorSettings, HlsLogSource
    from store import schema
    from store.engine import open_store

    result: dict[str, Any] = {
        "bench": "hls_logpush_bucket",
        "objects": args.objects,
        "object_mb": args.object_mb,
    }
    server, url = start_s3()
    try:
        with tempfile.TemporaryDirectory(prefix="castmeter-logpush-bench-") as tmp:
            workdir = Path(tmp)
            s3 = boto3.client(
                "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="bench",
                aws_secret_access_key="bench-secret",
            )  # fmt: skip
            s3.create_bucket(Bucket=BUCKET)
            started = time.perf_counter()
            offset, records_total, stored_bytes = 0, 0, 0
            for _ in range(args.objects):
                batch = workdir / "batch.log.gz"
                records, span = write_batch(
                    batch, offset, int(args.object_mb * 1_048_576), args.channels, args.listeners
                )
                with batch.open("rb") as body:
                    s3.put_object(Bucket=BUCKET, Key=key_for(offset, span), Body=body)
                stored_bytes += batch.stat().st_size
                records_total += records
                offset += span
                batch.unlink()
            result.update(
                write_and_upload_s=round(time.perf_counter() - started, 1),
                records=records_total,
                stored_mb=round(stored_bytes / 1_048_576, 1),
                log_span_s=offset,
            )
            engine = open_store(f"sqlite:///{workdir / 'castmeter.db'}")
            source = HlsLogSource(
                name="bench", path=f"s3://{BUCKET}/{PREFIX}", format="cloudflare_logpush", endpoint_url=url,
                access_key_id="bench", secret_access_key=SecretStr("bench-secret"), segment_s=SEGMENT_S,
            )  # fmt: skip
            poller = HlsLogPoller(source, CollectorSettings())
            poller.bind(engine, ensure_source(engine, source.name, poller.kind, poller.url))
            rss_before = rss_mb()
            polls, lines, bytes_read = 0, 0, 0
            rss_after_poll: list[float] = []
            started, started_cpu = time.perf_counter(), time.process_time()
            while True:
                snapshot = asyncio.run(poller.poll(START_TS + 10**6))
                poller.write(snapshot)
                polls += 1
                lines += snapshot.lines
                bytes_read += snapshot.bytes_read
                rss_after_poll.append(round(rss_mb(), 1))
                if snapshot.bytes_read == 0:
                    break
            wall_s, cpu_s = time.perf_counter() - started, time.process_time() - started_cpu
            a = schema.audience_samples.c
            with engine.connect() as connection:
                stored = connection.execute(select(func.max(a.viewers), func.sum(a.requests))).one()
            engine.dispose()
    finally:
        server.terminate()
        server.wait(timeout=10)
    uncompressed_mb = args.objects * args.object_mb
    result.update(
        polls=polls,
        lines=lines,
        ingest_s=round(wall_s, 2),
        ingest_cpu_s=round(cpu_s, 2),
        hls_logpush_records_per_s=round(lines / wall_s),
        hls_logpush_mb_per_s=round(uncompressed_mb / wall_s, 1),
        hls_logpush_stored_mb_per_s=round(bytes_read / 1_048_576 / wall_s, 1),
        hls_logpush_peak_rss_mb=round(rss_mb(), 1),
        rss_before_ingest_mb=round(rss_before, 1),
        rss_after_each_poll_mb=rss_after_poll,
        max_viewers=stored[0],
        requests_counted=stored[1],
        expected_max_viewers=args.listeners,  # per channel: every listener within 3 segments
    )
    emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
