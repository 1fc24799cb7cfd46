"""analytics/ on frames alone: no database. The figures below are worked out by hand from the
frames given (what store.queries would have read)."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics.alerts.rules import Rule
from analytics.alerts.series import node_series, room_listener_series
from analytics.alerts.spend import BUCKET_S, DEFAULT_AUDIO_KBPS, trailing_usage_frame
from analytics.reconcile import gap_hours
from analytics.usage import measured_ledger
from store.queries.results import UsageParts

DAY_S = 86_400
T0 = 1_800_000_000 - 1_800_000_000 % DAY_S  # a UTC midnight


def _samples(rows: list[tuple[int, str, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["ts", "target", "value", "bucket_s"])


def test_node_series_scales_and_marks_how_long_rows_count() -> None:
    # join_failure_pct = 100 − 100 × join_success_ratio; a 1-min rollup row counts 60 s + lookback.
    rule = Rule("Joins", "join_failure_pct", ">", 5.0)
    raw = _samples([(T0 + 120, "ND_a", 0.97, 0)])
    rollup = _samples([(T0, "ND_a", 0.9, 60)])
    frame = node_series([raw, rollup], rule, lookback_s=30)
    assert frame["ts"].tolist() == [T0 + 120, T0]
    assert frame["value"].tolist() == pytest.approx([3.0, 10.0])
    assert frame["valid_s"].tolist() == [30, 90]
    # node_down: presence, whatever the value column held.
    down = node_series([raw], Rule("Down", "node_down", ">=", 1.0), lookback_s=30)
    assert down["value"].tolist() == [1.0]
    assert node_series([], rule, lookback_s=30).empty


def test_rooms_with_one_name_add_up() -> None:
    samples = pd.DataFrame(
        {"ts": [T0, T0, T0 + 15], "target": ["radio", "radio", "radio"], "value": [3, 4, 5]}
    )
    frame = room_listener_series(samples)
    assert frame.to_dict("list") == {"ts": [T0, T0 + 15], "target": ["radio", "radio"], "value": [7.0, 5.0]}


class _SteadyFleet:
    """Ten rooms with 20 listeners and one publisher each, in every bucket; no node metrics."""

    def first_observed_ts(self) -> int | None:
        return T0 - 10 * DAY_S

    def has_node_data(self) -> bool:
        return False

    def room_buckets(self, low_ts: int, high_ts: int, bucket_s: int) -> pd.DataFrame:
        buckets = range(low_ts - low_ts % bucket_s, high_ts + 1, bucket_s)
        return pd.DataFrame(
            [(b, 10, 200.0, 10.0) for b in buckets], columns=["bucket_ts", "rooms", "listeners", "publishers"]
        )

    def node_bytes_buckets(self, low_ts: int, high_ts: int, bucket_s: int) -> pd.DataFrame:
        return pd.DataFrame(columns=["bucket_ts", "bytes_per_s"])

    def livekit_gaps(self, start_ts: int, end_ts: int) -> list[tuple[int, int | None]]:
        return []


def test_trailing_usage_of_a_steady_fleet() -> None:
    frame = trailing_usage_frame(_SteadyFleet(), T0, T0 + 3600)
    # One row per 5-min bucket from T0 − 24 h (the first with its whole trailing day) to the
    # last that ends by T0 + 1 h: (24 h + 1 h) / 5 min = 300.
    assert len(frame) == 300
    assert frame["bucket_ts"].iloc[0] == T0 - DAY_S and frame["bucket_ts"].iloc[-1] == T0 + 3600 - BUCKET_S
    assert set(frame["streams"]) == {10.0}
    assert set(frame["listeners_per_stream"]) == {20.0}
    assert set(frame["publishers_per_stream"]) == {1.0}
    assert set(frame["audio_kbps"]) == {DEFAULT_AUDIO_KBPS}  # no node bytes: the default bitrate


def test_gap_hours_clip_to_the_period() -> None:
    # 2 h inside the day, and an open gap from before it: the whole day (24 h).
    gaps = pd.DataFrame({"start_ts": [T0 + 3600, T0 - 7200], "end_ts": [T0 + 3 * 3600, None]})
    assert gap_hours(gaps, T0, T0 + DAY_S) == 26.0
    assert gap_hours(gaps, T0 + DAY_S, T0 + 2 * DAY_S) == 24.0  # only the open one
    assert gap_hours(gaps.iloc[0:0], T0, T0 + DAY_S) == 0.0


def _parts(traffic: pd.DataFrame) -> UsageParts:
    empty = pd.DataFrame(columns=["day_ts", "channel"])
    return UsageParts(
        sessions=empty, rooms=empty, ingress=empty, egress=empty,
        egress_spans=pd.DataFrame(columns=["start", "end"]), peaks=empty,
        fleet_peaks={"streams": 0.0, "listeners": 0.0, "publishers": 0.0},
        traffic=traffic, first_observed_ts=T0,
    )  # fmt: skip


def test_traffic_without_sessions_stays_unattributed() -> None:
    traffic = pd.DataFrame({"day_ts": [T0], "downstream_gb": [5.0], "upstream_gb": [0.5]})
    ledger = measured_ledger(_parts(traffic), T0, T0 + DAY_S)
    row = ledger.frame.set_index("channel").loc["(unattributed)"]
    assert (row["downstream_gb"], row["upstream_gb"]) == (5.0, 0.5)
    assert ledger.totals()["listener_minutes"] == 0
    # The store observed the whole day: a 30-day month is 30 of it.
    assert ledger.monthly_totals()["downstream_gb"] == pytest.approx(150.0)
    with pytest.raises(ValueError, match="until_ts must be after since_ts"):
        measured_ledger(_parts(traffic), T0, T0)
