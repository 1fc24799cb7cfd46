"""The pages' only way to the data: settings, a cached READ-ONLY engine, and every cached
reader (every cache has a ttl). A reader reads through store.queries and hands the rows to
analytics; pages never see an engine.

Readers take the database URL as their first argument so the cache is keyed by database,
and window ends are rounded by the caller (see ui.sidebar) so reruns within a few seconds
share one cache entry.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import cast

import pandas as pd
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from analytics import audience as audience_model
from analytics import costs as cost_engine
from analytics import monitoring
from analytics import reconcile as reconcile_module
from analytics import usage as usage_module
from analytics.alerts.replay import Replay, replay_rule
from analytics.alerts.rules import Rule, parse_rules_yaml
from analytics.alerts.series import load_store_series
from analytics.capacity.report import FleetCapacity, fleet_capacity, fleet_node_vcpus, fleet_window
from analytics.ledger import AudienceProduct, Scenario, UsageLedger, load_scenario
from analytics.my_fleet import MyFleet, my_fleet_scenario
from analytics.prices import Catalogue, catalogue_from_settings, load_catalogue
from core.settings import ConfigError, Settings, load_settings
from store.engine import is_sqlite, make_engine
from store.queries import alerts as alert_tables
from store.queries import audience as audience_q
from store.queries import billing as billing_q
from store.queries import fleet as fleet_q
from store.queries import leases as leases_q
from store.queries import nodes as nodes_q
from store.queries import sources as sources_q
from store.queries import streams as streams_q
from store.queries import usage as usage_q
from store.queries.alert_series import series_reader
from store.queries.results import BillingRecords, Headline, StreamList, UsageParts
from store.queries.streams import STREAM_ROWS_LIMIT
from store.queries.tiers import pick_tier

LIVE_TTL_S = 15
HISTORY_TTL_S = 60
INVENTORY_TTL_S = 30
STORE_STATE_TTL_S = 5  # short: the first `make run` creates the database while the app waits
STREAM_CSV_ROWS_LIMIT = 200_000  # rows the Streams CSV export holds (every session of a long range)
STREAM_STATUSES = streams_q.STREAM_STATUSES  # the Streams page's status filter, as the query takes it
COSTS_TTL_S = 300  # a priced window (Costs page) and the billing reconciliation
ALERTS_LIVE_TTL_S = 15
ALERTS_TTL_S = 60
FLEET_TTL_S = 300  # the fleet's calibration and forecast, and "my fleet"
PRESETS_TTL_S = 3600
SCENARIO_DIR = Path(__file__).resolve().parents[1] / "analytics" / "scenarios"
MY_FLEET_DAYS = 30


@st.cache_resource(ttl=60, show_spinner=False)
def _settings_cached(env_key: tuple[str, str]) -> Settings:
    return load_settings()


def settings() -> Settings:
    """The validated settings (re-read at most every minute; keyed by the env overrides)."""
    env_key = (os.environ.get("CASTMETER_CONFIG", ""), os.environ.get("CASTMETER_DB_URL", ""))
    return _settings_cached(env_key)


def settings_error() -> ConfigError | None:
    try:
        settings()
    except ConfigError as exc:
        return exc
    return None


def db_url() -> str:
    return settings().database.url


def db_label(url: str) -> str:
    """The database URL for display, its password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def _dispose(engine: Engine) -> None:
    engine.dispose()


# One engine per URL for the server's life; a few URLs at most (tests switch between them).
@st.cache_resource(max_entries=8, show_spinner=False, on_release=_dispose)
def engine(url: str) -> Engine:
    """A read-only engine: pages can never write to the store."""
    return make_engine(url, busy_timeout_ms=settings().database.busy_timeout_ms, read_only=True)


@dataclass(frozen=True)
class StoreState:
    ok: bool
    problem: str  # "" | "missing" | "no_schema" | "unreachable"
    detail: str = ""


