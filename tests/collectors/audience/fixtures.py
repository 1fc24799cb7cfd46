"""A hand-written provider state for the audience poller tests (every expected figure in the
tests is read off this file by hand), and settings pointing at the fakes."""

from __future__ import annotations

from core.settings import AgoraSource, CloudflareStreamSource, CollectorSettings, IvsSource
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

NOW_TS = 1795176000  # 2026-11-20 12:00 UTC
AGORA_SECRET = "agora-secret-never-shown-4711"
CF_TOKEN = "cf-token-never-shown-4712"
AWS_SECRET = "aws-secret-never-shown-4713"
STREAM_KEYS = ("SECRETKEY1", "SECRETKEY2", "SECRETKEY3")
ARN = "arn:aws:ivs:us-east-1:123456789012:channel/"

CF_OBJECT_CONNECTED = {
    "current": {"state": "connected", "statusEnteredAt": "2026-11-20T11:30:00Z", "ingestProtocol": "rtmp",
                "reason": "connected"},
    "history": [{"state": "disconnected", "statusEnteredAt": "2026-11-20T11:00:00Z", "reason": "failed_to_connect"}],
}  # fmt: skip
CF_OBJECT_FAILED = {
    "current": {
        "state": "disconnected",
        "statusEnteredAt": "2026-11-20T11:50:00Z",
        "reason": "failed_to_reconnect",
    },
    "history": [],
}


def state() -> ProviderState:
    return ProviderState(
        agora_channels=[
            AgoraChannel("shop-1", hosts=[11], audience_total=40),
            AgoraChannel("shop-2", hosts=[21, 22], audience_total=0),
            AgoraChannel("shop-3", hosts=[31, 32, 33], audience_total=0, mode=1),
        ],
        converters=[
            Converter(
                "conv-a",
                "shop1-cf",
                "shop-1",
                f"rtmps://live.cloudflare.com:443/live/{STREAM_KEYS[0]}",
                "running",
                NOW_TS - 300,
            ),
            Converter(
                "conv-b",
                "shop2-cf",
                "shop-2",
                f"rtmp://a.rtmp.example.com/live2/{STREAM_KEYS[1]}",
                "failed",
                NOW_TS - 120,
            ),
            Converter(
                "conv-c",
                "shop5-ivs",
                "shop-5",
                f"rtmps://ingest.example.com:443/app/{STREAM_KEYS[2]}",
                "connecting",
                NOW_TS - 30,
            ),
        ],
        recordings=[
            Recording("res-1", "sid-1", "shop-1", status=5),
            Recording("res-2", "sid-2", "shop-2", status=None),
        ],
        live_inputs=[
            LiveInput("in-a", "shop-1", CF_OBJECT_CONNECTED, live_viewers=120, videos={"vid-a1": 10.0}),
            LiveInput("in-b", "Seller two", "reconnecting", live_viewers=7, videos={"vid-b1": 3.0}),
            LiveInput("in-c", "shop-4", None),
            LiveInput("in-d", "shop-6", CF_OBJECT_FAILED, live_viewers=None),
        ],
        ivs_channels=[
            IvsChannel(
                ARN + "aaaa",
                "shop-5",
                live=True,
                health="HEALTHY",
                viewer_count=33,
                start_ts=NOW_TS - 900,
                concurrent_views=30.0,
            ),
            IvsChannel(
                ARN + "bbbb",
                "ivs-b",
                live=True,
                health="STARVING",
                viewer_count=-1,
                start_ts=NOW_TS - 600,
                concurrent_views=21.0,
                tags={"channel": "shop-7"},
            ),
            IvsChannel(ARN + "cccc", "shop-8", live=False),
        ],
    )


def collectors(timeout_s: float = 2.0) -> CollectorSettings:
    return CollectorSettings(http_timeout_s=timeout_s)


def agora_source(fakes: ProviderFakes, secret: str = AGORA_SECRET, **extra: object) -> AgoraSource:
    return AgoraSource.model_validate({
        "name": "agora-main", "api_base_url": fakes.url, "app_id": AGORA_APP_ID, "customer_id": AGORA_CUSTOMER_ID,
        "customer_secret": secret, "page_size": 2,
        "recordings": [{"channel": "shop-1", "resource_id": "res-1", "sid": "sid-1"},
                       {"channel": "shop-2", "resource_id": "res-2", "sid": "sid-2"}],
        **extra,
    })  # fmt: skip


def cloudflare_source(fakes: ProviderFakes, token: str = CF_TOKEN, **extra: object) -> CloudflareStreamSource:
    return CloudflareStreamSource.model_validate({
        "name": "cf-main", "api_base_url": f"{fakes.url}/client/v4", "account_id": CF_ACCOUNT, "api_token": token,
        "customer_base_url": f"{fakes.url}/cf-customer", "channels": {"in-b": "shop-2"}, **extra,
    })  # fmt: skip


def ivs_source(fakes: ProviderFakes, key_id: str = AWS_ACCESS_KEY_ID, **extra: object) -> IvsSource:
    return IvsSource.model_validate({
        "name": "ivs-main", "api_base_url": f"{fakes.url}/ivs", "cloudwatch_url": f"{fakes.url}/cloudwatch",
        "access_key_id": key_id, "secret_access_key": AWS_SECRET, **extra,
    })  # fmt: skip
