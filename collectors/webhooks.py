"""LiveKit webhook receiver: verify, refuse and count, or store exactly once.

LiveKit POSTs ``protojson(WebhookEvent)`` as ``application/webhook+json`` with
``Authorization: <JWT>`` (no "Bearer"), signed with one of the server's API keys; the JWT's
``sha256`` claim is base64(SHA-256(body)) and it is valid for 5 minutes from its ``nbf``
(https://github.com/livekit/protocol/tree/main/webhook). We verify with the official ``livekit.api.WebhookReceiver`` and,
because a signer may choose a longer ``exp``, also refuse a token *issued* (``iat``, else
``nbf``) more than 5 minutes ago. Every refusal is answered without touching the event log;
refusals are counted in memory and reported once a minute — one log line with the count per
reason, one ``collector_counters`` write per reason — so a flood of forged requests costs
neither a log line nor a database write each:

=====================================  ======  ==============================================
counter                                status  when
=====================================  ======  ==============================================
webhook_refused_oversized              413     Content-Length or the bytes read exceed the max
webhook_refused_unsigned               401     no Authorization header
webhook_refused_forged                 401     bad signature, unknown key, malformed token,
                                               or a token without a body hash
webhook_refused_stale                  401     expired, not yet valid, or issued > 5 min ago
webhook_refused_body_mismatch          401     a valid token for a different body
webhook_refused_content_type           415     not a JSON content type (LiveKit sends
                                               ``application/webhook+json``)
webhook_refused_slow_body              408     the body took longer than ``body_timeout_s``
webhook_refused_dropped                —       the client went away in the middle of the body
webhook_refused_not_json               400     signed, but the body is not a WebhookEvent JSON
webhook_refused_no_id                  400     signed JSON without an event id
webhook_accepted / webhook_duplicate   200     stored / already stored (re-delivery)
=====================================  ======  ==============================================

A client gets ``header_timeout_s`` to send its request head (aiohttp's idle timeout, which
runs from the connection's start) and ``body_timeout_s`` for the body, so slow clients cannot
hold connections open.

Served by ``python -m collectors run`` when ``[webhooks] enabled = true``; the keys are the
``api_key``/``api_secret`` pairs of the configured ``[[livekit]]`` sources, and an event is
stored under the source whose key signed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import jwt
from aiohttp import ClientPayloadError, web
from google.protobuf.json_format import ParseError
from livekit import api
from livekit.protocol import webhook as webhook_pb
from sqlalchemy import Engine

from collectors import self_metrics
from collectors.health import ensure_source
from collectors.webhook_sessions import (
    RoomConnectionMinutes,
    bump_counter,
    read_counters,
    reconcile_connection_minutes,
    store_event,
)
from core.logs import register_secret
from core.settings import Settings

log = logging.getLogger(__name__)

_READ_CHUNK_BYTES = 64 * 1024
MAX_TOKEN_AGE_S = 300  # the 5 minutes LiveKit signs webhooks for
TOKEN_LEEWAY_S = 10  # clock skew allowed (livekit-api's TokenVerifier default)
JSON_TYPES = ("application/json", "application/webhook+json")
REPORT_EVERY_S = 60.0
DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BODY_TIMEOUT_S = 10.0
_MAX_TRACKED_ADDRESSES = 10_000


@dataclass(frozen=True)
class WebhookConfig:
    keys: Mapping[str, str]  # api_key -> api_secret
    source_ids: Mapping[str, int]  # api_key -> sources.id
    max_body_bytes: int
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S


class RefusalTally:
    """Refusals counted in memory; :meth:`report` logs one line with the count per reason (and
    how many client addresses sent them) and adds each count to ``collector_counters`` in one
    write. The app reports every ``REPORT_EVERY_S`` and when it stops."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._counts: Counter[str] = Counter()
        self._addresses: set[str] = set()
        self._since = time.monotonic()

    def add(self, reason: str, remote: str | None) -> None:
        self._counts[reason] += 1
        self_metrics.count_webhook_refusal(reason)  # castmeter_webhook_refusals_total, at once
        if len(self._addresses) < _MAX_TRACKED_ADDRESSES:
            self._addresses.add(remote or "?")

    async def report(self) -> None:
        counts, addresses, since = self._counts, self._addresses, self._since
        self._counts, self._addresses, self._since = Counter(), set(), time.monotonic()
        if not counts:
            return
        log.warning(
            "webhook refusals in the last %.0f s: %s (from %s address%s)",
            time.monotonic() - since,
            ", ".join(f"{reason}={count}" for reason, count in sorted(counts.items())),
            f"{len(addresses):,}" + ("+" if len(addresses) >= _MAX_TRACKED_ADDRESSES else ""),
            "" if len(addresses) == 1 else "es",
        )
        for reason, count in sorted(counts.items()):
            await _count(self._engine, f"webhook_refused_{reason}", count)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(REPORT_EVERY_S)
            await self.report()