@st.cache_data(ttl=STORE_STATE_TTL_S, show_spinner=False)
def store_state(url: str) -> StoreState:
    """Whether the store exists and has castmeter's schema (a fresh install has neither)."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:" and not Path(database).exists():
            return StoreState(False, "missing", database)
    try:
        if not sources_q.has_schema(engine(url)):
            return StoreState(False, "no_schema")
    except Exception as exc:  # any driver error means the same to the operator: cannot read
        return StoreState(False, "unreachable", type(exc).__name__)
    return StoreState(True, "")


# ---------------------------------------------------------------------------------------------
# Monitoring: sources, the fleet now and over time, streams, nodes
# ---------------------------------------------------------------------------------------------


@st.cache_data(ttl=INVENTORY_TTL_S, show_spinner=False)
def sources(url: str) -> pd.DataFrame:
    return sources_q.list_sources(engine(url))


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def collector_ownership(url: str) -> pd.DataFrame:
    """Which collector process owns each source and the leader's jobs, since when (empty on
    SQLite: one collector process)."""
    return leases_q.collector_ownership(engine(url))


@st.cache_data(ttl=STORE_STATE_TTL_S, show_spinner=False)
def has_any_data(url: str) -> bool:
    return sources_q.has_any_data(engine(url))


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def newest_sample_ts(url: str, source_id: int | None) -> int | None:
    return sources_q.newest_sample_ts(engine(url), source_id)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def headline(url: str, start_ts: int, end_ts: int, source_id: int | None) -> Headline:
    return fleet_q.headline(engine(url), start_ts, end_ts, source_id)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def busiest_channels(url: str, end_ts: int, source_id: int | None, limit: int = 10) -> pd.DataFrame:
    return fleet_q.busiest_channels(engine(url), end_ts, source_id, limit)


@st.cache_data(ttl=HISTORY_TTL_S, show_spinner=False)
def fleet_history(url: str, start_ts: int, end_ts: int, source_id: int | None) -> monitoring.FleetHistory:
    return monitoring.fleet_history(fleet_q.fleet_history_frames(engine(url), start_ts, end_ts, source_id))


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def streams(
    url: str,
    start_ts: int,
    end_ts: int,
    source_id: int | None,
    search: str,
    status: str,
    now_ts: int,
    limit: int = STREAM_ROWS_LIMIT,
) -> StreamList:
    return streams_q.streams(
        engine(url), start_ts, end_ts, source_id, search, status, limit=limit, now_ts=now_ts
    )


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def stream_detail(url: str, source_id: int, room_sid: str, now_ts: int) -> monitoring.StreamDetail | None:
    record = streams_q.stream_record(engine(url), source_id, room_sid, now_ts)
    return None if record is None else monitoring.stream_detail(record)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def nodes_table(url: str, start_ts: int, end_ts: int, source_id: int | None) -> pd.DataFrame:
    return monitoring.nodes_table(nodes_q.node_state(engine(url), start_ts, end_ts, source_id))


@st.cache_data(ttl=HISTORY_TTL_S, show_spinner=False)
def node_series(url: str, source_id: int, node_id: str, start_ts: int, end_ts: int) -> pd.DataFrame:
    return nodes_q.node_series(engine(url), source_id, node_id, start_ts, end_ts)


# ---------------------------------------------------------------------------------------------
# The whole audience: by delivery path now and over time, and the relay chains (issue 17)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AudienceNow:
    """The audience by delivery path now (every path of analytics.audience.PATHS, ``viewers``
    None where no source reports it) and per channel (analytics.audience.live_by_channel)."""

    paths: list[audience_model.PathAudience]
    by_channel: pd.DataFrame


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def audience_now(url: str, start_ts: int, end_ts: int, source_id: int | None) -> AudienceNow:
    """LiveKit's live rooms by channel (store.queries.audience.live_webrtc_by_channel) beside
    the other paths' newest samples (.live_audience), at the end of the window. The WebRTC path's
    figures are the headline's (Listeners, live streams, publishers: the same cached read), so
    the two cards agree, and read 0 rather than "no data" when LiveKit's rooms are quiet."""
    with engine(url).connect() as connection:
        webrtc = audience_q.live_webrtc_by_channel(connection, end_ts, source_id)
        others = audience_q.live_audience(connection, end_ts, source_id)
    figures = headline(url, start_ts, end_ts, source_id)
    paths = [
        replace(path, viewers=figures.listeners, channels=figures.live_streams, hosts=figures.publishers)
        if path.path == "webrtc"
        else path
        for path in audience_model.live_by_path(webrtc, others)
    ]
    return AudienceNow(paths, audience_model.live_by_channel(webrtc, others))


