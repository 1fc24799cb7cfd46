"""API authentication as livekit-server does it (pkg/service/auth.go), with PyJWT.

- ``Authorization: Bearer <jwt>`` (or ``?access_token=``); a header without the Bearer
  prefix, a bad token or an unknown key -> HTTP 401 with a plain-text body (``AuthError``);
- no token at all -> no grants: the handler then answers Twirp ``unauthenticated``;
- the token is HS256, signed with the secret of the key named in ``iss``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from jwt.warnings import InsecureKeyLengthWarning

LEEWAY_S = 60  # go-jose's default time leeway, as used by livekit-server


class AuthError(Exception):
    """The request is refused before it reaches a handler (plain-text 401)."""


@dataclass(frozen=True)
class Grants:
    identity: str = ""
    video: Mapping[str, Any] = field(default_factory=dict)

    def can_list(self) -> bool:
        return bool(self.video.get("roomList"))

    def can_admin(self, room: str) -> bool:
        # EnsureAdminPermission: roomAdmin AND the token's room is the requested room.
        return bool(self.video.get("roomAdmin")) and str(self.video.get("room", "")) == room

    def can_record(self) -> bool:
        return bool(self.video.get("roomRecord"))

    def can_admin_ingress(self) -> bool:
        return bool(self.video.get("ingressAdmin"))


NO_GRANTS = Grants()


def grants_for(authorization: str | None, access_token: str | None, keys: Mapping[str, str]) -> Grants:
    """The grants of a request, or ``AuthError``. ``keys`` maps API key -> secret."""
    if authorization:
        if not authorization.startswith("Bearer "):
            raise AuthError("invalid authorization header. Must start with Bearer ")
        token = authorization[len("Bearer ") :]
    elif access_token:
        token = access_token
    else:
        return NO_GRANTS
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    api_key = str(unverified.get("iss", ""))
    secret = keys.get(api_key)
    if not secret:
        raise AuthError("invalid API key")
    try:
        with warnings.catch_warnings():
            # livekit-server accepts short secrets (its --dev pair is devkey/secret); so do we.
            warnings.simplefilter("ignore", InsecureKeyLengthWarning)
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                issuer=api_key,
                leeway=LEEWAY_S,
                options={"verify_aud": False},
            )
    except jwt.PyJWTError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    video = claims.get("video") or {}
    return Grants(identity=str(claims.get("sub", "")), video=video if isinstance(video, dict) else {})
