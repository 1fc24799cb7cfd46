"""castmeter settings: one validated object built from a TOML file and the environment.

Precedence (highest first): environment variables, the TOML file, defaults.
An invalid value raises :class:`ConfigError` naming the key, before anything starts.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

DEFAULT_DB_URL = "sqlite:///data/castmeter.db"
DEFAULT_CONFIG_PATHS = (Path("castmeter.toml"),)

# Environment variables that override the file (documented in castmeter.example.toml).
ENV_DB_URL = "CASTMETER_DB_URL"
ENV_CONFIG = "CASTMETER_CONFIG"
ENV_LIVEKIT_URL = "LIVEKIT_URL"
ENV_LIVEKIT_KEY = "LIVEKIT_API_KEY"
ENV_LIVEKIT_SECRET = "LIVEKIT_API_SECRET"
ENV_PROMETHEUS_URL = "PROMETHEUS_URL"
ENV_METRICS_PORT = "CASTMETER_METRICS_PORT"  # [metrics] port (0: any free port)


class ConfigError(Exception):
    """An invalid configuration; the message names the offending key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Strict):
    url: str = DEFAULT_DB_URL
    busy_timeout_ms: int = Field(default=5000, ge=0, le=600_000)

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not (value.startswith("sqlite") or value.startswith("postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        return value


class LiveKitSource(_Strict):
    """One LiveKit server or LiveKit Cloud project polled through its Twirp API."""

    name: str = Field(min_length=1, max_length=100)
    url: str
    api_key: str = Field(min_length=1)
    api_secret: SecretStr
    # Egress/ingress listing needs Redis on self-hosted servers; a refusal is tolerated anyway.
    poll_egress: bool = True
    poll_ingress: bool = True
    # ListParticipants calls per collection tick at most (the call budget). ListRooms runs every
    # tick; rooms whose sessions come exactly from webhooks are never listed; the others are
    # listed least-recently-listed first, so each is visited within ceil(rooms / budget) ticks.
    # LiveKit Cloud documents 1,000 API requests per minute per project: at the default 15 s
    # interval, 100 + ListRooms/ListEgress/ListIngress is ~412 requests a minute. 0 = never list.
    participant_lists_per_tick: int = Field(default=100, ge=0, le=10_000)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError("must start with http://, https://, ws:// or wss://")
        return value.rstrip("/")


class PrometheusSource(_Strict):
    """A Prometheus server that scrapes the LiveKit nodes (and node_exporter)."""

    name: str = Field(min_length=1, max_length=100)
    url: str
    # The rate() window used for counters; must cover at least two scrapes.
    rate_window: str = Field(default="1m", pattern=r"^[0-9]+[smh]$")
    # Used for CPU % / memory % only when neither node_exporter nor the Go runtime's
    # go_sched_gomaxprocs_threads tells a node's size.
    node_cpu_cores: float | None = Field(default=None, gt=0, le=4096)
    node_memory_bytes: float | None = Field(default=None, gt=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
HLS_LOG_FORMATS = ("nginx_combined", "nginx_json", "caddy_json", "json", "cloudflare_logpush")


class HlsLogSource(_Strict):
    """An HLS origin's or CDN's access log (issue 17, collectors/hls/): per stream, concurrent
    viewers, viewer-minutes, bytes, segment errors and playlist freshness."""

    name: str = Field(min_length=1, max_length=100)
    # A log file (nginx/Caddy; rotation followed), or a directory of Cloudflare Logpush files, or
    # s3://<bucket>/<prefix>/: the Logpush job's R2/S3 destination (format cloudflare_logpush).
    path: str = Field(min_length=1)
    # nginx_combined (also Caddy with a combined format) | nginx_json | caddy_json |
    # json (with json_fields) | cloudflare_logpush (ndjson http_requests files, gz or not).
    format: Literal["nginx_combined", "nginx_json", "caddy_json", "json", "cloudflare_logpush"] = (
        "nginx_combined"
    )
    # castmeter field -> dotted path in a JSON line (alternatives with |); format = "json" only.
    json_fields: dict[str, str] = {}
    # The path of a stream's playlist and of its segments; {channel} is one path segment and is
    # the stream's channel (seed 000: {channel}/live.m3u8). Matched at the end of the path.
    playlist_pattern: str = "{channel}/live.m3u8"
    segment_pattern: str = "{channel}/{segment}"
    segment_extensions: list[str] = Field(
        default_factory=lambda: [".ts", ".m4s", ".aac", ".mp4"], min_length=1
    )
    # The streams' segment duration (EXT-X-TARGETDURATION; ffmpeg's hls_time default is 2 s).
    segment_s: float = Field(default=2.0, gt=0, le=60)
    # A viewer is concurrent while a segment request of theirs is this recent (default 3 segments).
    window_s: float | None = Field(default=None, gt=0, le=600)
    # Samples are written per bucket of the log's own clock.
    bucket_s: int = Field(default=15, ge=1, le=3600)
    # How late a line may arrive and still count in its own bucket (default: 60 s for files,
    # 900 s for Logpush, whose batches arrive 30-300 s after the fact).
    max_lateness_s: float | None = Field(default=None, ge=0, le=86_400)
    # Bytes read per poll at most (a backlog is read over several polls, memory stays bounded).
    read_budget_mb: float = Field(default=64.0, gt=0, le=4096)
    max_clients: int = Field(default=200_000, ge=1, le=10_000_000)
    # s3:// paths only. R2: https://<ACCOUNT_ID>.r2.cloudflarestorage.com; empty: AWS S3.
    endpoint_url: str = ""
    # Empty: "auto" with an endpoint_url (R2), else us-east-1.
    region: str = Field(default="", pattern=r"^(auto|[a-z]{2}(-[a-z]+)+-[0-9]+)?$")
    # An R2 API token's / IAM user's read-only key; both empty: boto3's own chain
    # (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment, a profile, an instance role).
    access_key_id: str = ""
    secret_access_key: SecretStr | None = None
    session_token: SecretStr | None = None

    @property
    def url(self) -> str:
        return self.path if self.is_bucket else f"file://{self.path}"

    @property
    def is_bucket(self) -> bool:
        return self.path.startswith("s3://")

    @property
    def bucket_and_prefix(self) -> tuple[str, str]:
        """``s3://bucket/a/b/`` -> ("bucket", "a/b/")."""
        bucket, _, prefix = self.path.removeprefix("s3://").partition("/")
        return bucket, prefix

    @property
    def effective_region(self) -> str:
        return self.region or ("auto" if self.endpoint_url else "us-east-1")

    def secrets(self) -> list[str]:
        values = [v.get_secret_value() for v in (self.secret_access_key, self.session_token) if v]
        return [v for v in values if v]

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return _base_url(value) if value else value

    @model_validator(mode="after")
    def _bucket_keys(self) -> HlsLogSource:
        s3_keys = ("endpoint_url", "region", "access_key_id", "secret_access_key", "session_token")
        if not self.is_bucket:
            for key in s3_keys:
                if key in self.model_fields_set:
                    raise ValueError(
                        f"{key}: only for an s3://bucket/prefix/ path (Logpush objects in R2/S3)"
                    )
            return self
        bucket, _prefix = self.bucket_and_prefix
        if not _BUCKET_NAME.match(bucket):
            raise ValueError("path: s3://<bucket>/<prefix>/ needs a bucket name (3-63 of a-z 0-9 . -)")
        if self.format != "cloudflare_logpush":
            raise ValueError(
                'format: an s3:// path is read as Cloudflare Logpush objects: set format = "cloudflare_logpush"'
            )
        if bool(self.access_key_id) != (self.secret_access_key is not None):
            missing = "secret_access_key" if self.access_key_id else "access_key_id"
            raise ValueError(
                f"{missing}: access_key_id and secret_access_key go together (or neither: boto3's chain)"
            )
        return self

    @property
    def effective_window_s(self) -> float:
        return self.window_s if self.window_s is not None else 3 * self.segment_s

    @property
    def effective_lateness_s(self) -> float:
        if self.max_lateness_s is not None:
            return self.max_lateness_s
        return 900.0 if self.format == "cloudflare_logpush" else 60.0

    @field_validator("playlist_pattern", "segment_pattern")
    @classmethod
    def _pattern(cls, value: str, info: Any) -> str:
        from collectors.hls.channels import compile_pattern

        compile_pattern(value, segment=info.field_name == "segment_pattern")
        return value

    @field_validator("segment_extensions")
    @classmethod
    def _extensions(cls, value: list[str]) -> list[str]:
        for extension in value:
            if not extension.startswith(".") or "/" in extension:
                raise ValueError(f"{extension!r} is not a file extension such as '.ts'")
        return value

    @field_validator("json_fields")
    @classmethod
    def _fields(cls, value: dict[str, str]) -> dict[str, str]:
        from collectors.hls.jsonlog import check_field_map

        if value:
            check_field_map(value)
        return value

    def model_post_init(self, context: Any) -> None:
        if self.format == "json" and not self.json_fields:
            raise ValueError("json_fields: required when format = 'json' (castmeter field -> JSON key)")
        if self.json_fields and self.format != "json":
            raise ValueError(f"json_fields: only for format = 'json' (format is {self.format!r})")


class CollectorSettings(_Strict):
    interval_s: float = Field(default=15.0, gt=0.1, le=3600)
    http_timeout_s: float = Field(default=10.0, gt=0, le=300)
    max_backoff_s: float = Field(default=300.0, gt=0, le=86_400)
    max_concurrent_requests: int = Field(default=32, ge=1, le=1024)
    rollup_every_s: float = Field(default=60.0, gt=0, le=86_400)
    # Several collectors on one PostgreSQL (collectors/ownership.py): how long a source's lease
    # lives without renewal; unset: 0.4 poll intervals (a source moves within two intervals).
    lease_ttl_s: float | None = Field(default=None, ge=0.2, le=3600)


class WebhookSettings(_Strict):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8788, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    # A client gets this long to send its request head, and then its body (slow clients
    # cannot hold connections open).
    header_timeout_s: float = Field(default=10.0, gt=0, le=300)
    body_timeout_s: float = Field(default=10.0, gt=0, le=300)


class RetentionSettings(_Strict):
    raw_days: float = Field(default=7, gt=0, le=3650)
    minute_days: float = Field(default=35, gt=0, le=3650)
    hour_days: float = Field(default=400, gt=0, le=36500)


class DashboardSettings(_Strict):
    timezone: str = "UTC"
    stale_after_s: float = Field(default=120.0, gt=0)
    # Reverse proxies whose X-Forwarded-For is believed (addresses or networks): the sign-in
    # limiter counts failures per client address, which only the proxy knows.
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    # Runs of the sign-in page, for every visitor who is not signed in together: a steady rate
    # after a burst (each run costs the dashboard ~0.1 s of CPU; see ui/auth.py).
    sign_in_runs_per_s: float = Field(default=5.0, gt=0, le=1000)
    sign_in_burst: int = Field(default=10, ge=1, le=10_000)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        import ipaddress

        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError as exc:
                raise ValueError(f"{entry!r} is not an IP address or network") from exc
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


# --- billing (issue 8): provider usage/billing APIs, each enabled only when its section is present ---


def _base_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value.rstrip("/")


class _BillingProvider(_Strict):
    # Proxies, regions and tests point this elsewhere; the default is the real endpoint.
    api_base_url: str

    @field_validator("api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _base_url(value)

    def secrets(self) -> list[str]:
        return [
            value.get_secret_value()
            for value in self.__dict__.values()
            if isinstance(value, SecretStr) and value.get_secret_value()
        ]


class LiveKitCloudBilling(_BillingProvider):
    """LiveKit Cloud Analytics API (Scale plan or higher): sessions list and session details."""

    api_base_url: str = "https://cloud-api.livekit.io"
    project_id: str = Field(min_length=1)  # p_…, from the dashboard URL
    api_key: str = Field(min_length=1)
    api_secret: SecretStr
    page_size: int = Field(default=100, ge=1, le=1000)


class AgoraBilling(_BillingProvider):
    """Agora usage API (/dev/v3/usage), HTTP Basic with the Customer ID and Customer Secret."""

    api_base_url: str = "https://api.agora.io"
    customer_id: str = Field(min_length=1)
    customer_secret: SecretStr
    project_ids: list[str] = Field(min_length=1)
    business: list[str] = ["default"]


class CloudflareBilling(_BillingProvider):
    """Cloudflare GraphQL Analytics (Stream minutes viewed, Realtime bytes) and Stream storage."""

    api_base_url: str = "https://api.cloudflare.com/client/v4"
    account_id: str = Field(min_length=1)
    api_token: SecretStr
    stream: bool = True
    realtime: bool = True


class AwsBilling(_BillingProvider):
    """AWS Cost Explorer (Amazon IVS money by usage type) and CloudWatch AWS/IVS metrics."""

    api_base_url: str = "https://ce.us-east-1.amazonaws.com"  # Cost Explorer
    cloudwatch_url: str = ""  # empty: https://monitoring.<region>.amazonaws.com
    region: str = "us-east-1"
    access_key_id: str = Field(min_length=1)
    secret_access_key: SecretStr
    session_token: SecretStr | None = None
    service_name: str = "Amazon Interactive Video Service"
    channel_arns: list[str] = []  # empty: discovered with ListMetrics

    @field_validator("cloudwatch_url")
    @classmethod
    def _optional_url(cls, value: str) -> str:
        return _base_url(value) if value else value

    def secrets(self) -> list[str]:
        values = [self.secret_access_key.get_secret_value()]
        if self.session_token is not None:
            values.append(self.session_token.get_secret_value())
        return [v for v in values if v]


class HetznerBilling(_BillingProvider):
    """Hetzner Cloud API: /v1/servers (traffic) and /v1/pricing (EUR, converted at eur_usd)."""

    api_base_url: str = "https://api.hetzner.cloud/v1"
    api_token: SecretStr
    # ECB reference rate of 2026-05-27 (https://www.ecb.europa.eu); set your own.
    eur_usd: float = Field(default=1.1637, gt=0, le=10)


class BillingSettings(_Strict):
    livekit_cloud: LiveKitCloudBilling | None = None
    agora: AgoraBilling | None = None
    cloudflare: CloudflareBilling | None = None
    aws: AwsBilling | None = None
    hetzner: HetznerBilling | None = None
    interval_h: float = Field(default=24.0, gt=0, le=24 * 31)
    # Days re-fetched on every run: providers correct past days late.
    lookback_days: int = Field(default=3, ge=1, le=90)
    # First run with no --since: how far back to backfill.
    backfill_days: int = Field(default=30, ge=1, le=400)
    http_timeout_s: float = Field(default=30.0, gt=0, le=600)
    max_attempts: int = Field(default=5, ge=1, le=20)
    max_backoff_s: float = Field(default=120.0, gt=0, le=3600)
    # The Billing page warns when billed and modeled money differ by more than this share.
    variance_warn_share: float = Field(default=0.10, ge=0, le=10)

    def configured(self) -> dict[str, _BillingProvider]:
        """The providers whose credentials are configured, by provider id."""
        candidates: dict[str, _BillingProvider | None] = {
            "livekit_cloud": self.livekit_cloud,
            "agora": self.agora,
            "cloudflare": self.cloudflare,
            "aws": self.aws,
            "hetzner": self.hetzner,
        }
        return {name: provider for name, provider in candidates.items() if provider is not None}


# --- the whole audience (issue 17): live audience/relay APIs, one [[kind]] list entry per account ---


class _AudienceSource(_Strict):
    """What every audience API source shares: a unique name and the API's base URL."""

    name: str = Field(min_length=1, max_length=100)
    api_base_url: str

    @field_validator("api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _base_url(value)

    @property
    def url(self) -> str:
        return self.api_base_url

    def secrets(self) -> list[str]:
        return [
            value.get_secret_value()
            for value in self.__dict__.values()
            if isinstance(value, SecretStr) and value.get_secret_value()
        ]


class AgoraRecordingSession(_Strict):
    """A Cloud Recording session to follow (only whoever started it knows its ids)."""

    channel: str = Field(min_length=1)
    resource_id: str = Field(min_length=1)
    sid: str = Field(min_length=1)
    mode: Literal["individual", "mix", "web"] = "mix"


class AgoraSource(_AudienceSource):
    """Agora: Channel Management (online channels, hosts, audience), Media Push converters and
    Cloud Recording sessions, HTTP Basic with the Customer ID and Customer Secret."""

    api_base_url: str = "https://api.agora.io"
    app_id: str = Field(min_length=1)
    customer_id: str = Field(min_length=1)
    customer_secret: SecretStr
    page_size: int = Field(default=100, ge=1, le=500)
    # User-list calls per poll at most (Agora allows 20 QPS per account for these queries):
    # the busiest channels first, the rest named in the poll's warning.
    channel_lookups_per_poll: int = Field(default=50, ge=0, le=1000)
    media_push: bool = True
    recordings: list[AgoraRecordingSession] = []


class CloudflareStreamSource(_AudienceSource):
    """Cloudflare Stream live inputs (state, recent errors), live viewers per input (the customer
    subdomain's /views) and minutes viewed (GraphQL Analytics), with an API token."""

    api_base_url: str = "https://api.cloudflare.com/client/v4"
    account_id: str = Field(min_length=1)
    api_token: SecretStr
    # https://customer-<CODE>.cloudflarestream.com; empty: live viewers are not read.
    customer_base_url: str = ""
    # live input uid -> channel; inputs not listed map by meta.name (else their uid).
    channels: dict[str, str] = {}
    minutes_viewed: bool = True

    @field_validator("customer_base_url")
    @classmethod
    def _optional_url(cls, value: str) -> str:
        return _base_url(value) if value else value


class IvsSource(_AudienceSource):
    """Amazon IVS live streams (ListStreams/GetStream, ListChannels) and CloudWatch
    ConcurrentViews, through boto3."""

    api_base_url: str = ""  # empty: https://ivs.<region>.amazonaws.com
    cloudwatch_url: str = ""  # empty: https://monitoring.<region>.amazonaws.com
    region: str = Field(default="us-east-1", pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")
    access_key_id: str = Field(min_length=1)
    secret_access_key: SecretStr
    session_token: SecretStr | None = None
    # channel ARN -> channel; channels not listed map by their tag "channel", else their name.
    channels: dict[str, str] = {}
    concurrent_views: bool = True

    @field_validator("api_base_url", "cloudwatch_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _base_url(value) if value else value

    @property
    def url(self) -> str:
        return self.api_base_url or f"https://ivs.{self.region}.amazonaws.com"

    def secrets(self) -> list[str]:
        values = [self.secret_access_key.get_secret_value()]
        if self.session_token is not None:
            values.append(self.session_token.get_secret_value())
        return [v for v in values if v]


_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class AlertmanagerSettings(_Strict):
    """Alertmanager API v2 endpoints live alerts are posted to (collectors/alertmanager.py)."""

    urls: list[str] = []  # e.g. ["http://127.0.0.1:9093"]; every one gets every alert (an HA pair)
    # Firing alerts are re-sent this often (Alertmanager resolves an alert whose endsAt passes).
    resend_interval_s: float = Field(default=60.0, gt=0, le=3600)
    # Resolved alerts are re-sent for this long after they resolved (as Prometheus does).
    resolved_resend_s: float = Field(default=900.0, ge=0, le=86_400)
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    attempts: int = Field(default=3, ge=1, le=20)
    max_backoff_s: float = Field(default=10.0, gt=0, le=600)
    # Added to every alert's labels (like Prometheus's external_labels), e.g. {cluster = "eu-1"}.
    labels: dict[str, str] = {}

    @field_validator("urls")
    @classmethod
    def _http_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{url!r} must start with http:// or https://")
        return [url.rstrip("/") for url in value]

    @field_validator("labels")
    @classmethod
    def _label_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _LABEL_NAME.match(name) or name.startswith("__"):
                raise ValueError(f"{name!r} is not a Prometheus label name")
        return value


class AlertSettings(_Strict):
    """Live alerting (collectors/alerting.py, issue 7)."""

    enabled: bool = True
    rules_file: str = "rules/castmeter.rules.example.yaml"
    # How often rules are evaluated; the rules file's evaluation_interval is used when unset.
    eval_interval_s: float | None = Field(default=None, gt=0, le=3600)
    webhook_url: str | None = None  # generic JSON receiver
    slack_webhook_url: SecretStr | None = None  # Slack-compatible incoming webhook (a secret)
    notify_timeout_s: float = Field(default=10.0, gt=0, le=300)
    notify_attempts: int = Field(default=5, ge=1, le=50)
    notify_max_backoff_s: float = Field(default=60.0, gt=0, le=3600)
    notify_queue_size: int = Field(default=1000, ge=1, le=1_000_000)
    # Where the dashboard is reached: alerts link back to it (Alertmanager's generatorURL).
    dashboard_url: str = "http://127.0.0.1:8501"
    alertmanager: AlertmanagerSettings = AlertmanagerSettings()

    @field_validator("dashboard_url")
    @classmethod
    def _dashboard_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value


class MetricsSettings(_Strict):
    """castmeter's own Prometheus metrics, served by the collectors (collectors/self_metrics.py)."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=9465, ge=0, le=65535)  # 0: any free port (logged)
    # Cost and usage series (castmeter_cost_usd_per_hour, ...): the trailing window they price,
    # and how often they are recomputed (in the background, never in a collection tick).
    cost_window_s: float = Field(default=3600.0, ge=60, le=31 * 86_400)
    cost_refresh_s: float = Field(default=60.0, ge=1, le=86_400)


class PriceSettings(_Strict):
    """Negotiated rates (rate id -> value in the rate's own unit) and the model the fleet runs on."""

    overrides: dict[str, float] = {}
    # The price models of analytics/pricing_models (core cannot import analytics; a test keeps the
    # two lists equal).
    current_model: Literal[
        "livekit_cloud",
        "livekit_self_hosted",
        "agora",
        "agora_legacy",
        "cloudflare_stream",
        "amazon_ivs",
        "hybrid_livekit_hls",
        "hybrid_agora_cloudflare",
    ] = "livekit_cloud"
    # Agora's audience product for measured usage (castmeter cannot see it): Broadcast Streaming
    # audiences convert at their own ratios, Interactive Live Streaming audiences pay host rates.
    audience_product: Literal["broadcast", "interactive"] = "broadcast"

    @field_validator("overrides")
    @classmethod
    def _known_rates(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            return value
        # The catalogue is data (analytics/prices/*.yaml); validate ids and values against it now,
        # so a typo stops start-up instead of silently pricing at list rates.
        from analytics.prices.catalogue import CatalogueError, load_catalogue

        try:
            load_catalogue(value)
        except CatalogueError as exc:
            raise ValueError(str(exc).removeprefix("prices.overrides: ")) from None
        return value


# The settings' source lists, in the order their names are checked for uniqueness.
SOURCE_KINDS = ("livekit", "prometheus", "agora", "cloudflare_stream", "ivs", "hls_logs")


class Settings(_Strict):
    database: DatabaseSettings = DatabaseSettings()
    collectors: CollectorSettings = CollectorSettings()
    livekit: list[LiveKitSource] = []
    prometheus: list[PrometheusSource] = []
    agora: list[AgoraSource] = []
    cloudflare_stream: list[CloudflareStreamSource] = []
    ivs: list[IvsSource] = []
    hls_logs: list[HlsLogSource] = []
    webhooks: WebhookSettings = WebhookSettings()
    retention: RetentionSettings = RetentionSettings()
    dashboard: DashboardSettings = DashboardSettings()
    billing: BillingSettings = BillingSettings()
    alerts: AlertSettings = AlertSettings()
    prices: PriceSettings = PriceSettings()
    metrics: MetricsSettings = MetricsSettings()
    # Where the settings came from, for messages ("defaults" or a file path).
    origin: str = "defaults"
    mode: Literal["configured", "demo"] = "configured"

    @field_validator(*SOURCE_KINDS)
    @classmethod
    def _unique_names(cls, value: list[Any]) -> list[Any]:
        names = [source.name for source in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique, repeated: {', '.join(duplicates)}")
        return value

    @model_validator(mode="after")
    def _names_unique_across_kinds(self) -> Settings:
        """The store keeps each source under its name (one ``sources`` row: its kind, health,
        ownership lease, and the samples that name it): a LiveKit and a Prometheus source of one
        name would share that row, each overwriting the other's kind and health."""
        first: dict[str, str] = {}
        for kind in SOURCE_KINDS:
            for index, source in enumerate(getattr(self, kind)):
                key = f"{kind}.{index}.name"
                if source.name in first:
                    raise ValueError(
                        f"{key}: {source.name!r} is already the name of {first[source.name]}; "
                        "every source needs its own name (the store keeps each source's data by name)"
                    )
                first[source.name] = key
        return self

    @property
    def has_sources(self) -> bool:
        return bool(self.livekit or self.prometheus or self.audience_sources or self.hls_logs)

    @property
    def audience_sources(self) -> list[_AudienceSource]:
        """The audience API sources (Agora, Cloudflare Stream, Amazon IVS), in settings order."""
        return [*self.agora, *self.cloudflare_stream, *self.ivs]


def _format_validation_error(error: ValidationError, origin: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        # Never echo the offending value: it may be a secret. A check across keys names its own.
        lines.append(f"{key}: {message}" if key else message)
    return f"invalid configuration in {origin}: " + "; ".join(lines)


def _apply_env(data: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    data = dict(data)
    if env.get(ENV_DB_URL):
        data["database"] = {**data.get("database", {}), "url": env[ENV_DB_URL]}
    lk_env = {
        "url": env.get(ENV_LIVEKIT_URL),
        "api_key": env.get(ENV_LIVEKIT_KEY),
        "api_secret": env.get(ENV_LIVEKIT_SECRET),
    }
    if any(lk_env.values()):
        sources = [dict(s) for s in data.get("livekit", [])]
        first = sources[0] if sources else {"name": "livekit"}
        first.update({k: v for k, v in lk_env.items() if v})
        data["livekit"] = [first, *sources[1:]]
    if env.get(ENV_PROMETHEUS_URL):
        sources = [dict(s) for s in data.get("prometheus", [])]
        first = sources[0] if sources else {"name": "prometheus"}
        first["url"] = env[ENV_PROMETHEUS_URL]
        data["prometheus"] = [first, *sources[1:]]
    if env.get(ENV_METRICS_PORT):
        # Validated with the rest (a bad value names metrics.port).
        data["metrics"] = {**data.get("metrics", {}), "port": env[ENV_METRICS_PORT]}
    return data


def load_settings(path: str | Path | None = None, env: dict[str, str] | None = None) -> Settings:
    """Build the settings from ``path`` (or $CASTMETER_CONFIG, or ./castmeter.toml) and env."""
    env = dict(os.environ) if env is None else env
    origin = "defaults"
    data: dict[str, Any] = {}
    candidate = Path(path) if path else (Path(env[ENV_CONFIG]) if env.get(ENV_CONFIG) else None)
    if candidate is None:
        candidate = next((p for p in DEFAULT_CONFIG_PATHS if p.exists()), None)
    elif not candidate.exists():
        raise ConfigError(f"config file not found: {candidate}")
    if candidate is not None:
        origin = str(candidate)
        try:
            data = tomllib.loads(candidate.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML in {origin}: {exc}") from exc
    data = _apply_env(data, env)
    data["origin"] = origin
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, origin)) from None


def _url_password(url: str) -> str | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        password = make_url(url).password
        return None if password is None else str(password)
    except ArgumentError:
        return None


def secret_values(settings: Settings) -> list[str]:
    """Every secret in the settings, for redaction of logs and output."""
    values = [s.api_secret.get_secret_value() for s in settings.livekit if s.api_secret]
    database_password = _url_password(settings.database.url)
    if database_password:
        values.append(database_password)
    for provider in settings.billing.configured().values():
        values.extend(provider.secrets())
    for source in settings.audience_sources:
        values.extend(source.secrets())
    for hls_source in settings.hls_logs:
        values.extend(hls_source.secrets())
    if settings.alerts.slack_webhook_url is not None:
        values.append(settings.alerts.slack_webhook_url.get_secret_value())
    for url in settings.alerts.alertmanager.urls:
        password = urlsplit(url).password
        if password:
            values.append(password)
    return values
