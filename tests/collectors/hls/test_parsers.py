"""Parsing each log format, with known answers written from the lines themselves."""

from __future__ import annotations

import json

import pytest

from collectors.hls.channels import ChannelMatcher, compile_pattern
from collectors.hls.combined import parse_combined
from collectors.hls.jsonlog import CADDY_JSON_FIELDS, NGINX_JSON_FIELDS, parse_json_line
from collectors.hls.logpush import parse_logpush_line
from collectors.hls.records import BadLine, parse_timestamp

# 2026-12-01T15:33:32Z
T = 1796139212


def test_real_nginx_combined_lines_including_the_206s_and_escapes() -> None:
    # Lines as nginx 1.22 wrote them for ffmpeg 5.1 clients (issue 17 research notes, 1.1).
    line = '127.0.0.1 - - [01/Dec/2026:15:33:32 +0000] "GET /ch1/live2.ts HTTP/1.1" 206 18236 "-" "Lavf/59.27.100"'
    request = parse_combined(line)
    assert (request.ts, request.client, request.user_agent) == (T, "127.0.0.1", "Lavf/59.27.100")
    assert (request.method, request.path, request.status, request.body_bytes) == (
        "GET",
        "/ch1/live2.ts",
        206,
        18236,
    )

    escaped = parse_combined(
        '127.0.0.1 - - [01/Dec/2026:15:35:27 +0000] "GET /ch1/nope.ts?x=1%22 HTTP/1.1" 404 153 "-" '
        '"evil\\x22agent\\x5C\\x01\\xC3\\xA9"'
    )
    assert (escaped.path, escaped.status, escaped.user_agent) == (
        "/ch1/nope.ts",
        404,
        "evil\\x22agent\\x5C\\x01\\xC3\\xA9",
    )
    assert escaped.ts == T + 115

    offset = parse_combined(
        '10.0.0.9 - bob [01/Dec/2026:16:33:32 +0100] "HEAD /ch1/live.m3u8 HTTP/1.0" 200 - "-" "-"'
    )
    assert (offset.ts, offset.method, offset.body_bytes, offset.user_agent) == (T, "HEAD", 0, "-")


@pytest.mark.parametrize(
    "line",
    [
        '127.0.0.1 - - [01/Dec/2026:15:35:27 +0000] "garbage" 400 157 "-" "-"',  # nginx logs bad requests
        '127.0.0.1 - - [01/Dec/2026:15:35:27 +0000] "GET /ch1/live39.ts HTTP/1.1" 20',  # cut off
        "\x00\x01binary junk",
        "",
        '127.0.0.1 - - [99/Foo/2026:15:35:27 +0000] "GET /a.ts HTTP/1.1" 200 1 "-" "-"',
    ],
)
def test_garbage_combined_lines_are_refused_as_bad_lines(line: str) -> None:
    with pytest.raises(BadLine):
        parse_combined(line)


def test_nginx_json_line_through_its_field_map() -> None:
    line = (
        '{"time":"2026-12-01T15:34:03+00:00","msec":1796139243.320,"remote_addr":"127.0.0.1",'
        '"request":"GET /ch1/live20.ts HTTP/1.1","uri":"/ch1/live20.ts","status":206,"body_bytes_sent":18236,'
        '"bytes_sent":18505,"request_time":0.000,"http_user_agent":"evil\\"agent\\\\\\u0001","http_range":"bytes=0-"}'
    )
    request = parse_json_line(line, NGINX_JSON_FIELDS)
    assert request.ts == pytest.approx(1796139243.320)
    assert (request.path, request.status, request.body_bytes, request.method) == (
        "/ch1/live20.ts",
        206,
        18236,
        "GET",
    )
    assert request.user_agent == 'evil"agent\\\x01'


def test_caddy_json_line_with_header_arrays() -> None:
    record = {
        "level": "info", "ts": 1796139243.5, "logger": "http.log.access", "msg": "handled request",
        "request": {"remote_ip": "10.1.1.1", "client_ip": "203.0.113.7", "proto": "HTTP/2.0", "method": "GET",
                    "host": "cdn.example", "uri": "/live/ch2/live.m3u8?token=abc",
                    "headers": {"User-Agent": ["AppleCoreMedia/1.0"], "Accept": ["*/*"]}},
        "bytes_read": 0, "duration": 0.0009, "size": 412, "status": 200,
    }  # fmt: skip
    request = parse_json_line(json.dumps(record), CADDY_JSON_FIELDS)
    assert (request.client, request.user_agent, request.path) == (
        "203.0.113.7",
        "AppleCoreMedia/1.0",
        "/live/ch2/live.m3u8",
    )
    assert (request.ts, request.status, request.body_bytes) == (1796139243.5, 200, 412)


@pytest.mark.parametrize(
    "line",
    [
        "{not json",
        "[1,2]",
        '{"ts": 1}',
        '{"ts":"soon","request":{"client_ip":"1.1.1.1","uri":"/a"},"status":200}',
    ],
)
def test_garbage_json_lines_are_bad_lines(line: str) -> None:
    with pytest.raises(BadLine):
        parse_json_line(line, CADDY_JSON_FIELDS)


def test_logpush_record_with_each_timestamp_format() -> None:
    base = {
        "ClientIP": "198.51.100.4", "ClientRequestMethod": "GET", "ClientRequestPath": "/ch1/seg7.ts",
        "ClientRequestURI": "/ch1/seg7.ts?x=1", "ClientRequestUserAgent": "Safari", "EdgeResponseStatus": 200,
        "EdgeResponseBytes": 18500, "EdgeResponseBodyBytes": 18236, "RayID": "3a6050bcbe121a87",
    }  # fmt: skip
    for stamp in (1796139212000000000, 1796139212, "2026-12-01T15:33:32Z"):
        request = parse_logpush_line(json.dumps({**base, "EdgeEndTimestamp": stamp}))
        assert (request.ts, request.body_bytes, request.ray_id, request.path) == (
            T,
            18236,
            "3a6050bcbe121a87",
            "/ch1/seg7.ts",
        )


def test_timestamps_without_offset_are_utc_whatever_the_machine_zone() -> None:
    assert parse_timestamp("2026-12-01T15:33:32") == T
    assert parse_timestamp(1796139212123) == pytest.approx(T + 0.123)
    assert parse_timestamp("01/Dec/2026:15:33:32 +0000") == T


def test_the_path_pattern_maps_playlists_and_segments_to_channels() -> None:
    matcher = ChannelMatcher()
    assert matcher.match("/ch1/live.m3u8") == ("ch1", "playlist")
    assert matcher.match("/hls/radio-7/live.m3u8") == ("radio-7", "playlist")
    assert matcher.match("/ch1/live1234.ts") == ("ch1", "segment")
    assert matcher.match("/ch1/init.m4s") == ("ch1", "segment")
    assert matcher.match("/ch1/other.m3u8") is None
    assert matcher.match("/favicon.ico") is None
    custom = ChannelMatcher("streams/{channel}/index.m3u8", "streams/{channel}/{segment}", (".aac",))
    assert custom.match("/streams/talk/index.m3u8") == ("talk", "playlist")
    assert custom.match("/streams/talk/00042.aac") == ("talk", "segment")
    assert custom.match("/streams/talk/00042.ts") is None
    for bad in ("live.m3u8", "{channel}/{channel}.m3u8", "{channel}/{other}.m3u8"):
        with pytest.raises(ValueError):
            compile_pattern(bad, segment=False)
