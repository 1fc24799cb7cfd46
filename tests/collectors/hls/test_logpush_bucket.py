"""Cloudflare Logpush objects in an S3-compatible bucket (collectors/hls/logpush_bucket.py) read
by the hls_logs poller: a real S3 API on loopback (moto's server) holding gzip ndjson batches
named as Logpush names them; S3's documented XML errors from a local HTTP server."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, select
from werkzeug import Request, Response

from collectors.hls.logpush_bucket import BucketAuthError, BucketError, LogpushBucket
from collectors.pollers import pollers_from_settings
from collectors.pollers.hls import HlsLogPoller
from core.settings import CollectorSettings, ConfigError, HlsLogSource, load_settings, secret_values
from store.engine import open_store
from tests.collectors.hls.logs import E
from tests.collectors.hls.test_poller import bound, cycle, logpush_record, stored_audience

SECRET = "wJalrXUtnFEMI-not-a-real-secret"
PREFIX = "http_requests/"

# Three listeners of ch1, one segment (1 000 bytes) every 2 s (segment_s = 2) from..to (offsets
# from E, inclusive): a session from a to b counts b - a + 2 viewer-seconds.
LISTENERS = {"10.0.0.1": (2, 12), "10.0.0.2": (2, 22), "10.0.0.3": (6, 10)}
STEPS = range(2, 23, 2)  # one Logpush batch per 2 s: 11 objects
# By hand: (12 - 2 + 2) + (22 - 2 + 2) + (10 - 6 + 2) = 12 + 22 + 6 = 40 viewer-seconds;
# 6 + 11 + 3 = 20 segment requests = 20 000 bytes; all in the bucket (E, E + 60].
VIEWER_S, REQUESTS = 40.0, 20


def stamp(offset_s: int) -> str:
    return datetime.fromtimestamp(E + offset_s, UTC).strftime("%Y%m%dT%H%M%SZ")


def batch_key(offset_s: int, tag: str = "a1b2c3d4") -> str:
    """Logpush's object name: <prefix><YYYYMMDD>/<start>_<end>_<hash>.log.gz."""
    day = datetime.fromtimestamp(E + offset_s, UTC).strftime("%Y%m%d")
    return f"{PREFIX}{day}/{stamp(offset_s)}_{stamp(offset_s + 2)}_{tag}.log.gz"


def batch(offset_s: int) -> bytes:
    lines = [
        logpush_record(offset_s, f"/ch1/s{offset_s // 2}.ts", f"ray-{ip}-{offset_s}", ip=ip)
        for ip, (start, end) in LISTENERS.items()
        if start <= offset_s <= end
    ]
    return gzip.compress("".join(lines).encode(), mtime=0)  # the same batch, the same bytes


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return open_store(f"sqlite:///{tmp_path / 'castmeter.db'}")


def client(url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key=SECRET,
    )


def new_bucket(url: str, name: str) -> Any:
    s3 = client(url)
    s3.create_bucket(Bucket=name)
    return s3


def config(url: str, bucket: str, **extra: Any) -> HlsLogSource:
    settings = {"segment_s": 2, "window_s": 6, "bucket_s": 60, **extra}
    return HlsLogSource(
        name="r2-logs", path=f"s3://{bucket}/{PREFIX}", format="cloudflare_logpush", endpoint_url=url,
        access_key_id="AKIDTEST", secret_access_key=SecretStr(SECRET), **settings,
    )  # fmt: skip


def totals(engine: Engine) -> list[tuple[Any, ...]]:
    """(channel, ts, viewer_s, bytes, requests) per stored sample."""
    return [(row[0], row[1], row[3], row[4], row[5]) for row in stored_audience(engine)]


EXPECTED = [("ch1", E + 60, VIEWER_S, REQUESTS * 1000, REQUESTS)]


@pytest.mark.slow
def test_paged_listing_one_pass_gives_the_hand_counted_totals(s3_url: str, engine: Engine) -> None:
    s3 = new_bucket(s3_url, "paged")
    for offset in STEPS:
        s3.put_object(Bucket="paged", Key=batch_key(offset), Body=batch(offset))
    s3.put_object(Bucket="paged", Key=f"{PREFIX}20261201/ownership-challenge.txt", Body=b"x")  # not a batch
    poller = bound(engine, config(s3_url, "paged"))
    assert isinstance(poller.logpush, LogpushBucket)
    poller.logpush.page_keys = 3  # 12 keys: 4 pages, ContinuationToken followed
    snapshot = cycle(poller, E + 30)
    assert totals(engine) == EXPECTED
    assert snapshot.lines == REQUESTS and snapshot.bad_lines == 0
    assert poller.logpush.api_calls == 4 + len(STEPS)  # 4 list pages + one GetObject per batch
    assert len(snapshot.cursors) == len(STEPS) and all(c.done for c in snapshot.cursors)
    # At the log's newest (+22) only 10.0.0.2 asked for a segment within 6 s: 1 viewer.
    assert stored_audience(engine)[0][2] == 1
    # Nothing new: the next poll lists again and reads nothing.
    again = cycle(poller, E + 32)
    assert again.lines == 0 and totals(engine) == EXPECTED