ENGINE_KEY = web.AppKey("engine", Engine)
CONFIG_KEY = web.AppKey("webhook_config", WebhookConfig)
TALLY_KEY = web.AppKey("webhook_refusals", RefusalTally)


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def _count(engine: Engine, name: str, by: int = 1) -> None:
    try:
        await asyncio.to_thread(bump_counter, engine, name, by)
    except Exception as exc:  # counting must never turn a refusal into a 500
        log.warning("could not count %s: %s", name, exc)


async def _read_bounded(request: web.Request, max_body_bytes: int) -> bytes:
    """The body, refusing before reading when Content-Length is too big and while reading
    when a chunked (or lying) sender goes past the limit."""
    if request.content_length is not None and request.content_length > max_body_bytes:
        raise Refused(413, "oversized")
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.content.iter_chunked(_READ_CHUNK_BYTES):
        total += len(chunk)
        if total > max_body_bytes:
            raise Refused(413, "oversized")
        chunks.append(chunk)
    return b"".join(chunks)


def _authenticate(config: WebhookConfig, auth_header: str) -> tuple[str, str, api.TokenVerifier]:
    """(token, api_key, verifier) for a header carrying a token signed by a known key, valid
    now and issued within MAX_TOKEN_AGE_S; raises Refused otherwise. Needs no body: a forged or
    stale request is refused before its body is read."""
    token = auth_header.strip()
    if token.lower().startswith("bearer "):  # LiveKit sends none; tolerate a proxy adding one
        token = token[7:].strip()
    if not token:
        raise Refused(401, "unsigned")
    try:
        issuer = str(jwt.decode(token, options={"verify_signature": False}).get("iss", ""))
    except jwt.PyJWTError as exc:
        raise Refused(401, "forged") from exc
    secret = config.keys.get(issuer)
    if secret is None:
        raise Refused(401, "forged")
    verifier = api.TokenVerifier(issuer, secret)
    _check_token(verifier, token)
    check_token_age(token)
    return token, issuer, verifier


def verify_request(
    config: WebhookConfig, body: bytes, auth_header: str
) -> tuple[str, webhook_pb.WebhookEvent, str]:
    """(api_key, event, body text) for a correctly signed body; raises Refused otherwise."""
    token, issuer, verifier = _authenticate(config, auth_header)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "not_json") from None
    try:
        event = api.WebhookReceiver(verifier).receive(text, token)
    except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError) as exc:
        raise Refused(401, "stale") from exc
    except jwt.PyJWTError as exc:
        raise Refused(401, "forged") from exc
    except ParseError as exc:
        raise Refused(400, "not_json") from exc
    except Exception as exc:
        # WebhookReceiver raises a bare Exception for these two cases.
        if "hash mismatch" in str(exc):
            raise Refused(401, "body_mismatch") from exc
        if "sha256" in str(exc):
            raise Refused(401, "forged") from exc
        raise Refused(400, "not_json") from exc
    if not event.id:
        raise Refused(400, "no_id")
    return issuer, event, text


def check_token_age(token: str, now_ts: float | None = None) -> None:
    """Refuse a (verified) token issued more than MAX_TOKEN_AGE_S ago: ``exp`` is the signer's
    choice, the age is ours. The issue time is ``iat``, else ``nbf`` (LiveKit sets ``nbf``)."""
    claims = jwt.decode(token, options={"verify_signature": False})
    issued = claims.get("iat", claims.get("nbf"))
    if not isinstance(issued, int | float):
        raise Refused(401, "stale")
    age_s = (time.time() if now_ts is None else now_ts) - float(issued)
    if age_s > MAX_TOKEN_AGE_S + TOKEN_LEEWAY_S or age_s < -TOKEN_LEEWAY_S:
        raise Refused(401, "stale")


def _is_json_type(content_type: str) -> bool:
    return content_type in JSON_TYPES or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


def _check_token(verifier: api.TokenVerifier, token: str) -> None:
    try:
        verifier.verify(token)
    except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError) as exc:
        raise Refused(401, "stale") from exc
    except jwt.PyJWTError as exc:
        raise Refused(401, "forged") from exc


async def _read_body(request: web.Request, config: WebhookConfig) -> bytes:
    try:
        async with asyncio.timeout(config.body_timeout_s):
            return await _read_bounded(request, config.max_body_bytes)
    except TimeoutError:
        raise Refused(408, "slow_body") from None
    except (ClientPayloadError, ConnectionResetError, asyncio.IncompleteReadError):
        raise Refused(400, "dropped") from None


