"""What the audience API clients share: the snapshot they return, a short retry policy (the
runner's backoff takes over from a failed poll), and the sink URL without its stream key."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from collectors.billing.base import HttpClient, RetryPolicy
from core.settings import CollectorSettings
from store.audience import AudienceSample, RelaySample

# Retries inside one poll stay short: a poll that still fails is a failed poll, and the runner
# backs the source off (collectors/health.py) instead of one tick waiting minutes.
POLL_ATTEMPTS = 3
POLL_BACKOFF_INITIAL_S = 0.5
POLL_MAX_BACKOFF_S = 5.0
MAX_PAGES = 200  # every paged listing stops here (and says so) whatever the API answers


@dataclass
class AudienceSnapshot:
    """What one poll of an audience API saw: audience samples by channel and relay samples."""

    ts: int
    audience: list[AudienceSample] = field(default_factory=list)
    relays: list[RelaySample] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    api_calls: int = 0

    @property
    def row_count(self) -> int:
        return len(self.audience) + len(self.relays)


def poll_policy() -> RetryPolicy:
    return RetryPolicy(
        max_attempts=POLL_ATTEMPTS, backoff_initial_s=POLL_BACKOFF_INITIAL_S, max_backoff_s=POLL_MAX_BACKOFF_S
    )


def http_client(
    label: str,
    base_url: str,
    collectors: CollectorSettings,
    *,
    secrets: list[str],
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    policy: RetryPolicy | None = None,
) -> HttpClient:
    """The billing clients' HTTP client (retries, Retry-After, credential-free errors)."""
    return HttpClient(
        label,
        base_url,
        headers=headers,
        auth=auth,
        timeout_s=collectors.http_timeout_s,
        policy=policy or poll_policy(),
        secrets=secrets,
    )


def sink_without_key(url: str) -> str:
    """An RTMP(S)/SRT push URL without what authorises it: no user:password, no query string, and
    the last path segment (the stream key by every provider's convention) replaced by ``…``."""
    text = (url or "").strip()
    if not text:
        return ""
    parts = urlsplit(text)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    path = parts.path
    if "/" in path.strip("/"):
        path = path[: path.rstrip("/").rfind("/") + 1] + "…"
    elif path.strip("/"):
        path = "/…"
    return urlunsplit((parts.scheme, host, path, "", ""))


def label(kind: str, name: str) -> str:
    """How a source is named in its messages: ``agora source 'demo-agora'``."""
    return f"{kind} source {name!r}"