@pytest.mark.slow
def test_restart_late_arrivals_and_a_duplicate_object_count_once(s3_url: str, engine: Engine) -> None:
    s3 = new_bucket(s3_url, "resume")
    for offset in STEPS[:6]:  # +2 .. +12
        s3.put_object(Bucket="resume", Key=batch_key(offset), Body=batch(offset))
    first = cycle(bound(engine, config(s3_url, "resume")), E + 12)
    assert first.lines == 6 + 6 + 3  # 10.0.0.1 and .2 at +2..+12, .3 at +6..+10
    # A restart; then the rest of the day's batches arrive, one of them also under a second key
    # (the same bytes, another hash), and a batch already read is re-delivered under a new name.
    restarted = bound(engine, config(s3_url, "resume"))
    for offset in STEPS[6:]:
        s3.put_object(Bucket="resume", Key=batch_key(offset), Body=batch(offset))
    s3.put_object(Bucket="resume", Key=batch_key(16, tag="ffff0000"), Body=batch(16))
    s3.put_object(Bucket="resume", Key=batch_key(4, tag="eeee0000"), Body=batch(4))
    second = cycle(restarted, E + 22)
    repeats = [w for w in second.warnings if "repeats an object already read" in w]
    assert len(repeats) == 2
    # The restart forgot 10.0.0.2's session: its +14 credits one segment (2 s), as the gap did.
    assert totals(engine) == EXPECTED
    assert cycle(restarted, E + 24).lines == 0  # the repeats are not fetched again
    after_restart = bound(engine, config(s3_url, "resume"))
    again = cycle(after_restart, E + 26)
    assert isinstance(after_restart.logpush, LogpushBucket)
    assert again.lines == 0 and again.warnings == [] and after_restart.logpush.api_calls == 1  # a listing
    assert totals(engine) == EXPECTED


@pytest.mark.slow
def test_byte_budget_reads_one_object_per_poll(s3_url: str, engine: Engine) -> None:
    s3 = new_bucket(s3_url, "budget")
    for offset in STEPS:
        s3.put_object(Bucket="budget", Key=batch_key(offset), Body=batch(offset))
    poller = bound(engine, config(s3_url, "budget", read_budget_mb=1e-6))  # 1 byte: one object a poll
    read = [len(cycle(poller, E + 30 + i).cursors) for i in range(len(STEPS) + 1)]
    assert read == [1] * len(STEPS) + [0]
    assert totals(engine) == EXPECTED


def test_a_new_day_folder_and_the_listing_window(s3_url: str, engine: Engine) -> None:
    s3 = new_bucket(s3_url, "days")
    s3.put_object(Bucket="days", Key=batch_key(2), Body=batch(2))
    poller = bound(engine, config(s3_url, "days"))
    cycle(poller, E + 2)
    assert isinstance(poller.logpush, LogpushBucket)
    # The newest object read is in 20261201: the listing starts after the day before.
    assert poller.logpush._start_after() == f"{PREFIX}20261130"
    s3.put_object(Bucket="days", Key=f"{PREFIX}20261202/x_y_z.log.gz", Body=batch(4))
    assert [c.path for c in cycle(poller, E + 4).cursors] == [f"s3://days/{PREFIX}20261202/x_y_z.log.gz"]
    assert poller.logpush._start_after() == f"{PREFIX}20261201"


def test_a_date_equals_folder_under_a_prefix_without_its_slash(s3_url: str, tmp_path: Path) -> None:
    """The job's destination r2://bucket/http_requests/date={DATE}, the source's path given as
    s3://bucket/http_requests (no trailing slash): the listing window follows the key itself."""
    engine = open_store(f"sqlite:///{tmp_path / 'dated.db'}")
    s3 = new_bucket(s3_url, "dated")
    s3.put_object(Bucket="dated", Key="http_requests/date=20261201/a_b_1.log.gz", Body=batch(2))
    source = config(s3_url, "dated").model_copy(update={"path": "s3://dated/http_requests"})
    poller = bound(engine, source)
    assert cycle(poller, E + 2).lines == 2
    assert isinstance(poller.logpush, LogpushBucket)
    assert poller.logpush._start_after() == "http_requests/date=20261130"
    s3.put_object(Bucket="dated", Key="http_requests/date=20261201/a_b_2.log.gz", Body=batch(4))
    assert [c.path for c in cycle(poller, E + 4).cursors] == [
        "s3://dated/http_requests/date=20261201/a_b_2.log.gz"
    ]
    engine.dispose()


