"""Read the live alerting tables (written by collectors/alerting.py) for the page."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Connection, func, inspect, select

from store import schema

ACTIVE_COLUMNS = [
    "rule",
    "target",
    "state",
    "severity",
    "active_since_ts",
    "fired_ts",
    "last_value",
    "last_eval_ts",
]
HISTORY_COLUMNS = [
    "ts",
    "rule",
    "target",
    "from_state",
    "to_state",
    "severity",
    "value",
    "threshold",
    "fired_ts",
]


def _has_alert_tables(connection: Connection) -> bool:
    return inspect(connection).has_table("alert_state")


def active_alerts(connection: Connection) -> pd.DataFrame:
    """Pending and firing alerts, firing first, oldest first."""
    if not _has_alert_tables(connection):
        return pd.DataFrame(columns=ACTIVE_COLUMNS)
    table = schema.alert_state
    query = (
        select(*(table.c[name] for name in ACTIVE_COLUMNS))
        .where(table.c.state.in_(("pending", "firing")))
        .order_by(table.c.state.desc(), table.c.active_since_ts, table.c.rule, table.c.target)
    )
    return pd.DataFrame(connection.execute(query).all(), columns=ACTIVE_COLUMNS)


def active_counts(connection: Connection) -> list[tuple[str, str, int]]:
    """(state, severity, number) of the pending and firing alerts."""
    if not _has_alert_tables(connection):
        return []
    table = schema.alert_state
    query = (
        select(table.c.state, table.c.severity, func.count())
        .where(table.c.state.in_(("pending", "firing")))
        .group_by(table.c.state, table.c.severity)
    )
    return [(str(state), str(severity), int(count)) for state, severity, count in connection.execute(query)]


def alert_history(connection: Connection, start_ts: int, end_ts: int, limit: int = 1000) -> pd.DataFrame:
    """State changes in ``[start_ts, end_ts)``, newest first, with the episode duration on
    resolutions."""
    if not _has_alert_tables(connection):
        return pd.DataFrame(columns=[*HISTORY_COLUMNS, "duration_s"])
    table = schema.alert_history
    query = (
        select(*(table.c[name] for name in HISTORY_COLUMNS))
        .where(table.c.ts >= start_ts, table.c.ts < end_ts)
        .order_by(table.c.ts.desc(), table.c.rule, table.c.target)
        .limit(limit)
    )
    frame = pd.DataFrame(connection.execute(query).all(), columns=HISTORY_COLUMNS)
    resolved = frame["to_state"].eq("resolved") & frame["fired_ts"].notna()
    frame["duration_s"] = (frame["ts"] - frame["fired_ts"]).where(resolved)
    return frame
