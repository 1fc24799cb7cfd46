"""Alertmanager's view of castmeter's alerts, in words, for the Alerts page.

Inputs are the frames of store.queries.alerts (``active_alerts``, ``alertmanager_view``,
``alertmanager_status``); nothing here reads the store or the network.
"""

from __future__ import annotations

import pandas as pd


def describe(row: pd.Series, inhibitors: dict[str, str]) -> str:
    """One Alertmanager's state of one alert: active (and to whom), silenced (by whom, until
    when, why), inhibited (by which alert)."""
    if row["silenced_by"]:
        return f"silenced by {row['note']}" if row["note"] else f"silenced ({row['silenced_by']})"
    if row["inhibited_by"]:
        names = [
            inhibitors.get(fingerprint, "another alert")
            for fingerprint in str(row["inhibited_by"]).split(",")
        ]
        return "inhibited by " + ", ".join(dict.fromkeys(names))
    if row["state"] == "active":
        return f"active → {row['receivers']}" if row["receivers"] else "active"
    if row["state"] == "unprocessed":
        return "received, not yet routed"
    return str(row["state"])


def alertmanager_table(active: pd.DataFrame, view: pd.DataFrame, status: pd.DataFrame) -> pd.DataFrame:
    """Rule, Target, castmeter's state and each Alertmanager's view, one row per active alert.
    Empty when no Alertmanager ever answered or was tried (nothing configured)."""
    columns = ["Rule", "Target", "castmeter", "Alertmanager"]
    if status.empty or active.empty:
        return pd.DataFrame(columns=columns)
    failing = {str(row["url"]) for _, row in status.iterrows() if row["status"] != "ok"}
    inhibitors = {
        str(row["fingerprint"]): f"{row['rule']} on {row['target']}"
        for _, row in view.iterrows()
        if "fingerprint" in view.columns
    }
    rows = []
    for _, alert in active.iterrows():
        rule, target, state = str(alert["rule"]), str(alert["target"]), str(alert["state"])
        if state != "firing":
            text = "not sent while pending"
        else:
            seen = view[(view["rule"] == rule) & (view["target"] == target)]
            parts: dict[str, str] = {}
            for url in status["url"].astype(str):
                match = seen[seen["url"] == url]
                if not match.empty:
                    parts[url] = describe(match.iloc[0], inhibitors)
                elif url in failing:
                    parts[url] = "not delivered: Alertmanager unreachable (retried)"
                else:
                    parts[url] = "not seen yet"
            texts = list(dict.fromkeys(parts.values()))
            text = texts[0] if len(texts) == 1 else "; ".join(f"{url}: {part}" for url, part in parts.items())
        rows.append({"Rule": rule, "Target": target, "castmeter": state, "Alertmanager": text})
    return pd.DataFrame(rows, columns=columns)


def ago(seconds: float) -> str:
    """A rough, readable age: 13 s, 5 min, 1 h 1 min, 2 d 3 h."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86_400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(seconds // 3600, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def status_lines(status: pd.DataFrame, now_ts: int) -> list[tuple[bool, str]]:
    """(reachable, sentence) per configured Alertmanager."""
    lines = []
    for _, row in status.iterrows():
        url = str(row["url"])
        if row["status"] == "ok":
            last = ago(now_ts - int(row["last_attempt_ts"]))
            lines.append((True, f"Alertmanager {url}: reachable (last exchange {last} ago)."))
            continue
        since = row["last_success_ts"]
        last_ok = (
            f"last reached {ago(now_ts - int(since))} ago"
            if since is not None and not pd.isna(since)
            else "never reached"
        )
        lines.append(
            (
                False,
                f"Alertmanager {url} is unreachable ({int(row['consecutive_failures'])} failed exchange(s), "
                f"{last_ok}): {row['last_error'] or 'no detail'}. Firing alerts are re-sent until it answers.",
            )
        )
    return lines