@st.cache_data(ttl=HISTORY_TTL_S, show_spinner=False)
def audience_history(url: str, start_ts: int, end_ts: int, source_id: int | None) -> pd.DataFrame:
    """Viewers per bucket and path (bucket_ts, path, viewers): the fleet's WebRTC listeners
    (store.queries.fleet.fleet_series, the Overview's series) and the other paths
    (store.queries.audience.audience_history) on the same step."""
    with engine(url).connect() as connection:
        webrtc = fleet_q.fleet_series(connection, start_ts, end_ts, source_id)
        others = audience_q.audience_history(connection, start_ts, end_ts, source_id)
    return audience_model.history_by_path(
        webrtc, others, step_s=pick_tier(start_ts, end_ts).step_s, hold_s=audience_q.AUDIENCE_STALE_S
    )


def _chain_frames(url: str, now_ts: int, channel: str | None) -> tuple[pd.DataFrame, ...]:
    with engine(url).connect() as connection:
        return (
            audience_q.relay_states(connection, now_ts, channel),
            audience_q.egress_states(connection, now_ts, channel),
            audience_q.live_webrtc_by_channel(connection, now_ts),
            audience_q.live_audience(connection, now_ts),
        )


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def relay_chain(url: str, channel: str, now_ts: int) -> audience_model.RelayChain:
    """One channel's relay chain at ``now_ts`` (analytics.audience.relay_chain)."""
    relays, egress, webrtc, others = _chain_frames(url, now_ts, channel)
    return audience_model.relay_chain(channel, relays, egress, webrtc, others, now_ts)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def relay_chains(url: str, now_ts: int) -> list[audience_model.RelayChain]:
    """Every channel's relay chain at ``now_ts``, broken ones first."""
    relays, egress, webrtc, others = _chain_frames(url, now_ts, None)
    return audience_model.relay_chains(relays, egress, webrtc, others, now_ts)


# Uncached reads: their callers (the Costs, Overview, Planner and Billing readers) cache what
# they build from them, so the frames are not held twice.


def usage_parts(url: str, start_ts: int, end_ts: int, source_id: int | None) -> UsageParts:
    """The measured usage ledger's parts (analytics.usage.measured_ledger takes them)."""
    return usage_q.usage_parts(engine(url), start_ts, end_ts, source_id)


def billing_records(url: str, since: date, until: date) -> BillingRecords:
    """What the billing collectors stored for [since, until] (analytics.reconcile takes it)."""
    return billing_q.billing_records(engine(url), since, until)


def billing_collector_health(url: str) -> pd.DataFrame:
    """Every billing collector that has run, with its health."""
    return billing_q.billing_collector_health(engine(url))


def rule_series(url: str, rule: Rule, since_ts: int, until_ts: int, lookback_s: int) -> pd.DataFrame:
    """The samples an alert rule is evaluated on (analytics.alerts.series.load_store_series over
    store.queries.alert_series), as the live evaluator reads them."""
    with series_reader(engine(url)) as reader:
        return load_store_series(reader, rule, since_ts, until_ts, lookback_s)


