"""Hetzner Cloud API: ``/v1/servers`` (traffic of the current billing period) and ``/v1/pricing``
→ server cost and traffic overage to date (https://docs.hetzner.cloud/).

The API knows only the present billing period, so this is a snapshot on the fetch day: each row
is month-to-date (``*_mtd``), and a deleted server is no longer listed. Prices are EUR decimal
strings; money is stored in EUR and converted with the configured ``eur_usd`` rate.
Servers bill hourly up to a monthly cap; traffic above the included allowance per TB.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

from collectors.billing.base import (
    BillingResponseError,
    BillingRow,
    Fetched,
    HttpClient,
    Part,
    RetryPolicy,
    as_number,
    parse_time,
    require,
    utc_day,
)
from core.settings import HetznerBilling

log = logging.getLogger(__name__)

PROVIDER = "hetzner"
BYTES_PER_TB = 1e12
BYTES_PER_GB = 1e9
MAX_PAGES = 1000
PER_PAGE = 50


class HetznerCollector:
    provider = PROVIDER
    parts = (Part("servers", snapshot=True),)

    def __init__(self, config: HetznerBilling, *, timeout_s: float = 30.0, policy: RetryPolicy | None = None):
        self.config = config
        token = config.api_token.get_secret_value()
        self.http = HttpClient(
            PROVIDER,
            config.api_base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout_s=timeout_s,
            policy=policy,
            secrets=[token],
        )

    def describe_url(self) -> str:
        return self.config.api_base_url

    def fetch_part(self, part: str, start: date, end: date, now_ts: int) -> Fetched:
        today = utc_day(now_ts)
        prices = self._prices()
        rows: list[BillingRow] = []
        for server in self._servers():
            rows.extend(self._server_rows(server, prices, today, now_ts))
        return Fetched(rows, [today])

    def _servers(self) -> list[dict[str, Any]]:
        servers: list[dict[str, Any]] = []
        page: int | None = 1
        for _ in range(MAX_PAGES):
            if page is None:
                break
            body = self.http.get_json("/servers", {"page": page, "per_page": PER_PAGE})
            listed = require(PROVIDER, body, "servers")
            if not isinstance(listed, list):
                raise BillingResponseError(PROVIDER, "field 'servers' is not a list")
            servers.extend(s for s in listed if isinstance(s, dict))
            pagination = (body.get("meta") or {}).get("pagination") or {}
            next_page = pagination.get("next_page")
            page = int(next_page) if isinstance(next_page, int | str) and str(next_page).isdigit() else None
        return servers

    def _prices(self) -> dict[tuple[str, str], dict[str, float]]:
        """(server type, location) → hourly/monthly/per-TB net EUR and included traffic bytes."""
        body = self.http.get_json("/pricing")
        pricing = require(PROVIDER, body, "pricing")
        currency = pricing.get("currency") if isinstance(pricing, dict) else None
        if currency not in (None, "EUR"):
            raise BillingResponseError(PROVIDER, f"unexpected pricing currency {currency!r}")
        table: dict[tuple[str, str], dict[str, float]] = {}
        for server_type in require(PROVIDER, body, "pricing", "server_types") or []:
            if not isinstance(server_type, dict):
                continue
            for price in server_type.get("prices") or []:
                if not isinstance(price, dict):
                    continue
                entry = {
                    "hourly": _net(price.get("price_hourly")),
                    "monthly": _net(price.get("price_monthly")),
                    "per_tb": _net(price.get("price_per_tb_traffic")),
                    "included": as_number(price.get("included_traffic")),
                }
                table[(str(server_type.get("name")), str(price.get("location")))] = {
                    k: v for k, v in entry.items() if v is not None
                }
        return table

    def _server_rows(
        self,
        server: dict[str, Any],
        prices: dict[tuple[str, str], dict[str, float]],
        today: date,
        now_ts: int,
    ) -> list[BillingRow]:
        name = str(server.get("name") or server.get("id") or "")
        type_name = str((server.get("server_type") or {}).get("name") or "")
        location = _location(server)
        dims = {"server": name, "server_type": type_name, "location": location}
        price = prices.get((type_name, location), {})
        rate = self.config.eur_usd
        rows: list[BillingRow] = []

        month_start = datetime(today.year, today.month, 1, tzinfo=UTC).timestamp()
        created = parse_time(server.get("created")) or month_start
        hours = max(0.0, (now_ts - max(created, month_start)) / 3600.0)
        server_eur: float | None = None
        if "hourly" in price:
            server_eur = hours * price["hourly"]
            if "monthly" in price:
                server_eur = min(server_eur, price["monthly"])  # hourly up to the monthly cap
        else:
            log.warning("%s: no price for %s in %s", PROVIDER, type_name, location)
        rows.append(_money_row(today, "server_hours_mtd", "h", hours, server_eur, rate, dims))

        outgoing = as_number(server.get("outgoing_traffic"))
        included = as_number(server.get("included_traffic"))
        if included is None:
            included = price.get("included")
        if outgoing is not None:
            overage_eur: float | None = None
            if included is not None and "per_tb" in price:
                overage_eur = max(0.0, outgoing - included) / BYTES_PER_TB * price["per_tb"]
            rows.append(
                _money_row(
                    today, "traffic_out_gb_mtd", "GB", outgoing / BYTES_PER_GB, overage_eur, rate, dims
                )
            )
        if included is not None:
            rows.append(
                BillingRow(PROVIDER, today, "traffic_included_gb", "GB", included / BYTES_PER_GB, None, dims)
            )
        return rows


def _money_row(
    day: date, metric: str, unit: str, quantity: float, eur: float | None, rate: float, dims: dict[str, str]
) -> BillingRow:
    return BillingRow(
        PROVIDER, day, metric, unit, quantity,
        usd=None if eur is None else eur * rate,
        dimensions=dims,
        amount=eur,
        currency=None if eur is None else "EUR",
    )  # fmt: skip


def _net(value: Any) -> float | None:
    return as_number(value.get("net")) if isinstance(value, dict) else None


def _location(server: dict[str, Any]) -> str:
    datacenter = server.get("datacenter") or {}
    location = datacenter.get("location") if isinstance(datacenter, dict) else None
    if isinstance(location, dict) and location.get("name"):
        return str(location["name"])
    location = server.get("location")
    if isinstance(location, dict):
        return str(location.get("name") or "")
    return ""
