"""The backfill's audience and relay history (simulator/audience_history.py) against what the
live pollers write for the same simulated fleet at the same instant (the seam), a hand-worked
HLS row, and the incidents the history holds for the alert backtests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from collectors.pollers.agora import AgoraPoller
from collectors.pollers.cloudflare_stream import CloudflareStreamPoller
from collectors.pollers.hls import HlsLogPoller
from collectors.pollers.ivs import IvsPoller
from core.settings import CollectorSettings
from simulator.audience_history import STEP_S, AudienceTargets, audience_history, hls_rows, provider_rows
from simulator.hls_log import HlsLogWriter, demo_hls_source
from simulator.hybrid import HybridModel, provider_sources
from simulator.incidents import OUTAGE_MIN, STALL_S, stall_start_on
from simulator.model import FleetModel
from simulator.providers import ThreadedProviderFakes
from store.audience import AudienceSample, RelaySample

# 2026-11-20 12:00 UTC (tests/simulator/test_hybrid.py works its schedule out by hand): five
# sellers live, shop-1's converter failed. A multiple of STEP_S, as every backfilled poll is.
NOW_TS = 1795176000
EVENING_TS = 1795201200  # 2026-11-20 19:00 UTC: the radio's evening, its HLS channels busy


def _rows(samples: Sequence[AudienceSample | RelaySample]) -> list[dict[str, object]]:
    return sorted(
        (dict(sample.__dict__) for sample in samples),
        key=lambda row: (row["channel"], str(row.get("relay_id"))),
    )


def _frame_rows(frame: pd.DataFrame) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = [
        {str(key): value for key, value in record.items()}
        for record in frame.astype(object).where(frame.notna(), None).to_dict("records")
    ]
    return sorted(rows, key=lambda row: (row["channel"], str(row.get("relay_id"))))


def test_provider_history_continues_into_the_live_pollers_rows() -> None:
    """Two live polls STEP_S apart (Cloudflare's minutes viewed is a difference between polls)
    against the backfill's rows at the second one: the same rows, field for field."""
    model = HybridModel(seed=0)
    clock = [float(NOW_TS - STEP_S)]
    with ThreadedProviderFakes(model.state, clock=lambda: clock[0]) as fakes:
        sources = provider_sources(fakes)
        settings = CollectorSettings(http_timeout_s=5)
        pollers: dict[str, AgoraPoller | CloudflareStreamPoller | IvsPoller] = {
            "agora": AgoraPoller(sources["agora"][0], settings),
            "cloudflare_stream": CloudflareStreamPoller(sources["cloudflare_stream"][0], settings),
            "ivs": IvsPoller(sources["ivs"][0], settings),
        }
        for poller in pollers.values():
            asyncio.run(poller.poll(NOW_TS - STEP_S))
        clock[0] = float(NOW_TS)
        live = {path: asyncio.run(poller.poll(NOW_TS)) for path, poller in pollers.items()}
    history = provider_rows(HybridModel(seed=0), NOW_TS - STEP_S, NOW_TS)
    for path, snapshot in live.items():
        assert snapshot.warnings == []
        assert _frame_rows(history.audience[path]) == _rows(snapshot.audience), path
        assert _frame_rows(history.relays[path]) == _rows(snapshot.relays), path
    # The seam holds something: shop-1's broken hop and Cloudflare's measured minutes.
    assert any(row.health == "down" for row in live["agora"].relays)
    assert all(row.viewer_s is not None and row.viewer_s > 0 for row in live["cloudflare_stream"].audience)


def test_hls_history_continues_into_the_log_pollers_buckets(tmp_path: Path) -> None:
    """The demo's origin log for the STEP_S before a poll, read by the real log poller, against
    the backfill's row at the poll: the same channels; per channel the viewers within one (a
    listener joining or leaving in the poller's 12 s window); viewer-seconds, requests and bytes
    over all channels within 5 %, per channel within 12 % or one listener's 2 minutes (the
    backfill samples the model once a minute, the log follows it every 4 s: a listener who
    leaves or joins between two minutes is counted for the whole minute)."""
    model = FleetModel("hybrid", seed=0)
    source = demo_hls_source(tmp_path)
    writer = HlsLogWriter(model, Path(source.path), segment_s=int(source.segment_s))
    writer.write_until(EVENING_TS - 3 * STEP_S)  # the log starts here (a warm-up step before)
    writer.write_until(EVENING_TS)
    poller = HlsLogPoller(source, CollectorSettings())
    snapshot = poller.read(EVENING_TS + 1)
    live = pd.DataFrame([sample.__dict__ for sample in snapshot.audience])
    live = live[(live["ts"] > EVENING_TS - STEP_S) & (live["ts"] <= EVENING_TS)]
    totals = live.groupby("channel")[["viewer_s", "requests", "bytes_delivered"]].sum()
    viewers_at = live[live["ts"] == EVENING_TS].set_index("channel")["viewers"]

    history = model.history(EVENING_TS - 3600, EVENING_TS + 60, step_s=60)
    rows = audience_history(
        model, AudienceTargets(hls=1, segment_s=source.segment_s), history.room_samples,
        history.room_sessions, EVENING_TS - STEP_S, EVENING_TS,
    ).audience["hls"].set_index("channel")  # fmt: skip
    assert set(rows.index) == set(viewers_at[viewers_at > 0].index) and len(rows) >= 3
    one_listener = {"viewer_s": STEP_S, "requests": 2 * STEP_S / 4, "bytes_delivered": STEP_S / 4 * 32_612}
    for channel in rows.index.astype(str):
        row = rows.loc[channel]
        assert row["ts"] == EVENING_TS
        assert abs(int(row["viewers"]) - int(viewers_at.loc[channel])) <= 1, channel
        for column, allowed in one_listener.items():
            gap = abs(float(row[column]) - float(totals[column].loc[channel]))
            assert gap <= max(0.12 * float(row[column]), allowed), (channel, column, row[column])
    for column in one_listener:
        assert abs(rows[column].astype(float).sum() - totals[column].sum()) <= 0.05 * totals[column].sum(), (
            column
        )
    relays = {relay.channel: relay for relay in snapshot.relays}
    history_relays = audience_history(
        model, AudienceTargets(hls=1, segment_s=source.segment_s), history.room_samples,
        history.room_sessions, EVENING_TS - STEP_S, EVENING_TS,
    ).relays["hls"]  # fmt: skip
    for relay in history_relays.itertuples():
        live_relay = relays[str(relay.channel)]
        assert (relay.relay_id, relay.kind, relay.health, relay.status, relay.sink, relay.segment_s) == (
            live_relay.relay_id, live_relay.kind, live_relay.health, live_relay.status, live_relay.sink,
            live_relay.segment_s,
        )  # fmt: skip


def test_an_hls_row_worked_out_by_hand() -> None:
    # One room of 25 listeners for two minutes: round(25 x 0.4) = 10 HLS listeners, each
    # fetching the playlist and a segment every 4 s: 10 x 120 / 4 = 300 of each; 1,200
    # viewer-seconds. 404s: 300 x 0.005 = 1.5 expected, so 1 or 2; bytes: 300 playlists x 412 +
    # the segments served x (32,000 + 200 average spread).
    samples = pd.DataFrame({"ts": [NOW_TS - 60, NOW_TS], "room_sid": "RM_a", "listeners": 25,
                            "egress_participants": 1})  # fmt: skip
    audience, relays = hls_rows(samples, {"RM_a": "radio-a"}, seed=0, egress_only=True, segment_s=4.0)
    assert stall_start_on(0, "radio-a", NOW_TS // 86_400) is None  # no incident that day
    row = audience.iloc[0]
    assert (row["channel"], row["path"], row["ts"], row["viewers"]) == ("radio-a", "hls", NOW_TS, 10)
    assert (row["viewer_s"], row["requests"], row["errors_5xx"]) == (1200.0, 600, 0)
    assert row["errors_4xx"] in (1, 2)
    assert row["bytes_delivered"] == 300 * 412 + (300 - row["errors_4xx"]) * 32_200
    relay = relays.iloc[0]
    assert (relay["relay_id"], relay["kind"], relay["health"], relay["status"], relay["segment_s"]) == (
        "/radio-a/live.m3u8", "hls_playlist", "ok", "fresh", 4.0,
    )  # fmt: skip
    # Without HLS egress in the room nothing is served.
    assert hls_rows(samples.assign(egress_participants=0), {"RM_a": "radio-a"}, seed=0, egress_only=True,
                    segment_s=4.0)[0].empty  # fmt: skip


def test_a_stalled_playlist_reads_stale_in_history() -> None:
    channel = "radio-a"
    day = next(d for d in range(20_000, 20_400) if stall_start_on(0, channel, d) is not None)
    start = stall_start_on(0, channel, day)
    assert start is not None
    poll = -(-(start + 60) // STEP_S) * STEP_S  # the first poll at least a minute into the stall
    assert poll < start + STALL_S
    samples = pd.DataFrame(
        {"ts": [poll - 60, poll], "room_sid": "RM_a", "listeners": 25, "egress_participants": 1}
    )
    audience, relays = hls_rows(samples, {"RM_a": channel}, seed=0, egress_only=True, segment_s=4.0)
    assert (audience.iloc[0]["viewers"], relays.iloc[0]["health"], relays.iloc[0]["status"]) == (
        0,
        "down",
        "stale",
    )
    assert relays.iloc[0]["last_activity_ts"] == start
    assert relays.iloc[0]["detail"] == (
        f"no new segment for {poll - start} s (stale after 3 segment durations = 12 s) "
        "while players still request the playlist"
    )
    # Players still reload the playlist: 10 listeners x 120 s / 4 s requests, no segment.
    assert audience.iloc[0]["requests"] == 300 and audience.iloc[0]["viewer_s"] < 1200


def test_the_weeks_history_holds_an_hour_long_input_outage_while_agora_is_live() -> None:
    """relay_down backtests have an incident to fire on: an even Cloudflare seller's input down
    for OUTAGE_MIN minutes in a row while the seller's Agora channel has hosts."""
    week_start = 1795132800 - 1795132800 % (7 * 86_400)
    rows = provider_rows(HybridModel(seed=0), week_start, week_start + 7 * 86_400)
    inputs = rows.relays["cloudflare_stream"]
    hosts = rows.audience["agora"].set_index(["channel", "ts"])["hosts"]
    longest = 0
    for channel, frame in inputs.groupby("channel"):
        run = 0
        for ts, health in zip(frame["ts"], frame["health"], strict=True):
            live = hosts.get((channel, ts), 0) > 0
            run = run + 1 if health == "down" and live else 0
            longest = max(longest, run)
    assert longest * STEP_S >= (OUTAGE_MIN - 2) * 60
