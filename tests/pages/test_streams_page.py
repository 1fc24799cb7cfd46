"""The Streams page: listing, search, URL state, drill-down and hostile names (AppTest)."""

from __future__ import annotations

from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from harness.fixture_store import CHANNELS, HOSTILE_NAMES, LONG_NAME, room_sid
from tests.pages.conftest import PAGE_TIMEZONE, page_path

TIMEOUT_S = 30


def run_streams(query: dict[str, str] | None = None) -> AppTest:
    app = AppTest.from_file(page_path("streams"), default_timeout=TIMEOUT_S)
    for key, value in (query or {}).items():
        app.query_params[key] = value
    app.run()
    assert not app.exception, app.exception
    return app


def test_streams_lists_every_live_stream_with_zone_labelled_times(populated_store: dict[str, Any]) -> None:
    app = run_streams()
    table = app.dataframe[0].value
    assert len(table) == len(CHANNELS)
    assert set(table["Status"]) == {"live"}
    assert f"Started ({PAGE_TIMEZONE})" in table.columns
    assert set(table["Room"]) == set(CHANNELS)  # the 10,000-character name is kept whole
    assert len(app.get("download_button")) == 1


def test_streams_longer_range_includes_ended_sessions_and_filters_status(
    populated_store: dict[str, Any],
) -> None:
    app = run_streams({"range": "7d", "status": "ended"})
    table = app.dataframe[0].value
    assert len(table) == len(CHANNELS)
    assert set(table["Status"]) == {"ended"}
    assert app.query_params["status"] == "ended"


def test_search_matches_literally_and_is_kept_in_the_url(populated_store: dict[str, Any]) -> None:
    app = run_streams()
    app.text_input(key="streams_q").set_value("o'reilly").run()
    table = app.dataframe[0].value
    assert list(table["Room"]) == [HOSTILE_NAMES[0]]
    assert app.query_params["q"] == "o'reilly"
    # SQL wildcards are literal characters, not patterns.
    app.text_input(key="streams_q").set_value("%").run()
    assert not [frame for frame in app.dataframe if "Room" in frame.value.columns]  # (the relay chains stay)
    assert any("No stream matches" in info.value for info in app.info)


def test_drill_down_from_the_url_shows_minutes_and_status(populated_store: dict[str, Any]) -> None:
    app = run_streams({"stream": f"1:{room_sid(0)}"})
    shown = {metric.label: metric.value for metric in app.metric}
    # Host 7,190 s → 120 min; listeners 61 s → 2, 120 s → 2, 1 s → 1.
    assert shown["Connection minutes"] == "125"
    assert shown["Publishers"] == "1"
    assert int(shown["Peak listeners"]) >= 95
    assert float(shown["Downstream GB"]) > 0
    frames = [frame.value for frame in app.dataframe]
    participants = next(frame for frame in frames if "Identity" in frame.columns)
    assert list(participants["Connection minutes"]) == [120, 2, 2, 1]
    assert f"Joined ({PAGE_TIMEZONE})" in participants.columns
    egress = next(frame for frame in frames if "ID" in frame.columns and "EG_1" in set(frame["ID"]))
    assert egress.iloc[0]["Status"] == "EGRESS_ACTIVE"
    assert any("IN_1" in set(frame["ID"]) for frame in frames if "ID" in frame.columns)
    assert len(app.get("plotly_chart")) == 1  # the listener curve
    assert app.query_params["stream"] == f"1:{room_sid(0)}"


@pytest.mark.slow
def test_hostile_room_names_are_shown_as_plain_text(populated_store: dict[str, Any]) -> None:
    for index in range(len(CHANNELS) - len(HOSTILE_NAMES), len(CHANNELS)):
        app = run_streams({"stream": f"1:{room_sid(index)}"})
        texts = [text.value for text in app.text]
        name = CHANNELS[index]
        expected = name if len(name) <= 200 else name[:199]
        assert any(text.startswith(f"Room: {expected}") for text in texts), texts
        # The name never reaches a markdown element (which could render links or HTML).
        for element in [*app.markdown, *app.caption, *app.title, *app.subheader]:
            assert name[:40] not in element.value
    long_texts = [text.value for text in app.text if text.value.startswith("Room: very-long")]
    assert long_texts and len(long_texts[0]) < 260 and f"{len(LONG_NAME):,} chars" in long_texts[0]


