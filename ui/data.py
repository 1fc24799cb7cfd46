"""The pages' only way to the data: settings, a cached READ-ONLY engine, and every cached
reader (every cache has a ttl). A reader reads through store.queries and hands the rows to
analytics; pages never see an engine.

Readers take the database URL as their first argument so the cache is keyed by database,
and window ends are rounded by the caller (see ui.sidebar) so reruns within a few seconds
share one cache entry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from analytics import monitoring
from analytics.alerts.rules import Rule
from analytics.alerts.series import load_store_series
from core.settings import ConfigError, Settings, load_settings
from store.engine import is_sqlite, make_engine
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

LIVE_TTL_S = 15
HISTORY_TTL_S = 60
INVENTORY_TTL_S = 30
STORE_STATE_TTL_S = 5  # short: the first `make run` creates the database while the app waits
STREAM_CSV_ROWS_LIMIT = 200_000  # rows the Streams CSV export holds (every session of a long range)
STREAM_STATUSES = streams_q.STREAM_STATUSES  # the Streams page's status filter, as the query takes it


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
