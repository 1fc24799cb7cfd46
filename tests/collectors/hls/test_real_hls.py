"""A real HLS pipeline on loopback (issue 17): ffmpeg encodes a tone to 1 s HLS segments, nginx
serves them and writes its combined access log, three real ffmpeg clients listen for known
times; the hls_logs poller (real bind/poll/write on SQLite) must see 3 concurrent viewers, the
viewer-seconds within the stated tolerance, and the playlist going stale when the encoder dies.

Timeline (wall clock, t = 0 when the clients start): the clients listen for 10, 14 and 18 s;
the encoder is killed (a crash: no #EXT-X-ENDLIST) at t = 15 s, so clients 2 and 3 stop getting
segments then and keep reloading the playlist (issue 17 research notes, 1.4) until their timeout
(client 3: SIGINT at 18 s, ignored in that loop, SIGKILL at 23 s).

Tolerance of the viewer-seconds: per client, the log stamps whole seconds (+-1 s at each end of
a session) and the rule credits one segment after the last request (+1 s) while a client starts
~0.2-0.5 s after its process and its last segment was cut up to 1 s before its stop: +-3 s per
client, 9 s on the 3 clients' ~39 s.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from collectors.health import ensure_source
from collectors.pollers.hls import HlsLogPoller
from core.settings import CollectorSettings, HlsLogSource
from harness import hls
from harness.realparts import require, stop_process
from store import schema
from store.engine import open_store

pytestmark = [pytest.mark.slow, pytest.mark.realclock, pytest.mark.timeout(180)]

LISTEN_S = (10.0, 14.0, 18.0)
CRASH_AT_S = 15.0
TOLERANCE_PER_CLIENT_S = 3.0


def test_real_hls_clients_are_counted_and_the_dead_encoder_is_flagged(tmp_path: Path) -> None:
    missing = hls.available()
    require(missing is None, f"the real HLS pipeline needs {missing} (apt packages ffmpeg, nginx)")
    # nginx's workers run unprivileged: a world-readable directory outside pytest's 0700 tree.
    work = Path(tempfile.mkdtemp(prefix="castmeter-hls-"))
    work.chmod(0o755)
    root, channel = work / "hls", work / "hls" / "ch1"
    encoder = hls.start_encoder(channel, segment_s=1)
    clients = []
    try:
        hls.wait_segments(channel / "live.m3u8", 3, encoder)
        with hls.hls_origin(root, work / "nginx") as origin:
            engine = open_store(f"sqlite:///{tmp_path / 'castmeter.db'}")
            config = HlsLogSource(name="origin", path=str(origin.access_log), segment_s=1, bucket_s=5)
            poller = HlsLogPoller(config, CollectorSettings())
            poller.bind(engine, ensure_source(engine, "origin", poller.kind, poller.url))
            started = time.time()
            url = f"{origin.base_url}/ch1/live.m3u8"
            clients = [hls.start_client(url, number, seconds) for number, seconds in enumerate(LISTEN_S, 1)]
            health: list[tuple[float, str]] = []

            def tick() -> None:
                snapshot = asyncio.run(poller.poll(int(time.time())))
                poller.write(snapshot)
                health.extend((time.time() - started, relay.health) for relay in snapshot.relays)

            while time.time() - started < CRASH_AT_S:
                time.sleep(1.0)
                tick()
            hls.crash(encoder)
            while time.time() - started < CRASH_AT_S + 5.5:  # clients 2 and 3 hold on the playlist
                time.sleep(1.0)
                tick()
            for client in clients:
                client.wait(timeout=30)
            tick()
            # While the encoder ran and clients listened: fresh. 3 segment durations after it died,
            # with the playlist still requested: down (stale).
            assert {state for at, state in health if 4 <= at <= CRASH_AT_S - 1} == {"ok"}, health
            assert "down" in {state for at, state in health if at >= CRASH_AT_S + 3}, health

            a = schema.audience_samples.c
            with engine.connect() as connection:
                rows = connection.execute(select(a.ts, a.viewers, a.viewer_s).order_by(a.ts)).all()
            # All three listen from ~0 to 10 s: buckets ending then see 3 viewers, never more.
            in_common = [row.viewers for row in rows if started + 3 <= row.ts <= started + 9]
            assert in_common and set(in_common) == {3}, rows
            assert max(row.viewers for row in rows) == 3
            # Listening time by the test's own clock: 10 s; 14 s; 18 s cut at the crash (15 s).
            expected_s = sum(min(seconds, CRASH_AT_S) for seconds in LISTEN_S)
            measured_s = sum(row.viewer_s or 0.0 for row in rows)
            assert abs(measured_s - expected_s) <= TOLERANCE_PER_CLIENT_S * len(LISTEN_S), (
                measured_s,
                expected_s,
            )
            engine.dispose()
    finally:
        for client in clients:
            stop_process(client, grace_s=5)
        stop_process(encoder, grace_s=5)
        import shutil

        shutil.rmtree(work, ignore_errors=True)
