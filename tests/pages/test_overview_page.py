"""The Overview page on a populated, stale, empty and missing store (AppTest)."""

from __future__ import annotations

from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages.conftest import PAGE_TIMEZONE, page_path

TIMEOUT_S = 30


def run_overview(query: dict[str, str] | None = None) -> AppTest:
    app = AppTest.from_file(page_path("overview"), default_timeout=TIMEOUT_S)
    for key, value in (query or {}).items():
        app.query_params[key] = value
    app.run()
    assert not app.exception, app.exception
    return app


def metrics(app: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in app.metric}


def test_overview_shows_the_live_fleet(populated_store: dict[str, Any]) -> None:
    app = run_overview()
    shown = metrics(app)
    assert shown["Live streams"] == str(populated_store["live_streams"])
    assert shown["Listeners"] == f"{populated_store['listeners_now']:,}"
    assert shown["Publishers"] == str(populated_store["publishers_now"])
    assert shown["Nodes up"] == f"{populated_store['nodes_up']} / {populated_store['nodes_total']}"
    assert shown["Outgoing Mbit/s"] == f"{populated_store['bytes_out_per_s'] * 8 / 1e6:.1f}"
    # The cost card names the model it prices (the default current_model) and fills at once.
    assert shown["Cost per hour (LiveKit Cloud)"].startswith("$")
    assert len(app.get("plotly_chart")) == 2  # listeners by channel, live streams
    busiest = app.dataframe[0].value
    assert busiest.iloc[0]["Channel"] == populated_store["busiest_channel"]
    assert busiest["Listeners"].sum() == populated_store["listeners_now"]
    captions = " ".join(caption.value for caption in app.caption)
    assert PAGE_TIMEZONE in captions and "refreshes every 15 s" in captions


def test_overview_banner_names_the_failing_source(populated_store: dict[str, Any]) -> None:
    app = run_overview()
    errors = [error.value for error in app.error]
    assert len(errors) == 1
    assert "backup" in errors[0] and "failing" in errors[0]
    # The error text is escaped: its angle brackets cannot become HTML.
    assert "\\<127\\.0\\.0\\.1\\:7881\\>" in errors[0]
    assert not app.warning  # fresh data: no stale banner


@pytest.mark.slow
def test_overview_warns_when_data_is_stale(stale_store: dict[str, Any]) -> None:
    app = run_overview({"range": "24h"})
    warnings = [warning.value for warning in app.warning]
    assert any("stale" in text for text in warnings), (
        warnings,
        [e.value for e in app.error],
        [c.value for c in app.caption],
        [i.value for i in app.info],
    )
    # Figures are the last picture the collectors took, not zeros.
    assert metrics(app)["Live streams"] == str(stale_store["live_streams"])


def test_overview_filters_by_source(populated_store: dict[str, Any]) -> None:
    app = run_overview({"source": "prom"})
    shown = metrics(app)
    assert shown["Live streams"] == "0"  # rooms belong to "main"
    assert shown["Nodes up"] == "2 / 3"
    assert not app.error  # the failing source is another one


def test_overview_on_an_empty_store_says_what_to_do(empty_store: str) -> None:
    app = run_overview()
    assert not app.metric
    text = " ".join(info.value for info in app.info)
    assert "No streams or nodes yet" in text and "make run" in text and "castmeter.toml" in text


def test_overview_without_a_database_says_what_to_do(missing_store: str) -> None:
    app = run_overview()
    text = " ".join(info.value for info in app.info)
    assert "No castmeter database yet" in text and "make run" in text


def test_a_source_failing_from_the_start_is_shown_with_the_empty_state(empty_store: str) -> None:
    from store import schema
    from store.engine import make_engine
    from store.upsert import upsert

    engine = make_engine(empty_store)
    with engine.begin() as connection:
        upsert(
            connection,
            schema.sources,
            [{"id": 1, "name": "studio", "kind": "livekit", "url": "", "created_ts": 1}],
        )
        upsert(
            connection,
            schema.source_health,
            [{"source_id": 1, "status": "failing", "last_attempt_ts": 2, "consecutive_failures": 3,
              "last_error": "401 unauthorized: check api_key"}],
        )  # fmt: skip
    engine.dispose()
    app = run_overview()
    assert any("studio" in error.value and "401 unauthorized" in error.value for error in app.error)
    assert any("No streams or nodes yet" in info.value for info in app.info)


def test_the_cost_card_prices_the_configured_model_with_live_refresh_off(
    populated_store: dict[str, Any], tmp_path: Any, monkeypatch: Any
) -> None:
    """Finding 5 of issue 14: the card names [prices] current_model and is filled on the very
    render that asked for it, even with live refresh off (it used to stay blank until a
    refresh that never came)."""
    config = tmp_path / "self-hosted.toml"
    config.write_text(
        f'[dashboard]\ntimezone = "{PAGE_TIMEZONE}"\nstale_after_s = 1800\n'
        '[prices]\ncurrent_model = "livekit_self_hosted"\n'
    )
    monkeypatch.setenv("CASTMETER_CONFIG", str(config))
    app = run_overview({"live": "0", "range": "1h"})
    shown = metrics(app)
    assert "Cost per hour (LiveKit Cloud)" not in shown
    assert shown["Cost per hour (LiveKit self-hosted)"].startswith("$")
    captions = " ".join(caption.value for caption in app.caption)
    assert "live refresh off" in captions and "cost per hour: LiveKit self-hosted, last 1 hour" in captions