# ---------------------------------------------------------------------------------------------
# Costs: measured usage as a ledger, the Overview's cost per hour, the price catalogue
# ---------------------------------------------------------------------------------------------


@st.cache_data(ttl=COSTS_TTL_S, show_spinner=False)
def ledger(
    url: str, start_ts: int, end_ts: int, source_id: int | None, audience_product: str = "broadcast"
) -> UsageLedger:
    """The measured usage ledger of a window (the Costs page's)."""
    return usage_module.measured_ledger(
        usage_parts(url, start_ts, end_ts, source_id),
        start_ts,
        end_ts,
        audience_product=cast(AudienceProduct, audience_product),
    )


def prefetch_ledgers(
    url: str, windows: list[tuple[int, int]], source_id: int | None, audience_product: str = "broadcast"
) -> None:
    """Compute several windows' ledgers at once, each into :func:`ledger`'s cache (a page then
    reads them from there): their queries overlap on the store's cores instead of queueing."""
    unique = list(dict.fromkeys(windows))
    if len(unique) < 2:
        return
    context = get_script_run_ctx()  # the page's run: Streamlit's cache expects it in every thread

    def attach() -> None:
        if context is not None:
            add_script_run_ctx(threading.current_thread(), context)

    with ThreadPoolExecutor(len(unique), thread_name_prefix="castmeter-ledger", initializer=attach) as pool:
        list(pool.map(lambda window: ledger(url, window[0], window[1], source_id, audience_product), unique))


def cost_per_hour(
    url: str,
    start_ts: int,
    end_ts: int,
    source_id: int | None,
    model_id: str,
    overrides: tuple[tuple[str, float], ...],
    audience_product: str = "broadcast",
) -> tuple[float | None, str]:
    """The cost engine's ``estimate_cost_per_hour_usd`` for a window under ``model_id`` and its
    ledger's coverage note (Agora's audience priced as ``audience_product``, as on the Costs
    page). Not cached here: the Overview runs it in the shared background pool (ui.background),
    which keeps the result."""
    catalogue = load_catalogue(dict(overrides))
    measured = usage_module.measured_ledger(
        usage_parts(url, start_ts, end_ts, source_id),
        start_ts,
        end_ts,
        audience_product=cast(AudienceProduct, audience_product),
    )
    value = cost_engine.estimate_cost_per_hour_usd(
        None, start_ts, end_ts, source_id, model_id=model_id, catalogue=catalogue, ledger=measured
    )
    return (None if value is None else float(value)), measured.coverage_note


@st.cache_resource(ttl=FLEET_TTL_S, show_spinner=False)
def catalogue(overrides: tuple[tuple[str, float], ...]) -> Catalogue:
    """The price catalogue with ``[prices.overrides]`` (immutable, so shared, not copied)."""
    return catalogue_from_settings({"overrides": dict(overrides)})


def settings_overrides() -> tuple[tuple[str, float], ...]:
    return tuple(sorted(settings().prices.overrides.items()))


def settings_catalogue() -> Catalogue:
    return catalogue(settings_overrides())


@st.cache_resource(ttl=PRESETS_TTL_S, show_spinner=False)
def presets() -> dict[str, Scenario]:
    """The seed scenarios (analytics/scenarios/*.yaml) by file name."""
    return {path.stem: load_scenario(path) for path in sorted(SCENARIO_DIR.glob("*.yaml"))}


# ---------------------------------------------------------------------------------------------
# Billing: the reconciliation and the billing collectors' health
# ---------------------------------------------------------------------------------------------


@st.cache_data(ttl=COSTS_TTL_S, show_spinner=False)
def reconciliation(url: str, days: int, today_iso: str, warn_share: float) -> reconcile_module.Reconciliation:
    today = date.fromisoformat(today_iso)
    since = today - timedelta(days=days - 1)
    return reconcile_module.reconcile(
        billing_records(url, since, today),
        since,
        today,
        warn_share=warn_share,
        ledger_source=lambda start_ts, end_ts: usage_module.measured_ledger(
            usage_parts(url, start_ts, end_ts, None), start_ts, end_ts
        ),
        overrides=settings().prices.overrides,
    )


