"""Leases in PostgreSQL (store/leases.py, collectors/ownership.py): taken only when free or
expired by the database's clock, a new generation per new holder, fenced writes, fair shares."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, text

from collectors.ownership import LeaseKeeper, NotOwner, source_lease
from store import leases
from store.engine import migrate


@pytest.fixture
def engine(pg_engine: Engine) -> Engine:
    migrate(pg_engine)
    return pg_engine


def test_a_lease_has_one_holder_until_it_expires_by_the_database_clock(engine: Engine) -> None:
    with engine.begin() as connection:
        assert leases.acquire(connection, "a", ["source:x"], ttl_s=0.5) == {"source:x": 1}
        assert leases.acquire(connection, "b", ["source:x"], ttl_s=0.5) == {}
        assert leases.acquire(connection, "a", ["source:x"], ttl_s=0.5) == {"source:x": 1}  # renewal
    time.sleep(0.7)
    with engine.begin() as connection:
        assert leases.acquire(connection, "b", ["source:x"], ttl_s=0.5) == {"source:x": 2}
        assert leases.fence(connection, "b", "source:x", 2, ttl_s=0.5) is True
        assert leases.fence(connection, "a", "source:x", 1, ttl_s=0.5) is False
        # The old holder cannot come back under its old generation, only take a new one later.
        assert leases.acquire(connection, "a", ["source:x"], ttl_s=0.5) == {}


def test_the_same_holder_keeps_its_generation_after_an_expiry_nobody_used(engine: Engine) -> None:
    """The spool of a process the whole database was away from stays valid (same generation)."""
    with engine.begin() as connection:
        leases.acquire(connection, "a", ["source:x"], ttl_s=0.2)
    time.sleep(0.4)
    with engine.begin() as connection:
        assert leases.acquire(connection, "a", ["source:x"], ttl_s=0.5) == {"source:x": 1}
    time.sleep(0.7)
    with engine.begin() as connection:  # expired, nobody took it: its holder's fence renews it
        assert leases.fence(connection, "a", "source:x", 1, ttl_s=0.5) is True
        assert leases.acquire(connection, "b", ["source:x"], ttl_s=0.5) == {}


def test_expiry_ignores_the_processes_clocks(engine: Engine) -> None:
    """Expiry is stored and judged on the database's clock: a lease taken 'now' by the
    database expires ttl later whatever the caller's clock says."""
    with engine.begin() as connection:
        leases.acquire(connection, "a", ["leader"], ttl_s=30)
        left_s = connection.execute(
            text("SELECT expires_ts - extract(epoch from now()) FROM collector_leases WHERE name = 'leader'")
        ).scalar_one()
    assert 29 < left_s <= 30


def test_keepers_share_the_sources_fairly_and_fence_a_lost_one(engine: Engine) -> None:
    names = ["s1", "s2", "s3", "s4"]
    first = LeaseKeeper(engine, names, ttl_s=5, holder="host:1:aaaa")
    first.round()
    assert {n for n in first.held() if n.startswith("source:")} == {source_lease(n) for n in names}
    assert first.owns(leases.LEADER)
    second = LeaseKeeper(engine, names, ttl_s=5, holder="host:2:bbbb")
    second.round()  # sees two members, but every source is still held: nothing free yet
    first.round()  # gives back what is over its fair share (2 of 4)
    second.round()
    mine = {n for n in first.held() if n.startswith("source:")}
    theirs = {n for n in second.held() if n.startswith("source:")}
    assert len(mine) == len(theirs) == 2 and not mine & theirs
    assert not second.owns(leases.LEADER)
    _gained, lost = first.take_changes()
    assert lost == {source_lease(n) for n in names} - mine
    # A write for a source handed over is refused, in the database, before it is made.
    handed = next(iter(theirs))
    with pytest.raises(NotOwner):
        first.fence(handed)
    second.fence(handed)
    # A clean stop hands every lease over at once.
    first.stop()
    second.round()
    assert {n for n in second.held() if n.startswith("source:")} == {source_lease(n) for n in names}
    assert second.owns(leases.LEADER)
    second.stop()
