"""What every billing collector shares: normalized rows, errors, days, and an HTTP client
with paging-friendly JSON calls, retries (429 honours Retry-After, 5xx/timeouts back off)
and error messages that name the provider but never a credential."""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from core.logs import redact

log = logging.getLogger(__name__)

USER_AGENT = "castmeter-billing/1"


# ---------------------------------------------------------------------------------------------
# Normalized rows
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BillingRow:
    """One normalized usage figure: what ``provider`` says was used on ``day`` (UTC)."""

    provider: str
    day: date
    metric: str
    unit: str
    quantity: float
    usd: float | None = None
    dimensions: Mapping[str, str] = field(default_factory=dict)
    # Money as the provider states it when not in USD (Hetzner bills in EUR).
    amount: float | None = None
    currency: str | None = None

    def dims_json(self) -> str:
        return json.dumps(dict(self.dimensions), sort_keys=True, separators=(",", ":"))

    def dims_key(self) -> str:
        return hashlib.sha1(self.dims_json().encode("utf-8")).hexdigest()

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (golden files, --json output)."""
        return {
            "provider": self.provider,
            "day": self.day.isoformat(),
            "metric": self.metric,
            "unit": self.unit,
            "quantity": round(self.quantity, 6),
            "usd": None if self.usd is None else round(self.usd, 6),
            "amount": None if self.amount is None else round(self.amount, 6),
            "currency": self.currency,
            "dimensions": dict(sorted(self.dimensions.items())),
        }


def sorted_rows(rows: Sequence[BillingRow]) -> list[BillingRow]:
    return sorted(rows, key=lambda r: (r.provider, r.day, r.metric, r.dims_json()))


def merge_rows(rows: Sequence[BillingRow]) -> list[BillingRow]:
    """Sum rows with the same identity (provider, day, metric, dimensions): several API records
    (sessions, pages, channels) often land on one normalized row."""
    merged: dict[tuple[str, date, str, str], BillingRow] = {}
    for row in rows:
        key = (row.provider, row.day, row.metric, row.dims_json())
        seen = merged.get(key)
        if seen is None:
            merged[key] = row
            continue
        merged[key] = BillingRow(
            provider=row.provider,
            day=row.day,
            metric=row.metric,
            unit=row.unit,
            quantity=seen.quantity + row.quantity,
            usd=_add_optional(seen.usd, row.usd),
            dimensions=row.dimensions,
            amount=_add_optional(seen.amount, row.amount),
            currency=row.currency or seen.currency,
        )
    return sorted_rows(list(merged.values()))


def _add_optional(a: float | None, b: float | None) -> float | None:
    if a is None and b is None:
        return None
    return (a or 0.0) + (b or 0.0)


# ---------------------------------------------------------------------------------------------
# The collector interface
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """An endpoint family of one provider, fetched and stored as a unit.

    ``snapshot`` parts only know the present (a billing period to date, storage now), so they
    cover the fetch day alone whatever range was asked for."""

    name: str
    snapshot: bool = False


@dataclass(frozen=True)
class Fetched:
    """What one part returned: its rows and the days it covered. Those days' stored rows are
    replaced by these (a covered day without rows had no usage)."""

    rows: list[BillingRow]
    days: list[date]


class BillingCollector(Protocol):
    @property
    def provider(self) -> str: ...

    @property
    def parts(self) -> Sequence[Part]: ...

    def fetch_part(self, part: str, start: date, end: date, now_ts: int) -> Fetched:
        """Rows for the days in [start, end] (inclusive) the API could answer for, or for the
        fetch day alone when the part is a snapshot."""
        ...

    def describe_url(self) -> str:
        """The base URL, for the sources table (never a credential)."""
        ...


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


class BillingError(Exception):
    """A provider call failed; the message names the provider and never a credential."""

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider


class BillingAuthError(BillingError):
    """401/403: the credentials were refused."""


class BillingResponseError(BillingError):
    """The response was not what the API documents (malformed JSON, missing fields)."""


class HttpStatusError(BillingError):
    """Any other non-200 answer (404, 400, ...); ``status`` lets a caller treat one as a state."""

    def __init__(self, provider: str, message: str, status: int) -> None:
        super().__init__(provider, message)
        self.status = status


class PartUnavailable(BillingError):
    """The account does not offer this part (a dataset or product not enabled): skipped, not failed."""


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after_s: float | None = None, malformed: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s
        self.malformed = malformed


# ---------------------------------------------------------------------------------------------
# Days and times
# ---------------------------------------------------------------------------------------------


def utc_day(ts: float) -> date:
    return datetime.fromtimestamp(ts, tz=UTC).date()


def day_start_ts(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def days_between(start: date, end: date) -> list[date]:
    """Every day from start to end, inclusive (empty when end < start)."""
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def chunked_days(start: date, end: date, max_days: int) -> Iterator[tuple[date, date]]:
    """[start, end] in inclusive windows of at most ``max_days`` days."""
    cursor = start
    while cursor <= end:
        last = min(end, cursor + timedelta(days=max_days - 1))
        yield cursor, last
        cursor = last + timedelta(days=1)


def parse_time(value: Any) -> float | None:
    """A provider timestamp as Unix seconds: ISO 8601 text, or a number in s or ms. None if unusable."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
        return number / 1000.0 if number > 1e11 else number  # milliseconds since 1973 are > 1e11
    if isinstance(value, str):
        text = value.strip()
        try:
            return parse_time(float(text))
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    return None