async def _handle(request: web.Request) -> web.Response:
    engine = request.app[ENGINE_KEY]
    config = request.app[CONFIG_KEY]
    try:
        auth_header = request.headers.get("Authorization", "")
        if not auth_header.strip():
            # Still refuse an oversized body as oversized: the cheaper check first.
            if request.content_length is not None and request.content_length > config.max_body_bytes:
                raise Refused(413, "oversized")
            raise Refused(401, "unsigned")
        _authenticate(config, auth_header)  # forged or stale: refused before the body is read
        if not _is_json_type(request.content_type):
            raise Refused(415, "content_type")
        body = await _read_body(request, config)
        api_key, event, text = verify_request(config, body, auth_header)
    except Refused as refusal:
        request.app[TALLY_KEY].add(refusal.reason, request.remote)
        response = web.Response(status=refusal.status, text=f"refused: {refusal.reason}\n")
        if refusal.status in (408, 413) or refusal.reason == "dropped":
            response.force_close()  # do not drain what is left of the body on this connection
        return response
    source_id = config.source_ids[api_key]
    stored = await asyncio.to_thread(store_event, engine, event, text, source_id, int(time.time()))
    await _count(engine, "webhook_accepted" if stored else "webhook_duplicate")
    return web.Response(status=200, text="ok\n" if stored else "duplicate\n")


async def _health(_request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


def make_webhook_app(
    engine: Engine,
    keys: Mapping[str, str],
    max_body_bytes: int,
    source_id: int | Mapping[str, int],
    *,
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
) -> web.Application:
    """The aiohttp app: POST on any path receives webhooks; GET /healthz answers ok.
    ``source_id`` is one id for every key, or a mapping api_key -> id. Refusals are reported
    once a minute and when the app stops."""
    if not keys:
        raise ValueError("webhooks need at least one api_key/api_secret (a [[livekit]] source)")
    source_ids = dict(source_id) if isinstance(source_id, Mapping) else dict.fromkeys(keys, int(source_id))
    missing = sorted(set(keys) - set(source_ids))
    if missing:
        raise ValueError(f"no source id for api key(s): {', '.join(missing)}")
    for secret in keys.values():
        register_secret(secret)
    # aiohttp's own limit is a backstop above ours, so our check (and counter) runs first.
    app = web.Application(client_max_size=max_body_bytes + _READ_CHUNK_BYTES)
    app[ENGINE_KEY] = engine
    app[CONFIG_KEY] = WebhookConfig(dict(keys), source_ids, max_body_bytes, body_timeout_s)
    app[TALLY_KEY] = RefusalTally(engine)
    app.cleanup_ctx.append(_reporting)
    app.router.add_get("/healthz", _health)
    app.router.add_post("/{tail:.*}", _handle)
    return app


async def _reporting(app: web.Application) -> AsyncIterator[None]:
    tally = app[TALLY_KEY]
    task = asyncio.create_task(tally.run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await tally.report()


def webhook_keys_and_sources(settings: Settings, engine: Engine) -> tuple[dict[str, str], dict[str, int]]:
    """api_key -> secret and api_key -> source id, from the configured [[livekit]] sources."""
    keys: dict[str, str] = {}
    source_ids: dict[str, int] = {}
    for source in settings.livekit:
        if source.api_key in keys:
            continue  # the first source with a key owns its events
        keys[source.api_key] = source.api_secret.get_secret_value()
        source_ids[source.api_key] = ensure_source(engine, source.name, "livekit", source.url)
    return keys, source_ids


class WebhookServer:
    """The receiver as a start/stop object (port 0 binds a free port; see ``.port``).
    ``header_timeout_s`` bounds how long a connection may take to deliver a request head (and
    how long it may idle between requests): aiohttp's keep-alive timer, which runs from the
    connection's start and closes it while no complete request has arrived."""

    def __init__(
        self, app: web.Application, host: str, port: int, header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.header_timeout_s = header_timeout_s
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        self._runner = web.AppRunner(self.app, access_log=None, keepalive_timeout=self.header_timeout_s)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        addresses = self._runner.addresses
        if addresses:
            self.port = int(addresses[0][1])
        log.info("webhook receiver listening on http://%s:%d/", self.host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def serve_webhooks(settings: Settings, engine: Engine, stop: asyncio.Event | None = None) -> None:
    """Run the receiver configured by ``settings.webhooks`` until ``stop`` is set (or cancelled)."""
    keys, source_ids = await asyncio.to_thread(webhook_keys_and_sources, settings, engine)
    hooks = settings.webhooks
    app = make_webhook_app(
        engine, keys, hooks.max_body_bytes, source_ids, body_timeout_s=hooks.body_timeout_s
    )
    server = WebhookServer(app, hooks.host, hooks.port, header_timeout_s=hooks.header_timeout_s)
    await server.start()
    try:
        await (stop or asyncio.Event()).wait()
    finally:
        await server.stop()


__all__ = [
    "RoomConnectionMinutes",
    "WebhookServer",
    "make_webhook_app",
    "read_counters",
    "reconcile_connection_minutes",
    "serve_webhooks",
    "webhook_keys_and_sources",
]
