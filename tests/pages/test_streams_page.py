"""The Streams page: listing, search, URL state, drill-down and hostile names (AppTest)."""

from __future__ import annotations

from typing import Any

from streamlit.testing.v1 import AppTest

from tests.pages.conftest import PAGE_TIMEZONE, page_path
from tests.pages.fixture_store import CHANNELS, HOSTILE_NAMES, LONG_NAME, room_sid

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
    assert not app.dataframe
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
