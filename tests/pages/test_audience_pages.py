"""The whole audience on the pages (issue 17), AppTest on a hand-built store
(harness/audience_store.py: the known figures are written there by hand) and the empty states."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from harness.audience_store import AUDIENCE_FACTS, fill
from store.audience import AudienceSample, write_audience_samples
from store.engine import make_engine
from tests.pages.conftest import page_path

TIMEOUT_S = 30
PATH_LABELS = ["WebRTC (LiveKit)", "HLS", "Agora", "Cloudflare Stream", "Amazon IVS"]


@pytest.fixture(scope="module")
def _audience_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    now_ts = int(time.time()) // 60 * 60
    url = f"sqlite:///{tmp_path_factory.mktemp('audience') / 'audience.db'}"
    fill(url, now_ts)
    return url, now_ts


@pytest.fixture
def audience_store(
    _audience_db: tuple[str, int], page_env: Callable[[str], None], monkeypatch: pytest.MonkeyPatch
) -> int:
    url, now_ts = _audience_db
    page_env(url)
    # The pages' "now" is the clock rounded up to 15 s (ui.sidebar): pinned 15 s before, it is now_ts.
    monkeypatch.setenv("CASTMETER_NOW", str(now_ts - 15))
    return now_ts


def run(page: str, query: dict[str, str] | None = None) -> AppTest:
    app = AppTest.from_file(page_path(page), default_timeout=TIMEOUT_S)
    for key, value in (query or {}).items():
        app.query_params[key] = value
    app.run()
    assert not app.exception, app.exception
    return app


def test_overview_shows_the_audience_by_delivery_path_now_and_over_time(audience_store: int) -> None:
    app = run("overview", {"range": "1h"})
    shown = {metric.label: metric.value for metric in app.metric}
    assert [shown[label] for label in PATH_LABELS] == ["5", "120", "9", "30", "no data"]
    # The WebRTC figure is the headline's listeners (one query path for both).
    assert shown["Listeners"] == "5"
    table = next(frame.value for frame in app.dataframe if "All paths" in frame.value.columns)
    assert table[["Channel", "All paths"]].values.tolist() == [["radio-1", "125"], ["shop-1", "39"]]
    assert table.set_index("Channel").loc["shop-1", "WebRTC (LiveKit)"] == "no data"
    assert len(app.get("plotly_chart")) == 3  # listeners by channel, live streams, audience by path


def test_overview_without_audience_pollers_says_no_data_per_path(populated_store: dict[str, Any]) -> None:
    app = run("overview")
    shown = {metric.label: metric.value for metric in app.metric}
    assert shown["WebRTC (LiveKit)"] == f"{populated_store['listeners_now']:,}"
    assert [shown[label] for label in PATH_LABELS[1:]] == ["no data"] * 4
    assert not any("All paths" in frame.value.columns for frame in app.dataframe)


def test_streams_drill_down_shows_the_relay_chain_and_flags_the_stale_playlist(audience_store: int) -> None:
    app = run("streams", {"range": "1h", "stream": "1:RM_radio1"})
    chain = next(frame.value for frame in app.dataframe if "Hop" in frame.value.columns)
    assert chain[["Hop", "State"]].values.tolist() == [
        ["LiveKit room", "ok"], ["LiveKit egress", "ok"], ["HLS playlist", "ok"], ["HLS viewers", "ok"]
    ]  # fmt: skip
    assert chain["Viewers"].tolist() == ["5", "n/a", "n/a", "120"]  # relays carry no audience
    # The newest HLS sample: 2 of 100 requests answered 5xx.
    assert chain["Status"].iloc[3] == "120 watching · 5xx 2.0 % of 100 requests"
    errors = " ".join(error.value for error in app.error)
    assert f"the playlist not updated for {AUDIENCE_FACTS['playlist_age_s']} s" in errors
    chains = next(frame.value for frame in app.dataframe if "Chain (source → sink)" in frame.value.columns)
    assert chains["Channel"].tolist() == ["radio-1", "shop-1"]
    assert chains.iloc[1]["Chain (source → sink)"] == (
        "Agora channel (ok) → Agora Media Push (ok) → Cloudflare Stream live input (down) → "
        "Cloudflare Stream viewers (ok)"
    )
    assert chains.iloc[1]["Broken hop"] == (
        "Cloudflare Stream live input: Agora hosts live (2 hosts live) but the Cloudflare Stream live input "
        "is disconnected"
    )


def test_streams_without_relays_say_so(empty_store: str, tmp_path: Path) -> None:
    # A room with no egress and no relay: the chain section says there is none.
    from sqlalchemy import insert

    from store import schema
    from store.engine import make_engine

    now_ts = int(time.time())
    engine = make_engine(empty_store)
    with engine.begin() as c:
        c.execute(insert(schema.room_sessions), [{"source_id": 1, "room_sid": "RM_x", "room_name": "solo",
                                                   "channel": "solo", "started_ts": now_ts - 600,
                                                   "ended_ts": None, "last_seen_ts": now_ts}])  # fmt: skip
        c.execute(insert(schema.room_samples), [{"source_id": 1, "room_sid": "RM_x", "ts": now_ts - 5,
                                                  "participants": 2, "publishers": 1, "listeners": 1}])  # fmt: skip
    engine.dispose()
    app = run("streams", {"stream": "1:RM_x"})
    captions = " ".join(caption.value for caption in app.caption)
    assert "No relay reported for this channel" in captions
    assert "No relay reported: no LiveKit egress" in captions


def test_costs_says_the_hybrids_price_the_measured_hls_audience(audience_store: int) -> None:
    app = run("costs", {"range": "1h"})
    captions = [caption.value for caption in app.caption]
    assert any("HLS audience MEASURED from the HLS delivery logs" in text for text in captions), captions
    assert any("minutes MEASURED from Cloudflare Stream" in text for text in captions)
    # The hour [now - 3600, now) holds 9 of radio-1's HLS samples (now - 270 … now - 30; the one
    # at now opens the next window): the first has no interval, then 8 × 30 s × 120 viewers
    # = 480 viewer-min; 9 × 1 MB = 0.009 GB (0.01 shown). shop-1's single samples: 0.
    assert [text for text in captions if text.startswith("Audience outside")] == [
        f"Audience outside LiveKit MEASURED in this window: HLS {AUDIENCE_FACTS['hls_viewer_min_hour']:,.0f} viewer-min, Cloudflare Stream 0 viewer-min, "
        "Agora 0 viewer-min, HLS 0.01 GB delivered. The hybrids price it (plus the WebRTC listeners moved over); "
        "the other models price the LiveKit usage only."
    ]


def test_alerts_replays_the_relay_down_rule_on_the_stored_relay_reports(audience_store: int) -> None:
    # The example rules: RelayDown (relay_down >= 1 for 1m). The Cloudflare input reported down
    # every 15 s from now - 285 to now: firing from now - 225 on, still firing at the window's
    # end (now); an episode counts its last 15 s step too: 225 + 15 = 240 s.
    app = run("alerts", {"range": "1h", "rule": "RelayDown"})
    episodes = next(frame.value for frame in app.dataframe if "Flapping" in frame.value.columns)
    assert episodes["Target"].tolist() == ["shop-1/cloudflare_live_input"]
    assert episodes.filter(like="Resolved").iloc[0, 0] == "still firing"
    assert episodes["Duration"].iloc[0] == "4 min 00 s"
    # The export includes it, over castmeter's own series (collectors/audience_metrics.py).
    export = next(c.value for c in app.caption if "Prometheus rules for" in c.value)
    assert export.startswith("Prometheus rules for 8 rule(s)") and "Not exported — SpendOverBudget" in export
    assert "RelayDown\\, HlsErrors read castmeter's own series" in export  # escaped markdown
    assert "Prometheus must scrape castmeter's collectors" in export


def test_streams_shows_an_agora_channels_chain_picked_by_name(audience_store: int) -> None:
    app = run("streams", {"range": "1h"})
    app.selectbox(key="relay_chain_channel").select("shop-1").run()
    assert not app.exception, app.exception
    chain = next(frame.value for frame in app.dataframe if "Hop" in frame.value.columns)
    assert chain[["Hop", "State", "Status"]].values.tolist() == [
        ["Agora channel", "ok", "2 hosts live"],
        ["Agora Media Push", "ok", "running"],
        ["Cloudflare Stream live input", "down", "disconnected"],
        ["Cloudflare Stream viewers", "ok", "30 watching"],
    ]
    assert chain["Viewers"].tolist() == ["9", "n/a", "n/a", "30"]
    assert any("Cloudflare Stream live input cf" in error.value for error in app.error)


def test_quiet_livekit_rooms_read_0_on_webrtc_like_the_listeners_card(
    empty_store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside LiveKit's broadcast hours (the hybrid demo at night): the providers report viewers,
    no LiveKit room is live. WebRTC is the Listeners card's 0, not "no data" beside it."""
    now_ts = int(time.time()) // 60 * 60
    with make_engine(empty_store).begin() as connection:
        write_audience_samples(
            connection,
            1,
            [AudienceSample(channel="shop-1", path="cloudflare_stream", ts=now_ts - 30, viewers=808)],
        )
    monkeypatch.setenv("CASTMETER_NOW", str(now_ts - 15))
    app = run("overview", {"range": "1h"})
    shown = {metric.label: metric.value for metric in app.metric}
    assert shown["Listeners"] == "0"
    assert [shown[label] for label in PATH_LABELS] == ["0", "no data", "no data", "808", "no data"]
