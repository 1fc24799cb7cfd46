"""Amazon IVS as an audience source, through boto3 with endpoint overrides: ListChannels (names
and tags, to map a channel ARN to castmeter's channel), ListStreams (every live stream with its
state, health and ``viewerCount``; GetStream again when a count is -1, IVS's "timed out, retry"),
and CloudWatch ``AWS/IVS`` ``ConcurrentViews`` (Maximum per 60 s), the fallback count.

Traps (docs/ARCHITECTURE.md, "Audience APIs"): IVS errors carry their code in ``x-amzn-ErrorType``
and their text in ``exceptionMessage`` (``Error.Message`` is empty); ``retries.total_max_attempts``
counts every attempt."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError

from collectors.audience_apis.common import MAX_PAGES, POLL_ATTEMPTS, AudienceSnapshot, label
from collectors.billing.aws import AUTH_CODES
from collectors.billing.base import BillingAuthError, BillingError
from core.logs import redact
from core.settings import CollectorSettings, IvsSource
from store.audience import AudienceSample, RelaySample

STREAM_HEALTH = {"HEALTHY": "ok", "STARVING": "degraded", "UNKNOWN": "ok"}
CONCURRENT_WINDOW_S = 300  # the newest ConcurrentViews minute within the last five
CW_QUERIES_PER_CALL = 500


def describe_client_error(where: str, exc: ClientError) -> str:
    response = exc.response if isinstance(exc.response, dict) else {}
    error = response.get("Error") or {}
    code = str(error.get("Code") or "")
    status = int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
    text = str(response.get("exceptionMessage") or error.get("Message") or response.get("message") or "")
    if code in AUTH_CODES or status in (401, 403):
        return f"{where}: {code or status} (HTTP {status}) — credentials refused, check the key"
    if code in ("ThrottlingException", "Throttling", "TooManyRequestsException") or status == 429:
        return f"{where}: {code or 'throttled'} (HTTP {status}), still after {POLL_ATTEMPTS} attempts"
    return f"{where}: {code or 'error'} (HTTP {status}){': ' + redact(text)[:200] if text else ''}"


class IvsClient:
    def __init__(self, source: IvsSource, collectors: CollectorSettings) -> None:
        self.source = source
        self.label = label("ivs", source.name)
        session = boto3.session.Session(
            aws_access_key_id=source.access_key_id,
            aws_secret_access_key=source.secret_access_key.get_secret_value(),
            aws_session_token=source.session_token.get_secret_value() if source.session_token else None,
            region_name=source.region,
        )
        config = Config(
            connect_timeout=collectors.http_timeout_s,
            read_timeout=collectors.http_timeout_s,
            retries={"total_max_attempts": POLL_ATTEMPTS, "mode": "standard"},  # the first try included
        )
        self.ivs = session.client("ivs", endpoint_url=source.api_base_url or None, config=config)
        self.cloudwatch = session.client(
            "cloudwatch", endpoint_url=source.cloudwatch_url or None, config=config
        )
        self.api_calls = 0

    def _call(self, where: str, call: Callable[..., dict[str, Any]], **request: Any) -> dict[str, Any]:
        self.api_calls += 1
        try:
            return call(**request)
        except ClientError as exc:
            message = describe_client_error(where, exc)
            if "credentials refused" in message:
                raise BillingAuthError(self.label, message) from None
            raise BillingError(self.label, message) from None
        except (ReadTimeoutError, ConnectTimeoutError):
            raise BillingError(
                self.label, f"{where}: timed out after {self.source_timeout:g} s ({POLL_ATTEMPTS} attempts)"
            ) from None
        except BotoCoreError as exc:
            raise BillingError(self.label, f"{where}: {type(exc).__name__}") from None

    @property
    def source_timeout(self) -> float:
        return float(self.ivs.meta.config.read_timeout)

    def _pages(self, where: str, call: Callable[..., dict[str, Any]], key: str) -> Iterator[dict[str, Any]]:
        token: str | None = None
        for _ in range(MAX_PAGES):
            page = self._call(where, call, **({"nextToken": token} if token else {}))
            yield from (item for item in page.get(key) or [] if isinstance(item, dict))
            token = page.get("nextToken")
            if not token:
                return

    def channel_names(self) -> dict[str, str]:
        """channel ARN -> castmeter channel: the settings' table, else the tag ``channel``, else
        the channel's name, else the ARN's last part."""
        names: dict[str, str] = {}
        for channel in self._pages("ListChannels", self.ivs.list_channels, "channels"):
            arn = str(channel.get("arn") or "")
            if arn:
                tags = channel.get("tags") or {}
                names[arn] = str(tags.get("channel") or channel.get("name") or arn.rsplit("/", 1)[-1])
        names.update(self.source.channels)
        return names

    def poll(self, now_ts: int) -> AudienceSnapshot:
        self.api_calls = 0
        snapshot = AudienceSnapshot(ts=now_ts)
        try:
            names = self.channel_names()
        except BillingError as exc:  # streams still map by the settings' table or their ARN
            snapshot.warnings.append(f"channel names not read: {exc}")
            names = dict(self.source.channels)
        streams = {
            str(stream["channelArn"]): stream
            for stream in self._pages("ListStreams", self.ivs.list_streams, "streams")
            if stream.get("channelArn")
        }
        for arn, listed in list(streams.items()):
            if int(listed.get("viewerCount", -1)) < 0:
                refreshed = self._get_stream(arn, snapshot)
                if refreshed is not None:
                    streams[arn] = refreshed
        concurrent = self._concurrent_views(list(streams), now_ts, snapshot)
        for arn in sorted(set(names) | set(streams)):
            channel = (names.get(arn) or arn.rsplit("/", 1)[-1])[:200]
            stream = streams.get(arn)
            if stream is None or str(stream.get("state") or "LIVE") == "OFFLINE":
                snapshot.relays.append(RelaySample(f"ivs:{arn}"[:200], now_ts, channel, "ivs_stream", "idle",
                                                   "OFFLINE", sink=f"ivs:{arn}"))  # fmt: skip
                continue
            health = str(stream.get("health") or "UNKNOWN")
            started = stream.get("startTime")
            detail = (
                None
                if arn not in concurrent
                else f"CloudWatch ConcurrentViews (max, newest minute): {concurrent[arn]:g}"
            )
            snapshot.relays.append(
                RelaySample(
                    f"ivs:{arn}"[:200], now_ts, channel, "ivs_stream", STREAM_HEALTH.get(health, "degraded"),
                    f"LIVE {health}"[:60], sink=f"ivs:{arn}",
                    last_activity_ts=int(started.timestamp()) if isinstance(started, datetime) else None,
                    detail=detail,
                )
            )  # fmt: skip
            viewers = int(stream.get("viewerCount", -1))
            if viewers < 0 and arn in concurrent:
                viewers = int(concurrent[arn])
            if viewers < 0:
                snapshot.warnings.append(
                    f"viewers of {channel!r} unknown (viewerCount -1, no ConcurrentViews)"
                )
                continue
            snapshot.audience.append(AudienceSample(channel, "ivs", now_ts, viewers=viewers))
        snapshot.api_calls = self.api_calls
        return snapshot

    def _get_stream(self, arn: str, snapshot: AudienceSnapshot) -> dict[str, Any] | None:
        try:
            body = self._call("GetStream", self.ivs.get_stream, channelArn=arn)
        except BillingError as exc:
            if "ChannelNotBroadcasting" in str(exc):  # went offline meanwhile: not an error
                return {"channelArn": arn, "state": "OFFLINE"}
            snapshot.warnings.append(str(exc))
            return None
        stream = body.get("stream")
        return stream if isinstance(stream, dict) else None

    def _concurrent_views(self, arns: list[str], now_ts: int, snapshot: AudienceSnapshot) -> dict[str, float]:
        """The newest ConcurrentViews (Maximum per 60 s) of each live channel, from CloudWatch."""
        if not self.source.concurrent_views or not arns:
            return {}
        newest: dict[str, tuple[float, float]] = {}
        ids = {f"cv{index}": arn for index, arn in enumerate(arns)}
        queries = [
            {"Id": query_id, "ReturnData": True,
             "MetricStat": {"Metric": {"Namespace": "AWS/IVS", "MetricName": "ConcurrentViews",
                                       "Dimensions": [{"Name": "Channel", "Value": arn}]},
                            "Period": 60, "Stat": "Maximum"}}
            for query_id, arn in ids.items()
        ]  # fmt: skip
        start = datetime.fromtimestamp(now_ts - CONCURRENT_WINDOW_S, tz=UTC)
        end = datetime.fromtimestamp(now_ts, tz=UTC)
        try:
            for offset in range(0, len(queries), CW_QUERIES_PER_CALL):
                token: str | None = None
                for _ in range(MAX_PAGES):
                    request: dict[str, Any] = {
                        "MetricDataQueries": queries[offset : offset + CW_QUERIES_PER_CALL],
                        "StartTime": start, "EndTime": end, **({"NextToken": token} if token else {}),
                    }  # fmt: skip
                    page = self._call("GetMetricData", self.cloudwatch.get_metric_data, **request)
                    for result in page.get("MetricDataResults") or []:
                        arn = ids.get(str(result.get("Id")))
                        for stamp, value in zip(
                            result.get("Timestamps") or [], result.get("Values") or [], strict=False
                        ):
                            when = stamp.timestamp() if isinstance(stamp, datetime) else None
                            if arn and when is not None and (arn not in newest or when > newest[arn][0]):
                                newest[arn] = (when, float(value))
                    token = page.get("NextToken")
                    if not token:
                        break
        except BillingError as exc:
            snapshot.warnings.append(f"ConcurrentViews not read: {exc}")
            return {}
        return {arn: value for arn, (_when, value) in newest.items()}
