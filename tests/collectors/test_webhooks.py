"""The webhook receiver: requests signed exactly like livekit-server's, and every forgery.

livekit-server (protocol/webhook/resource_url_notifier.go) POSTs protojson(WebhookEvent) with
``Authorization: <JWT>`` (no Bearer), the JWT signed HS256 by the API secret with claims
iss=api_key, nbf/iat=now, exp=now+5min and sha256=base64(SHA-256(body)); ``_sign`` below makes
the same token with PyJWT.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf.json_format import MessageToJson
from livekit import api
from livekit.protocol import models as models_pb
from livekit.protocol import webhook as webhook_pb
from sqlalchemy import Engine, select

from collectors.webhook_sessions import reconcile_connection_minutes
from collectors.webhooks import make_webhook_app, read_counters
from core.settings import load_settings
from store import schema
from store.engine import open_store

KEY = "APIwebhooktest"
SECRET = "s3cr3t-webhook-test-secret-0123456789abcdef"
OTHER_SECRET = "another-secret-that-livekit-never-used-000000"
SOURCE_ID = 7
MAX_BODY = 4096
T0 = 1_800_000_000  # event times in the bodies (the token times are real "now")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'c.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    engine = open_store(url)
    yield engine
    engine.dispose()


def _sign(body: bytes, *, key: str = KEY, secret: str = SECRET, now: int | None = None,
          ttl_s: int = 300, sha256: str | None = None) -> str:  # fmt: skip
    now = int(time.time()) if now is None else now
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode() if sha256 is None else sha256
    claims: dict[str, Any] = {"iss": key, "nbf": now, "iat": now, "exp": now + ttl_s}
    if digest:
        claims["sha256"] = digest
    return jwt.encode(claims, secret, algorithm="HS256")


def _event(name: str, event_id: str, created_ts: int, *, room_sid: str = "RM_radio", room_name: str = "channel-x",
           participant: tuple[str, str, int] | None = None, publisher: bool = False,
           num_participants: int = 0, num_publishers: int = 0) -> bytes:  # fmt: skip
    event = webhook_pb.WebhookEvent(event=name, id=event_id, created_at=created_ts)
    event.room.CopyFrom(
        models_pb.Room(sid=room_sid, name=room_name, creation_time=T0, num_participants=num_participants,
                       num_publishers=num_publishers)
    )  # fmt: skip
    if participant is not None:
        sid, identity, joined_ts = participant
        event.participant.CopyFrom(
            models_pb.ParticipantInfo(sid=sid, identity=identity, joined_at=joined_ts, is_publisher=publisher,
                                      state=models_pb.ParticipantInfo.ACTIVE)
        )  # fmt: skip
    # protojson as the server writes it: lowerCamelCase names, int64 as strings.
    return MessageToJson(event, indent=0).replace("\n", "").encode()


Post = Callable[..., Awaitable[tuple[int, str]]]


def _run(engine: Engine, scenario: Callable[[Post], Awaitable[None]], *, max_body: int = MAX_BODY) -> None:
    app = make_webhook_app(engine, {KEY: SECRET}, max_body, SOURCE_ID)

    async def main() -> None:
        async with TestClient(TestServer(app)) as client:

            async def post(body: bytes | Any, auth: str | None = None, headers: dict[str, str] | None = None,
                           path: str = "/") -> tuple[int, str]:  # fmt: skip
                sent = {"Content-Type": "application/webhook+json", **(headers or {})}
                if auth is not None:
                    sent["Authorization"] = auth
                response = await client.post(path, data=body, headers=sent)
                return response.status, await response.text()

            await scenario(post)

    asyncio.run(main())


def _events(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(select(schema.webhook_events).order_by(schema.webhook_events.c.event_id))
        return [dict(row._mapping) for row in rows]


def _participants(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(select(schema.participant_sessions))
        return {row.participant_sid: dict(row._mapping) for row in rows}


# ---------------------------------------------------------------------------------------------
# Accepted
# ---------------------------------------------------------------------------------------------


def test_valid_event_is_verified_by_the_official_receiver_and_stored_once(store: Engine) -> None:
    body = _event("participant_joined", "EV_one", T0 + 5, participant=("PA_dj", "dj", T0 + 4), publisher=True,
                  num_participants=1, num_publishers=1)  # fmt: skip
    auth = _sign(body)
    # The same bytes pass livekit-api's own check (the receiver must agree with it).
    assert api.WebhookReceiver(api.TokenVerifier(KEY, SECRET)).receive(body.decode(), auth).id == "EV_one"
    statuses: list[int] = []

    async def scenario(post: Post) -> None:
        statuses.append((await post(body, auth))[0])
        statuses.append((await post(body, auth, path="/livekit/webhook"))[0])  # a re-delivery
        statuses.append((await post(body, _sign(body)))[0])  # re-sent with a fresh token

    _run(store, scenario)
    assert statuses == [200, 200, 200]
    events = _events(store)
    assert len(events) == 1
    stored = events[0]
    assert (stored["event"], stored["source_id"], stored["created_ts"]) == (
        "participant_joined",
        SOURCE_ID,
        T0 + 5,
    )
    assert (stored["room_sid"], stored["participant_sid"], stored["participant_identity"]) == (
        "RM_radio",
        "PA_dj",
        "dj",
    )
    assert stored["body_json"] == body.decode()  # the verified bytes, unchanged
    assert read_counters(store) == {"webhook_accepted": 1, "webhook_duplicate": 2}


def test_bearer_prefix_added_by_a_proxy_is_tolerated(store: Engine) -> None:
    body = _event("room_started", "EV_bearer", T0)
    result: list[int] = []

    async def scenario(post: Post) -> None:
        result.append((await post(body, "Bearer " + _sign(body)))[0])

    _run(store, scenario)
    assert result == [200]


# ---------------------------------------------------------------------------------------------
# Refused: never stored, always counted
# ---------------------------------------------------------------------------------------------


def _forged_signature(body: bytes) -> str:
    header, payload, signature = _sign(body).split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    return f"{header}.{payload}.{flipped}"


def _tampered_claims(body: bytes) -> str:
    # A valid token's payload swapped for one with another body's hash, signature kept.
    header, _payload, signature = _sign(body).split(".")
    other = _sign(b'{"event":"room_finished","id":"EV_evil"}').split(".")[1]
    return f"{header}.{other}.{signature}"


REFUSALS: list[tuple[str, Callable[[bytes], tuple[bytes, str | None]], int, str]] = [
    ("missing header", lambda b: (b, None), 401, "webhook_refused_unsigned"),
    ("empty header", lambda b: (b, ""), 401, "webhook_refused_unsigned"),
    ("forged signature", lambda b: (b, _forged_signature(b)), 401, "webhook_refused_forged"),
    ("tampered claims", lambda b: (b, _tampered_claims(b)), 401, "webhook_refused_forged"),
    ("wrong secret", lambda b: (b, _sign(b, secret=OTHER_SECRET)), 401, "webhook_refused_forged"),
    ("unknown key", lambda b: (b, _sign(b, key="APIunknown")), 401, "webhook_refused_forged"),
    ("not a jwt", lambda b: (b, "not-a-token"), 401, "webhook_refused_forged"),
    (
        "alg none",
        lambda b: (
            b,
            jwt.encode(
                {
                    "iss": KEY,
                    "exp": int(time.time()) + 60,
                    "sha256": base64.b64encode(hashlib.sha256(b).digest()).decode(),
                },
                key="",  # "none" takes no key (PyJWT reads "" as None)
                algorithm="none",
            ),
        ),
        401,
        "webhook_refused_forged",
    ),
    ("no body hash claim", lambda b: (b, _sign(b, sha256="")), 401, "webhook_refused_forged"),
    (
        "body hash mismatch",
        lambda b: (b.replace(b"EV_", b"EX_"), _sign(b)),
        401,
        "webhook_refused_body_mismatch",
    ),
    ("expired token", lambda b: (b, _sign(b, now=int(time.time()) - 3600)), 401, "webhook_refused_stale"),
    ("not yet valid", lambda b: (b, _sign(b, now=int(time.time()) + 3600)), 401, "webhook_refused_stale"),
    ("signed non-json", lambda b: (b"<xml/>", _sign(b"<xml/>")), 400, "webhook_refused_not_json"),
    ("signed non-utf8", lambda b: (b"\xff\xfe", _sign(b"\xff\xfe")), 400, "webhook_refused_not_json"),
    ("signed json array", lambda b: (b"[1]", _sign(b"[1]")), 400, "webhook_refused_not_json"),
    (
        "signed json without id",
        lambda b: (b'{"event":"room_started"}', _sign(b'{"event":"room_started"}')),
        400,
        "webhook_refused_no_id",
    ),
    ("unsigned non-json", lambda b: (b"<xml/>", None), 401, "webhook_refused_unsigned"),
    (
        "forged non-utf8",
        lambda b: (b"\xff", _sign(b"\xff", secret=OTHER_SECRET)),
        401,
        "webhook_refused_forged",
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize(("case", "make", "status", "counter"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals_are_counted_and_never_stored(
    store: Engine, case: str, make: Callable[[bytes], tuple[bytes, str | None]], status: int, counter: str
) -> None:
    body = _event("participant_left", "EV_refused", T0 + 9, participant=("PA_x", "x", T0))
    sent_body, auth = make(body)
    result: list[tuple[int, str]] = []

    async def scenario(post: Post) -> None:
        result.append(await post(sent_body, auth))

    _run(store, scenario)
    assert result[0][0] == status, (case, result)
    assert _events(store) == []
    assert _participants(store) == {}
    assert read_counters(store) == {counter: 1}


def test_oversized_by_content_length_and_while_reading(store: Engine) -> None:
    big = _event("room_started", "EV_big", T0, room_name="x" * (MAX_BODY + 10))
    assert len(big) > MAX_BODY
    result: list[int] = []

    async def chunked() -> Any:
        # No Content-Length: the limit must hold while streaming.
        for start in range(0, len(big), 1000):
            yield big[start : start + 1000]

    async def scenario(post: Post) -> None:
        result.append((await post(big, _sign(big)))[0])  # declared too large
        result.append((await post(big, None))[0])  # too large and unsigned: 413 first
        result.append((await post(chunked(), _sign(big)))[0])  # streamed past the limit

    _run(store, scenario)
    assert result == [413, 413, 413]
    assert _events(store) == []
    assert read_counters(store) == {"webhook_refused_oversized": 3}


def test_a_body_at_the_limit_is_accepted(store: Engine) -> None:
    base = _event("room_started", "EV_limit", T0, room_name="r")
    pad = MAX_BODY - len(base)
    body = _event("room_started", "EV_limit", T0, room_name="r" + "x" * pad)
    assert len(body) == MAX_BODY
    result: list[int] = []

    async def scenario(post: Post) -> None:
        result.append((await post(body, _sign(body)))[0])

    _run(store, scenario)
    assert result == [200]


# ---------------------------------------------------------------------------------------------
# Sessions with exact times, and the poller's rows
# ---------------------------------------------------------------------------------------------


def _deliver(engine: Engine, bodies: list[bytes]) -> list[int]:
    statuses: list[int] = []

    async def scenario(post: Post) -> None:
        for body in bodies:
            statuses.append((await post(body, _sign(body)))[0])

    _run(engine, scenario, max_body=1_048_576)
    return statuses


@pytest.mark.slow
def test_sessions_get_exact_times_and_minutes(store: Engine) -> None:
    bodies = [
        _event("room_started", "EV_1", T0, num_participants=0),
        _event(
            "participant_joined",
            "EV_2",
            T0 + 2,
            participant=("PA_dj", "dj", T0 + 2),
            publisher=True,
            num_participants=1,
            num_publishers=1,
        ),
        _event(
            "participant_joined",
            "EV_3",
            T0 + 10,
            participant=("PA_l1", "l1", T0 + 10),
            num_participants=2,
            num_publishers=1,
        ),
        _event(
            "participant_joined",
            "EV_4",
            T0 + 20,
            participant=("PA_l2", "l2", T0 + 20),
            num_participants=3,
            num_publishers=1,
        ),
        _event("participant_left", "EV_5", T0 + 10 + 90, participant=("PA_l1", "l1", T0 + 10)),
        _event("participant_connection_aborted", "EV_6", T0 + 20 + 30, participant=("PA_l2", "l2", T0 + 20)),
        _event("participant_left", "EV_7", T0 + 302, participant=("PA_dj", "dj", T0 + 2), publisher=True),
        _event("room_finished", "EV_8", T0 + 330),
    ]
    assert _deliver(store, bodies) == [200] * len(bodies)
    parts = _participants(store)
    assert {sid: (p["joined_ts"], p["left_ts"], p["origin"]) for sid, p in parts.items()} == {
        "PA_dj": (T0 + 2, T0 + 302, "webhook"),
        "PA_l1": (T0 + 10, T0 + 100, "webhook"),
        "PA_l2": (T0 + 20, T0 + 50, "webhook"),
    }
    assert parts["PA_dj"]["is_publisher"] and not parts["PA_l1"]["is_publisher"]
    with store.connect() as connection:
        room = connection.execute(select(schema.room_sessions)).one()
    assert (room.started_ts, room.ended_ts, room.max_participants, room.max_listeners) == (T0, T0 + 330, 3, 2)
    (minutes,) = reconcile_connection_minutes(store, T0, T0 + 3600)
    assert minutes.room_sid == "RM_radio" and minutes.webhook_connections == 3
    assert minutes.webhook_min == pytest.approx((300 + 90 + 30) / 60, abs=1e-3)
    assert minutes.webhook_billed_min == 5 + 2 + 1  # each connection rounded up
    assert minutes.session_min == pytest.approx(minutes.webhook_min, abs=1e-3)
    # A window cuts the connections at its edges.
    (early,) = reconcile_connection_minutes(store, T0, T0 + 60)
    assert early.webhook_min == pytest.approx((58 + 50 + 30) / 60, abs=1e-3)


def _poll(ts: int, members: list[tuple[str, int]]) -> Any:
    from collectors.livekit_rooms import ParticipantRow, RoomRow, RoomSnapshot

    snapshot = RoomSnapshot(ts=ts, rooms=[RoomRow("RM_radio", "channel-x", T0, len(members), 0)])
    snapshot.participants = [
        ParticipantRow(sid, "RM_radio", sid.lower(), "", "STANDARD", False, joined) for sid, joined in members
    ]
    return snapshot


def test_webhook_times_win_over_polled_estimates_in_either_order(store: Engine) -> None:
    from collectors.sessions import SessionTracker

    tracker = SessionTracker(store, SOURCE_ID)  # the lead's poller-side writer, as it runs
    both = [("PA_l1", T0 + 10), ("PA_l2", T0 + 5)]
    joins = [
        _event("participant_joined", "EV_j1", T0 + 10, participant=("PA_l1", "l1", T0 + 10)),
        _event("participant_joined", "EV_j2", T0 + 5, participant=("PA_l2", "l2", T0 + 5)),
    ]
    assert _deliver(store, joins) == [200, 200]
    tracker.apply(_poll(T0 + 15, both))
    tracker.apply(_poll(T0 + 30, both))
    # Webhook first: PA_l2 leaves at T0+40; the next poll must not move that end.
    assert _deliver(
        store, [_event("participant_left", "EV_l2", T0 + 40, participant=("PA_l2", "l2", T0 + 5))]
    )
    tracker.apply(_poll(T0 + 45, [("PA_l1", T0 + 10)]))
    tracker.apply(_poll(T0 + 75, [("PA_l1", T0 + 10)]))
    # Poll first: PA_l1 is gone at T0+105 (estimate: last seen T0+75); the webhook comes late.
    tracker.apply(_poll(T0 + 105, []))
    assert _participants(store)["PA_l1"]["left_ts"] == T0 + 75
    assert _deliver(
        store, [_event("participant_left", "EV_l1", T0 + 100, participant=("PA_l1", "l1", T0 + 10))]
    )
    parts = _participants(store)
    assert {sid: (p["joined_ts"], p["left_ts"], p["origin"]) for sid, p in parts.items()} == {
        "PA_l1": (T0 + 10, T0 + 100, "webhook"),
        "PA_l2": (T0 + 5, T0 + 40, "webhook"),
    }
    (minutes,) = reconcile_connection_minutes(store, T0, T0 + 3600)
    # Samples (15,2) (30,2) (45,1) (75,1) (105,0): 2·15 + 2·15 + 1·30 + 1·30 = 120 s.
    assert minutes.poll_min == pytest.approx(2.0)
    assert minutes.webhook_min == pytest.approx((90 + 35) / 60, abs=1e-3)
    assert minutes.session_min == pytest.approx(minutes.webhook_min, abs=1e-3)
    assert minutes.poll_samples == 5


def test_track_published_marks_the_participant_as_publisher(store: Engine) -> None:
    track_event = webhook_pb.WebhookEvent(event="track_published", id="EV_t", created_at=T0 + 3)
    track_event.room.CopyFrom(models_pb.Room(sid="RM_radio", name="channel-x"))
    track_event.participant.CopyFrom(models_pb.ParticipantInfo(sid="PA_dj", identity="dj"))
    track_event.track.CopyFrom(models_pb.TrackInfo(sid="TR_a", type=models_pb.AUDIO))
    bodies = [
        _event("participant_joined", "EV_j", T0 + 2, participant=("PA_dj", "dj", T0 + 2)),
        MessageToJson(track_event).encode(),
    ]
    assert _deliver(store, bodies) == [200, 200]
    assert _participants(store)["PA_dj"]["is_publisher"] is True


# ---------------------------------------------------------------------------------------------
# Wiring from the settings
# ---------------------------------------------------------------------------------------------


def test_app_needs_keys_and_source_ids(store: Engine) -> None:
    with pytest.raises(ValueError, match="at least one"):
        make_webhook_app(store, {}, MAX_BODY, SOURCE_ID)
    with pytest.raises(ValueError, match="no source id"):
        make_webhook_app(store, {KEY: SECRET, "K2": "s2"}, MAX_BODY, {KEY: 1})


def test_serve_webhooks_from_settings_stores_under_the_signing_source(tmp_path: Path) -> None:
    from collectors.webhooks import WebhookServer, webhook_keys_and_sources

    config = tmp_path / "castmeter.toml"
    config.write_text(
        f"""