@st.cache_data(ttl=COSTS_TTL_S, show_spinner=False)
def billing_status(url: str) -> pd.DataFrame:
    return billing_collector_health(url)


# ---------------------------------------------------------------------------------------------
# Alerts: active, Alertmanager's view, history, and a rule replayed on the stored history
# ---------------------------------------------------------------------------------------------


@st.cache_data(ttl=ALERTS_LIVE_TTL_S, show_spinner=False)
def active_alerts(url: str) -> pd.DataFrame:
    with engine(url).connect() as connection:
        return alert_tables.active_alerts(connection)


@st.cache_data(ttl=ALERTS_LIVE_TTL_S, show_spinner=False)
def alertmanager(url: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Alertmanager's view of the alerts and its status, as the collector last stored them."""
    with engine(url).connect() as connection:
        return alert_tables.alertmanager_view(connection), alert_tables.alertmanager_status(connection)


@st.cache_data(ttl=ALERTS_TTL_S, show_spinner=False)
def alert_history(url: str, start_ts: int, end_ts: int) -> pd.DataFrame:
    with engine(url).connect() as connection:
        return alert_tables.alert_history(connection, start_ts, end_ts)


@st.cache_data(ttl=ALERTS_TTL_S, show_spinner="Replaying the rule on the stored history…")
def replay(
    url: str,
    rules_yaml: str,
    rule_name: str,
    start_ts: int,
    end_ts: int,
    candidates: tuple[float, ...],
    per_week: float,
) -> Replay:
    """``rule_name`` of ``rules_yaml`` replayed on the stored series of the window."""
    ruleset = parse_rules_yaml(rules_yaml)
    rule = ruleset.get(rule_name)
    frame = rule_series(url, rule, start_ts - ruleset.lookback_s, end_ts, ruleset.lookback_s)
    return replay_rule(
        rule,
        ruleset,
        frame,
        start_ts,
        end_ts,
        target_per_week=per_week,
        candidates=candidates,
        keep_values=True,
    )


# ---------------------------------------------------------------------------------------------
# Capacity: the fleet's calibration and forecast, and "my fleet" as a planner scenario
# ---------------------------------------------------------------------------------------------


@st.cache_resource(ttl=FLEET_TTL_S, show_spinner=False)
def fleet_capacity_report(
    url: str,
    until_ts: int,
    source_id: int | None,
    target_cpu_pct: float,
    overrides: tuple[tuple[str, float], ...],
) -> FleetCapacity:
    """Calibration and headroom forecast over the last 30 days up to ``until_ts``."""
    vcpus, vcpus_source = fleet_node_vcpus(settings())
    since_ts, until_ts = fleet_window(until_ts)
    load = nodes_q.node_load(engine(url), since_ts, until_ts, source_id)
    return fleet_capacity(
        load, catalogue(overrides), since_ts=since_ts, until_ts=until_ts, node_vcpus=vcpus,
        node_vcpus_source=vcpus_source, target_cpu_pct=target_cpu_pct,
    )  # fmt: skip


@st.cache_resource(ttl=FLEET_TTL_S, show_spinner=False)
def my_fleet(url: str, until_ts: int, source_id: int | None, growth_pct: float | None) -> MyFleet | None:
    """The last 30 days' measured usage as the planner's "my fleet" scenario, or None."""
    since_ts = until_ts - MY_FLEET_DAYS * 86_400
    measured = usage_module.measured_ledger(
        usage_parts(url, since_ts, until_ts, source_id), since_ts, until_ts
    )
    return my_fleet_scenario(measured, growth_pct)
