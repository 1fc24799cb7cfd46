"""Leases in PostgreSQL: which collector process owns each source and which one leads.

Every statement is one atomic statement judged by the DATABASE's clock (``now()``), so the
processes' own clocks never decide who owns what: a lease is taken when it is free or expired
(``expires_ts < now()``), renewed only by its holder, and each change of holder bumps its
``generation``. A writer proves it still owns a source with :func:`fence` right before each
write batch: same holder, same generation (the lease is renewed on the way). An expired lease
that nobody took meanwhile passes: no one else can have written under it, and the row lock the
UPDATE takes orders it against any process trying to take the lease at that moment.

``now()`` is the transaction's start: a statement that waited on a lock judges expiry, and
sets the new expiry, from an earlier instant, which only ever shortens a lease (safe).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

from store import schema

MEMBER_PREFIX = "member:"
SOURCE_PREFIX = "source:"
LEADER = "leader"

_NOW = "extract(epoch from now())"

_ACQUIRE = text(
    f"""
    INSERT INTO collector_leases AS lease (name, holder, generation, acquired_ts, renewed_ts, expires_ts)
    SELECT wanted.name, :holder, 1, {_NOW}, {_NOW}, {_NOW} + :ttl_s
    FROM unnest(CAST(:names AS text[])) AS wanted(name)
    ON CONFLICT (name) DO UPDATE SET
        holder = excluded.holder,
        generation = CASE WHEN lease.holder = excluded.holder THEN lease.generation
                          ELSE lease.generation + 1 END,
        acquired_ts = CASE WHEN lease.holder = excluded.holder THEN lease.acquired_ts
                           ELSE excluded.acquired_ts END,
        renewed_ts = excluded.renewed_ts,
        expires_ts = excluded.expires_ts
    WHERE lease.holder = excluded.holder OR lease.expires_ts < excluded.renewed_ts
    RETURNING lease.name, lease.generation
    """
)

_FENCE = text(
    f"""
    UPDATE collector_leases SET renewed_ts = {_NOW}, expires_ts = {_NOW} + :ttl_s
    WHERE name = :name AND holder = :holder AND generation = :generation
    RETURNING name
    """
)

_RELEASE = text(
    f"""
    UPDATE collector_leases SET expires_ts = {_NOW} - 1
    WHERE name = ANY(CAST(:names AS text[])) AND holder = :holder
    """
)

_STATE = text(
    f"""
    SELECT name, holder, expires_ts > {_NOW} AS live FROM collector_leases
    WHERE name LIKE 'source:%' OR name LIKE 'member:%'
    """
)

# Heartbeats of processes gone for an hour are forgotten (the Overview lists the live ones).
_FORGET = text(f"DELETE FROM collector_leases WHERE name LIKE 'member:%' AND expires_ts < {_NOW} - 3600")


@dataclass(frozen=True)
class LeaseRow:
    name: str
    holder: str
    live: bool


def acquire(connection: Connection, holder: str, names: Sequence[str], ttl_s: float) -> dict[str, int]:
    """Take or renew ``names`` for ``holder`` for ``ttl_s`` seconds where allowed (free,
    expired, or already ours); returns the ones granted with their generation."""
    if not names:
        return {}
    rows = connection.execute(_ACQUIRE, {"holder": holder, "names": list(names), "ttl_s": ttl_s})
    return {str(name): int(generation) for name, generation in rows}


def fence(connection: Connection, holder: str, name: str, generation: int, ttl_s: float) -> bool:
    """True when ``holder`` still owns ``name`` under ``generation`` (and renews it for ``ttl_s``)."""
    row = connection.execute(
        _FENCE, {"holder": holder, "name": name, "generation": generation, "ttl_s": ttl_s}
    ).first()
    return row is not None


def release(connection: Connection, holder: str, names: Sequence[str]) -> None:
    """Give ``names`` up at once (a clean stop, or more than a fair share)."""
    if names:
        connection.execute(_RELEASE, {"holder": holder, "names": list(names)})


def state(connection: Connection) -> list[LeaseRow]:
    """Every source and member lease, with whether it is live by the database's clock."""
    return [LeaseRow(str(n), str(h), bool(live)) for n, h, live in connection.execute(_STATE)]


def forget_departed(connection: Connection) -> None:
    connection.execute(_FORGET)


__all__ = ["LEADER", "MEMBER_PREFIX", "SOURCE_PREFIX", "LeaseRow", "acquire", "fence", "release", "state"]
_ = schema.collector_leases  # the table these statements use (store/schema.py)
