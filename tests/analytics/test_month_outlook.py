"""One projection method (finding 7 of issue 14): for a fleet that runs the same all month,
the month-end projection equals the run rate, month to date is the share of it that has
passed, and a fixed monthly cost (self-hosted servers) accrues with time instead of being
charged whole on the first day (it read $415 to date against $295 a month)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import insert

from analytics.costs import MODEL_IDS, PROJECTION_TRAILING_DAYS, month_outlook
from analytics.prices import load_catalogue
from store import schema
from store.engine import open_store
from store.rollups import refresh_rollups
from tests.analytics.stored import stored_ledger

pytestmark = pytest.mark.slow  # builds a month of rollups (1.5 s)

NOW = 1_795_176_000  # 2026-11-20 12:00 UTC; November has 30 days
DAY_S = 86_400
FIRST = NOW - 14 * DAY_S - DAY_S // 2  # 2026-11-06 00:00: the store's first observation
LISTENERS = 20


@pytest.fixture
def store(tmp_path: Path) -> str:
    """A 24/7 radio channel with one host and 20 listeners, in one session per UTC day, and one
    node sending each listener 96 kbps."""
    url = f"sqlite:///{tmp_path / 'steady.db'}"
    engine = open_store(url)
    rooms, participants, samples, nodes = [], [], [], []
    day_start = FIRST
    while day_start < NOW:
        day_end = min(day_start + DAY_S, NOW)
        sid = f"RM_{day_start}"
        rooms.append({"source_id": 1, "room_sid": sid, "room_name": "radio", "channel": "radio",
                      "started_ts": day_start, "ended_ts": day_end, "last_seen_ts": day_end})  # fmt: skip
        for index in range(LISTENERS + 1):
            participants.append(
                {"source_id": 1, "participant_sid": f"PA_{day_start}_{index}", "room_sid": sid,
                 "identity": f"u{index}", "kind": "STANDARD", "is_publisher": index == 0,
                 "joined_ts": day_start, "left_ts": day_end, "last_seen_ts": day_end}
            )  # fmt: skip
        for ts in range(day_start, day_end, 60):
            samples.append({"source_id": 1, "room_sid": sid, "ts": ts, "participants": LISTENERS + 1,
                            "publishers": 1, "listeners": LISTENERS})  # fmt: skip
            nodes.append(
                {"source_id": 2, "node_id": "node-a", "ts": ts, "bytes_out_per_s": LISTENERS * 96_000 / 8}
            )
        day_start = day_end
    with engine.begin() as connection:
        connection.execute(insert(schema.room_sessions), rooms)
        connection.execute(insert(schema.participant_sessions), participants)
        connection.execute(insert(schema.room_samples), samples)
        connection.execute(insert(schema.node_samples), nodes)
    refresh_rollups(engine, NOW)
    engine.dispose()
    return url


def test_projection_month_to_date_and_run_rate_agree_for_a_steady_fleet(store: str) -> None:
    engine = open_store(store)
    month = stored_ledger(engine, NOW - 19 * DAY_S - DAY_S // 2, NOW)  # from 2026-11-01 00:00
    trailing = stored_ledger(engine, NOW - PROJECTION_TRAILING_DAYS * DAY_S, NOW)
    outlook = month_outlook(month, trailing, NOW, load_catalogue())
    engine.dispose()
    assert outlook.month_days == 30
    assert outlook.covered_s == 14 * DAY_S + DAY_S // 2  # observed since 2026-11-06 00:00
    rows = {str(row["model"]): row for row in outlook.frame.to_dict("records")}
    assert list(rows) == list(MODEL_IDS)
    share = 14.5 / 30
    for model, row in rows.items():
        run_rate = float(row["run_rate_usd"])
        assert run_rate > 0, model
        # One rate all month: the projection for a 30-day month is the 30-day run rate.
        assert float(row["projected_month_usd"]) == pytest.approx(run_rate, rel=1e-6), model
        assert float(row["month_to_date_usd"]) == pytest.approx(run_rate * share, rel=1e-6), model
        assert float(row["month_to_date_usd"]) < float(row["projected_month_usd"])
    document = outlook.as_json()
    assert "last 7 days' rate" in document["method"] and document["covered_days"] == 14.5


def test_the_month_to_date_at_a_months_first_instant_is_the_month_just_ended() -> None:
    """Found at the clock edge (scripts/test-clock-edges.sh at 2026-12-31 23:59:51 UTC): the
    Costs page's range ends at now rounded up, 2027-01-01 00:00:00, and asking for January
    "to date" gave an empty window that crashed the page."""
    from analytics.costs import month_bounds

    dec_1, jan_1, feb_1 = (
        1_796_083_200,
        1_798_761_600,
        1_801_440_000,
    )  # 2026-12-01, 2027-01-01, 2027-02-01 UTC
    assert month_bounds(jan_1) == (dec_1, jan_1)
    assert month_bounds(jan_1 - 9) == (dec_1, jan_1)
    assert month_bounds(jan_1 + 1) == (jan_1, feb_1)
    assert month_bounds(feb_1 - 1) == (jan_1, feb_1)


def test_the_costs_cli_at_a_months_first_instant(store: str) -> None:
    import json
    import subprocess
    import sys

    from harness.realparts import REPO_ROOT

    month_start = 1_796_083_200  # 2026-12-01 00:00 UTC: November (to date) is over
    result = subprocess.run(
        [sys.executable, "-m", "analytics", "costs", "--db", store, "--since", "7d",
         "--now", str(month_start), "--json"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    month = json.loads(result.stdout)["month"]
    assert (month["month_start_ts"], month["month_end_ts"]) == (1_793_491_200, month_start)  # November
