from __future__ import annotations

import time
from datetime import date

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from collectors.billing.base import (
    BillingAuthError,
    BillingError,
    BillingResponseError,
    BillingRow,
    HttpClient,
    RetryPolicy,
    chunked_days,
    merge_rows,
    parse_time,
)

SECRET = "super-secret-token-value"


def client(server: HTTPServer, policy: RetryPolicy, timeout_s: float = 5.0) -> HttpClient:
    return HttpClient(
        "acme", server.url_for(""), headers={"Authorization": f"Bearer {SECRET}"}, timeout_s=timeout_s,
        policy=policy, secrets=[SECRET],
    )  # fmt: skip


def test_429_honours_retry_after_then_resumes(
    httpserver: HTTPServer, policy: RetryPolicy, sleeps: list[float]
) -> None:
    httpserver.expect_ordered_request("/x").respond_with_json(
        {"e": 1}, status=429, headers={"Retry-After": "7"}
    )
    httpserver.expect_ordered_request("/x").respond_with_json({"ok": True})
    assert client(httpserver, policy).get_json("/x") == {"ok": True}
    assert sleeps == [7.0]


def test_5xx_backs_off_and_gives_up_with_provider_named(
    httpserver: HTTPServer, policy: RetryPolicy, sleeps: list[float]
) -> None:
    httpserver.expect_request("/x").respond_with_data("oops", status=503)
    with pytest.raises(BillingError, match=r"^acme: HTTP 503 from /x, gave up after 3 attempts"):
        client(httpserver, policy).get_json("/x")
    assert len(sleeps) == 2 and all(0 < s <= 30.0 for s in sleeps)


def test_5xx_then_success(httpserver: HTTPServer, policy: RetryPolicy) -> None:
    httpserver.expect_ordered_request("/x").respond_with_data("", status=502)
    httpserver.expect_ordered_request("/x").respond_with_json([1, 2])
    assert client(httpserver, policy).get_json("/x") == [1, 2]


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_name_provider_and_hint_never_the_key(
    httpserver: HTTPServer, policy: RetryPolicy, sleeps: list[float], status: int
) -> None:
    httpserver.expect_request("/x").respond_with_json({"message": f"bad token {SECRET}"}, status=status)
    with pytest.raises(BillingAuthError) as info:
        client(httpserver, policy).get_json("/x")
    message = str(info.value)
    assert message.startswith("acme:") and "check the key" in message and str(status) in message
    assert SECRET not in message
    assert sleeps == []  # not retried


def test_other_4xx_is_reported_with_secret_redacted(httpserver: HTTPServer, policy: RetryPolicy) -> None:
    httpserver.expect_request("/x").respond_with_json({"message": f"bad param near {SECRET}"}, status=400)
    with pytest.raises(BillingError) as info:
        client(httpserver, policy).get_json("/x")
    assert "HTTP 400" in str(info.value) and "bad param" in str(info.value) and SECRET not in str(info.value)


def test_truncated_json_is_retried_then_reported(httpserver: HTTPServer, policy: RetryPolicy) -> None:
    httpserver.expect_request("/x").respond_with_data(
        '{"sessions": [{"a": 1', content_type="application/json"
    )
    with pytest.raises(BillingResponseError, match="malformed or truncated JSON"):
        client(httpserver, policy).get_json("/x")
    assert len(httpserver.log) == 3


def test_timeout_is_retried(httpserver: HTTPServer, sleeps: list[float]) -> None:
    def slow(_request: Request) -> Response:
        time.sleep(0.5)
        return Response("{}", content_type="application/json")

    httpserver.expect_request("/x").respond_with_handler(slow)
    policy = RetryPolicy(max_attempts=2, backoff_initial_s=0.01, sleep=sleeps.append)
    with pytest.raises(BillingError, match="timed out"):
        client(httpserver, policy, timeout_s=0.1).get_json("/x")
    assert len(sleeps) == 1


def test_connection_refused_is_a_billing_error(policy: RetryPolicy) -> None:
    from harness.realparts import free_port

    http = HttpClient("acme", f"http://127.0.0.1:{free_port()}", policy=policy)
    with pytest.raises(BillingError, match="connection failed"):
        http.get_json("/x")


def test_parse_time_accepts_iso_seconds_and_milliseconds() -> None:
    assert parse_time("2026-11-20T00:00:00Z") == 1795132800
    assert parse_time("2026-11-20T00:00:00.000Z") == 1795132800
    assert parse_time(1795132800) == 1795132800
    assert parse_time(1795132800000) == 1795132800
    assert parse_time("1795132800") == 1795132800
    assert parse_time("yesterday") is None and parse_time(None) is None


def test_chunked_days_respects_the_window() -> None:
    chunks = list(chunked_days(date(2026, 1, 1), date(2026, 3, 5), 31))
    assert chunks[0] == (date(2026, 1, 1), date(2026, 1, 31))
    assert chunks[-1][1] == date(2026, 3, 5)
    assert all((last - first).days < 31 for first, last in chunks)


def test_merge_rows_sums_identical_identities() -> None:
    day = date(2026, 11, 20)
    rows = merge_rows(
        [
            BillingRow("p", day, "m", "min", 1.0, None, {"room": "a"}),
            BillingRow("p", day, "m", "min", 2.0, 0.5, {"room": "a"}),
            BillingRow("p", day, "m", "min", 4.0, None, {"room": "b"}),
        ]
    )
    assert [(r.dimensions["room"], r.quantity, r.usd) for r in rows] == [("a", 3.0, 0.5), ("b", 4.0, None)]
