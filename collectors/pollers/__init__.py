"""The sources the runner polls, one class per kind behind the :class:`~collectors.pollers.base.Poller`
Protocol. Adding a kind: its settings, its class, one line here (docs/ARCHITECTURE.md, "Adding a poller")."""

from __future__ import annotations

from typing import Any

from collectors.pollers.agora import AgoraPoller
from collectors.pollers.base import Poller
from collectors.pollers.cloudflare_stream import CloudflareStreamPoller
from collectors.pollers.hls import HlsLogPoller
from collectors.pollers.ivs import IvsPoller
from collectors.pollers.livekit import LiveKitPoller
from collectors.pollers.prometheus import PrometheusNodePoller
from core.settings import Settings


def pollers_from_settings(settings: Settings) -> list[Poller[Any]]:
    """Every configured source, in the order the settings list them (LiveKit first)."""
    collectors = settings.collectors
    pollers: list[Poller[Any]] = [LiveKitPoller(source, collectors) for source in settings.livekit]
    pollers += [PrometheusNodePoller(source, collectors) for source in settings.prometheus]
    pollers += [AgoraPoller(source, collectors) for source in settings.agora]
    pollers += [CloudflareStreamPoller(source, collectors) for source in settings.cloudflare_stream]
    pollers += [IvsPoller(source, collectors) for source in settings.ivs]
    pollers += [HlsLogPoller(source, collectors) for source in settings.hls_logs]
    return pollers


__all__ = [
    "AgoraPoller",
    "CloudflareStreamPoller",
    "HlsLogPoller",
    "IvsPoller",
    "LiveKitPoller",
    "Poller",
    "PrometheusNodePoller",
    "pollers_from_settings",
]
