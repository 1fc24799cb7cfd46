"""Refused credentials, rate limits, server errors and slow answers from the audience APIs: a
clear message naming the source (never a key), retries with backoff, partial polls as warnings,
config errors naming the key, and one failing provider never stopping the others."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from collectors.billing.base import BillingAuthError, BillingError, RetryPolicy
from collectors.pollers.agora import AgoraPoller
from collectors.pollers.cloudflare_stream import CloudflareStreamPoller
from collectors.pollers.ivs import IvsPoller
from collectors.runner import Collector
from collectors.spool import Spool
from core.settings import ConfigError, Settings, load_settings
from simulator.providers import ProviderFakes
from store import schema
from store.engine import open_store
from tests.collectors.audience.fixtures import (
    AGORA_SECRET,
    AWS_SECRET,
    CF_TOKEN,
    NOW_TS,
    agora_source,
    cloudflare_source,
    collectors,
    ivs_source,
)

SECRETS = (AGORA_SECRET, CF_TOKEN, AWS_SECRET, "wrong-secret-xyz")


def fast(poller: AgoraPoller | CloudflareStreamPoller, sleeps: list[float]) -> None:
    """Retries that record their waits instead of sleeping."""
    policy = RetryPolicy(max_attempts=3, backoff_initial_s=0.01, max_backoff_s=5.0, sleep=sleeps.append)
    poller.client.http.policy = policy  # type: ignore[attr-defined]


def no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_agora_refused_credentials_name_the_source_not_the_key(fakes: ProviderFakes) -> None:
    poller = AgoraPoller(agora_source(fakes, secret="wrong-secret-xyz"), collectors())
    with pytest.raises(BillingAuthError) as refused:
        asyncio.run(poller.poll(NOW_TS))
    message = poller.describe_error(refused.value)
    assert (
        "agora source 'agora-main'" in message and "HTTP 401" in message and "credentials refused" in message
    )
    no_secret(message)


def test_agora_429_honours_retry_after_then_succeeds(fakes: ProviderFakes) -> None:
    sleeps: list[float] = []
    poller = AgoraPoller(agora_source(fakes, recordings=[], media_push=False), collectors())
    fast(poller, sleeps)
    fakes.fail("/dev/v1/channel/demoapp", 429, times=1, headers={"Retry-After": "3"},
               body={"message": "Too many requests"})  # fmt: skip
    snapshot = asyncio.run(poller.poll(NOW_TS))
    assert sleeps == [3.0]
    assert len(snapshot.audience) == 3 and snapshot.warnings == []


def test_agora_5xx_backs_off_then_fails_the_poll_with_a_clear_message(fakes: ProviderFakes) -> None:
    sleeps: list[float] = []
    poller = AgoraPoller(agora_source(fakes), collectors())
    fast(poller, sleeps)
    fakes.fail("/dev/v1/channel/demoapp", 503, times=3)
    with pytest.raises(BillingError) as failed:
        asyncio.run(poller.poll(NOW_TS))
    assert len(sleeps) == 2 and all(0 < s <= 5.0 for s in sleeps)
    assert str(failed.value) == (
        "agora source 'agora-main': HTTP 503 from /dev/v1/channel/demoapp0123456789, gave up after 3 attempts"
    )


def test_a_failing_channel_or_converter_list_makes_a_partial_poll(fakes: ProviderFakes) -> None:
    sleeps: list[float] = []
    poller = AgoraPoller(agora_source(fakes, recordings=[]), collectors())
    fast(poller, sleeps)
    fakes.fail("/dev/v1/channel/user/demoapp0123456789/shop-2", 500, times=3)
    fakes.fail("/v1/projects/demoapp0123456789/rtmp-converters", 403, times=1)
    snapshot = asyncio.run(poller.poll(NOW_TS))
    assert sorted(s.channel for s in snapshot.audience) == ["shop-1", "shop-3"]
    assert snapshot.relays == []
    assert snapshot.warnings == [
        "channel 'shop-2': agora source 'agora-main': HTTP 500 from "
        "/dev/v1/channel/user/demoapp0123456789/shop-2, gave up after 3 attempts",
        "Media Push converters not read: agora source 'agora-main': HTTP 403 from "
        "/v1/projects/demoapp0123456789/rtmp-converters: credentials refused — check the key",
    ]


@pytest.mark.slow
def test_a_slow_answer_times_out_with_its_bound_in_the_message(fakes: ProviderFakes) -> None:
    sleeps: list[float] = []
    poller = CloudflareStreamPoller(cloudflare_source(fakes), collectors(timeout_s=0.3))
    fast(poller, sleeps)
    fakes.fail("/client/v4/accounts/demo-account/stream/live_inputs", 0, times=3, delay_s=1.0)
    with pytest.raises(BillingError) as slow:
        asyncio.run(poller.poll(NOW_TS))
    assert str(slow.value) == (
        "cloudflare_stream source 'cf-main': timed out after 0.3 s from "
        "/accounts/demo-account/stream/live_inputs, gave up after 3 attempts"
    )


def test_cloudflare_refused_token_and_graphql_errors_with_status_200(fakes: ProviderFakes) -> None:
    refused = CloudflareStreamPoller(cloudflare_source(fakes, token="wrong-secret-xyz"), collectors())
    with pytest.raises(BillingAuthError) as error:
        asyncio.run(refused.poll(NOW_TS))
    assert "cloudflare_stream source 'cf-main': HTTP 403" in str(error.value)
    no_secret(str(error.value))

    poller = CloudflareStreamPoller(cloudflare_source(fakes), collectors())
    fakes.fail("/client/v4/graphql", 200, body={"data": None, "errors": [
        {"message": "rate limiter budget depleted, try again after 5 minutes"}]})  # fmt: skip
    snapshot = asyncio.run(poller.poll(NOW_TS))
    assert len(snapshot.audience) == 2  # live viewers still read
    assert snapshot.warnings == [
        "minutes viewed not read: cloudflare_stream source 'cf-main': "
        "GraphQL: rate limiter budget depleted, try again after 5 minutes"
    ]


def test_ivs_error_shapes_read_from_the_header_and_exception_message(fakes: ProviderFakes) -> None:
    refused = IvsPoller(ivs_source(fakes, key_id="AKIAWRONG0000000000"), collectors())
    with pytest.raises(BillingAuthError) as error:
        asyncio.run(refused.poll(NOW_TS))
    assert str(error.value) == (
        "ivs source 'ivs-main': ListStreams: UnrecognizedClientException (HTTP 403) — credentials refused, "
        "check the key"
    )
    no_secret(str(error.value))

    poller = IvsPoller(ivs_source(fakes), collectors())
    # The code is in x-amzn-ErrorType, the text in exceptionMessage (Error.Message is empty).
    fakes.fail("/ivs/ListStreams", 400, headers={"x-amzn-ErrorType": "ValidationException:http://internal/"},
               body={"exceptionMessage": "maxResults out of range"})  # fmt: skip
    with pytest.raises(BillingError) as invalid:
        asyncio.run(poller.poll(NOW_TS))
    assert str(invalid.value) == (
        "ivs source 'ivs-main': ListStreams: ValidationException (HTTP 400): maxResults out of range"
    )


@pytest.mark.slow
def test_ivs_throttling_is_retried_by_botocore_then_named(fakes: ProviderFakes) -> None:
    poller = IvsPoller(ivs_source(fakes, concurrent_views=False), collectors())
    throttled = {"x-amzn-ErrorType": "ThrottlingException"}
    body = {"exceptionMessage": "Request was denied due to request throttling."}
    fakes.fail("/ivs/ListStreams", 429, times=3, headers=throttled, body=body)
    with pytest.raises(BillingError) as error:
        asyncio.run(poller.poll(NOW_TS))
    assert str(error.value) == (
        "ivs source 'ivs-main': ListStreams: ThrottlingException (HTTP 429), still after 3 attempts"
    )
    assert sum(r == "POST /ivs/ListStreams" for r in fakes.requests) == 3  # total_max_attempts

    fakes.fail("/ivs/ListStreams", 429, times=1, headers=throttled, body=body)
    retried = asyncio.run(poller.poll(NOW_TS))  # one refusal: retried, no trace
    assert [s.channel for s in retried.audience] == ["shop-5"]
    # Without CloudWatch, a viewerCount of -1 is no data (never plotted as -1 or 0).
    assert retried.warnings == ["viewers of 'shop-7' unknown (viewerCount -1, no ConcurrentViews)"]


def test_config_errors_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "castmeter.toml"
    path.write_text(
        '[[agora]]\nname = "a"\ncustomer_id = "c"\ncustomer_secret = "s3cret-value"\n'
        '[[cloudflare_stream]]\nname = "cf"\napi_base_url = "ftp://x"\naccount_id = "a"\napi_token = "t"\n'
        '[[ivs]]\nname = "i"\nregion = "nowhere"\naccess_key_id = "k"\nsecret_access_key = "s"\n'
    )
    with pytest.raises(ConfigError) as invalid:
        load_settings(path, env={})
    message = str(invalid.value)
    assert "agora.0.app_id: Field required" in message
    assert "cloudflare_stream.0.api_base_url: must start with http:// or https://" in message
    assert "ivs.0.region: String should match pattern" in message
    assert "s3cret-value" not in message

    path.write_text('[[agora]]\nname = "a"\napp_id = "x"\ncustomer_id = "c"\ncustomer_secret = "s"\n' * 2)
    with pytest.raises(ConfigError, match="agora: source names must be unique, repeated: a"):
        load_settings(path, env={})


@pytest.mark.slow
def test_a_failing_provider_does_not_stop_the_other_sources(fakes: ProviderFakes, tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'castmeter.db'}")
    settings = Settings(
        collectors=collectors(),
        agora=[agora_source(fakes, secret="wrong-secret-xyz")],
        cloudflare_stream=[cloudflare_source(fakes)],
        ivs=[ivs_source(fakes)],
    )
    collector = Collector(settings, engine, spool=Spool(tmp_path / "spool"))
    report = asyncio.run(collector.tick(NOW_TS))
    assert report.polled == {"agora-main": "failed", "cf-main": "ok", "ivs-main": "ok"}
    with engine.connect() as connection:
        paths: dict[str, int] = dict(connection.execute(
            select(schema.audience_samples.c.path, func.count()).group_by(schema.audience_samples.c.path)
        ).all())  # fmt: skip
        errors = connection.execute(select(schema.source_health.c.last_error)).scalars().all()
    assert paths == {"cloudflare_stream": 2, "ivs": 2}
    assert any("agora source 'agora-main': HTTP 401" in (error or "") for error in errors)
    no_secret(" ".join(error or "" for error in errors))
    engine.dispose()
