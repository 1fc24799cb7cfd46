"""The spend run-rate of ``spend_run_rate_pct``: the trailing-24 h fleet usage priced by the cost
engine (checked against ``price_grid`` of the equivalent scenario), its shape, rollup tiers,
outages, settings and the bandwidth fallback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, insert

from analytics.alerts import spend
from analytics.alerts.spend import (
    METHOD_BANDWIDTH,
    METHOD_COST_ENGINE,
    pricing_from_settings,
    spend_run_rate_frame,
)
from analytics.costs import SCENARIO_COLUMNS, price_grid
from analytics.ledger import Scenario
from analytics.prices import CatalogueError, load_catalogue
from core.settings import Settings
from store import schema
from store.engine import open_store
from store.queries.alert_series import StoreSeries
from store.rollups import refresh_rollups

END = 1_800_000_000 - 1_800_000_000 % 3600
SAMPLE_S = 60
BUDGET_USD = 10_000.0
DAYS_PER_MONTH = 30.42  # the run-rate's month (365 / 12 days), as the rule documents it


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return open_store(f"sqlite:///{tmp_path / 'castmeter.db'}")


def _fill(
    engine: Engine,
    start_ts: int,
    end_ts: int,
    rooms_at: Callable[[int], int],
    listeners: int = 20,
    publishers: int = 1,
    kbps: float | None = 64.0,
) -> None:
    """``rooms_at(ts)`` rooms of ``listeners`` + ``publishers`` each, sampled every minute; one
    node whose outgoing bytes are every down-track at ``kbps`` (None: no node samples)."""
    room_rows: list[dict[str, object]] = []
    node_rows: list[dict[str, object]] = []
    for ts in range(start_ts, end_ts, SAMPLE_S):
        rooms = rooms_at(ts)
        for room in range(rooms):
            room_rows.append(
                {"source_id": 1, "room_sid": f"RM_{room}", "ts": ts, "participants": listeners + publishers,
                 "publishers": publishers, "listeners": listeners}
            )  # fmt: skip
        if kbps is not None:
            downtracks = rooms * (listeners * publishers + publishers * max(publishers - 1, 0))
            node_rows.append(
                {"source_id": 2, "node_id": "ND_a", "ts": ts, "bytes_out_per_s": downtracks * kbps * 1000 / 8}
            )
    with engine.begin() as connection:
        if room_rows:
            connection.execute(insert(schema.room_samples), room_rows)
        if node_rows:
            connection.execute(insert(schema.node_samples), node_rows)


def _scenario_pct(
    scenario: Scenario, model_id: str = "livekit_cloud", overrides: dict[str, float] | None = None
) -> float:
    """The cost engine's monthly price of ``scenario`` as % of the budget (public API only)."""
    grid = pd.DataFrame([scenario.model_dump(include=set(SCENARIO_COLUMNS))])
    monthly_usd = float(price_grid(grid, load_catalogue(overrides))[model_id].iloc[0])
    return 100.0 * monthly_usd / BUDGET_USD


