"""The Alerts page shows Alertmanager's view beside castmeter's (AppTest): each configured
Alertmanager's reachability, and for every active alert whether it is active there (and to
whom), silenced (by whom, why) or inhibited (by which alert); a deep link picks the rule."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from sqlalchemy import insert

from store import schema
from store.engine import open_store
from tests.pages.test_alerts_page import configured, run_page  # noqa: F401  (fixture)

AM1, AM2 = "http://am-1:9093", "http://am-2:9093"


def unescape(markdown: str) -> str:
    """The text a reader sees (the page escapes Markdown in what it did not write itself)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def _store(url: str, now: int) -> None:
    engine = open_store(url)

    def state(rule: str, target: str, state: str, severity: str = "warning") -> dict[str, object]:
        return {"rule": rule, "target": target, "state": state, "severity": severity,
                "active_since_ts": now - 600, "fired_ts": now - 300 if state == "firing" else None,
                "last_value": 95.0, "last_eval_ts": now}  # fmt: skip

    def seen(url: str, rule: str, target: str, fingerprint: str, **status: str) -> dict[str, object]:
        return {"url": url, "fingerprint": fingerprint, "rule": rule, "target": target,
                "state": status.get("state", "active"), "silenced_by": status.get("silenced_by", ""),
                "inhibited_by": status.get("inhibited_by", ""), "note": status.get("note", ""),
                "receivers": status.get("receivers", ""), "starts_ts": now - 300, "ends_ts": now + 240,
                "updated_ts": now}  # fmt: skip

    with engine.begin() as connection:
        connection.execute(insert(schema.alert_state), [
            state("HighCPU", "node-a", "firing"),
            state("HighCPU", "node-b", "pending"),
            state("HighCPU", "node-c", "firing"),
            state("HighCPU", "node-d", "firing"),
            state("HighMemory", "node-d", "firing", "critical"),
        ])  # fmt: skip
        connection.execute(insert(schema.alertmanager_status), [
            {"url": AM1, "status": "ok", "last_attempt_ts": now - 12, "last_success_ts": now - 12,
             "consecutive_failures": 0, "last_error": None, "alerts_sent": 4},
            {"url": AM2, "status": "failing", "last_attempt_ts": now - 5, "last_success_ts": now - 3600,
             "consecutive_failures": 3, "last_error": "ConnectionError: connection refused", "alerts_sent": 4},
        ])  # fmt: skip
        connection.execute(insert(schema.alertmanager_alerts), [
            seen(AM1, "HighCPU", "node-a", "f1", receivers="team-ops"),
            seen(AM1, "HighCPU", "node-c", "f3", state="suppressed", silenced_by="s-1",
                 note="alice until 2026-12-01 18:00 UTC: maintenance window"),
            seen(AM1, "HighCPU", "node-d", "f4", state="suppressed", inhibited_by="f5"),
            seen(AM1, "HighMemory", "node-d", "f5", receivers="pager"),
        ])  # fmt: skip
        ts = np.arange(now - 3600, now, 15)
        connection.execute(insert(schema.node_samples), [
            {"source_id": 1, "node_id": node, "ts": int(t), "cpu_pct": 95.0, "memory_pct": 95.0}
            for node in ("node-a", "node-d") for t in ts
        ])  # fmt: skip
    engine.dispose()


def test_alertmanagers_view_beside_castmeters(configured: str) -> None:  # noqa: F811
    _store(configured, int(time.time()))
    app = run_page()
    captions = [unescape(c.value) for c in app.caption]
    assert any(
        re.search(rf"Alertmanager {AM1}: reachable \(last exchange \d+ s ago\)", c) for c in captions
    ), captions
    warnings = " ".join(unescape(w.value) for w in app.warning)
    assert f"Alertmanager {AM2} is unreachable (3 failed exchange(s), last reached 1 h ago)" in warnings
    assert "ConnectionError: connection refused" in warnings
    table = next(frame.value for frame in app.dataframe if "Alertmanager" in frame.value.columns)
    shown = {
        (row["Rule"], row["Target"]): (row["castmeter"], row["Alertmanager"]) for _, row in table.iterrows()
    }
    unreachable = "not delivered: Alertmanager unreachable (retried)"
    assert shown == {
        ("HighCPU", "node-a"): ("firing", f"{AM1}: active → team-ops; {AM2}: {unreachable}"),
        ("HighCPU", "node-b"): ("pending", "not sent while pending"),
        ("HighCPU", "node-c"): (
            "firing",
            f"{AM1}: silenced by alice until 2026-12-01 18:00 UTC: maintenance window; {AM2}: {unreachable}",
        ),
        ("HighCPU", "node-d"): ("firing", f"{AM1}: inhibited by HighMemory on node-d; {AM2}: {unreachable}"),
        ("HighMemory", "node-d"): ("firing", f"{AM1}: active → pager; {AM2}: {unreachable}"),
    }


def test_without_alertmanager_nothing_is_added(configured: str) -> None:  # noqa: F811
    engine = open_store(configured)
    engine.dispose()
    app = run_page()
    assert not any("Alertmanager" in c.value for c in app.caption)
    assert not app.warning


@pytest.mark.slow
def test_a_deep_link_opens_the_alerts_rule_and_target(configured: str) -> None:  # noqa: F811
    from streamlit.testing.v1 import AppTest

    from tests.pages.conftest import page_path

    _store(configured, int(time.time()))
    app = AppTest.from_file(page_path("alerts"), default_timeout=60)
    app.query_params["rule"] = "HighMemory"
    app.query_params["target"] = "node-d"
    app.run()
    assert not app.exception, app.exception
    assert app.selectbox(key="alerts_rule").value == "HighMemory"
    assert app.selectbox(key="alerts_target").value == "node-d"
