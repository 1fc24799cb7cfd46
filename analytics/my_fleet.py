""" "My fleet": the operator's measured usage as a planner scenario (the steady scenario the cost
engine prices for the break-even chart, made fit for the planner's inputs), with a note on what
it was filled from. Pure: a ledger and a growth trend in, a scenario and its note out."""

from __future__ import annotations

from dataclasses import dataclass

from analytics.costs import scenario_from_ledger
from analytics.ledger import Scenario, UsageLedger, field_bounds

MY_FLEET = "my fleet (last 30 days)"
_ROUND_DIGITS = 2  # the planner's inputs show two decimals
_MIN_HOURS_PER_DAY = 0.1  # a fleet live a few minutes a day still plans as a little live time


@dataclass(frozen=True)
class MyFleet:
    scenario: Scenario
    note: str  # what the scenario was filled from, for the notice under the preset


def growth_range_pct() -> tuple[float, float]:
    """The monthly growth a scenario takes (the Scenario model's bounds)."""
    low, high = field_bounds("growth_pct_per_month")
    assert low is not None and high is not None  # the model bounds growth on both sides
    return low.value, high.value


def fleet_note(coverage_note: str, growth_pct: float | None) -> str:
    """What "my fleet" was filled from: the window's coverage and where the growth came from."""
    low, high = growth_range_pct()
    if growth_pct is None:
        growth = (
            "growth set to 0 %: the audience shows no measurable trend (it needs two weeks of daily "
            "peaks and a slope clear of day-to-day noise)"
        )
    elif not low <= growth_pct <= high:
        growth = (
            f"the audience trend is {growth_pct:+.1f} % a month, beyond the slider's "
            f"{low:g}..{high:g} %: set to the nearest end"
        )
    else:
        growth = f"growth {growth_pct:+.1f} % a month: the trend of the daily audience peaks"
    coverage = f"; {coverage_note}" if coverage_note else ""
    return f"My fleet: the last 30 days' usage per month{coverage}; {growth}."


def my_fleet_scenario(ledger: UsageLedger, growth_pct: float | None) -> MyFleet | None:
    """The measured ``ledger`` as the planner's "my fleet": the cost engine's steady scenario
    (peak streams, their average live hours a day, listeners and publishers per stream), its
    peak listeners per stream (the fleet's peak audience over its peak streams, never below the
    average), and ``growth_pct`` a month clamped to the model's range (0 without a trend).
    None when the ledger holds no usage."""
    if ledger.is_empty:
        return None
    base = scenario_from_ledger(ledger)
    average = round(base.listeners_per_stream, _ROUND_DIGITS)
    peak = round(
        max(ledger.fleet_peak_listeners / max(ledger.fleet_peak_streams, 1.0), average), _ROUND_DIGITS
    )
    low, high = growth_range_pct()
    scenario = base.model_copy(
        update={
            "name": MY_FLEET,
            "streams": round(base.streams, _ROUND_DIGITS),
            "hours_per_day": round(min(max(base.hours_per_day, _MIN_HOURS_PER_DAY), 24.0), _ROUND_DIGITS),
            "listeners_per_stream": average,
            "peak_listeners_per_stream": peak,
            "publishers_per_stream": round(base.publishers_per_stream, _ROUND_DIGITS),
            "growth_pct_per_month": float(min(max(growth_pct or 0.0, low), high)),
        }
    )
    return MyFleet(scenario, fleet_note(ledger.coverage_note, growth_pct))
