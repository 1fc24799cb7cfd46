"""LiveKit-looking ids (``RM_``, ``PA_``, ``EG_``, ``IN_``, ``ND_``, ``TR_`` + 12 characters),
made deterministically from random integers or from a stable hash."""

from __future__ import annotations

import hashlib

import numpy as np

_ALPHABET = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype="S1")
ID_CHARS = 12


def suffixes_from_ints(raw: np.ndarray) -> np.ndarray:
    """12-character base-62 strings from non-negative 64-bit integers."""
    low = np.asarray(raw, dtype=np.int64).astype(np.uint64)
    # 62**12 > 2**64: take 6 digits from the value and 6 from a mixed copy of it.
    with np.errstate(over="ignore"):
        high = low * np.uint64(0x9E3779B97F4A7C15)
        high ^= high >> np.uint64(29)
    n = len(low)
    digits = np.empty((n, ID_CHARS), dtype=np.uint64)
    half = ID_CHARS // 2
    for position in range(half):
        digits[:, position] = low % np.uint64(62)
        low = low // np.uint64(62)
        digits[:, half + position] = high % np.uint64(62)
        high = high // np.uint64(62)
    chars = _ALPHABET[digits.astype(np.intp)]
    return np.ascontiguousarray(chars).view(f"S{ID_CHARS}").ravel().astype(str)


def prefixed(prefix: str, suffixes: np.ndarray) -> np.ndarray:
    return np.char.add(prefix, suffixes).astype(object)


def stable_id(prefix: str, *parts: object) -> str:
    """A deterministic id from ``parts`` (used for nodes, ingresses and channel keys)."""
    digest = hashlib.sha256("|".join(str(part) for part in parts).encode()).digest()
    value = int.from_bytes(digest[:16], "big")
    chars = []
    for _ in range(ID_CHARS):
        value, digit = divmod(value, 62)
        chars.append(_ALPHABET[digit].decode())
    return prefix + "".join(chars)


def channel_key(scenario: str, channel: int) -> str:
    """The stable id of a channel, like the seed's ``channel-0jfvb5vb`` (8 lower-case chars)."""
    digest = hashlib.sha256(f"{scenario}|channel|{channel}".encode()).digest()
    value = int.from_bytes(digest[:8], "big")
    alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
    chars = []
    for _ in range(8):
        value, digit = divmod(value, 36)
        chars.append(alphabet[digit])
    return "".join(chars)
