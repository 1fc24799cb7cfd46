"""The audience by delivery path and the relay chain (analytics/audience.py) on hand-built
frames; every expected figure is worked out by hand."""

from __future__ import annotations

import pandas as pd

from analytics import audience

NOW = 1_767_268_800
SEGMENT_S = 6.0


def _webrtc(*rows: tuple[str, int, int]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["channel", "listeners", "publishers"])


def _others(*rows: tuple[str, str, int, int | None]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["channel", "path", "viewers", "hosts"])
    return frame.assign(ts=NOW)


def _relays(*rows: tuple[str, str, str, str, str, int | None, int]) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows, columns=["relay_id", "channel", "kind", "health", "status", "last_activity_ts", "ts"]
    )
    return frame.assign(source_id=7, sink="", detail=None, segment_s=SEGMENT_S)


def _egress(*rows: tuple[str, str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["egress_id", "channel", "status"])
    return frame.assign(source_id=1, room_name=frame["channel"], kind="room_composite", started_ts=NOW - 600,
                        ended_ts=None, updated_ts=NOW - 600, last_seen_ts=NOW, error=None)  # fmt: skip


NO_RELAYS = _relays()
NO_EGRESS = _egress()


def test_every_path_is_listed_and_a_silent_one_has_no_figure() -> None:
    paths = audience.live_by_path(
        _webrtc(("radio-1", 40, 1), ("radio-2", 2, 1)),
        _others(("radio-1", "hls", 120, None), ("radio-2", "hls", 5, None), ("shop-1", "agora", 9, 2)),
    )
    by_path = {p.path: p for p in paths}
    assert [p.path for p in paths] == ["webrtc", "hls", "agora", "cloudflare_stream", "ivs"]
    assert (by_path["webrtc"].viewers, by_path["webrtc"].channels) == (42, 2)
    assert (by_path["hls"].viewers, by_path["hls"].channels) == (125, 2)
    assert (by_path["agora"].viewers, by_path["agora"].hosts) == (9, 2)
    assert by_path["ivs"].viewers is None and by_path["cloudflare_stream"].viewers is None
    empty = audience.live_by_path(_webrtc(), _others())
    assert all(p.viewers is None for p in empty)


def test_channels_side_by_side() -> None:
    table = audience.live_by_channel(_webrtc(("radio-1", 40, 1)), _others(("radio-1", "hls", 120, None),
                                                                       ("shop-1", "agora", 9, 2)))  # fmt: skip
    assert list(table.columns) == ["channel", "webrtc", "hls", "agora", "total"]
    assert table.set_index("channel")["total"].to_dict() == {"radio-1": 160.0, "shop-1": 9.0}


def test_history_puts_webrtc_first_on_the_same_buckets() -> None:
    series = pd.DataFrame({"bucket_ts": [NOW - 60, NOW], "listeners": [3, 4]})
    others = pd.DataFrame(
        {
            "bucket_ts": [NOW - 60],
            "source_id": [7],
            "channel": ["radio-1"],
            "path": ["hls"],
            "viewers": [10.0],
        }
    )
    history = audience.history_by_path(series, others, step_s=60, hold_s=120)
    assert [tuple(r) for r in history.itertuples(index=False)] == [
        (NOW - 60, "webrtc", 3.0), (NOW, "webrtc", 4.0), (NOW - 60, "hls", 10.0)
    ]  # fmt: skip
    assert audience.history_by_path(series.iloc[0:0], others.iloc[0:0], step_s=60, hold_s=120).empty


def test_a_sample_holds_until_the_next_one_and_streams_add_up() -> None:
    """Two Cloudflare inputs polled every 2 minutes on a 1-minute step, at different minutes,
    and an IVS stream polled every 5 minutes: each value stands for 2 minutes at most."""
    rows = [
        (0, 8, "shop-1", "cloudflare_stream", 100.0),
        (120, 8, "shop-1", "cloudflare_stream", 110.0),
        (240, 8, "shop-1", "cloudflare_stream", 120.0),
        (60, 8, "shop-2", "cloudflare_stream", 50.0),
        (180, 8, "shop-2", "cloudflare_stream", 70.0),
        (0, 9, "shop-5", "ivs", 30.0),
        (300, 9, "shop-5", "ivs", 40.0),
    ]
    others = pd.DataFrame(rows, columns=["bucket_ts", "source_id", "channel", "path", "viewers"])
    history = audience.history_by_path(pd.DataFrame(), others, step_s=60, hold_s=120)
    by_path = {
        path: dict(zip(g["bucket_ts"], g["viewers"], strict=True)) for path, g in history.groupby("path")
    }
    # By hand. shop-1: 100 (0, 60), 110 (120, 180), 120 (240, 300: held one bucket after it).
    # shop-2: nothing at 0; 50 (60, 120), 70 (180, 240), none at 300 (240 + 60 is 120 s after 180).
    assert by_path["cloudflare_stream"] == {
        0: 100.0,
        60: 150.0,
        120: 160.0,
        180: 180.0,
        240: 190.0,
        300: 120.0,
    }
    # shop-5: 30 at 0, held at 60; no report at 120-240 (more than 2 minutes): absent; 40 at 300.
    assert by_path["ivs"] == {0: 30.0, 60: 30.0, 300: 40.0}
    # An hourly step (longer than the hold) fills nothing.
    coarse = audience.history_by_path(
        pd.DataFrame(), others.assign(bucket_ts=others["bucket_ts"] * 60), step_s=3600, hold_s=120
    )
    assert sorted(coarse[coarse["path"] == "ivs"]["bucket_ts"]) == [0, 18000]


def test_livekit_chain_flags_a_playlist_stale_for_three_segments() -> None:
    webrtc = _webrtc(("radio-1", 40, 1))
    others = _others(("radio-1", "hls", 120, None))
    egress = _egress(("EG_1", "radio-1", "EGRESS_ACTIVE"))
    # Last segment 19 s ago: more than 3 × 6 = 18 s.
    stale = _relays(("radio-1/live.m3u8", "radio-1", "hls_playlist", "ok", "serving", NOW - 19, NOW))
    chain = audience.relay_chain("radio-1", stale, egress, webrtc, others, NOW)
    assert [hop.kind for hop in chain.hops] == [
        "livekit_room",
        "livekit_egress",
        "hls_playlist",
        "viewers_hls",
    ]
    assert [hop.health for hop in chain.hops] == ["ok", "ok", "ok", "ok"]
    assert [hop.kind for hop in chain.broken] == ["hls_playlist"]
    assert chain.broken[0].problem == (
        "egress active but the playlist not updated for 19 s (over 3 segments of 6 s)"
    )
    assert chain.hops[3].viewers == 120 and chain.hops[0].viewers == 40
    assert chain.hops[3].status == "120 watching"  # no request counts: no error share
    # With counts: 3 of 240 requests answered 5xx = 1.25 % → "1.2 %" (one decimal).
    counted = others.assign(requests=240, errors_5xx=3)
    watched = audience.relay_chain("radio-1", stale, egress, webrtc, counted, NOW)
    assert watched.hops[3].status == "120 watching · 5xx 1.2 % of 240 requests"
    # 18 s is exactly three segments: not yet stale.
    fresh = _relays(("radio-1/live.m3u8", "radio-1", "hls_playlist", "ok", "serving", NOW - 18, NOW))
    assert not audience.relay_chain("radio-1", fresh, egress, webrtc, others, NOW).broken
    # Egress ended: a still playlist is expected.
    done = _egress(("EG_1", "radio-1", "EGRESS_COMPLETE"))
    assert not audience.relay_chain("radio-1", stale, done, webrtc, others, NOW).broken


def test_stale_playlist_counts_in_the_streams_own_segment_duration() -> None:
    """The rule reads each playlist's segment_s (as its poller recorded it), not a catalogue
    constant: a 4 s stream is stale after 3 × 4 = 12 s, a 6 s one only after 18 s."""
    webrtc = _webrtc(("radio-1", 40, 1), ("radio-2", 10, 1))
    others = _others(("radio-1", "hls", 120, None), ("radio-2", "hls", 30, None))
    egress = _egress(("EG_1", "radio-1", "EGRESS_ACTIVE"), ("EG_2", "radio-2", "EGRESS_ACTIVE"))
    # Both playlists gained their last segment 13 s ago.
    relays = _relays(
        ("/radio-1/live.m3u8", "radio-1", "hls_playlist", "ok", "fresh", NOW - 13, NOW),
        ("/radio-2/live.m3u8", "radio-2", "hls_playlist", "ok", "fresh", NOW - 13, NOW),
    ).assign(segment_s=[4.0, 6.0])
    four = audience.relay_chain("radio-1", relays, egress, webrtc, others, NOW)
    assert [hop.problem for hop in four.broken] == [
        "egress active but the playlist not updated for 13 s (over 3 segments of 4 s)"
    ]
    assert not audience.relay_chain("radio-2", relays, egress, webrtc, others, NOW).broken
    # 12 s is exactly three 4 s segments: not yet stale.
    at_limit = relays.assign(last_activity_ts=NOW - 12)
    assert not audience.relay_chain("radio-1", at_limit, egress, webrtc, others, NOW).broken
    # No duration recorded (rows from before it was): only the poller's own verdict counts.
    unknown = relays.assign(segment_s=None)
    assert not audience.relay_chain("radio-1", unknown, egress, webrtc, others, NOW).broken
    verdict = unknown.assign(health="down", status="stale")
    assert [
        hop.problem for hop in audience.relay_chain("radio-1", verdict, egress, webrtc, others, NOW).broken
    ] == ["egress active but the playlist is stale (its poller's verdict)"]


def test_a_playlists_age_is_counted_at_its_pollers_last_read() -> None:
    """Between two reads of the log nothing says whether a segment came: the age is the one the
    poller saw. Counted from the page's now, every live 4 s playlist polled every 15 s read as
    stale between two polls (the demo's Streams page flagged all its live channels)."""
    webrtc = _webrtc(("radio-1", 40, 1))
    others = _others(("radio-1", "hls", 120, None))
    egress = _egress(("EG_1", "radio-1", "EGRESS_ACTIVE"))
    # Read 16 s ago, its newest segment 3 s older than the read: fresh, though 19 s before now.
    fresh = _relays(("/radio-1/live.m3u8", "radio-1", "hls_playlist", "ok", "fresh", NOW - 19, NOW - 16))
    assert not audience.relay_chain(
        "radio-1", fresh.assign(segment_s=4.0), egress, webrtc, others, NOW
    ).broken
    # Read 16 s ago, its newest segment 14 s older than that (over 3 × 4 s): stale, and said so.
    stale = fresh.assign(last_activity_ts=NOW - 30, segment_s=4.0)
    assert [
        hop.problem for hop in audience.relay_chain("radio-1", stale, egress, webrtc, others, NOW).broken
    ] == [
        "egress active but the playlist not updated for 14 s (over 3 segments of 4 s) when its poller last "
        "read it, 16 s ago"
    ]


def test_agora_chain_flags_a_disconnected_cloudflare_input() -> None:
    others = _others(("shop-1", "agora", 9, 2), ("shop-1", "cloudflare_stream", 0, None))
    relays = _relays(
        ("conv-1", "shop-1", "agora_media_push", "ok", "running", NOW - 5, NOW),
        ("cf-1", "shop-1", "cloudflare_live_input", "down", "disconnected", None, NOW),
    )
    chain = audience.relay_chain("shop-1", relays, NO_EGRESS, _webrtc(), others, NOW)
    assert [hop.kind for hop in chain.hops] == [
        "agora_channel", "agora_media_push", "cloudflare_live_input", "viewers_cloudflare_stream"
    ]  # fmt: skip
    assert chain.hops[0].status == "2 hosts live"
    assert [hop.problem for hop in chain.broken] == [
        "Agora hosts live (2 hosts live) but the Cloudflare Stream live input is disconnected"
    ]
    # No host live and the push stopped: a disconnected input is not a fault.
    idle = _others(("shop-1", "agora", 0, 0))
    stopped = relays.assign(health=["idle", "down"])
    assert not audience.relay_chain("shop-1", stopped, NO_EGRESS, _webrtc(), idle, NOW).broken
    # ... but with the push still running, the input down under it is (a relay down under a live one).
    (under_push,) = audience.relay_chain("shop-1", relays, NO_EGRESS, _webrtc(), idle, NOW).broken
    assert under_push.problem == "down while its upstream (Agora Media Push) is live"


def test_a_relay_down_under_a_live_upstream_is_broken_and_a_silent_relay_has_no_state() -> None:
    relays = _relays(
        ("conv-1", "shop-2", "agora_media_push", "down", "failed", None, NOW),
        ("ivs-1", "shop-2", "ivs_stream", "idle", "offline", None, NOW - 400),
    )
    others = _others(("shop-2", "agora", 3, 1))
    chain = audience.relay_chain("shop-2", relays, NO_EGRESS, _webrtc(), others, NOW)
    by_kind = {hop.kind: hop for hop in chain.hops}
    assert by_kind["agora_media_push"].problem == "down while its upstream (Agora channel) is live"
    # Last report 400 s ago (over 300 s): no state, and flagged since the hosts are live.
    assert by_kind["ivs_stream"].health == "no data"
    assert by_kind["ivs_stream"].status == "no report for 400 s (was offline)"
    assert by_kind["ivs_stream"].broken


def test_chains_list_broken_first_and_channels_without_relays_have_none() -> None:
    relays = _relays(
        ("a/live.m3u8", "a", "hls_playlist", "ok", "serving", NOW - 1, NOW),
        ("b/live.m3u8", "b", "hls_playlist", "down", "404", None, NOW),
    )
    egress = _egress(("EG_b", "b", "EGRESS_ACTIVE"))
    chains = audience.relay_chains(relays, egress, _webrtc(("b", 1, 1)), _others(), NOW)
    assert [chain.channel for chain in chains] == ["b", "a"]
    assert chains[0].broken[0].problem == "egress active but the playlist has no segment yet"
    lone = audience.relay_chain("c", relays, egress, _webrtc(), _others(), NOW)
    assert lone.hops == () and not lone.has_relays
    # Channel a's room is not live: its source hop is idle, the playlist fine.
    assert chains[1].frame()[["hop", "health", "status"]].values.tolist() == [
        ["LiveKit room", "idle", "not live"], ["HLS playlist", "ok", "serving"]
    ]  # fmt: skip