def as_number(value: Any) -> float | None:
    """A numeric field that may arrive as a number or a decimal string ("0.05"); None if not."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------

Sleep = Callable[[float], None]


@dataclass
class RetryPolicy:
    max_attempts: int = 5
    backoff_initial_s: float = 1.0
    max_backoff_s: float = 120.0
    sleep: Sleep = time.sleep


def _retry_after_s(header: str | None) -> float | None:
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - time.time())


class HttpClient:
    """JSON over HTTP for one provider, with retries and credential-free errors."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout_s: float = 30.0,
        policy: RetryPolicy | None = None,
        secrets: Sequence[str] = (),
        auth_hint: Callable[[int, str], str] | None = None,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.policy = policy or RetryPolicy()
        self._secrets = [s for s in secrets if s]
        self._auth_hint = auth_hint
        self._session = requests.Session()
        self._session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        if headers:
            self._session.headers.update(headers)
        if auth:
            self._session.auth = auth
        self.requests_made = 0

    def close(self) -> None:
        self._session.close()

    def clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return redact(text)[:300]

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request_json("GET", path, params=params)

    def post_json(self, path: str, body: Any) -> Any:
        return self.request_json("POST", path, json_body=body)

    def request_json(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json_body: Any = None
    ) -> Any:
        url = self.base_url + path
        retrying = Retrying(
            stop=stop_after_attempt(self.policy.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self.policy.sleep,
            reraise=True,
            before_sleep=self._log_retry,
        )
        try:
            return retrying(self._once, method, url, path, params, json_body)
        except _Retryable as exc:
            attempts = self.policy.max_attempts
            if exc.malformed:
                raise BillingResponseError(
                    self.provider, f"{exc.reason} from {path} ({attempts} attempts)"
                ) from None
            raise BillingError(
                self.provider, f"{exc.reason} from {path}, gave up after {attempts} attempts"
            ) from None

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after_s is not None:
            return min(exc.retry_after_s, self.policy.max_backoff_s)
        fallback = wait_exponential_jitter(
            multiplier=self.policy.backoff_initial_s,
            max=self.policy.max_backoff_s,
            jitter=self.policy.backoff_initial_s,
        )
        return float(fallback(state))

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait_s = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s: %s (attempt %d/%d), retrying in %.1f s",
            self.provider,
            exc,
            state.attempt_number,
            self.policy.max_attempts,
            wait_s,
        )

    def _once(
        self, method: str, url: str, path: str, params: Mapping[str, Any] | None, json_body: Any
    ) -> Any:
        self.requests_made += 1
        try:
            response = self._session.request(
                method, url, params=params, json=json_body, timeout=self.timeout_s
            )
        except requests.Timeout:
            raise _Retryable(f"timed out after {self.timeout_s:g} s") from None
        except requests.ConnectionError as exc:
            raise _Retryable(f"connection failed ({type(exc).__name__})") from None
        status = response.status_code
        if status in (401, 403):
            hint = self._auth_hint(status, response.text) if self._auth_hint else ""
            raise BillingAuthError(
                self.provider, f"HTTP {status} from {path}: credentials refused — check the key{hint}"
            )
        if status == 429:
            raise _Retryable("HTTP 429 rate limited", _retry_after_s(response.headers.get("Retry-After")))
        if status >= 500:
            raise _Retryable(f"HTTP {status}", _retry_after_s(response.headers.get("Retry-After")))
        if status != 200:
            raise HttpStatusError(
                self.provider, f"HTTP {status} from {path}: {self.clean(_error_text(response))}", status
            )
        try:
            return json.loads(response.content)
        except ValueError:
            # A truncated body is often a cut connection: worth another try.
            raise _Retryable("malformed or truncated JSON", malformed=True) from None


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason or ""
    if isinstance(body, dict):
        for key in ("message", "error", "errors", "msg"):
            if body.get(key):
                return str(body[key])
    return str(body)


def require(provider: str, data: Any, *path: str) -> Any:
    """``data[path[0]][path[1]]…`` or a BillingResponseError naming the missing field."""
    current = data
    for index, key in enumerate(path):
        if not isinstance(current, dict) or key not in current:
            where = ".".join(path[: index + 1])
            raise BillingResponseError(provider, f"response has no field {where!r}")
        current = current[key]
    return current