# --- S3's documented errors (https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html) ---


def s3_error(code: str, message: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>4442587FB7D0A2F9</RequestId></Error>"
    )


def failing_poller(httpserver: HTTPServer, **collectors: Any) -> HlsLogPoller:
    source = config(httpserver.url_for("").rstrip("/"), "logs")
    return HlsLogPoller(source, CollectorSettings(**collectors))


@pytest.mark.parametrize(
    ("status", "code", "error", "words", "attempts"),
    [
        (403, "AccessDenied", BucketAuthError, "credentials refused", 1),
        (403, "InvalidAccessKeyId", BucketAuthError, "credentials refused", 1),
        (404, "NoSuchBucket", BucketError, "no such bucket", 1),
        pytest.param(503, "SlowDown", BucketError, "still after 3 attempts", 3, marks=pytest.mark.slow),
        pytest.param(
            429, "TooManyRequests", BucketError, "still after 3 attempts", 3, marks=pytest.mark.slow
        ),
        pytest.param(500, "InternalError", BucketError, "still after 3 attempts", 3, marks=pytest.mark.slow),
    ],
)
def test_listing_errors_are_named_retried_and_never_show_the_secret(
    httpserver: HTTPServer, status: int, code: str, error: type[Exception], words: str, attempts: int
) -> None:
    httpserver.expect_request("/logs", method="GET").respond_with_data(
        s3_error(code, "refused"), status=status, content_type="application/xml"
    )
    poller = failing_poller(httpserver)
    with pytest.raises(error) as raised:
        poller.read(E)
    message = poller.describe_error(raised.value)
    assert "r2-logs" in message and code in message and words in message
    assert SECRET not in message and "AKIDTEST" not in message
    assert len(httpserver.log) == attempts


def list_answer(keys: list[str]) -> str:
    contents = "".join(f"<Contents><Key>{key}</Key><Size>10</Size></Contents>" for key in keys)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>logs</Name>'
        f"<Prefix>{PREFIX}</Prefix><KeyCount>{len(keys)}</KeyCount><MaxKeys>1000</MaxKeys>"
        f"<IsTruncated>false</IsTruncated>{contents}</ListBucketResult>"
    )


def test_an_object_failing_mid_poll_is_read_next_poll(httpserver: HTTPServer) -> None:
    keys = [batch_key(2), batch_key(4)]
    httpserver.expect_request("/logs", method="GET").respond_with_data(
        list_answer(keys), content_type="application/xml"
    )
    httpserver.expect_request(f"/logs/{keys[0]}").respond_with_data(batch(2))
    httpserver.expect_oneshot_request(f"/logs/{keys[1]}").respond_with_data(
        s3_error("InternalError", "x"), status=500
    )
    httpserver.expect_oneshot_request(f"/logs/{keys[1]}").respond_with_data(
        s3_error("InternalError", "x"), status=500
    )
    httpserver.expect_oneshot_request(f"/logs/{keys[1]}").respond_with_data(
        s3_error("InternalError", "x"), status=500
    )
    poller = failing_poller(httpserver)
    first = poller.read(E + 2)
    assert [c.path for c in first.cursors] == [f"s3://logs/{keys[0]}"]
    assert any("still after 3 attempts" in w and "the rest next poll" in w for w in first.warnings)
    assert first.lines == 2  # the two listeners at +2
    httpserver.expect_request(f"/logs/{keys[1]}").respond_with_data(batch(4))
    second = poller.read(E + 4)
    assert [c.path for c in second.cursors] == [f"s3://logs/{keys[1]}"] and second.lines == 2


def test_an_object_deleted_after_the_listing_is_skipped(httpserver: HTTPServer) -> None:
    keys = [batch_key(2), batch_key(4), batch_key(6)]
    httpserver.expect_request("/logs", method="GET").respond_with_data(
        list_answer(keys), content_type="application/xml"
    )
    httpserver.expect_request(f"/logs/{keys[0]}").respond_with_data(
        s3_error("NoSuchKey", "The specified key does not exist."), status=404, content_type="application/xml"
    )
    httpserver.expect_request(f"/logs/{keys[1]}").respond_with_data(batch(4))
    httpserver.expect_request(f"/logs/{keys[2]}").respond_with_data(batch(6))
    snapshot = failing_poller(httpserver).read(E + 8)
    assert [c.path for c in snapshot.cursors] == [f"s3://logs/{keys[1]}", f"s3://logs/{keys[2]}"]
    assert snapshot.lines == 2 + 3  # +4: 10.0.0.1 and .2; +6: all three
    assert any(f"{keys[0]} was deleted before it was read" in w for w in snapshot.warnings)


