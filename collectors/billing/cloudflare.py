"""Cloudflare: GraphQL Analytics ``streamMinutesViewedAdaptiveGroups`` (Stream minutes delivered,
at most 31 days per query, 90 days retention), Stream ``storage-usage`` (minutes stored, a
snapshot), and Realtime SFU/TURN egress/ingress bytes where the account has them
(https://developers.cloudflare.com/stream/getting-analytics/fetching-bulk-analytics/). Money is not in these APIs; the reconciliation prices them."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from collectors.billing.base import (
    BillingAuthError,
    BillingError,
    BillingResponseError,
    BillingRow,
    Fetched,
    HttpClient,
    Part,
    PartUnavailable,
    RetryPolicy,
    as_number,
    chunked_days,
    days_between,
    merge_rows,
    parse_time,
    require,
    utc_day,
)
from core.settings import CloudflareBilling

log = logging.getLogger(__name__)

PROVIDER = "cloudflare"
MAX_DAYS_PER_QUERY = 31
RETENTION_DAYS = 90
GROUP_LIMIT = 10_000
BYTES_PER_GB = 1e9

STREAM_QUERY = """
query($accountTag: string!, $start: Date!, $end: Date!, $limit: uint64!) {
  viewer { accounts(filter: {accountTag: $accountTag}) {
    streamMinutesViewedAdaptiveGroups(filter: {date_geq: $start, date_lt: $end},
                                      orderBy: [date_ASC], limit: $limit) {
      sum { minutesViewed } dimensions { date uid }
    } } }
}"""

REALTIME_DATASETS = {"callsUsageAdaptiveGroups": "sfu", "callsTurnUsageAdaptiveGroups": "turn"}
REALTIME_QUERY = """
query($accountTag: string!, $start: Date!, $end: Date!, $limit: uint64!) {
  viewer { accounts(filter: {accountTag: $accountTag}) {
    DATASET(filter: {date_geq: $start, date_lt: $end}, orderBy: [date_ASC], limit: $limit) {
      sum { egressBytes ingressBytes } dimensions { date }
    } } }
}"""


class CloudflareCollector:
    provider = PROVIDER

    def __init__(
        self, config: CloudflareBilling, *, timeout_s: float = 30.0, policy: RetryPolicy | None = None
    ):
        self.config = config
        token = config.api_token.get_secret_value()
        self.http = HttpClient(
            PROVIDER,
            config.api_base_url,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout_s=timeout_s,
            policy=policy,
            secrets=[token],
        )
        parts = []
        if config.stream:
            parts += [Part("stream_minutes"), Part("stream_storage", snapshot=True)]
        if config.realtime:
            parts.append(Part("realtime"))
        self.parts = tuple(parts)
        self.group_limit = GROUP_LIMIT

    def describe_url(self) -> str:
        return f"{self.config.api_base_url}/accounts/{self.config.account_id}"

    def fetch_part(self, part: str, start: date, end: date, now_ts: int) -> Fetched:
        if part == "stream_storage":
            return self._storage(utc_day(now_ts))
        # GraphQL keeps 90 days: older days are not asked for, so their stored rows stay.
        start = max(start, utc_day(now_ts) - timedelta(days=RETENTION_DAYS - 1))
        if end < start:
            return Fetched([], [])
        if part == "stream_minutes":
            groups = self._groups("streamMinutesViewedAdaptiveGroups", STREAM_QUERY, start, end)
            stream_rows = [row for row in map(self._stream_row, groups) if row is not None]
            return Fetched(merge_rows(stream_rows), days_between(start, end))
        if part == "realtime":
            rows = []
            for dataset, product in REALTIME_DATASETS.items():
                query = REALTIME_QUERY.replace("DATASET", dataset)
                for group in self._groups(dataset, query, start, end):
                    rows.extend(self._realtime_rows(group, product))
            return Fetched(merge_rows(rows), days_between(start, end))
        raise ValueError(f"unknown part {part!r}")

    # -- GraphQL -------------------------------------------------------------------------------

    def _groups(self, dataset: str, query: str, start: date, end: date) -> list[dict[str, Any]]:
        groups: list[dict[str, Any]] = []
        for first, last in chunked_days(start, end, MAX_DAYS_PER_QUERY):
            groups.extend(self._window(dataset, query, first, last, depth=0))
        return groups

    def _window(self, dataset: str, query: str, first: date, last: date, depth: int) -> list[dict[str, Any]]:
        variables = {
            "accountTag": self.config.account_id,
            "start": first.isoformat(),
            "end": (last + timedelta(days=1)).isoformat(),  # date_lt: exclusive
            "limit": self.group_limit,
        }
        body = self.http.post_json("/graphql", {"query": query, "variables": variables})
        groups = self._graphql_groups(body, dataset)
        if len(groups) >= self.group_limit:
            # The limit is the page: split the window until each half fits (a day at most).
            if first == last or depth > 12:
                log.warning(
                    "%s: %s for %s hit the %d-group limit", PROVIDER, dataset, first, self.group_limit
                )
                return groups
            middle = first + timedelta(days=(last - first).days // 2)
            return self._window(dataset, query, first, middle, depth + 1) + self._window(
                dataset, query, middle + timedelta(days=1), last, depth + 1
            )
        return groups

    def _graphql_groups(self, body: Any, dataset: str) -> list[dict[str, Any]]:
        errors = body.get("errors") if isinstance(body, dict) else None
        if errors:
            message = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
            lowered = message.lower()
            if "authoriz" in lowered or "authenticat" in lowered:
                raise BillingAuthError(
                    PROVIDER, f"GraphQL refused {dataset}: check the key (token needs Account Analytics read)"
                )
            if (
                "unknown field" in lowered
                or "cannot query field" in lowered
                or "does not have access" in lowered
            ):
                raise PartUnavailable(PROVIDER, f"{dataset} is not available on this account")
            raise BillingError(PROVIDER, f"GraphQL error for {dataset}: {self.http.clean(message)}")
        accounts = require(PROVIDER, body, "data", "viewer", "accounts")
        if not isinstance(accounts, list) or not accounts:
            raise BillingResponseError(PROVIDER, "GraphQL response has no account (check account_id)")
        groups = accounts[0].get(dataset) if isinstance(accounts[0], dict) else None
        if groups is None:
            return []
        if not isinstance(groups, list):
            raise BillingResponseError(PROVIDER, f"{dataset} is not a list")
        return [g for g in groups if isinstance(g, dict)]

    @staticmethod
    def _day(group: dict[str, Any]) -> date | None:
        dims = group.get("dimensions")
        when = parse_time(dims.get("date")) if isinstance(dims, dict) else None
        return None if when is None else utc_day(when)

    def _stream_row(self, group: dict[str, Any]) -> BillingRow | None:
        day = self._day(group)
        total = group.get("sum")
        minutes = as_number(total.get("minutesViewed")) if isinstance(total, dict) else None
        if day is None or minutes is None:
            log.warning("%s: skipped a Stream group without a date or minutesViewed", PROVIDER)
            return None
        dims = group["dimensions"]
        return BillingRow(
            PROVIDER, day, "minutes_delivered", "min", minutes, None, {"uid": str(dims.get("uid") or "")}
        )

    def _realtime_rows(self, group: dict[str, Any], product: str) -> list[BillingRow]:
        day = self._day(group)
        total = group.get("sum")
        if day is None or not isinstance(total, dict):
            log.warning("%s: skipped a Realtime group without a date or sum", PROVIDER)
            return []
        rows = []
        for field_name, direction in (("egressBytes", "egress"), ("ingressBytes", "ingress")):
            value = as_number(total.get(field_name))
            if value is not None:
                rows.append(
                    BillingRow(
                        PROVIDER,
                        day,
                        f"realtime_{direction}_gb",
                        "GB",
                        value / BYTES_PER_GB,
                        None,
                        {"product": product},
                    )
                )
        return rows

    # -- Stream storage (snapshot) --------------------------------------------------------------

    def _storage(self, today: date) -> Fetched:
        body = self.http.get_json(f"/accounts/{self.config.account_id}/stream/storage-usage")
        if isinstance(body, dict) and body.get("success") is False:
            errors = body.get("errors") or []
            message = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
            raise BillingError(
                PROVIDER, f"storage-usage failed: {self.http.clean(message) or 'no reason given'}"
            )
        result = require(PROVIDER, body, "result")
        minutes = as_number(result.get("totalStorageMinutes")) if isinstance(result, dict) else None
        if minutes is None:
            raise BillingResponseError(PROVIDER, "storage-usage result has no totalStorageMinutes")
        rows = [BillingRow(PROVIDER, today, "minutes_stored", "min", minutes, None, {})]
        limit = as_number(result.get("totalStorageMinutesLimit"))
        if limit is not None:
            rows.append(BillingRow(PROVIDER, today, "minutes_stored_limit", "min", limit, None, {}))
        return Fetched(rows, [today])