def test_unknown_and_invalid_url_values_are_ignored(populated_store: dict[str, Any]) -> None:
    app = run_streams(
        {
            "range": "999d",
            "stream": "../../etc/passwd",
            "status": "everything",
            "evil": "<script>",
            "live": "yes",
        }
    )
    assert not app.metric  # no drill-down from an invalid stream id
    assert app.selectbox(key="sb_range").value == "6h"
    assert dict(app.query_params) == {"range": "6h"}


def test_streams_on_an_empty_store(empty_store: str) -> None:
    app = run_streams()
    assert not app.dataframe
    assert any("No streams in last 6 hours" in info.value for info in app.info)


def test_streams_without_a_database(missing_store: str) -> None:
    app = run_streams()
    assert any("make run" in info.value for info in app.info)


def _many_sessions(url: str, now_ts: int, ended: int) -> None:
    from sqlalchemy import insert

    from store import schema
    from store.engine import open_store

    engine = open_store(url)
    rows = [
        {"source_id": 1, "room_sid": f"RM_{i:05d}", "room_name": f"radio-{i % 50}", "channel": f"radio-{i % 50}",
         "started_ts": now_ts - 6 * 86_400 + i * 60, "ended_ts": now_ts - 6 * 86_400 + i * 60 + 30,
         "last_seen_ts": now_ts - 6 * 86_400 + i * 60 + 30, "max_participants": 3, "max_listeners": 2}
        for i in range(ended)
    ]  # fmt: skip
    rows.append(
        {"source_id": 1, "room_sid": "RM_live", "room_name": "radio-live", "channel": "radio-live",
         "started_ts": now_ts - 540, "ended_ts": None, "last_seen_ts": now_ts, "max_participants": 5,
         "max_listeners": 4}
    )  # fmt: skip
    with engine.begin() as connection:
        connection.execute(insert(schema.room_sessions), rows)
    engine.dispose()


@pytest.mark.slow
def test_a_long_range_says_how_many_and_its_csv_holds_every_stream(
    tmp_path: Any, page_env: Any, monkeypatch: Any
) -> None:
    """Finding 10 of issue 14: 7 days showed 2,000 of 6,084 sessions without saying so and the
    CSV held the same 2,000; the caption said "1 streams"; a live stream read "ended still live";
    Channel repeated Room on every row."""
    from tests.pages.shown import capture_downloads, csv_frame

    now_ts = 1_795_176_000
    monkeypatch.setenv("CASTMETER_NOW", str(now_ts))
    url = f"sqlite:///{tmp_path / 'many.db'}"
    _many_sessions(url, now_ts, ended=2_083)
    page_env(url)
    downloads = capture_downloads(monkeypatch)
    app = run_streams({"range": "7d"})
    captions = " ".join(c.value for c in app.caption)
    assert "2,084 streams (1 live) in last 7 days" in captions
    assert "the table shows the newest 2,000; the CSV holds all 2,084." in captions
    assert len(app.dataframe[0].value) == 2_000
    assert "Channel" not in app.dataframe[0].value.columns  # the same as Room on every row
    csv = csv_frame(downloads[-1]["data"])
    assert len(csv) == 2_084 and set(csv.columns) == set(app.dataframe[0].value.columns)
    assert "RM_00000" in set(csv["Room SID"]) and "RM_live" in set(csv["Room SID"])

    app = run_streams({"range": "1h", "stream": "1:RM_live"})
    captions = " ".join(c.value for c in app.caption)
    assert "1 stream (1 live) in last 1 hour" in captions
    assert "still live · live for 9 min 00 s" in captions and "ended still live" not in captions