@pytest.mark.slow
def test_a_slow_answer_times_out_named(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.6)
        return Response(list_answer([]), content_type="application/xml")

    httpserver.expect_request("/logs").respond_with_handler(slow)
    poller = failing_poller(httpserver, http_timeout_s=0.2)
    with pytest.raises(BucketError, match=r"r2-logs .*ListObjectsV2: timed out after 0\.2 s"):
        poller.read(E)


def test_bucket_config_errors_name_the_key_and_the_secret_is_redacted(tmp_path: Path) -> None:
    r2 = 'path = "s3://logs/http_requests/"\nformat = "cloudflare_logpush"\n'
    cases = {
        'path = "s3://logs/http_requests/"\n': r"format: an s3:// path is read as Cloudflare Logpush",
        'path = "s3://x/logs/"\nformat = "cloudflare_logpush"\n': r"path: s3://<bucket>/<prefix>/ needs a bucket",
        'path = "/var/log/nginx/access.log"\nendpoint_url = "https://a.r2.cloudflarestorage.com"\n': (
            r"endpoint_url: only for an s3://"
        ),
        r2 + 'endpoint_url = "a.r2.cloudflarestorage.com"\n': r"hls_logs\.0\.endpoint_url",
        r2 + 'region = "EU"\n': r"hls_logs\.0\.region",
        r2
        + 'access_key_id = "AKID"\n': r"secret_access_key: access_key_id and secret_access_key go together",
        r2
        + f'secret_access_key = "{SECRET}"\n': r"access_key_id: access_key_id and secret_access_key go together",
    }
    config = tmp_path / "castmeter.toml"
    for extra, message in cases.items():
        config.write_text(f'[[hls_logs]]\nname = "edge"\n{extra}')
        with pytest.raises(ConfigError, match=message) as raised:
            load_settings(config, env={})
        assert SECRET not in str(raised.value)
    config.write_text(
        f'[[hls_logs]]\nname = "edge"\n{r2}endpoint_url = "https://acc.r2.cloudflarestorage.com"\n'
        f'access_key_id = "AKID"\nsecret_access_key = "{SECRET}"\n'
    )
    settings = load_settings(config, env={})
    assert [(p.kind, p.name, p.url) for p in pollers_from_settings(settings)] == [
        ("hls_logs", "edge", "s3://logs/http_requests/")
    ]
    assert settings.hls_logs[0].effective_region == "auto" and SECRET in secret_values(settings)


def test_a_refused_bucket_fails_alone_in_the_runner(
    httpserver: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from collectors.runner import Collector
    from collectors.spool import Spool
    from core.settings import Settings
    from store import schema

    httpserver.expect_request("/logs").respond_with_data(
        s3_error("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."),
        status=403,
        content_type="application/xml",
    )
    log = tmp_path / "access.log"
    log.write_text('1.1.1.1 - - [01/Dec/2026:10:00:02 +0000] "GET /ch1/s1.ts HTTP/1.1" 200 1000 "-" "ua"\n')
    file_source = HlsLogSource(name="origin", path=str(log), segment_s=2, bucket_s=60)
    engine = open_store(f"sqlite:///{tmp_path / 'runner.db'}")
    settings = Settings(hls_logs=[config(httpserver.url_for("").rstrip("/"), "logs"), file_source])
    collector = Collector(settings, engine, spool=Spool(tmp_path / "spool"))
    report = asyncio.run(collector.tick(E + 5))
    assert report.polled == {"r2-logs": "failed", "origin": "ok"}
    # The file source's one segment request (E + 2) is stored: one viewer, one segment.
    assert [row[:4] for row in stored_audience(engine)] == [("ch1", E + 60, 1, 2.0)]
    health_table, sources_table = schema.source_health, schema.sources
    query = select(sources_table.c.name, health_table.c.last_error).join(
        health_table, health_table.c.source_id == sources_table.c.id
    )
    with engine.connect() as connection:
        health = {str(name): error for name, error in connection.execute(query)}
    assert (
        "r2-logs (s3://logs/http_requests/): ListObjectsV2: InvalidAccessKeyId (HTTP 403)"
        in health["r2-logs"]
    )
    assert "credentials refused" in health["r2-logs"] and health["origin"] is None
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "r2-logs" in logged and SECRET not in logged and SECRET not in health["r2-logs"]
    engine.dispose()
