"""The demo's HLS origin log (simulator/hls_log.py) read back by the hls_logs poller."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from collectors.health import ensure_source
from collectors.hls.combined import parse_combined
from collectors.pollers.hls import HlsLogPoller
from core.settings import CollectorSettings
from simulator.hls_log import SEGMENT_S, HlsLogWriter, demo_hls_source
from simulator.model import FleetModel
from store import schema
from store.engine import open_store

# 2026-06-03T20:00:00Z: an evening of the dj-radio scenario (seed 000), its rooms on air.
T = 1780516800


def test_the_simulated_origin_log_reads_back_as_its_listeners(tmp_path: Path) -> None:
    model = FleetModel("dj-radio")
    source = demo_hls_source(tmp_path)
    writer = HlsLogWriter(model, Path(source.path), rotate_bytes=10_000)
    writer.write_until(T - 120)
    written = writer.write_until(T - 60)
    assert written > 0
    writer.write_until(T)
    assert Path(source.path + ".1").exists()  # rotated past 10 kB, as logrotate would
    text = Path(source.path + ".1").read_text() + Path(source.path).read_text()
    requests = [parse_combined(line) for line in text.splitlines()]
    assert {r.status for r in requests} <= {200, 206, 404}
    segments = [r for r in requests if r.path.endswith(".ts")]
    assert len(segments) * 2 == len(requests)  # one playlist reload per segment

    engine = open_store(f"sqlite:///{tmp_path / 'castmeter.db'}")
    poller = HlsLogPoller(source, CollectorSettings())
    poller.bind(engine, ensure_source(engine, source.name, poller.kind, poller.url))
    # A poller that never saw the rotated file starts at the live one (the last minute).
    snapshot = asyncio.run(poller.poll(T))
    poller.write(snapshot)
    a = schema.audience_samples.c
    with engine.connect() as connection:
        rows = connection.execute(select(a.channel, a.ts, a.viewers, a.errors_4xx)).all()
    live_file = [parse_combined(line) for line in Path(source.path).read_text().splitlines()]
    # Every 404 of the live file is a counted segment error.
    assert sum(row.errors_4xx for row in rows) == sum(1 for r in live_file if r.status == 404)
    # At T each channel's viewers lie between its fewest and most HLS listeners over the last
    # window (3 segment durations) of segment boundaries.
    boundaries = range(T - 4 * SEGMENT_S, T + 1, SEGMENT_S)
    counts = [writer.listeners(boundary) for boundary in boundaries]
    at_t = {row.channel: row.viewers for row in rows if row.ts == T}
    assert at_t and sum(at_t.values()) > 0
    for channel, viewers in at_t.items():
        seen = [c.get(channel, 0) for c in counts]
        assert min(seen) <= viewers <= max(seen), (channel, viewers, seen)
    engine.dispose()


def test_consecutive_writes_miss_no_request_and_repeat_none(tmp_path: Path) -> None:
    writer = HlsLogWriter(FleetModel("dj-radio"), tmp_path / "access.log")
    whole = writer.lines(T - 60, T)
    # The same minute written in ticks of 7 s (a request may fall after its tick's boundary).
    pieces = [line for start in range(T - 60, T, 7) for line in writer.lines(start, min(start + 7, T))]
    assert whole and sorted(pieces) == sorted(whole)