def _constant_fleet(kbps: float = 64.0, publishers: float = 1) -> Scenario:
    return Scenario(
        streams=10, hours_per_day=24, days_per_month=DAYS_PER_MONTH, listeners_per_stream=20,
        publishers_per_stream=publishers, audio_kbps=kbps, region="eu",
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("model_id", ["livekit_cloud", "livekit_self_hosted", "agora"])
def test_constant_fleet_equals_the_scenario_priced_by_the_engine(engine: Engine, model_id: str) -> None:
    _fill(engine, END - 48 * 3600, END, lambda _ts: 10)
    with engine.connect() as connection:
        frame = spend_run_rate_frame(
            StoreSeries(connection),
            END - 3600,
            END,
            BUDGET_USD,
            catalogue=load_catalogue(),
            model_id=model_id,
        )
    assert list(frame.columns) == ["ts", "target", "value", "valid_s"]
    assert set(frame["target"]) == {"fleet"} and set(frame["valid_s"]) == {600}
    # Every bucket of the last hour, stamped at its end.
    assert frame["ts"].tolist() == [END - 3600 + 300 * k + 299 for k in range(12)]
    assert frame.attrs["spend_method"] == METHOD_COST_ENGINE and frame.attrs["spend_model_id"] == model_id
    expected = _scenario_pct(_constant_fleet(), model_id)
    assert expected > 0
    assert frame["value"].to_numpy() == pytest.approx(np.full(len(frame), expected), rel=1e-9)


def test_bitrate_comes_from_the_node_bytes_per_down_track(engine: Engine) -> None:
    # Two publishers per room: each listener takes two tracks, each publisher the other's.
    _fill(engine, END - 30 * 3600, END, lambda _ts: 10, publishers=2, kbps=96.0)
    with engine.connect() as connection:
        frame = spend_run_rate_frame(
            StoreSeries(connection), END - 600, END, BUDGET_USD, catalogue=load_catalogue()
        )
    expected = _scenario_pct(_constant_fleet(kbps=96.0, publishers=2))
    assert frame["value"].iloc[-1] == pytest.approx(expected, rel=1e-9)


def test_without_node_samples_the_default_bitrate_is_used(engine: Engine) -> None:
    _fill(engine, END - 30 * 3600, END, lambda _ts: 10, kbps=None)
    with engine.connect() as connection:
        frame = spend_run_rate_frame(StoreSeries(connection), END - 600, END, BUDGET_USD)
    expected = _scenario_pct(_constant_fleet(kbps=Scenario.model_fields["audio_kbps"].default))
    assert frame["value"].iloc[-1] == pytest.approx(expected, rel=1e-9)


@pytest.mark.slow
def test_a_rising_fleet_has_a_rising_run_rate(engine: Engine) -> None:
    start = END - 48 * 3600
    _fill(engine, start, END, lambda ts: 1 + (ts - start) // 7200)  # one more room every 2 h
    with engine.connect() as connection:
        frame = spend_run_rate_frame(StoreSeries(connection), END - 24 * 3600, END, BUDGET_USD)
    values = frame["value"].to_numpy()
    assert len(values) == 288
    assert np.all(np.diff(values) >= -1e-9) and values[-1] > 1.5 * values[0]


def test_idle_hours_lower_the_average(engine: Engine) -> None:
    # 10 rooms live half of each hour: on average 5 concurrent rooms over the trailing day.
    _fill(engine, END - 30 * 3600, END, lambda ts: 10 if ts % 3600 < 1800 else 0)
    with engine.connect() as connection:
        frame = spend_run_rate_frame(StoreSeries(connection), END - 600, END, BUDGET_USD)
    half = Scenario(**{**_constant_fleet().model_dump(), "streams": 5})
    assert frame["value"].iloc[-1] == pytest.approx(_scenario_pct(half), rel=1e-6)


def test_a_recorded_outage_is_not_counted_as_an_idle_fleet(engine: Engine) -> None:
    # No samples at all for 6 h while the LiveKit source was failing: unknown, not zero rooms.
    start = END - 30 * 3600
    _fill(engine, start, END, lambda ts: 0 if END - 12 * 3600 <= ts < END - 6 * 3600 else 10, kbps=None)
    with engine.begin() as connection:
        connection.execute(
            insert(schema.sources),
            [{"id": 1, "name": "lk", "kind": "livekit", "url": "", "created_ts": start}],
        )
        connection.execute(
            insert(schema.collector_gaps),
            [{"source_id": 1, "start_ts": END - 12 * 3600, "end_ts": END - 6 * 3600, "reason": "down"}],
        )
    with engine.connect() as connection:
        frame = spend_run_rate_frame(StoreSeries(connection), END - 600, END, BUDGET_USD)
    expected = _scenario_pct(_constant_fleet(kbps=Scenario.model_fields["audio_kbps"].default))
    assert frame["value"].iloc[-1] == pytest.approx(expected, rel=1e-9)


def test_castmeter_down_is_not_counted_as_an_idle_fleet(engine: Engine) -> None:
    # Neither room nor node samples for 6 h (the collector itself was down, no gap recorded).
    _fill(engine, END - 30 * 3600, END - 12 * 3600, lambda _ts: 10)
    _fill(engine, END - 6 * 3600, END, lambda _ts: 10)
    with engine.connect() as connection:
        frame = spend_run_rate_frame(StoreSeries(connection), END - 600, END, BUDGET_USD)
    assert frame["value"].iloc[-1] == pytest.approx(_scenario_pct(_constant_fleet()), rel=1e-9)


@pytest.mark.slow
def test_minute_rollup_gives_the_raw_result(engine: Engine, tmp_path: Path) -> None:
    start = END - 30 * 3600
    _fill(engine, start, END, lambda ts: 5 + (ts - start) // 3600 % 7)
    with engine.connect() as connection:
        raw = spend_run_rate_frame(StoreSeries(connection), END - 6 * 3600, END, BUDGET_USD)
    # Roll up all but the last 2 h, then drop the rolled-up raw samples (as retention would).
    refresh_rollups(engine, END - 2 * 3600)
    with engine.begin() as connection:
        connection.execute(schema.room_samples.delete().where(schema.room_samples.c.ts < END - 3 * 3600))
        connection.execute(schema.node_samples.delete().where(schema.node_samples.c.ts < END - 3 * 3600))
    with engine.connect() as connection:
        tiered = spend_run_rate_frame(StoreSeries(connection), END - 6 * 3600, END, BUDGET_USD)
    assert tiered["ts"].tolist() == raw["ts"].tolist()
    assert tiered["value"].to_numpy() == pytest.approx(raw["value"].to_numpy(), rel=1e-9)


def test_an_empty_store_gives_an_empty_frame(engine: Engine) -> None:
    with engine.connect() as connection:
        frame = spend_run_rate_frame(StoreSeries(connection), END - 3600, END, BUDGET_USD)
    assert frame.empty and list(frame.columns) == ["ts", "target", "value", "valid_s"]
    assert frame.attrs["spend_method"] == METHOD_COST_ENGINE


def test_overrides_change_the_run_rate(engine: Engine) -> None:
    _fill(engine, END - 30 * 3600, END, lambda _ts: 10)
    # A negotiated rate on every per-minute overage: 10 × 21 connections all month are far over.
    overrides = {f"livekit_cloud.{plan}.overage_per_min_usd": 0.0001 for plan in ("ship", "scale")}
    with engine.connect() as connection:
        listed = spend_run_rate_frame(
            StoreSeries(connection), END - 600, END, BUDGET_USD, catalogue=load_catalogue()
        )
        negotiated = spend_run_rate_frame(
            StoreSeries(connection), END - 600, END, BUDGET_USD, catalogue=load_catalogue(overrides)
        )
    assert negotiated["value"].iloc[-1] < listed["value"].iloc[-1]
    assert negotiated["value"].iloc[-1] == pytest.approx(
        _scenario_pct(_constant_fleet(), overrides=overrides), rel=1e-9
    )


def test_pricing_follows_the_settings() -> None:
    overrides = {"livekit_cloud.ship.fee_usd": 40.0}
    settings = Settings.model_validate({"prices": {"current_model": "agora", "overrides": overrides}})
    pricing = pricing_from_settings(settings)
    assert pricing.model_id == "agora" and pricing.region == "eu"
    assert pricing.catalogue is not None and pricing.catalogue["livekit_cloud.ship.fee_usd"] == 40.0
    assert pricing_from_settings(Settings()).model_id == "livekit_cloud"


def test_bandwidth_only_when_the_catalogue_cannot_be_loaded(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 1 GB/s out for a day at 0.12 USD/GB, projected to a 730-hour month.
    with engine.begin() as connection:
        connection.execute(
            insert(schema.node_samples),
            [{"source_id": 1, "node_id": "ND_a", "ts": int(t), "bytes_out_per_s": 1e9}
             for t in range(END - 86_400, END, 60)],
        )  # fmt: skip

    def broken(overrides: dict[str, float] | None = None, **_kwargs: object) -> object:
        raise CatalogueError("invalid price file livekit_cloud.yaml")

    spend._cached_catalogue.cache_clear()
    monkeypatch.setattr(spend, "load_catalogue", broken)
    try:
        assert pricing_from_settings(Settings()).catalogue is None
        with engine.connect() as connection:
            frame = spend_run_rate_frame(StoreSeries(connection), END - 3600, END, 300_000.0, 0.12)
    finally:
        spend._cached_catalogue.cache_clear()
    assert frame.attrs["spend_method"] == METHOD_BANDWIDTH
    assert frame["value"].iloc[-1] == pytest.approx(100 * 0.12 * 3600 * 730 / 300_000)


def test_unknown_model_is_refused(engine: Engine) -> None:
    with engine.connect() as connection, pytest.raises(ValueError, match="unknown cost model"):
        spend_run_rate_frame(StoreSeries(connection), END - 3600, END, BUDGET_USD, model_id="nope")
