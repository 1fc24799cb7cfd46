"""The room poller's call budget: ListRooms every tick, ListParticipants for at most
``participant_lists_per_tick`` rooms, every room visited in turn, webhook-covered rooms never."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import insert

from collectors.health import ensure_source
from collectors.livekit_rooms import ListingSchedule
from collectors.pollers.livekit import LiveKitPoller
from core.settings import CollectorSettings, LiveKitSource
from simulator.model import DAY_S, FleetModel
from simulator.server import FleetServer
from store import schema
from store.engine import open_store

KEY, SECRET = "budgetkey", "budget-secret-0123456789-0123456789"
EVENING = 20_000 * DAY_S + 20 * 3600


def _source(url: str, budget: int) -> LiveKitSource:
    return LiveKitSource(
        name="sim",
        url=url,
        api_key=KEY,
        api_secret=SECRET,  # type: ignore[arg-type]
        participant_lists_per_tick=budget,
    )


@pytest.mark.parametrize(("rooms", "budget"), [(10, 3), (7, 7), (25, 4), (5, 100)])
def test_schedule_stays_in_budget_and_visits_every_room_in_turn(rooms: int, budget: int) -> None:
    schedule = ListingSchedule(budget)
    sids = [f"RM_{index:03d}" for index in range(rooms)]
    window = math.ceil(rooms / budget)
    chosen_by_tick = [schedule.choose(sids) for _ in range(4 * window)]
    assert all(len(chosen) == min(budget, rooms) for chosen in chosen_by_tick)
    assert all(len(set(chosen)) == len(chosen) for chosen in chosen_by_tick)
    for start in range(len(chosen_by_tick) - window + 1):
        visited = set().union(*chosen_by_tick[start : start + window])
        assert visited == set(sids), f"ticks {start}..{start + window - 1} missed {set(sids) - visited}"


def test_schedule_skips_covered_rooms_lists_new_rooms_first_and_forgets_ended_ones() -> None:
    schedule = ListingSchedule(2)
    assert schedule.choose(["RM_a", "RM_b", "RM_c"], skip={"RM_b"}) == ["RM_a", "RM_c"]
    # RM_d is new: it goes before RM_a and RM_c (listed last tick); RM_b stays skipped.
    assert schedule.choose(["RM_a", "RM_b", "RM_c", "RM_d"], skip={"RM_b"}) == ["RM_d", "RM_a"]
    # RM_c ended; when it is live again (same sid) it counts as never listed.
    assert schedule.choose(["RM_a", "RM_d"]) == ["RM_a", "RM_d"]
    assert schedule.choose(["RM_a", "RM_c", "RM_d"])[0] == "RM_c"
    assert ListingSchedule(0).choose(["RM_a"]) == []


def test_budget_key_is_validated() -> None:
    with pytest.raises(ValidationError, match="participant_lists_per_tick"):
        _source("http://127.0.0.1:7880", -1)
    assert _source("http://127.0.0.1:7880", 0).participant_lists_per_tick == 0
    default = LiveKitSource.model_validate(
        {"name": "d", "url": "http://x", "api_key": "k", "api_secret": "s"}
    )
    assert default.participant_lists_per_tick == 100


def test_poller_against_the_simulator_keeps_the_budget_and_never_lists_webhook_rooms(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'budget.db'}")
    budget = 3

    async def scenario() -> None:
        server = FleetServer(
            FleetModel("dj-radio"),
            api_port=0,
            metrics_port=0,
            api_key=KEY,
            api_secret=SECRET,
            sim_start=EVENING,
        )
        await server.start()
        try:
            live = server.fleet.snapshot().rooms
            assert len(live) > 2 * budget, "the evening fleet has enough rooms to need several ticks"
            covered_sid = str(live["room_sid"].iloc[0])
            source_id = ensure_source(engine, "sim", "livekit", server.api_url)
            with engine.begin() as connection:
                connection.execute(
                    insert(schema.webhook_events).values(
                        event_id="EV_started",
                        source_id=source_id,
                        event="room_started",
                        created_ts=EVENING,
                        received_ts=EVENING,
                        room_sid=covered_sid,
                        body_json="{}",
                    )
                )
            poller = LiveKitPoller(_source(server.api_url, budget), CollectorSettings())
            poller.bind(engine, source_id)
            seen_rooms: set[str] = set()
            ticks = math.ceil((len(live) - 1) / budget)
            for _ in range(ticks):
                snapshot = await poller.poll(EVENING)
                listed = {p.room_sid for p in snapshot.participants}
                # ListRooms + at most `budget` ListParticipants + ListEgress + ListIngress (and
                # an id lookup per egress that ended since the last poll, bounded apart).
                assert snapshot.api_calls - snapshot.ended_egress_lookups <= 1 + budget + 2
                assert len(listed) <= budget
                assert covered_sid not in listed and covered_sid in snapshot.rooms_without_participants
                assert snapshot.rooms_webhook_covered == 1
                seen_rooms |= listed
                poller.write(snapshot)
            rooms_with_people = {
                str(sid) for sid in server.fleet.snapshot().participants["room_sid"].unique()
            } & {str(sid) for sid in live["room_sid"]}
            # Every room but the webhook-covered one was listed within ceil(rooms / budget) ticks.
            assert seen_rooms == rooms_with_people - {covered_sid}
        finally:
            await server.stop()

    asyncio.run(asyncio.wait_for(scenario(), timeout=120))
