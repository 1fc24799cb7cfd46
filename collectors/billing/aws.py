"""AWS: Cost Explorer ``GetCostAndUsage`` for Amazon IVS (money and quantity by usage type, daily)
and CloudWatch ``AWS/IVS`` ``LiveDeliveredTime`` (Sum → minutes delivered) and ``ConcurrentViews``
(Maximum → peak viewers) per channel per day
(https://docs.aws.amazon.com/ivs/latest/userguide/cloudwatch.html). boto3, with endpoint URLs
overridable for proxies and local test servers; botocore's own retry handles throttling."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from collectors.billing.base import (
    BillingAuthError,
    BillingError,
    BillingResponseError,
    BillingRow,
    Fetched,
    Part,
    as_number,
    chunked_days,
    day_start_ts,
    days_between,
    merge_rows,
    utc_day,
)
from core.settings import AwsBilling

log = logging.getLogger(__name__)

PROVIDER = "aws"
MAX_PAGES = 1000
CE_MAX_DAYS = 90  # keep each Cost Explorer request small; DAILY results page anyway
CW_QUERIES_PER_CALL = 500  # GetMetricData limit
AUTH_CODES = {
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "AccessDeniedException",
    "AccessDenied",
    "SignatureDoesNotMatch",
    "ExpiredTokenException",
    "ExpiredToken",
    "UnauthorizedOperation",
    "AuthFailure",
}
CW_METRICS = (
    ("LiveDeliveredTime", "Sum", "delivered_min", "min", 1 / 60.0),
    ("ConcurrentViews", "Maximum", "peak_concurrent_views", "views", 1.0),
)


class AwsCollector:
    provider = PROVIDER
    parts = (Part("cost"), Part("cloudwatch"))

    def __init__(self, config: AwsBilling, *, timeout_s: float = 30.0, max_attempts: int = 5) -> None:
        self.config = config
        session = boto3.session.Session(
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key.get_secret_value(),
            aws_session_token=config.session_token.get_secret_value() if config.session_token else None,
            region_name=config.region,
        )
        boto_config = Config(
            connect_timeout=timeout_s,
            read_timeout=timeout_s,
            retries={"total_max_attempts": max_attempts, "mode": "standard"},  # the first try included
        )
        self.ce = session.client("ce", endpoint_url=config.api_base_url, config=boto_config)
        self.cloudwatch = session.client(
            "cloudwatch",
            endpoint_url=config.cloudwatch_url or f"https://monitoring.{config.region}.amazonaws.com",
            config=boto_config,
        )

    def describe_url(self) -> str:
        return self.config.api_base_url

    def fetch_part(self, part: str, start: date, end: date, now_ts: int) -> Fetched:
        try:
            if part == "cost":
                rows = self._cost(start, end)
            elif part == "cloudwatch":
                rows = self._cloudwatch(start, end)
            else:
                raise ValueError(f"unknown part {part!r}")
        except ClientError as exc:
            raise _client_error(exc, part) from None
        except BotoCoreError as exc:
            raise BillingError(PROVIDER, f"{part}: {type(exc).__name__}") from None
        return Fetched(merge_rows(rows), days_between(start, end))

    # -- Cost Explorer -------------------------------------------------------------------------

    def _cost(self, start: date, end: date) -> list[BillingRow]:
        rows: list[BillingRow] = []
        for first, last in chunked_days(start, end, CE_MAX_DAYS):
            request: dict[str, Any] = {
                "TimePeriod": {"Start": first.isoformat(), "End": (last + timedelta(days=1)).isoformat()},
                "Granularity": "DAILY",
                "Metrics": ["UnblendedCost", "UsageQuantity"],
                "Filter": {"Dimensions": {"Key": "SERVICE", "Values": [self.config.service_name]}},
                "GroupBy": [{"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
            }
            for page in self._pages(self.ce.get_cost_and_usage, request, "NextPageToken"):
                results = page.get("ResultsByTime")
                if not isinstance(results, list):
                    raise BillingResponseError(PROVIDER, "GetCostAndUsage has no ResultsByTime")
                for result in results:
                    rows.extend(_cost_rows(result, first, last))
        return rows

    @staticmethod
    def _pages(call: Any, request: dict[str, Any], token_name: str) -> Iterator[dict[str, Any]]:
        token: str | None = None
        for _ in range(MAX_PAGES):
            page = call(**request, **({token_name: token} if token else {}))
            yield page
            token = page.get(token_name)
            if not token:
                return
        log.warning("%s: stopped paging after %d pages", PROVIDER, MAX_PAGES)

    # -- CloudWatch ----------------------------------------------------------------------------

    def _channels(self) -> list[str]:
        if self.config.channel_arns:
            return list(self.config.channel_arns)
        channels: set[str] = set()
        request = {"Namespace": "AWS/IVS", "MetricName": "LiveDeliveredTime"}
        for page in self._pages(self.cloudwatch.list_metrics, request, "NextToken"):
            for metric in page.get("Metrics") or []:
                for dimension in metric.get("Dimensions") or []:
                    if dimension.get("Name") == "Channel" and dimension.get("Value"):
                        channels.add(str(dimension["Value"]))
        return sorted(channels)

    def _cloudwatch(self, start: date, end: date) -> list[BillingRow]:
        channels = self._channels()
        queries: list[dict[str, Any]] = []
        labels: dict[str, tuple[str, str, str, float]] = {}
        for index, channel in enumerate(channels):
            for metric_index, (name, stat, metric, unit, scale) in enumerate(CW_METRICS):
                query_id = f"m{index}_{metric_index}"
                labels[query_id] = (channel, metric, unit, scale)
                queries.append(
                    {
                        "Id": query_id,
                        "MetricStat": {
                            "Metric": {
                                "Namespace": "AWS/IVS",
                                "MetricName": name,
                                "Dimensions": [{"Name": "Channel", "Value": channel}],
                            },
                            "Period": 86_400,
                            "Stat": stat,
                        },
                        "ReturnData": True,
                    }
                )
        rows: list[BillingRow] = []
        start_time = datetime.fromtimestamp(day_start_ts(start), tz=UTC)
        end_time = datetime.fromtimestamp(day_start_ts(end + timedelta(days=1)), tz=UTC)
        for offset in range(0, len(queries), CW_QUERIES_PER_CALL):
            request = {
                "MetricDataQueries": queries[offset : offset + CW_QUERIES_PER_CALL],
                "StartTime": start_time,
                "EndTime": end_time,
            }
            for page in self._pages(self.cloudwatch.get_metric_data, request, "NextToken"):
                for result in page.get("MetricDataResults") or []:
                    label = labels.get(str(result.get("Id")))
                    if label is None:
                        continue
                    rows.extend(_metric_rows(result, label, start, end))
        return rows


def _cost_rows(result: dict[str, Any], first: date, last: date) -> list[BillingRow]:
    period = result.get("TimePeriod") or {}
    try:
        day = date.fromisoformat(str(period.get("Start"))[:10])
    except ValueError:
        raise BillingResponseError(PROVIDER, "a Cost Explorer result has no TimePeriod.Start") from None
    if not (first <= day <= last):
        return []
    rows = []
    for group in result.get("Groups") or []:
        keys = group.get("Keys") or []
        metrics = group.get("Metrics") or {}
        cost = metrics.get("UnblendedCost") or {}
        usage = metrics.get("UsageQuantity") or {}
        usd = as_number(cost.get("Amount"))
        if cost.get("Unit") not in (None, "USD"):
            log.warning("%s: cost in %s, not USD; stored without a USD value", PROVIDER, cost.get("Unit"))
            usd = None
        quantity = as_number(usage.get("Amount"))
        if not keys or (usd is None and quantity is None):
            log.warning("%s: skipped a Cost Explorer group without keys or metrics", PROVIDER)
            continue
        rows.append(
            BillingRow(
                PROVIDER, day, "ivs_usage", str(usage.get("Unit") or "N/A")[:20], quantity or 0.0, usd,
                {"usage_type": str(keys[0])},
                amount=as_number(cost.get("Amount")), currency=str(cost.get("Unit") or "USD")[:3],
            )
        )  # fmt: skip
    return rows


def _metric_rows(
    result: dict[str, Any], label: tuple[str, str, str, float], start: date, end: date
) -> list[BillingRow]:
    channel, metric, unit, scale = label
    rows = []
    for stamp, value in zip(result.get("Timestamps") or [], result.get("Values") or [], strict=False):
        when = stamp.timestamp() if isinstance(stamp, datetime) else None
        number = as_number(value)
        if when is None or number is None:
            continue
        day = utc_day(when)
        if start <= day <= end:
            rows.append(BillingRow(PROVIDER, day, metric, unit, number * scale, None, {"channel": channel}))
    return rows


def _client_error(exc: ClientError, part: str) -> BillingError:
    error = exc.response.get("Error", {}) if isinstance(exc.response, dict) else {}
    code = str(error.get("Code") or "")
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code in AUTH_CODES or status in (401, 403):
        return BillingAuthError(PROVIDER, f"{part}: {code or status} — credentials refused, check the key")
    return BillingError(PROVIDER, f"{part}: {code or 'error'} (HTTP {status})")
