""" "My fleet": a measured ledger as the planner's scenario (analytics/my_fleet.py). Every figure
below is worked out by hand from the ledger written here."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics.ledger import COLUMNS, UsageLedger
from analytics.my_fleet import MY_FLEET, growth_range_pct, my_fleet_scenario

DAY_S = 86_400


def _ledger(
    *,
    stream_min: float = 3600.0,
    listener_min: float = 45_000.0,
    publisher_min: float = 4500.0,
    peak_streams: float = 2.0,
    peak_listeners: float = 50.0,
    covered_from_day: int | None = None,
) -> UsageLedger:
    """Ten days; one row holds the totals (the ledger sums its rows)."""
    row: dict[str, object] = {name: 0.0 for name in COLUMNS}
    row.update(
        day_ts=0, channel="studio", stream_minutes=stream_min, listener_minutes=listener_min,
        listener_minutes_unrounded=listener_min, publisher_minutes=publisher_min,
        publisher_minutes_unrounded=publisher_min,
    )  # fmt: skip
    return UsageLedger(
        frame=pd.DataFrame([row])[list(COLUMNS)],
        period_start_ts=0,
        period_end_ts=10 * DAY_S,
        audio_kbps=64.0,
        region="na",
        fleet_peak_streams=peak_streams,
        fleet_peak_listeners=peak_listeners,
        covered_start_ts=None if covered_from_day is None else covered_from_day * DAY_S,
    )


def test_a_steady_fleet_becomes_its_scenario() -> None:
    fleet = my_fleet_scenario(_ledger(), growth_pct=3.04)
    assert fleet is not None
    s = fleet.scenario
    assert s.name == MY_FLEET
    # 3,600 live minutes over 10 days on 2 peak streams: 3 h a day each.
    assert (s.streams, s.hours_per_day, s.days_per_month) == (2.0, 3.0, 30)
    # 45,000 listener-minutes / 3,600 live minutes; 4,500 publisher-minutes / 3,600.
    assert (s.listeners_per_stream, s.publishers_per_stream) == (12.5, 1.25)
    # 50 listeners at the fleet's peak over its 2 peak streams.
    assert s.peak_listeners_per_stream == 25.0
    assert (s.audio_kbps, s.region, s.growth_pct_per_month) == (64.0, "na", 3.04)
    assert fleet.note == (
        "My fleet: the last 30 days' usage per month; growth +3.0 % a month: the trend of the daily audience peaks."
    )


def test_rates_divide_by_the_days_the_data_covers() -> None:
    fleet = my_fleet_scenario(_ledger(covered_from_day=5), growth_pct=None)
    assert fleet is not None
    # The same 3,600 live minutes over the 5 covered days: 6 h a day on 2 streams.
    assert fleet.scenario.hours_per_day == 6.0
    assert fleet.scenario.growth_pct_per_month == 0.0
    assert "data covers 5.0 days of the 10.0 days chosen" in fleet.note
    assert "growth set to 0 %: the audience shows no measurable trend" in fleet.note


def test_growth_beyond_the_model_is_clamped_and_said() -> None:
    assert growth_range_pct() == (-50.0, 200.0)
    fleet = my_fleet_scenario(_ledger(), growth_pct=350.0)
    assert fleet is not None and fleet.scenario.growth_pct_per_month == 200.0
    assert "the audience trend is +350.0 % a month, beyond the slider's -50..200 %" in fleet.note
    fleet = my_fleet_scenario(_ledger(), growth_pct=-80.0)
    assert fleet is not None and fleet.scenario.growth_pct_per_month == -50.0


def test_the_peak_is_never_below_the_average_and_short_days_still_plan() -> None:
    # 10 listeners at the peak over 2 streams (5) is below the 12.5 average: the average.
    fleet = my_fleet_scenario(_ledger(peak_listeners=10.0), growth_pct=0.0)
    assert fleet is not None and fleet.scenario.peak_listeners == 12.5
    # 6 live minutes in 10 days on 1 stream is 0.01 h a day: planned as 0.1 h.
    short = my_fleet_scenario(
        _ledger(stream_min=6.0, listener_min=60.0, publisher_min=6.0, peak_streams=1.0, peak_listeners=10.0),
        growth_pct=0.0,
    )
    assert short is not None and short.scenario.hours_per_day == pytest.approx(0.1)
    assert (short.scenario.listeners_per_stream, short.scenario.peak_listeners) == (10.0, 10.0)


def test_no_usage_is_no_fleet() -> None:
    assert (
        my_fleet_scenario(_ledger(stream_min=0.0, listener_min=0.0, publisher_min=0.0), growth_pct=5.0)
        is None
    )
