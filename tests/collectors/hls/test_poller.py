"""The hls_logs poller through its real bind/poll/write on a SQLite store: restart without
double counting, rotation, copytruncate, Logpush duplicates, the spool, config errors."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from collectors.health import ensure_source
from collectors.pollers import pollers_from_settings
from collectors.pollers.base import decode_snapshot, encode_snapshot
from collectors.pollers.hls import HlsLogPoller, HlsSnapshot
from core.settings import CollectorSettings, ConfigError, HlsLogSource, load_settings
from store import schema
from store.engine import open_store
from tests.collectors.hls.logs import SCENARIO, SPLIT, E
from tests.collectors.hls.test_counting import FIRST, SECOND, STALE


def source(path: Path, **extra: Any) -> HlsLogSource:
    settings = {"name": "hls", "segment_s": 2, "window_s": 6, "bucket_s": 10, "max_lateness_s": 20, **extra}
    return HlsLogSource(path=str(path), **settings)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return open_store(f"sqlite:///{tmp_path / 'castmeter.db'}")


def bound(engine: Engine, config: HlsLogSource) -> HlsLogPoller:
    poller = HlsLogPoller(config, CollectorSettings())
    poller.bind(engine, ensure_source(engine, config.name, poller.kind, poller.url))
    return poller


def cycle(poller: HlsLogPoller, now_ts: int) -> HlsSnapshot:
    snapshot = asyncio.run(poller.poll(now_ts))
    poller.write(snapshot)
    return snapshot


def stored_audience(engine: Engine) -> list[tuple[Any, ...]]:
    a = schema.audience_samples.c
    query = select(
        a.channel, a.ts, a.viewers, a.viewer_s, a.bytes_delivered, a.requests, a.errors_4xx, a.errors_5xx
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query.order_by(a.channel, a.ts))]


def as_row(sample: Any) -> tuple[Any, ...]:
    return (sample.channel, sample.ts, sample.viewers, sample.viewer_s, sample.bytes_delivered, sample.requests,
            sample.errors_4xx, sample.errors_5xx)  # fmt: skip


def newest_relay(engine: Engine) -> tuple[Any, ...]:
    r = schema.relay_samples.c
    with engine.connect() as connection:
        row = connection.execute(
            select(r.relay_id, r.ts, r.health, r.status, r.last_activity_ts).order_by(r.ts.desc()).limit(1)
        ).one()
    return tuple(row)


def test_one_pass_stores_the_hand_counted_samples(engine: Engine, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("".join(SCENARIO))
    snapshot = cycle(bound(engine, source(log)), E + 19)
    assert stored_audience(engine) == [as_row(FIRST), as_row(SECOND)]
    assert newest_relay(engine) == (STALE.relay_id, STALE.ts, "down", "stale", E + 11)
    assert snapshot.bad_lines == 2 and snapshot.lines == len(SCENARIO)
    assert any("skipped 2 line(s)" in warning for warning in snapshot.warnings)


def test_a_restart_resumes_from_the_stored_offset_without_counting_twice(
    engine: Engine, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    log.write_text("".join(SCENARIO[:SPLIT]))
    first = bound(engine, source(log))
    cycle(first, E + 5)
    # Half the log read: the open bucket E+10 holds A's 2+0+0+2+2 and B's 2 = 8 viewer-seconds;
    # its viewers now (the log's clock, E+5; window (E-1, E+5]): A and B.
    assert stored_audience(engine)[0][:4] == ("ch1", E + 10, 2, 8.0)
    with log.open("a") as handle:
        handle.write("".join(SCENARIO[SPLIT:]))
    # A new collector process: a new poller bound to the same store reads only the rest, and
    # goes on from the stored totals. A's +7 now starts a "new session" (its +5 is forgotten):
    # one segment duration, the same 2 s as the gap, so the totals are the one-pass ones.
    second = bound(engine, source(log))
    snapshot = cycle(second, E + 19)
    assert snapshot.lines == len(SCENARIO) - SPLIT
    assert stored_audience(engine) == [as_row(FIRST), as_row(SECOND)]
    # And a third start with nothing new reads nothing and changes nothing.
    third = bound(engine, source(log))
    assert cycle(third, E + 19).lines == 0
    assert stored_audience(engine) == [as_row(FIRST), as_row(SECOND)]


def test_rename_rotation_finishes_the_old_file_first(engine: Engine, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("".join(SCENARIO[:SPLIT]))
    poller = bound(engine, source(log))
    cycle(poller, E + 5)
    # logrotate: more lines land in the old inode before nginx reopens (USR1), then a new file.
    with log.open("a") as handle:
        handle.write("".join(SCENARIO[SPLIT:14]))
    log.rename(tmp_path / "access.log.1")
    log.write_text("".join(SCENARIO[14:]))
    snapshot = cycle(poller, E + 19)
    assert snapshot.lines == len(SCENARIO) - SPLIT
    assert stored_audience(engine) == [as_row(FIRST), as_row(SECOND)]
    assert sorted(c.done for c in snapshot.cursors) == [False, True]
    # The rotated file is never read again, even by a restarted poller.
    (tmp_path / "access.log.1").rename(tmp_path / "access.log.2")
    assert cycle(bound(engine, source(log)), E + 19).lines == 0


def test_copytruncate_is_read_again_from_the_start(engine: Engine, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("".join(SCENARIO[:SPLIT]))
    poller = bound(engine, source(log))
    cycle(poller, E + 5)
    inode = os.stat(log).st_ino
    # copytruncate: the copy keeps the first half; the same inode is emptied and written on,
    # longer than before (so only the fingerprint of its first bytes tells it was truncated).
    with log.open("r+") as handle:
        handle.truncate(0)
        handle.write("".join(SCENARIO[SPLIT:]))
    assert os.stat(log).st_ino == inode
    snapshot = cycle(poller, E + 19)
    assert snapshot.lines == len(SCENARIO) - SPLIT
    assert any("truncated or replaced" in warning for warning in snapshot.warnings)
    assert stored_audience(engine) == [as_row(FIRST), as_row(SECOND)]


def test_a_partial_last_line_waits_for_its_end(engine: Engine, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    whole = "".join(SCENARIO)
    log.write_text(whole[:-20])  # the writer is mid-line
    poller = bound(engine, source(log))
    assert cycle(poller, E + 18).lines == len(SCENARIO) - 1
    with log.open("a") as handle:
        handle.write(whole[-20:])
    assert cycle(poller, E + 19).lines == 1
    assert stored_audience(engine) == [as_row(FIRST), as_row(SECOND)]


def test_the_byte_budget_spreads_a_backlog_over_polls(engine: Engine, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("".join(SCENARIO))
    poller = bound(engine, source(log, read_budget_mb=0.0005))  # 524 bytes a poll
    polls = 0
    while True:
        polls += 1
        if cycle(poller, E + 19).lines == 0:
            break
    assert polls > 3
    assert stored_audience(engine) == [as_row(FIRST), as_row(SECOND)]


def test_the_snapshot_survives_the_spool_and_a_replay_is_harmless(engine: Engine, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("".join(SCENARIO))
    poller = bound(engine, source(log))
    snapshot = asyncio.run(poller.poll(E + 19))
    payload = json.loads(json.dumps(encode_snapshot(snapshot)))
    decoded = decode_snapshot(HlsSnapshot, payload)
    assert decoded == snapshot
    assert poller.write(decoded)["audience"] == 2
    assert poller.write(decoded)["audience"] == 2  # the same snapshot again: same rows
    assert stored_audience(engine) == [as_row(FIRST), as_row(SECOND)]


def logpush_record(offset_s: int, path: str, ray: str, ip: str = "1.1.1.1", status: int = 200) -> str:
    return json.dumps({
        "ClientIP": ip, "ClientRequestMethod": "GET", "ClientRequestPath": path, "ClientRequestUserAgent": "ua",
        "EdgeEndTimestamp": (E + offset_s) * 1_000_000_000, "EdgeResponseStatus": status,
        "EdgeResponseBodyBytes": 1000, "RayID": ray,
    }) + "\n"  # fmt: skip


def test_logpush_duplicate_files_and_repeated_ray_ids_count_once(engine: Engine, tmp_path: Path) -> None:
    directory = tmp_path / "logpush"
    directory.mkdir()
    batch = "".join([
        logpush_record(1, "/ch1/s1.ts", "r1"), logpush_record(3, "/ch1/s2.ts", "r2"),
        logpush_record(3, "/ch1/s2.ts", "r2"),  # the same record twice in one file
        logpush_record(5, "/ch1/s3.ts", "r3"), "{cut off",
    ])  # fmt: skip
    with gzip.open(directory / "20261201T100000Z_20261201T100030Z_a.log.gz", "wt") as handle:
        handle.write(batch)
    config = HlsLogSource(
        name="cf", path=str(directory), format="cloudflare_logpush", segment_s=2, bucket_s=10
    )
    poller = bound(engine, config)
    first = cycle(poller, E + 6)
    assert (first.lines, first.bad_lines) == (5, 1)
    assert any("repeated Logpush record" in warning for warning in first.warnings)
    # One client from +1 to +5: 2 + 2 + 2 = 6 viewer-seconds, 3 segments of 1 000 bytes.
    assert stored_audience(engine) == [("ch1", E + 10, 1, 6.0, 3000, 3, 0, 0)]
    # The same bytes delivered again under another name: skipped whole; a new batch is read.
    (directory / "copy.log.gz").write_bytes(
        (directory / "20261201T100000Z_20261201T100030Z_a.log.gz").read_bytes()
    )
    (directory / "next.log").write_text(logpush_record(7, "/ch1/s4.ts", "r4"))
    second = cycle(bound(engine, config), E + 8)  # a restarted poller, too
    assert any("repeats a file already read" in warning for warning in second.warnings)
    # +7: the restarted poller forgot the session: one segment duration (the gap was 2 s too).
    assert stored_audience(engine) == [("ch1", E + 10, 1, 8.0, 4000, 4, 0, 0)]


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    cases = {
        'playlist_pattern = "live.m3u8"': "hls_logs.0.playlist_pattern",
        'segment_pattern = "{channel}/x.ts"': "hls_logs.0.segment_pattern",
        'format = "apache"': "hls_logs.0.format",
        "segment_s = 0": "hls_logs.0.segment_s",
        'format = "json"': "json_fields",
        'format = "json"\njson_fields = {time = "t", path = "p"}': "hls_logs.0.json_fields",
        'segment_extensions = ["ts"]': "hls_logs.0.segment_extensions",
    }
    for extra, key in cases.items():
        config = tmp_path / "castmeter.toml"
        config.write_text(f'[[hls_logs]]\nname = "edge"\npath = "/var/log/nginx/access.log"\n{extra}\n')
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_settings(config, env={})
    config.write_text('[[hls_logs]]\nname = "edge"\npath = "/var/log/nginx/access.log"\n')
    settings = load_settings(config, env={})
    assert [(p.kind, p.name, p.url) for p in pollers_from_settings(settings)] == [
        ("hls_logs", "edge", "file:///var/log/nginx/access.log")
    ]
    assert settings.has_sources


def test_the_runner_polls_it_like_any_source_and_says_why_it_cannot_read(tmp_path: Path) -> None:
    from collectors.runner import Collector
    from collectors.spool import Spool
    from core.settings import Settings

    log = tmp_path / "access.log"
    log.write_text("".join(SCENARIO))
    engine = open_store(f"sqlite:///{tmp_path / 'runner.db'}")
    settings = Settings(hls_logs=[source(log)])
    collector = Collector(settings, engine, spool=Spool(tmp_path / "spool"))
    report = asyncio.run(collector.tick(E + 19))
    # Partial: the two unreadable lines are the poll's warnings; the samples are stored.
    assert report.polled == {"hls": "partial"}
    assert stored_audience(engine) == [as_row(FIRST), as_row(SECOND)]
    poller = HlsLogPoller(source(log), CollectorSettings())
    denied = PermissionError(13, "Permission denied", str(log))
    assert poller.describe_error(denied).startswith(f"cannot read {log}: permission denied")
    engine.dispose()


def test_json_formats_go_through_their_field_maps(engine: Engine, tmp_path: Path) -> None:
    nginx = tmp_path / "access.json"
    nginx.write_text(
        "".join(
            json.dumps({"msec": E + offset, "remote_addr": "1.1.1.1", "request": f"GET {path} HTTP/1.1",
                        "uri": path, "status": 206, "body_bytes_sent": 1000, "http_user_agent": "ua"}) + "\n"
            for offset, path in ((1, "/ch1/s1.ts"), (3, "/ch1/s2.ts"))
        )
        + "not json at all\n"
    )  # fmt: skip
    snapshot = cycle(bound(engine, source(nginx, format="nginx_json")), E + 5)
    # One client, +1 and +3: 2 + 2 viewer-seconds; the bucket E+10 is open, its viewers are
    # counted at the log's clock (+3): one.
    assert stored_audience(engine) == [("ch1", E + 10, 1, 4.0, 2000, 2, 0, 0)]
    assert snapshot.bad_lines == 1
    caddy = tmp_path / "caddy.log"
    record = {"ts": E + 12.5, "request": {"client_ip": "2.2.2.2", "method": "GET", "uri": "/ch2/live.m3u8?t=1",
                                          "headers": {"User-Agent": ["Safari"]}}, "size": 400, "status": 200}  # fmt: skip
    caddy.write_text(json.dumps(record) + "\n")
    custom = source(caddy, name="caddy", format="json", json_fields={
        "time": "ts", "client": "request.client_ip", "path": "request.uri", "status": "status", "bytes": "size",
        "user_agent": "request.headers.User-Agent"})  # fmt: skip
    cycle(bound(engine, custom), E + 13)
    assert ("ch2", E + 20, 0, 0.0, 400, 1, 0, 0) in stored_audience(engine)