[webhooks]
enabled = true
port = 8788
[[livekit]]
name = "lk-a"
url = "http://127.0.0.1:1"
api_key = "{KEY}"
api_secret = "{SECRET}"
[[livekit]]
name = "lk-b"
url = "http://127.0.0.1:2"
api_key = "APIother"
api_secret = "{OTHER_SECRET}"
"""
    )
    settings = load_settings(config, env={})
    engine = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    keys, source_ids = webhook_keys_and_sources(settings, engine)
    assert keys == {KEY: SECRET, "APIother": OTHER_SECRET}
    with engine.connect() as connection:
        ids = dict(connection.execute(select(schema.sources.c.name, schema.sources.c.id)).all())
    assert source_ids == {KEY: ids["lk-a"], "APIother": ids["lk-b"]}
    body = _event("room_started", "EV_b", T0)

    async def main() -> int:
        import aiohttp

        server = WebhookServer(make_webhook_app(engine, keys, 4096, source_ids), "127.0.0.1", 0)
        port = await server.start()
        try:
            async with aiohttp.ClientSession() as session:
                headers = {"Authorization": _sign(body, key="APIother", secret=OTHER_SECRET),
                           "Content-Type": "application/webhook+json"}  # fmt: skip
                async with session.post(f"http://127.0.0.1:{port}/", data=body, headers=headers) as response:
                    return response.status
        finally:
            await server.stop()

    assert asyncio.run(main()) == 200
    assert [e["source_id"] for e in _events(engine)] == [ids["lk-b"]]
