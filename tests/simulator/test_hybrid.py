"""The hybrid demo's providers: the model's schedule worked out by hand at one instant, read back
through the real pollers from the fake APIs, and the demo's settings polled by the runner."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from collectors.pollers.agora import AgoraPoller
from collectors.pollers.cloudflare_stream import CloudflareStreamPoller
from collectors.pollers.ivs import IvsPoller
from collectors.runner import Collector
from collectors.spool import Spool
from core.settings import CollectorSettings, Settings
from simulator.hybrid import HybridModel, provider_sources, start_demo_providers
from simulator.providers import ThreadedProviderFakes
from store.engine import open_store

# 2026-11-20 12:00 UTC: minute 29,919,600, which is 0 mod 180 (the show cycle) and 60 mod 70 (the
# broken-hop cycle). Seed 0 phases are 37·k mod 180: sellers 1, 2, 3, 5, 6 are 37, 74, 111, 5, 42
# minutes into a 120-minute show; seller 4 (148) is off air. Broken when (60 + 13·k) mod 70 < 8:
# seller 1 only (73 mod 70 = 3), and it is odd, so its converter has failed.
NOW_TS = 1795176000


def test_the_schedule_at_a_known_instant() -> None:
    model = HybridModel(seed=0)
    minute = NOW_TS // 60
    live = [s.channel for s in model.sellers if model.show(s, minute) is not None]
    assert live == ["shop-1", "shop-2", "shop-3", "shop-5", "shop-6"]
    assert [s.channel for s in model.sellers if model.broken(s, minute)] == ["shop-1"]
    assert model.show(model.sellers[0], minute) == minute - 37


def test_the_pollers_read_the_hybrid_back() -> None:
    model = HybridModel(seed=0)
    minute = NOW_TS // 60
    with ThreadedProviderFakes(model.state, clock=lambda: NOW_TS) as fakes:
        sources = provider_sources(fakes)
        settings = CollectorSettings(http_timeout_s=5)
        agora = asyncio.run(AgoraPoller(sources["agora"][0], settings).poll(NOW_TS))
        cloudflare = asyncio.run(
            CloudflareStreamPoller(sources["cloudflare_stream"][0], settings).poll(NOW_TS)
        )
        ivs = asyncio.run(IvsPoller(sources["ivs"][0], settings).poll(NOW_TS))
    assert agora.warnings == cloudflare.warnings == ivs.warnings == []
    media_push = {r.channel: r.health for r in agora.relays if r.kind == "agora_media_push"}
    assert media_push == {"shop-1": "down", "shop-2": "ok", "shop-3": "ok", "shop-5": "ok", "shop-6": "ok"}
    assert {r.channel: r.health for r in agora.relays if r.kind == "agora_cloud_recording"} == {
        "shop-1": "ok"
    }
    inputs = {r.channel: (r.health, r.status) for r in cloudflare.relays}
    assert inputs == {
        "shop-1": ("idle", "disconnected"),  # behind the failed converter: the broken hop
        "shop-2": ("ok", "connected"),
        "shop-3": ("ok", "connected"),
        "shop-4": ("idle", "disconnected"),  # off air
    }
    assert {r.channel: r.health for r in ivs.relays} == {"shop-5": "ok", "shop-6": "ok"}
    # Every buyer is in one place: the Agora channel's audience or the HLS side behind the relay.
    agora_viewers = {s.channel: s.viewers for s in agora.audience}
    hls_viewers = {s.channel: s.viewers for s in [*cloudflare.audience, *ivs.audience]}
    assert sorted(hls_viewers) == ["shop-2", "shop-3", "shop-5", "shop-6"]
    for seller in model.sellers:
        if seller.channel in hls_viewers:
            assert agora_viewers[seller.channel] + hls_viewers[seller.channel] == model.buyers(seller, minute)
    assert all(s.hosts == (1 if int(s.channel[-1]) % 2 else 2) for s in agora.audience)


@pytest.mark.slow
def test_the_demo_settings_poll_every_provider(tmp_path: Path) -> None:
    async def tick() -> dict[str, str]:
        fakes = await start_demo_providers(seed=0, clock=lambda: NOW_TS)
        try:
            settings = Settings.model_validate(provider_sources(fakes))
            engine = open_store(f"sqlite:///{tmp_path / 'demo.db'}")
            collector = Collector(settings, engine, spool=Spool(tmp_path / "spool"))
            report = await collector.tick(NOW_TS)
            engine.dispose()
            return report.polled
        finally:
            await fakes.stop()

    assert asyncio.run(tick()) == {"demo-agora": "ok", "demo-cloudflare-stream": "ok", "demo-ivs": "ok"}
