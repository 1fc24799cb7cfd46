"""Bounded fuzzing (hypothesis) of what parses outside input: the webhook verifier, the Twirp
responses the room poller decodes, the settings loader and the alert rules loader. Each must
either accept the input or refuse it with its own error type — never anything else."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import tomllib
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from livekit import api
from livekit.protocol import room as room_pb

from analytics.alerts.rules import RuleError, parse_rules, parse_rules_yaml
from collectors.livekit_rooms import RoomRow
from collectors.webhooks import Refused, WebhookConfig, verify_request
from core.settings import ConfigError, load_settings

BOUNDED = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
KEY, SECRET = "fuzzkey", "fuzz-secret-0123456789-0123456789-abcdef"
CONFIG = WebhookConfig(keys={KEY: SECRET}, source_ids={KEY: 1}, max_body_bytes=1_048_576)
text = st.text(max_size=300)
json_like = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | text,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(text, children, max_size=5),
    max_leaves=30,
)


def _signed(body: bytes, *, secret: str = SECRET, key: str = KEY) -> str:
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    return api.AccessToken(key, secret).with_sha256(digest).to_jwt()


@BOUNDED
@given(body=st.binary(max_size=2000), header=text)
def test_webhook_verifier_with_arbitrary_bodies_and_headers(body: bytes, header: str) -> None:
    with pytest.raises(Refused) as info:
        verify_request(CONFIG, body, header)
    assert info.value.status in (400, 401, 413)


@BOUNDED
@given(body=st.binary(max_size=2000))
def test_webhook_verifier_with_correctly_signed_garbage(body: bytes) -> None:
    try:
        verify_request(CONFIG, body, _signed(body))
    except Refused as refusal:
        assert refusal.status == 400  # signed but not a webhook event: bad request, not forged
    with pytest.raises(Refused) as info:
        verify_request(CONFIG, body, _signed(body, secret="another-secret-0123456789-abcdefghij"))
    assert info.value.status == 401


@pytest.mark.slow
@BOUNDED
@given(event=json_like)
def test_webhook_verifier_with_signed_json_of_any_shape(event: Any) -> None:
    import json

    body = json.dumps(event, allow_nan=True).encode()
    try:
        verify_request(CONFIG, body, _signed(body))
    except Refused as refusal:
        assert refusal.status == 400


@BOUNDED
@given(payload=st.binary(max_size=4000))
def test_twirp_room_responses_decode_or_refuse(payload: bytes) -> None:
    try:
        response = room_pb.ListRoomsResponse.FromString(payload)
    except DecodeError:
        return
    # What the poller builds from a decoded answer must hold whatever the values.
    rows = [RoomRow(r.sid, r.name, int(r.creation_time), int(r.num_participants), int(r.num_publishers))
            for r in response.rooms]  # fmt: skip
    assert all(isinstance(row.room_name, str) for row in rows)


@pytest.mark.slow
@BOUNDED
@given(
    data=st.dictionaries(
        st.sampled_from(
            [
                "database",
                "collectors",
                "livekit",
                "prometheus",
                "webhooks",
                "retention",
                "dashboard",
                "prices",
                "alerts",
                "billing",
                "other",
            ]
        ),
        json_like,
        max_size=4,
    )
)
def test_settings_loader_accepts_or_names_the_problem(
    tmp_path_factory: pytest.TempPathFactory, data: Any
) -> None:
    path = Path(tmp_path_factory.mktemp("cfg")) / "castmeter.toml"
    path.write_text(_to_toml(_toml_safe(data)))
    try:
        tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError:
        return
    try:
        load_settings(path, env={})
    except ConfigError as exc:
        assert "invalid" in str(exc) or "not found" in str(exc)


@BOUNDED
@given(raw=st.text(max_size=500))
def test_settings_loader_with_arbitrary_text(tmp_path_factory: pytest.TempPathFactory, raw: str) -> None:
    path = Path(tmp_path_factory.mktemp("cfg")) / "castmeter.toml"
    path.write_text(raw, encoding="utf-8")
    with contextlib.suppress(ConfigError):
        load_settings(path, env={})


@pytest.mark.slow
@BOUNDED
@given(data=json_like)
def test_rules_loader_with_any_structure(data: Any) -> None:
    for candidate in (data, {"rules": data}, {"rules": [data]}):
        with contextlib.suppress(RuleError):
            parse_rules(candidate)


@BOUNDED
@given(raw=st.text(max_size=500))
def test_rules_loader_with_arbitrary_yaml_text(raw: str) -> None:
    with contextlib.suppress(RuleError):
        parse_rules_yaml(raw)


def _toml_safe(value: Any) -> Any:
    """TOML has no null and no NaN literals we want here; keep the rest."""
    if isinstance(value, dict):
        return {str(k): _toml_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_toml_safe(v) for v in value if v is not None]
    if isinstance(value, float) and value != value:
        return 0.0
    return value


def _to_toml(data: dict[str, Any]) -> str:
    """A minimal TOML writer (tables of scalars and arrays); good enough to fuzz the loader."""
    lines = []
    for table, content in data.items():
        if isinstance(content, dict):
            lines.append(f"[{_key(table)}]")
            for key, value in content.items():
                if not isinstance(value, dict):
                    lines.append(f"{_key(key)} = {_value(value)}")
        elif not isinstance(content, dict):
            lines.insert(0, f"{_key(table)} = {_value(content)}")
    return "\n".join(lines) + "\n"


def _key(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if abs(value) != float("inf") else "inf"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value if not isinstance(v, dict | list)) + "]"
    if isinstance(value, str):
        return _key(value)
    return '""'


def test_fuzz_helpers_write_valid_toml() -> None:
    assert tomllib.loads(_to_toml({"database": {"url": 'a"b', "x": [1, 2.5, True]}})) == {
        "database": {"url": 'a"b', "x": [1, 2.5, True]}
    }
