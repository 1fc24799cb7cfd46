"""The ``hybrid`` demo's providers (planning note 003's delivery path): sellers on Agora channels,
each with a Media Push converter into a Cloudflare Stream live input (``shop-1``..``shop-4``) or
an Amazon IVS channel (``shop-5``, ``shop-6``); buyers watch the HLS side, a few interactive ones
join the Agora channel as audience. Shows run 2 h of every 3 h, staggered per seller, and the
audience follows live-shopping's daily curve. Now and then a hop breaks while the seller is live
(8 minutes in every 70 per seller): on odd sellers the converter fails (the input goes
disconnected behind it); on even ones the converter runs but the input fails to reconnect (IVS:
the stream starves), so the relay-health views have something to show. Once a week an even
Cloudflare seller's input stays down for an hour of a show (simulator/incidents.py).

:func:`start_demo_providers` serves this model on loopback (simulator/providers.py) and
:func:`provider_sources` gives the ``[[agora]]``, ``[[cloudflare_stream]]`` and ``[[ivs]]``
settings that read it."""

from __future__ import annotations

import hashlib
import math
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from core.settings import AgoraSource, CloudflareStreamSource, IvsSource
from simulator.incidents import OUTAGE_MIN, WEEK_MIN, outage_pick
from simulator.providers import (
    AGORA_APP_ID,
    AGORA_CUSTOMER_ID,
    AWS_ACCESS_KEY_ID,
    CF_ACCOUNT,
    AgoraChannel,
    Converter,
    IvsChannel,
    LiveInput,
    ProviderFakes,
    ProviderState,
    Recording,
)
from simulator.scenarios import get_scenario

SELLERS = 6
CLOUDFLARE_SELLERS = 4  # shop-1..4 relay to Cloudflare Stream, the rest to IVS
SHOW_PERIOD_MIN = 180
SHOW_LENGTH_MIN = 120
BREAK_PERIOD_MIN = 70
BREAK_LENGTH_MIN = 8
BUYERS_MEAN = 600.0  # live-shopping's listeners_mean (planning note 003: 200-1,000 buyers)
AGORA_AUDIENCE_SHARE = 0.03  # buyers who join the Agora channel itself (to talk to the seller)
RAMP_MIN = 10.0  # an audience builds up over a show's first minutes
RECORDING = ("demo-resource-shop-1", "demo-sid-shop-1")  # Cloud Recording of shop-1's shows
IVS_ARN = "arn:aws:ivs:us-east-1:000000000000:channel/"
# The demo's provider sources (their ``sources`` rows: the backfill writes their history there).
DEMO_AGORA = "demo-agora"
DEMO_CLOUDFLARE_STREAM = "demo-cloudflare-stream"
DEMO_IVS = "demo-ivs"


def _hex(*parts: object, length: int = 32) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:length]


@dataclass(frozen=True)
class Seller:
    index: int  # 1-based
    channel: str
    phase_min: int
    popularity: float
    to_cloudflare: bool
    input_uid: str  # Cloudflare live input uid, or the IVS channel ARN


