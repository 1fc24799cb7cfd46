"""Each HTTP client against a local server serving the documented shapes, with golden rows."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pydantic import SecretStr
from pytest_httpserver import HTTPServer

from collectors.billing.agora import AgoraCollector
from collectors.billing.base import BillingAuthError, BillingResponseError, PartUnavailable, RetryPolicy
from collectors.billing.cloudflare import CloudflareCollector
from collectors.billing.hetzner import HetznerCollector
from collectors.billing.livekit_cloud import LiveKitCloudCollector
from core.settings import AgoraBilling, CloudflareBilling, HetznerBilling, LiveKitCloudBilling
from tests.collectors.billing import fakes
from tests.collectors.billing.fakes import NOW_TS, TODAY, assert_golden

START = date(2026, 11, 18)


def livekit(server: HTTPServer, policy: RetryPolicy) -> LiveKitCloudCollector:
    config = LiveKitCloudBilling(
        api_base_url=server.url_for(""), project_id=fakes.LK_PROJECT, api_key="APIkey",
        api_secret=SecretStr(fakes.LK_SECRET), page_size=2,
    )  # fmt: skip
    return LiveKitCloudCollector(config, policy=policy)


def agora(server: HTTPServer, policy: RetryPolicy, secret: str = fakes.AGORA_SECRET) -> AgoraCollector:
    config = AgoraBilling(
        api_base_url=server.url_for(""),
        customer_id=fakes.AGORA_ID,
        customer_secret=SecretStr(secret),
        project_ids=["proj1"],
    )
    return AgoraCollector(config, policy=policy)


def cloudflare(server: HTTPServer, policy: RetryPolicy) -> CloudflareCollector:
    config = CloudflareBilling(
        api_base_url=server.url_for(""), account_id=fakes.CF_ACCOUNT, api_token=SecretStr(fakes.CF_TOKEN)
    )
    return CloudflareCollector(config, policy=policy)


def hetzner(server: HTTPServer, policy: RetryPolicy, token: str = fakes.HZ_TOKEN) -> HetznerCollector:
    return HetznerCollector(
        HetznerBilling(api_base_url=server.url_for(""), api_token=SecretStr(token)), policy=policy
    )


# -- LiveKit Cloud ----------------------------------------------------------------------------


def test_livekit_pages_sessions_and_rounds_each_connection(
    httpserver: HTTPServer, policy: RetryPolicy
) -> None:
    fakes.serve_livekit(httpserver)
    fetched = livekit(httpserver, policy).fetch_part("sessions", START, TODAY, NOW_TS)
    assert fetched.days == [START, date(2026, 11, 19), TODAY]
    assert_golden("livekit_cloud", fetched.rows)
    pages = [r.args["page"] for r, _ in httpserver.log if r.path.endswith("/sessions")]
    assert pages == ["0", "1", "2"]  # 4 sessions at 2 per page: the third page is empty
    by_room = {(r.day, r.metric, r.dimensions["room"]): r.quantity for r in fetched.rows}
    # radio-1 on 11-19: 60 + 1 (10 s) + 2 (70 s) minutes, not the stated 999.
    assert by_room[(date(2026, 11, 19), "connection_min", "radio-1")] == 63
    assert by_room[(date(2026, 11, 19), "connection_min", "radio-2")] == 45
    assert not any(r.dimensions["room"] == "radio-9" for r in fetched.rows)  # 11-17: outside


def test_livekit_scale_plan_refusal_is_named(httpserver: HTTPServer, policy: RetryPolicy) -> None:
    httpserver.expect_request(f"/api/project/{fakes.LK_PROJECT}/sessions").respond_with_json(
        {"error": "analytics requires a scale plan"}, status=403
    )
    with pytest.raises(BillingAuthError) as info:
        livekit(httpserver, policy).fetch_part("sessions", START, TODAY, NOW_TS)
    assert (
        "livekit_cloud" in str(info.value)
        and "Scale plan" in str(info.value)
        and "check the key" in str(info.value)
    )
    assert fakes.LK_SECRET not in str(info.value)


def test_livekit_missing_sessions_field_is_malformed(httpserver: HTTPServer, policy: RetryPolicy) -> None:
    httpserver.expect_request(f"/api/project/{fakes.LK_PROJECT}/sessions").respond_with_json({"items": []})
    with pytest.raises(BillingResponseError, match="no field 'sessions'"):
        livekit(httpserver, policy).fetch_part("sessions", START, TODAY, NOW_TS)


def test_livekit_empty_period(httpserver: HTTPServer, policy: RetryPolicy) -> None:
    fakes.serve_livekit(httpserver, sessions=[], details={})
    fetched = livekit(httpserver, policy).fetch_part("sessions", START, TODAY, NOW_TS)
    assert fetched.rows == [] and len(fetched.days) == 3


# -- Agora --------------------------------------------------------------------------------------


def test_agora_seconds_become_minutes_per_tier(httpserver: HTTPServer, policy: RetryPolicy) -> None:
    fakes.serve_agora(httpserver)
    fetched = agora(httpserver, policy).fetch_part("usage", START, TODAY, NOW_TS)
    assert_golden("agora", fetched.rows)
    request = httpserver.log[0][0]
    assert request.args["from_date"] == "2026-11-18" and request.args["to_date"] == "2026-11-20"
    assert request.args["business"] == "default" and request.args["project_id"] == "proj1"


def test_agora_long_range_is_split_and_empty_period_is_fine(
    httpserver: HTTPServer, policy: RetryPolicy
) -> None:
    fakes.serve_agora(httpserver, usages={})
    fetched = agora(httpserver, policy).fetch_part("usage", TODAY - timedelta(days=69), TODAY, NOW_TS)
    assert fetched.rows == [] and len(fetched.days) == 70
    assert len(httpserver.log) == 3  # 31 + 31 + 8 days


def test_agora_wrong_secret(httpserver: HTTPServer, policy: RetryPolicy) -> None:
    fakes.serve_agora(httpserver)
    with pytest.raises(BillingAuthError, match=r"agora: HTTP 401.*check the key") as info:
        agora(httpserver, policy, secret="wrong-secret-value").fetch_part("usage", START, TODAY, NOW_TS)
    assert "wrong-secret-value" not in str(info.value)


def test_agora_missing_usages_field(httpserver: HTTPServer, policy: RetryPolicy) -> None:
    httpserver.expect_request("/dev/v3/usage").respond_with_json({"meta": {}})
    with pytest.raises(BillingResponseError, match="usages"):
        agora(httpserver, policy).fetch_part("usage", START, TODAY, NOW_TS)


# -- Cloudflare ---------------------------------------------------------------------------------


def test_cloudflare_all_parts_golden(httpserver: HTTPServer, policy: RetryPolicy) -> None:
    fakes.serve_cloudflare(httpserver)
    collector = cloudflare(httpserver, policy)
    assert [p.name for p in collector.parts] == ["stream_minutes", "stream_storage", "realtime"]
    rows = []
    for part in collector.parts:
        fetched = collector.fetch_part(part.name, START, TODAY, NOW_TS)
        assert fetched.days == ([TODAY] if part.snapshot else [START, date(2026, 11, 19), TODAY])
        rows.extend(fetched.rows)
    assert_golden("cloudflare", rows)


def test_cloudflare_queries_at_most_31_days_and_not_past_retention(
    httpserver: HTTPServer, policy: RetryPolicy
) -> None:
    received = fakes.serve_cloudflare(httpserver)
    fetched = cloudflare(httpserver, policy).fetch_part(
        "stream_minutes", TODAY - timedelta(days=200), TODAY, NOW_TS
    )
    assert len(fetched.days) == 90  # retention: older days are not touched
    windows = [(date.fromisoformat(v["start"]), date.fromisoformat(v["end"])) for v in received]
    assert all(0 < (end - start).days <= 31 for start, end in windows)
    assert windows[0][0] == TODAY - timedelta(days=89) and windows[-1][1] == TODAY + timedelta(days=1)


def test_cloudflare_splits_a_window_that_hits_the_group_limit(
    httpserver: HTTPServer, policy: RetryPolicy
) -> None:
    fakes.serve_cloudflare(httpserver)
    collector = cloudflare(httpserver, policy)
    collector.group_limit = 2  # three groups in the window: must split to get them all
    fetched = collector.fetch_part("stream_minutes", START, TODAY, NOW_TS)
    assert sum(r.quantity for r in fetched.rows) == 2234 + 1000 + 66


def test_cloudflare_realtime_unavailable_is_skipped_not_failed(
    httpserver: HTTPServer, policy: RetryPolicy
) -> None:
    fakes.serve_cloudflare(httpserver, realtime=False)
    with pytest.raises(PartUnavailable):
        cloudflare(httpserver, policy).fetch_part("realtime", START, TODAY, NOW_TS)


def test_cloudflare_graphql_auth_error(httpserver: HTTPServer, policy: RetryPolicy) -> None:
    httpserver.expect_request("/graphql").respond_with_json(
        {"data": None, "errors": [{"message": "not authorized for that account"}]}
    )
    with pytest.raises(BillingAuthError, match=r"cloudflare: .*check the key"):
        cloudflare(httpserver, policy).fetch_part("stream_minutes", START, TODAY, NOW_TS)


def test_cloudflare_storage_failure_envelope(httpserver: HTTPServer, policy: RetryPolicy) -> None:
    httpserver.expect_request(f"/accounts/{fakes.CF_ACCOUNT}/stream/storage-usage").respond_with_json(
        {"success": False, "errors": [{"code": 10000, "message": "Stream is not enabled"}], "result": None}
    )
    with pytest.raises(Exception, match="storage-usage failed: Stream is not enabled"):
        cloudflare(httpserver, policy).fetch_part("stream_storage", START, TODAY, NOW_TS)


# -- Hetzner ------------------------------------------------------------------------------------


def test_hetzner_snapshot_golden(httpserver: HTTPServer, policy: RetryPolicy) -> None:
    fakes.serve_hetzner(httpserver)
    fetched = hetzner(httpserver, policy).fetch_part("servers", START, TODAY, NOW_TS)
    assert fetched.days == [TODAY]
    assert_golden("hetzner", fetched.rows)
    by_key = {(r.metric, r.dimensions["server"]): r for r in fetched.rows}
    # 19.5 days into the month at 0.0104 €/h (under the 6.49 € monthly cap)
    assert by_key[("server_hours_mtd", "sfu-1")].quantity == pytest.approx(468.0)
    assert by_key[("server_hours_mtd", "sfu-1")].amount == pytest.approx(min(468 * 0.0104, 6.49))
    assert by_key[("server_hours_mtd", "sfu-2")].quantity == pytest.approx(12.0)
    overage_tb = (25e12 - fakes.TIB20) / 1e12
    assert by_key[("traffic_out_gb_mtd", "sfu-1")].amount == pytest.approx(overage_tb * 1.0)
    assert by_key[("traffic_out_gb_mtd", "sfu-1")].usd == pytest.approx(overage_tb * 1.1637)
    assert ("traffic_out_gb_mtd", "sfu-2") not in by_key  # traffic null: not reported yet


def test_hetzner_bad_token(httpserver: HTTPServer, policy: RetryPolicy) -> None:
    fakes.serve_hetzner(httpserver)
    with pytest.raises(BillingAuthError, match="hetzner: HTTP 401"):
        hetzner(httpserver, policy, token="nope-nope").fetch_part("servers", START, TODAY, NOW_TS)
