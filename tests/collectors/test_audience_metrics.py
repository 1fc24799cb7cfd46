"""The audience pollers' series on /metrics (collectors/audience_metrics.py), and the exported
relay-down and HLS-error rules evaluated by a real Prometheus scraping them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import start_http_server

from analytics.alerts.promql import ExportOptions, export_rules
from analytics.alerts.rules import Rule, RuleSet
from collectors.audience_metrics import AUDIENCE_SERIES, AudienceSeries
from collectors.pollers.hls import HlsLogPoller
from collectors.self_metrics import REGISTRY, MetricsServer
from core.settings import CollectorSettings, HlsLogSource
from harness.realparts import free_port
from store.audience import AudienceSample, RelaySample
from tests.collectors.hls.logs import E, combined
from tests.collectors.test_self_metrics_prometheus import wait_for
from tests.conftest import PrometheusFactory


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def exposition(series: AudienceSeries) -> str:
    registry = CollectorRegistry()
    registry.register(series)
    return generate_latest(registry).decode()


def relay(channel: str, health: str, kind: str = "cloudflare_live_input") -> RelaySample:
    return RelaySample(f"id-{channel}", E, channel, kind, health, "x")


def test_a_source_shows_what_its_last_poll_reported() -> None:
    clock = Clock()
    series = AudienceSeries(clock)
    hls = [
        AudienceSample("radio", "hls", E - 10, viewers=3, requests=40, errors_5xx=9),  # an older bucket
        AudienceSample("radio", "hls", E, viewers=3, requests=20, errors_5xx=5),
        AudienceSample("radio", "agora", E, viewers=7),  # not HLS: no request counts
    ]
    series.publish("cf", 15, [relay("shop", "down"), relay("news", "ok")], hls, hls_bucket_s=10)
    text = exposition(series)
    assert (
        'castmeter_relay_down{kind="cloudflare_live_input",relay_id="id-shop",source="cf",stream="shop"} 1.0'
        in text
    )
    assert (
        'castmeter_relay_down{kind="cloudflare_live_input",relay_id="id-news",source="cf",stream="news"} 0.0'
        in text
    )
    assert 'castmeter_hls_bucket_requests{source="cf",stream="radio"} 20.0' in text
    assert 'castmeter_hls_bucket_5xx_requests{source="cf",stream="radio"} 5.0' in text
    assert 'castmeter_hls_bucket_seconds{source="cf"} 10.0' in text
    assert "# HELP castmeter_relay_down 1 while the relay hop reports itself down" in text

    # The next poll no longer reports "news" (the stream ended): its series is gone at once.
    series.publish("cf", 15, [relay("shop", "ok")])
    text = exposition(series)
    assert 'stream="news"' not in text and "castmeter_hls_bucket_requests{" not in text
    assert 'relay_id="id-shop",source="cf",stream="shop"} 0.0' in text

    # A source not polled for 3 intervals (at least 60 s) loses its series: 3 × 30 s here.
    series.publish("slow", 30, [relay("late", "down")])
    clock.now_s += 61
    assert 'source="cf"' not in exposition(series)  # 15 s polls: gone after 60 s
    assert 'source="slow"' in exposition(series)
    clock.now_s += 30
    assert "castmeter_relay_down{" not in exposition(series)
    # The pollers' instance is on castmeter's own /metrics registry.
    served = generate_latest(REGISTRY).decode()
    assert (
        "# TYPE castmeter_relay_down gauge" in served
        and "# TYPE castmeter_hls_bucket_requests gauge" in served
    )


def query(url: str, expr: str) -> dict[str, float]:
    """``expr``'s instant vector as {the target label's value (or ''): value}."""
    response = requests.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return {
        str(item["metric"].get("stream") or item["metric"].get("relay") or ""): float(item["value"][1])
        for item in result
    }


def delivery_log(path: Path) -> None:
    """Two channels, segments of 2 s, buckets of 10 s ((end - 10, end]); the poll reads at +19 s.

    radio: two clients fetch a segment every second; in the open bucket (+11 to +18) 16 segment
    requests, 5 of them answered 503, and 4 playlist reloads: 20 requests, 5 × 5xx → 25 %
    (the store's share: segment 5xx over all requests). Its playlist is fresh.
    talk: no new segment after +4 while players reload the playlist to +18 → stale for 14 s
    ≥ 3 segment durations (6 s): its hls_playlist relay is down. 4 requests in the open bucket,
    none 5xx → 0 %.
    """
    failed = {(11, "1.1.1.1"), (13, "2.2.2.2"), (15, "1.1.1.1"), (17, "2.2.2.2"), (18, "1.1.1.1")}
    lines: list[str] = []
    for t in range(1, 19):
        for ip in ("1.1.1.1", "2.2.2.2"):
            lines.append(combined(t, f"/radio/s{t}.ts", ip=ip, status=503 if (t, ip) in failed else 200))
        if t % 2 == 0:
            lines.append(combined(t, "/radio/live.m3u8", size=300))
            lines.append(combined(t, "/talk/live.m3u8", size=300) if t > 4 else combined(t, f"/talk/s{t}.ts"))
    path.write_text("".join(lines))


def test_prometheus_fires_the_exported_audience_rules(
    tmp_path: Path, prometheus_server: PrometheusFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This process's series only (pollers of earlier tests published theirs, for 60 s).
    monkeypatch.setattr(AUDIENCE_SERIES, "_sources", {})
    log_path = tmp_path / "access.log"
    delivery_log(log_path)
    source = HlsLogSource(
        name="origin", path=str(log_path), segment_s=2, window_s=6, bucket_s=10, max_lateness_s=20
    )
    poller = HlsLogPoller(source, CollectorSettings())
    snapshot = asyncio.run(poller.poll(E + 19))  # publishes on this process's /metrics
    down = {r.channel: r.health for r in snapshot.relays}
    assert down == {"radio": "ok", "talk": "down"}

    server = MetricsServer("127.0.0.1", free_port(), None)
    # A second collector process: it owns a CDN log of radio (10 requests, none 5xx) and still
    # shows the origin's last figures after handing that source over (ownership), for a while.
    other = AudienceSeries()
    registry = CollectorRegistry()
    registry.register(other)
    other_port = free_port()
    other_server, other_thread = start_http_server(other_port, addr="127.0.0.1", registry=registry)
    other.publish(
        "cdn", 15, [], [AudienceSample("radio", "hls", E + 19, viewers=1, requests=10, errors_5xx=0)]
    )
    other.publish("origin", 15, snapshot.relays, snapshot.audience, hls_bucket_s=10)
    try:
        ruleset = RuleSet(
            (
                Rule("HlsErrors", "hls_5xx_pct", ">", 10.0, scope="stream"),
                Rule("RelayDown", "relay_down", ">=", 1.0, for_s=2, scope="stream", severity="critical"),
            ),
            evaluation_interval_s=1,
            lookback_s=60,
        )
        rules = tmp_path / "rules.yml"
        rules.write_text(export_rules(ruleset, ExportOptions(health_rules=False)).text)
        job = {
            "job_name": "castmeter",
            "static_configs": [{"targets": [f"127.0.0.1:{server.port}", f"127.0.0.1:{other_port}"]}],
        }
        url = prometheus_server([], "1s", {"scrape_configs": [job]}, [rules]).url

        firing = 'ALERTS{alertstate="firing"}'
        try:
            wait_for(
                "both alerts firing",
                lambda: {"radio", "talk/hls_playlist"} <= set(query(url, firing)),
                timeout_s=40,
            )
        except AssertionError:
            seen = {
                e: query(url, e)
                for e in ("up", firing, "castmeter_hls_bucket_requests", "castmeter_relay_down")
            }
            raise AssertionError(f"Prometheus sees {seen}") from None
        alerts = requests.get(f"{url}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
        assert sorted(
            (a["labels"]["alertname"], a["labels"].get("stream") or a["labels"]["relay"])
            for a in alerts
            if a["state"] == "firing"
        ) == [
            ("HlsErrors", "radio"),
            ("RelayDown", "talk/hls_playlist"),
        ]
        # By hand: radio = 5 of the origin's 20 plus 0 of the CDN's 10 (the origin counted once
        # across both processes) = 100 × 5 / 30; talk 0 of 4.
        shares = query(url, "castmeter:hls_5xx_pct:stream")
        assert shares.keys() == {"radio", "talk"}
        assert shares["radio"] == pytest.approx(100 * 5 / 30) and shares["talk"] == 0
        assert query(url, "castmeter:relay_down:stream") == {
            "radio/hls_playlist": 0.0,
            "talk/hls_playlist": 1.0,
        }
    finally:
        other_server.shutdown()
        other_server.server_close()
        other_thread.join(timeout=5)
        server.stop()