class HybridModel:
    def __init__(self, seed: int = 0) -> None:
        rng = random.Random(f"hybrid-{seed}")
        self.seed = seed
        self.curve = get_scenario("live-shopping").listener_curve
        self._cached: tuple[int, ProviderState] | None = None
        self.sellers = [
            Seller(
                index=k,
                channel=f"shop-{k}",
                phase_min=(k * 37 + seed * 11) % SHOW_PERIOD_MIN,
                popularity=math.exp(rng.gauss(0.0, 0.45)),
                to_cloudflare=k <= CLOUDFLARE_SELLERS,
                input_uid=_hex("input", seed, k) if k <= CLOUDFLARE_SELLERS else IVS_ARN + _hex("ivs", seed, k, length=12),
            )
            for k in range(1, SELLERS + 1)
        ]  # fmt: skip

    def show(self, seller: Seller, minute: int) -> int | None:
        """The show (its start minute) ``seller`` is live in at ``minute``, or None."""
        into = (minute + seller.phase_min) % SHOW_PERIOD_MIN
        return minute - into if into < SHOW_LENGTH_MIN else None

    def broken(self, seller: Seller, minute: int) -> bool:
        return (minute + 13 * seller.index) % BREAK_PERIOD_MIN < BREAK_LENGTH_MIN or self.outage(
            seller, minute
        )

    def outage(self, seller: Seller, minute: int) -> bool:
        """The week's hour-long input outage (simulator/incidents.py): from 20 minutes into the
        chosen seller's first show after the week's drawn minute (their input fails to reconnect
        while they stay live on Agora)."""
        first, index = outage_pick(self.seed, minute // WEEK_MIN, CLOUDFLARE_SELLERS)
        if index != seller.index:
            return False
        into = (first + seller.phase_min) % SHOW_PERIOD_MIN
        show_start = first - into if into < SHOW_LENGTH_MIN else first + SHOW_PERIOD_MIN - into
        return show_start + 20 <= minute < show_start + 20 + OUTAGE_MIN

    @lru_cache(maxsize=65536)  # noqa: B019 - the model lives as long as the demo
    def buyers(self, seller: Seller, minute: int) -> int:
        """Concurrent buyers of ``seller``'s show at ``minute`` (0 off air)."""
        start = self.show(seller, minute)
        if start is None:
            return 0
        hour = (minute % 1440) / 60.0
        low = int(hour) % 24
        weight = self.curve[low] + (self.curve[(low + 1) % 24] - self.curve[low]) * (hour - int(hour))
        ramp = min(1.0, (minute - start + 1) / RAMP_MIN)
        wiggle = 1.0 + 0.08 * math.sin(minute / 7.0 + seller.index)
        return max(0, round(BUYERS_MEAN * seller.popularity * weight * ramp * wiggle))

    def hls_viewers(self, seller: Seller, minute: int) -> int:
        """Buyers watching the Cloudflare/IVS side (none while the hop into it is broken)."""
        if self.show(seller, minute) is None or self.broken(seller, minute):
            return 0
        return self.buyers(seller, minute) - self.agora_audience(seller, minute)

    def agora_audience(self, seller: Seller, minute: int) -> int:
        return round(self.buyers(seller, minute) * AGORA_AUDIENCE_SHARE)

    def minutes_today(self, seller: Seller, minute: int) -> dict[str, float]:
        """Minutes viewed today per video (one video per show), up to ``minute``."""
        videos: dict[str, float] = {}
        for m in range(minute - minute % 1440, minute):
            start = self.show(seller, m)
            if start is not None:
                uid = _hex("video", seller.input_uid, start)
                videos[uid] = videos.get(uid, 0.0) + self.hls_viewers(seller, m)
        return videos

    def state(self, now_ts: int) -> ProviderState:
        """What the providers answer at ``now_ts`` (it changes once a minute: cached per minute,
        every request of a poll reads the same state)."""
        minute = now_ts // 60
        if self._cached is not None and self._cached[0] == minute:
            return self._cached[1]
        state = self._state(minute)
        self._cached = (minute, state)
        return state

    def _state(self, minute: int) -> ProviderState:
        now_ts = minute * 60
        state = ProviderState()
        for seller in self.sellers:
            start = self.show(seller, minute)
            live, broken = start is not None, self.broken(seller, minute)
            converter_failed = live and broken and seller.index % 2 == 1
            input_failed = live and broken and seller.index % 2 == 0
            if start is not None:
                hosts = [100 + seller.index] + ([200 + seller.index] if seller.index % 2 == 0 else [])
                state.agora_channels.append(
                    AgoraChannel(seller.channel, hosts, self.agora_audience(seller, minute))
                )
                key = _hex("key", seller.input_uid, start)
                url = (f"rtmps://live.cloudflare.com:443/live/{key}" if seller.to_cloudflare
                       else f"rtmps://{_hex('ingest', seller.index, length=12)}.global-contribute.live-video.net:443/app/{key}")  # fmt: skip
                state.converters.append(Converter(
                    _hex("converter", seller.input_uid, start), f"{seller.channel}-relay", seller.channel, url,
                    "failed" if converter_failed else "running", start * 60,
                ))  # fmt: skip
            if seller.index == 1:
                state.recordings.append(Recording(*RECORDING, seller.channel, status=5 if live else None))
            viewers = self.hls_viewers(seller, minute)
            if seller.to_cloudflare:
                state.live_inputs.append(LiveInput(
                    seller.input_uid, seller.channel, _input_status(start, converter_failed, input_failed, now_ts),
                    live_viewers=viewers if live and not broken else None,
                    videos=self.minutes_today(seller, minute),
                ))  # fmt: skip
            else:
                state.ivs_channels.append(IvsChannel(
                    seller.input_uid, seller.channel, live=live and not converter_failed,
                    health="STARVING" if input_failed else "HEALTHY", viewer_count=viewers,
                    start_ts=(start or 0) * 60, concurrent_views=float(self.hls_viewers(seller, minute - 1)),
                ))  # fmt: skip
        return state


def _input_status(
    start: int | None, converter_failed: bool, input_failed: bool, now_ts: int
) -> dict[str, Any] | None:
    """A live input's status in the object shape (Cloudflare's Workers types)."""
    if start is None:
        return {"current": {"state": "disconnected", "reason": "client_disconnect", "ingestProtocol": "rtmp"},
                "history": []}  # fmt: skip
    if converter_failed:  # nothing arrives: the broadcaster side went away
        current = {"state": "disconnected", "reason": "client_disconnect"}
    elif input_failed:
        current = {"state": "disconnected", "reason": "failed_to_reconnect"}
    else:
        current = {"state": "connected", "reason": "connected"}
    entered = now_ts - now_ts % 60
    return {"current": {**current, "ingestProtocol": "rtmp",
                        "statusEnteredAt": f"{_iso(entered)}"}, "history": []}  # fmt: skip


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


async def start_demo_providers(
    seed: int, host: str = "127.0.0.1", port: int = 0, clock: Callable[[], float] = time.time
) -> ProviderFakes:
    """The hybrid model's providers on loopback, with fresh credentials."""
    model = HybridModel(seed)
    fakes = ProviderFakes(model.state, host=host, port=port, agora_secret=secrets.token_urlsafe(24),
                          cf_token=secrets.token_urlsafe(24), clock=clock)  # fmt: skip
    await fakes.start()
    return fakes


def provider_sources(fakes: ProviderFakes) -> dict[str, list[Any]]:
    """Settings entries reading the fake providers (a ``Settings.model_copy`` update)."""
    agora = AgoraSource.model_validate({
        "name": DEMO_AGORA, "api_base_url": fakes.url, "app_id": AGORA_APP_ID, "customer_id": AGORA_CUSTOMER_ID,
        "customer_secret": fakes.agora_secret,
        "recordings": [{"channel": "shop-1", "resource_id": RECORDING[0], "sid": RECORDING[1]}],
    })  # fmt: skip
    cloudflare = CloudflareStreamSource.model_validate({
        "name": DEMO_CLOUDFLARE_STREAM, "api_base_url": f"{fakes.url}/client/v4", "account_id": CF_ACCOUNT,
        "api_token": fakes.cf_token, "customer_base_url": f"{fakes.url}/cf-customer",
    })  # fmt: skip
    ivs = IvsSource.model_validate({
        "name": DEMO_IVS, "api_base_url": f"{fakes.url}/ivs", "cloudwatch_url": f"{fakes.url}/cloudwatch",
        "access_key_id": AWS_ACCESS_KEY_ID, "secret_access_key": secrets.token_urlsafe(24),
    })  # fmt: skip
    return {"agora": [agora], "cloudflare_stream": [cloudflare], "ivs": [ivs]}
