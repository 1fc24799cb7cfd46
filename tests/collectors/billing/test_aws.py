"""The AWS client with botocore's Stubber (request shapes) and against a local endpoint (wire)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from botocore.stub import ANY, Stubber
from pydantic import SecretStr
from pytest_httpserver import HTTPServer

from collectors.billing.aws import AwsCollector
from collectors.billing.base import BillingAuthError, BillingError
from core.settings import AwsBilling
from tests.collectors.billing import fakes
from tests.collectors.billing.fakes import NOW_TS, TODAY, assert_golden

START = date(2026, 11, 18)


def collector(
    base_url: str = "https://ce.us-east-1.amazonaws.com", cloudwatch_url: str = "", **extra: object
) -> AwsCollector:
    config = AwsBilling(
        api_base_url=base_url, cloudwatch_url=cloudwatch_url, access_key_id="AKIDTEST",
        secret_access_key=SecretStr(fakes.AWS_SECRET), **extra,  # type: ignore[arg-type]
    )  # fmt: skip
    return AwsCollector(config, timeout_s=5, max_attempts=1)


def test_cost_explorer_request_and_paging_with_stubber() -> None:
    aws = collector()
    expected = {
        "TimePeriod": {"Start": "2026-11-18", "End": "2026-11-21"},
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost", "UsageQuantity"],
        "Filter": {"Dimensions": {"Key": "SERVICE", "Values": ["Amazon Interactive Video Service"]}},
        "GroupBy": [{"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
    }
    with Stubber(aws.ce) as stub:
        stub.add_response(
            "get_cost_and_usage", {"ResultsByTime": fakes.CE_RESULTS[:1], "NextPageToken": "p2"}, expected
        )
        stub.add_response(
            "get_cost_and_usage", {"ResultsByTime": fakes.CE_RESULTS[1:]}, {**expected, "NextPageToken": "p2"}
        )
        fetched = aws.fetch_part("cost", START, TODAY, NOW_TS)
        stub.assert_no_pending_responses()
    assert_golden("aws_cost", fetched.rows)
    assert sum(r.usd or 0 for r in fetched.rows) == pytest.approx(1.44 + 0.85 + 0.72)


@pytest.mark.slow
def test_cloudwatch_delivered_time_with_stubber() -> None:
    aws = collector(channel_arns=[fakes.IVS_CHANNEL])
    stamps = [datetime(2026, 11, 18, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC)]
    with Stubber(aws.cloudwatch) as stub:
        stub.add_response(
            "get_metric_data",
            {"MetricDataResults": [
                {"Id": "m0_0", "Timestamps": stamps, "Values": [36000.0, 18000.0], "StatusCode": "Complete"},
                {"Id": "m0_1", "Timestamps": stamps, "Values": [42.0, 17.0], "StatusCode": "Complete"}]},
            {"MetricDataQueries": ANY, "StartTime": datetime(2026, 11, 18, tzinfo=UTC), "EndTime": datetime(2026, 11, 21, tzinfo=UTC)},
        )  # fmt: skip
        fetched = aws.fetch_part("cloudwatch", START, TODAY, NOW_TS)
    assert_golden("aws_cloudwatch", fetched.rows)
    delivered = {r.day: r.quantity for r in fetched.rows if r.metric == "delivered_min"}
    assert delivered == {date(2026, 11, 18): 600.0, date(2026, 11, 19): 300.0}


def test_access_denied_is_an_auth_error_without_the_secret() -> None:
    aws = collector()
    with Stubber(aws.ce) as stub:
        stub.add_client_error("get_cost_and_usage", "AccessDeniedException", "not allowed", 400)
        with pytest.raises(BillingAuthError) as info:
            aws.fetch_part("cost", START, TODAY, NOW_TS)
    assert (
        "aws" in str(info.value)
        and "check the key" in str(info.value)
        and fakes.AWS_SECRET not in str(info.value)
    )


def test_throttling_after_retries_is_a_billing_error() -> None:
    aws = collector()
    with Stubber(aws.ce) as stub:
        stub.add_client_error("get_cost_and_usage", "LimitExceededException", "slow down", 400)
        with pytest.raises(BillingError, match="LimitExceededException"):
            aws.fetch_part("cost", START, TODAY, NOW_TS)


@pytest.mark.slow
def test_both_services_against_a_local_endpoint(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/", method="POST").respond_with_handler(fakes.aws_handler())
    aws = collector(httpserver.url_for("/").rstrip("/"), httpserver.url_for("/").rstrip("/"))
    cost = aws.fetch_part("cost", START, TODAY, NOW_TS)
    assert_golden("aws_cost", cost.rows)  # same rows over the wire as through the stubber
    watched = aws.fetch_part("cloudwatch", START, TODAY, NOW_TS)  # channels discovered by ListMetrics
    assert_golden("aws_cloudwatch", watched.rows)
    targets = [r.headers["X-Amz-Target"] for r, _ in httpserver.log]
    assert targets.count("AWSInsightsIndexService.GetCostAndUsage") == 2  # two pages
    assert "GraniteServiceVersion20100801.ListMetrics" in targets


def test_unreachable_endpoint_is_a_billing_error() -> None:
    from harness.realparts import free_port

    aws = collector(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(BillingError, match="aws: cost"):
        aws.fetch_part("cost", START, TODAY, NOW_TS)


@pytest.mark.slow
def test_max_attempts_counts_the_first_try(httpserver: HTTPServer) -> None:
    """``max_attempts=3`` is three requests in all (botocore's ``max_attempts`` would have
    meant three *retries*: four requests)."""
    from werkzeug import Response

    httpserver.expect_request("/", method="POST").respond_with_response(
        Response(
            '{"__type": "InternalServerError", "message": "try later"}',
            status=500,
            content_type="application/x-amz-json-1.1",
        )
    )
    base = httpserver.url_for("/").rstrip("/")
    config = AwsBilling(api_base_url=base, cloudwatch_url=base, access_key_id="AKIDTEST",
                        secret_access_key=SecretStr(fakes.AWS_SECRET))  # fmt: skip
    aws = AwsCollector(config, timeout_s=5, max_attempts=3)
    with pytest.raises(BillingError):
        aws.fetch_part("cost", START, TODAY, NOW_TS)
    assert len(httpserver.log) == 3
