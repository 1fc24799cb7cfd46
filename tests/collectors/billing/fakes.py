"""Local stand-ins for the providers' APIs (pytest-httpserver handlers) serving the documented
response shapes (the sources in docs/ARCHITECTURE.md, Facts; each client's docstring), plus
helpers."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from collectors.billing.base import BillingRow

NOW_TS = 1795176000  # 2026-11-20 12:00 UTC
TODAY = date(2026, 11, 20)
GOLDEN = Path(__file__).parent / "golden"

LK_PROJECT = "p_test"
LK_SECRET = "lk-secret-do-not-log-0123456789abcdef"
AGORA_ID = "agora-customer"
AGORA_SECRET = "agora-secret-do-not-log"
CF_ACCOUNT = "cf-account"
CF_TOKEN = "cf-token-do-not-log"
HZ_TOKEN = "hetzner-token-do-not-log"
AWS_SECRET = "aws-secret-do-not-log"


def ts(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")


def assert_golden(name: str, rows: list[BillingRow]) -> None:
    """Compare normalized rows with golden/<name>.json (UPDATE_GOLDEN=1 rewrites it)."""
    path = GOLDEN / f"{name}.json"
    actual = [row.as_dict() for row in rows]
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(actual, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert actual == expected


# ---------------------------------------------------------------------------------------------
# LiveKit Cloud Analytics API
# ---------------------------------------------------------------------------------------------

LK_SESSIONS = [
    # Two sessions on 11-19, one on 11-20, one on 11-17 (outside a 11-18.. range).
    {"sessionId": "RM_a", "roomName": "radio-1", "createdAt": "2026-11-19T08:00:00Z", "lastActive": "2026-11-19T09:00:00Z",
     "bandwidthIn": 1_000_000, "bandwidthOut": 250_000_000, "egress": 0, "numParticipants": 3, "numActiveParticipants": 0},
    {"sessionId": "RM_b", "roomName": "radio-2", "createdAt": "2026-11-19T10:00:00Z", "lastActive": "2026-11-19T10:30:00Z",
     "bandwidthIn": 500_000, "bandwidthOut": 120_000_000, "egress": 2, "numParticipants": 2, "numActiveParticipants": 0},
    {"sessionId": "RM_c", "roomName": "radio-1", "createdAt": "2026-11-20T07:00:00Z", "lastActive": "2026-11-20T07:10:00Z",
     "bandwidthIn": "2000", "bandwidthOut": "3000000", "egress": 0, "numParticipants": 1, "numActiveParticipants": 1},
    {"sessionId": "RM_old", "roomName": "radio-9", "createdAt": "2026-11-17T23:00:00Z", "lastActive": "2026-11-17T23:30:00Z",
     "bandwidthIn": 1, "bandwidthOut": 1, "egress": 0, "numParticipants": 1, "numActiveParticipants": 0},
]  # fmt: skip

LK_DETAILS = {
    "RM_a": {"roomId": "RM_a", "roomName": "radio-1", "status": 0, "bandwidth": 251_000_000,
             "startTime": "2026-11-19T08:00:00Z", "endTime": "2026-11-19T09:00:00Z", "connectionMinutes": 999,
             "participants": [
                 # 10 s → 1 min; 70 s → 2 min; 1 h → 60 min (rounded up per connection)
                 {"participantIdentity": "host", "joinedAt": "2026-11-19T08:00:00Z", "leftAt": "2026-11-19T09:00:00Z", "isActive": False},
                 {"participantIdentity": "l1", "joinedAt": "2026-11-19T08:10:00Z", "leftAt": "2026-11-19T08:10:10Z", "isActive": False},
                 {"participantIdentity": "l2", "joinedAt": "2026-11-19T08:20:00Z", "leftAt": "2026-11-19T08:21:10Z", "isActive": False},
             ]},
    # An older page version used snake_case, and no participants: connection_minutes is used.
    "RM_b": {"room_id": "RM_b", "room_name": "radio-2", "status": 0, "bandwidth": 120_500_000,
             "start_time": "2026-11-19T10:00:00Z", "end_time": "2026-11-19T10:30:00Z", "connection_minutes": 45},
    "RM_c": {"roomId": "RM_c", "roomName": "radio-1", "status": 1, "startTime": "2026-11-20T07:00:00Z",
             "participants": [{"participantIdentity": "host", "joinedAt": 1795158000, "leftAt": 1795158600}]},
}  # fmt: skip


def serve_livekit(
    server: HTTPServer, sessions: list[dict[str, Any]] | None = None, details: dict[str, Any] | None = None
) -> None:
    sessions = LK_SESSIONS if sessions is None else sessions
    details = LK_DETAILS if details is None else details
    base = f"/api/project/{LK_PROJECT}/sessions"

    def list_handler(request: Request) -> Response:
        assert request.headers.get("Authorization", "").startswith("Bearer ")
        limit, page = int(request.args["limit"]), int(request.args["page"])
        return json_response({"sessions": sessions[page * limit : (page + 1) * limit]})

    server.expect_request(base).respond_with_handler(list_handler)
    for session_id, detail in details.items():
        server.expect_request(f"{base}/{session_id}").respond_with_json(detail)


# ---------------------------------------------------------------------------------------------
# Agora
# ---------------------------------------------------------------------------------------------

AGORA_USAGES = {
    "2026-11-18": {"durationAudioAll": 779, "durationVideoHd": 60, "durationVideoHdp": 0, "durationVideo1080P": 0, "durationVideo2K": 0, "durationVideo4K": 0},
    "2026-11-19": {"durationAudioAll": 36000, "durationVideoHd": 0, "durationVideoHdp": 0, "durationVideo1080P": 120, "durationVideo2K": 0, "durationVideo4K": 30},
    "2026-11-20": {"durationAudioAll": 600},  # a partial day with fields missing
}  # fmt: skip


def serve_agora(server: HTTPServer, usages: dict[str, dict[str, int]] | None = None) -> None:
    usages = AGORA_USAGES if usages is None else usages
    expected_auth = "Basic " + base64.b64encode(f"{AGORA_ID}:{AGORA_SECRET}".encode()).decode()

    def handler(request: Request) -> Response:
        if request.headers.get("Authorization") != expected_auth:
            return json_response({"message": "invalid credentials"}, 401)
        first, last = request.args["from_date"], request.args["to_date"]
        entries = [
            {"date": f"{day}T00:00:00.000Z", "usage": usage}
            for day, usage in sorted(usages.items())
            if first <= day <= last
        ]
        meta = {"durationAudioAll": {"en": "Audio", "unit": "second"}}
        return json_response({"meta": meta, "usages": entries})

    server.expect_request("/dev/v3/usage").respond_with_handler(handler)


# ---------------------------------------------------------------------------------------------
# Cloudflare
# ---------------------------------------------------------------------------------------------

CF_STREAM = [
    {"dimensions": {"date": "2026-11-18", "uid": "vid1"}, "sum": {"minutesViewed": 2234}},
    {"dimensions": {"date": "2026-11-19", "uid": "vid1"}, "sum": {"minutesViewed": 1000}},
    {"dimensions": {"date": "2026-11-19", "uid": "vid2"}, "sum": {"minutesViewed": 66}},
]
CF_SFU = [
    {
        "dimensions": {"date": "2026-11-19"},
        "sum": {"egressBytes": 5_000_000_000, "ingressBytes": 1_000_000_000},
    }
]
CF_TURN = [{"dimensions": {"date": "2026-11-19"}, "sum": {"egressBytes": 250_000_000, "ingressBytes": 0}}]


def serve_cloudflare(
    server: HTTPServer,
    stream: list[dict[str, Any]] | None = None,
    realtime: bool = True,
    storage_minutes: float = 12_345.5,
) -> list[dict[str, Any]]:
    """Returns the list of GraphQL variables received (for chunking assertions)."""
    stream = CF_STREAM if stream is None else stream
    received: list[dict[str, Any]] = []

    def graphql(request: Request) -> Response:
        body = request.get_json()
        variables = body["variables"]
        received.append(variables)
        query = body["query"]
        start, end = variables["start"], variables["end"]

        def window(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [g for g in groups if start <= g["dimensions"]["date"] < end][: variables["limit"]]

        if "streamMinutesViewedAdaptiveGroups" in query:
            account = {"streamMinutesViewedAdaptiveGroups": window(stream)}
        elif not realtime:
            return json_response(
                {"data": None, "errors": [{"message": 'unknown field "callsUsageAdaptiveGroups"'}]}
            )
        elif "callsTurnUsageAdaptiveGroups" in query:
            account = {"callsTurnUsageAdaptiveGroups": window(CF_TURN)}
        else:
            account = {"callsUsageAdaptiveGroups": window(CF_SFU)}
        return json_response({"data": {"viewer": {"accounts": [account]}}, "errors": None})

    server.expect_request("/graphql", method="POST").respond_with_handler(graphql)
    server.expect_request(f"/accounts/{CF_ACCOUNT}/stream/storage-usage").respond_with_json(
        {"success": True, "errors": [], "messages": [],
         "result": {"creator": "", "totalStorageMinutes": storage_minutes, "totalStorageMinutesLimit": 20000, "videoCount": 12}}
    )  # fmt: skip
    return received


# ---------------------------------------------------------------------------------------------
# Hetzner
# ---------------------------------------------------------------------------------------------

TIB20 = 21_990_232_555_520
HZ_PRICING = {
    "pricing": {
        "currency": "EUR",
        "vat_rate": "19.00",
        "server_types": [
            {"name": "cx33", "prices": [
                {"location": "fsn1", "price_hourly": {"net": "0.0104", "gross": "0.0124"},
                 "price_monthly": {"net": "6.4900", "gross": "7.7231"}, "included_traffic": TIB20,
                 "price_per_tb_traffic": {"net": "1.0000", "gross": "1.1900"}}]},
        ],
    }
}  # fmt: skip
HZ_SERVERS = [
    # Created before the month: capped at the monthly price; 25 TB out → ~3.01 TB overage.
    {"id": 1, "name": "sfu-1", "created": "2026-01-01T00:00:00+00:00", "server_type": {"name": "cx33"},
     "datacenter": {"name": "fsn1-dc14", "location": {"name": "fsn1"}},
     "outgoing_traffic": 25_000_000_000_000, "ingoing_traffic": 1_000_000_000, "included_traffic": TIB20},
    # Created on the 20th at 00:00: 12 h so far; traffic null (not reported yet).
    {"id": 2, "name": "sfu-2", "created": "2026-11-20T00:00:00+00:00", "server_type": {"name": "cx33"},
     "datacenter": {"name": "fsn1-dc14", "location": {"name": "fsn1"}},
     "outgoing_traffic": None, "ingoing_traffic": None, "included_traffic": TIB20},
]  # fmt: skip


def serve_hetzner(server: HTTPServer, servers: list[dict[str, Any]] | None = None) -> None:
    servers = HZ_SERVERS if servers is None else servers

    def servers_handler(request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {HZ_TOKEN}":
            return json_response(
                {"error": {"code": "unauthorized", "message": "unable to authenticate"}}, 401
            )
        page = int(request.args.get("page", 1))
        chunk = servers[page - 1 : page]  # one server per page: exercises paging
        next_page = page + 1 if page < len(servers) else None
        return json_response(
            {"servers": chunk, "meta": {"pagination": {"page": page, "next_page": next_page}}}
        )

    server.expect_request("/servers").respond_with_handler(servers_handler)
    server.expect_request("/pricing").respond_with_json(HZ_PRICING)


# ---------------------------------------------------------------------------------------------
# AWS (Cost Explorer JSON 1.1, CloudWatch JSON 1.0 protocol) on a local server
# ---------------------------------------------------------------------------------------------

CE_RESULTS = [
    {"TimePeriod": {"Start": "2026-11-18", "End": "2026-11-19"}, "Total": {}, "Estimated": False, "Groups": [
        {"Keys": ["USE1-LowLatency-Output-HD"], "Metrics": {"UnblendedCost": {"Amount": "1.44", "Unit": "USD"}, "UsageQuantity": {"Amount": "20", "Unit": "Hours"}}},
        {"Keys": ["USE1-LowLatency-Input-Advanced-HD"], "Metrics": {"UnblendedCost": {"Amount": "0.85", "Unit": "USD"}, "UsageQuantity": {"Amount": "1", "Unit": "Hours"}}}]},
    {"TimePeriod": {"Start": "2026-11-19", "End": "2026-11-20"}, "Total": {}, "Estimated": True, "Groups": [
        {"Keys": ["USE1-LowLatency-Output-HD"], "Metrics": {"UnblendedCost": {"Amount": "0.72", "Unit": "USD"}, "UsageQuantity": {"Amount": "10", "Unit": "Hours"}}}]},
]  # fmt: skip
IVS_CHANNEL = "arn:aws:ivs:us-east-1:123456789012:channel/abcd"


def aws_handler(ce_pages: list[dict[str, Any]] | None = None) -> Callable[[Request], Response]:
    """One handler for both services, dispatching on X-Amz-Target."""
    ce_results = CE_RESULTS if ce_pages is None else ce_pages

    def handler(request: Request) -> Response:
        target = request.headers.get("X-Amz-Target", "")
        body = json.loads(request.get_data() or b"{}")
        headers = {"x-amzn-RequestId": "test"}
        if target == "AWSInsightsIndexService.GetCostAndUsage":
            # Two pages: one result per page.
            index = int(body.get("NextPageToken") or 0)
            page: dict[str, Any] = {
                "ResultsByTime": ce_results[index : index + 1],
                "DimensionValueAttributes": [],
            }
            if index + 1 < len(ce_results):
                page["NextPageToken"] = str(index + 1)
            return Response(json.dumps(page), headers=headers, content_type="application/x-amz-json-1.1")
        if target == "GraniteServiceVersion20100801.ListMetrics":
            metrics = [
                {
                    "Namespace": "AWS/IVS",
                    "MetricName": "LiveDeliveredTime",
                    "Dimensions": [{"Name": "Channel", "Value": IVS_CHANNEL}],
                }
            ]
            return Response(
                json.dumps({"Metrics": metrics}), headers=headers, content_type="application/x-amz-json-1.0"
            )
        if target == "GraniteServiceVersion20100801.GetMetricData":
            results = []
            for query in body["MetricDataQueries"]:
                name = query["MetricStat"]["Metric"]["MetricName"]
                values = [36000.0, 18000.0] if name == "LiveDeliveredTime" else [42.0, 17.0]
                results.append({"Id": query["Id"], "Label": name, "StatusCode": "Complete",
                                "Timestamps": [ts("2026-11-18T00:00:00"), ts("2026-11-19T00:00:00")], "Values": values})  # fmt: skip
            return Response(json.dumps({"MetricDataResults": results, "Messages": []}), headers=headers,
                            content_type="application/x-amz-json-1.0")  # fmt: skip
        return Response(json.dumps({"__type": "UnknownOperationException"}), status=400, headers=headers)

    return handler