def _livekit_only(url: str, now_ts: int) -> None:
    from sqlalchemy import insert

    from store import schema
    from store.engine import open_store

    engine = open_store(url)
    with engine.begin() as connection:
        connection.execute(
            insert(schema.sources),
            [
                {
                    "id": 1,
                    "name": "cloud",
                    "kind": "livekit",
                    "url": "https://x.livekit.cloud",
                    "created_ts": now_ts,
                }
            ],
        )
        connection.execute(
            insert(schema.room_sessions),
            [{"source_id": 1, "room_sid": "RM_1", "room_name": "channel-1", "channel": "channel-1",
              "started_ts": now_ts - 600, "ended_ts": None, "last_seen_ts": now_ts}],
        )  # fmt: skip
        connection.execute(
            insert(schema.room_samples),
            [{"source_id": 1, "room_sid": "RM_1", "ts": ts, "participants": 31, "publishers": 1, "listeners": 30}
             for ts in range(now_ts - 600, now_ts + 1, 15)],
        )  # fmt: skip
    engine.dispose()


@pytest.mark.slow
def test_a_livekit_only_fleet_says_node_metrics_need_prometheus(
    tmp_path: Any, page_env: Any, monkeypatch: Any
) -> None:
    """Finding 12 of issue 14: with only a LiveKit source (LiveKit Cloud has no Prometheus) the
    Overview showed "Nodes up 0 / 0" and "Outgoing 0.0 Mbit/s" beside 30 listeners, and Nodes
    advised a longer time range."""
    now_ts = 1_795_176_000
    monkeypatch.setenv("CASTMETER_NOW", str(now_ts))
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    _livekit_only(url, now_ts)
    page_env(url)
    app = run_overview()
    shown = metrics(app)
    assert shown["Listeners"] == "30"
    assert shown["Nodes up"] == "not measured" and shown["Outgoing Mbit/s"] == "not measured"
    helps = {m.label: m.proto.help for m in app.metric}
    assert (
        "[[prometheus]]" in helps["Nodes up"] and "LiveKit Cloud exposes no Prometheus" in helps["Nodes up"]
    )
    nodes = AppTest.from_file(page_path("nodes"), default_timeout=TIMEOUT_S)
    nodes.run()
    infos = " ".join(i.value for i in nodes.info)
    assert "LiveKit Cloud exposes no Prometheus" in infos and "longer time range" not in infos


def test_overview_shows_which_collector_owns_what_on_postgresql(
    pg_url: str, page_env: Any, monkeypatch: Any
) -> None:
    """Several collectors on one PostgreSQL: the Collectors table lists each lease's holder,
    since when, and whether it is live, by the database's clock (rows written here by hand)."""
    import time

    from sqlalchemy import text

    from harness.fixture_store import build_fixture
    from store.engine import make_engine

    build_fixture(pg_url, int(time.time()))
    engine = make_engine(pg_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO collector_leases VALUES "
                "('leader', 'host-a:101:aaaa', 1, 1796000000, 0, extract(epoch from now()) + 600), "
                "('source:lk-eu', 'host-a:101:aaaa', 3, 1796000000, 0, extract(epoch from now()) + 600), "
                "('source:lk-us', 'host-b:202:bbbb', 2, 1796000060, 0, extract(epoch from now()) - 5), "
                "('member:host-a:101:aaaa', 'host-a:101:aaaa', 1, 1796000000, 0, extract(epoch from now()) + 600)"
            )
        )
    engine.dispose()
    page_env(pg_url)
    app = run_overview()
    table = next(frame.value for frame in app.dataframe if "Owns" in frame.value.columns)
    assert table.to_dict("records") == [
        {"Owns": "leader: rollups, retention, alerts, billing", "Process (host:pid:id)": "host-a:101:aaaa",
         "Since": "2026-11-30 01:53:20 CET", "State": "live"},
        {"Owns": "lk-eu", "Process (host:pid:id)": "host-a:101:aaaa", "Since": "2026-11-30 01:53:20 CET", "State": "live"},
        {"Owns": "lk-us", "Process (host:pid:id)": "host-b:202:bbbb", "Since": "2026-11-30 01:54:20 CET",
         "State": "expired: moving to a live collector"},
    ]  # fmt: skip


def test_overview_has_no_collectors_table_on_sqlite(populated_store: dict[str, Any]) -> None:
    app = run_overview()
    assert all("Owns" not in frame.value.columns for frame in app.dataframe)
