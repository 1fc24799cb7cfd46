"""The live alerting tables (written by collectors/alerting.py and collectors/alertmanager.py):
active alerts, their history, what to forward to Alertmanager and its view of them."""

from __future__ import annotations

from typing import Any

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


def alerts_to_forward(connection: Connection, since_ts: int) -> list[dict[str, Any]]:
    """What an Alertmanager should hear about now: every firing alert (``resolved_ts`` None)
    and the last resolution since ``since_ts`` of each alert that is not firing again.
    Keys: rule, target, severity, value, fired_ts, resolved_ts."""
    if not _has_alert_tables(connection):
        return []
    state = schema.alert_state
    firing = connection.execute(
        select(state.c.rule, state.c.target, state.c.severity, state.c.last_value, state.c.fired_ts)
        .where(state.c.state == "firing")
        .order_by(state.c.rule, state.c.target)
    ).all()
    rows: list[dict[str, Any]] = [
        {"rule": r[0], "target": r[1], "severity": r[2], "value": r[3], "fired_ts": r[4], "resolved_ts": None}
        for r in firing
    ]
    active = {(r[0], r[1]) for r in firing}
    history = schema.alert_history
    resolved = connection.execute(
        select(
            history.c.rule,
            history.c.target,
            history.c.severity,
            history.c.value,
            history.c.fired_ts,
            history.c.ts,
        )
        .where(history.c.to_state == "resolved", history.c.ts >= since_ts)
        .order_by(history.c.rule, history.c.target, history.c.ts)
    ).all()
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for r in resolved:
        if (r[0], r[1]) not in active:
            latest[(r[0], r[1])] = {
                "rule": r[0], "target": r[1], "severity": r[2], "value": r[3], "fired_ts": r[4], "resolved_ts": r[5]
            }  # fmt: skip
    return rows + list(latest.values())


def alertmanager_status(connection: Connection) -> pd.DataFrame:
    """Each configured Alertmanager's last exchange (collectors/alertmanager.py)."""
    columns = ["url", "status", "last_attempt_ts", "last_success_ts", "consecutive_failures", "last_error"]
    if not inspect(connection).has_table("alertmanager_status"):
        return pd.DataFrame(columns=columns)
    table = schema.alertmanager_status
    query = select(*(table.c[name] for name in columns)).order_by(table.c.url)
    return pd.DataFrame(connection.execute(query).all(), columns=columns)


def alertmanager_view(connection: Connection) -> pd.DataFrame:
    """Alertmanager's view of castmeter's firing alerts, one row per Alertmanager and alert."""
    columns = [
        "url",
        "fingerprint",
        "rule",
        "target",
        "state",
        "silenced_by",
        "inhibited_by",
        "note",
        "receivers",
        "updated_ts",
    ]
    if not inspect(connection).has_table("alertmanager_alerts"):
        return pd.DataFrame(columns=columns)
    table = schema.alertmanager_alerts
    query = select(*(table.c[name] for name in columns)).order_by(table.c.rule, table.c.target, table.c.url)
    return pd.DataFrame(connection.execute(query).all(), columns=columns)
