"""The known-answer fleet's true figures, worked out BY HAND from fleet.yaml (never by product
code). T0 = 2026-11-20 10:00:00 UTC (11:00:00 in Europe/Berlin, the dashboard's zone here).

Sessions (seconds after T0; every join, leave and step on a whole minute):

    radio-1 on ND_ka_a, room 0..360
      dj-1 (publisher) 0..360 = 6 min     listener-1 60..240 = 3 min    listener-2 60..300 = 4 min
      listener-3 120..180 = 1 min         listener-4 120..360 = 4 min
      egress EG_ka_rec1 0..360 (complete): its recorder subscribes for 6 min
    radio-2 on ND_ka_b, room 60..300
      dj-2 (publisher) 60..300 = 4 min    listener-5 120..300 = 3 min   listener-6 120..240 = 2 min
      listener-7 180..240 = 1 min
      egress EG_ka_rec2 60..180 (failed: "pipeline frozen"): its recorder subscribes for 2 min

Listeners live per minute (radio-1 + radio-2): [0,60) 0+0, [60,120) 2+0, [120,180) 4+2,
[180,240) 3+3, [240,300) 2+1, [300,360) 1+0.
"""

from __future__ import annotations

T0 = 1_795_168_800  # 2026-11-20 10:00:00 UTC = 20 777 days × 86 400 s + 10 h
SCENARIO_END = T0 + 360
# The moments the dashboard and the command lines are pinned to:
MID_NOW = T0 + 210  # both rooms live; views end at T0+225 (now rounded up to 15 s)
MID_END = T0 + 225
END_NOW = T0 + 345  # views end at T0+360: the scenario's last second
END = T0 + 360
COVERED_MIN = 6  # the stores' first observation is T0 (radio-1 starts then), so [T0, T0+360)
MONTH_SCALE = 30 * 24 * 60 / COVERED_MIN  # 43 200 min in a 30-day month / 6 min = 7 200

# --- Usage over [T0, T0+360) ----------------------------------------------------------------
# Connection minutes, each connection rounded up to a whole minute (all are whole here);
# egress recorders are not connection minutes.
PUBLISHER_MIN = 6 + 4  # dj-1, dj-2
LISTENER_MIN = (3 + 4 + 1 + 4) + (3 + 2 + 1)  # radio-1 12, radio-2 6
CONNECTION_MIN = PUBLISHER_MIN + LISTENER_MIN  # 28
LISTENER_MIN_BY_CHANNEL = {"radio-1": 12, "radio-2": 6}
PUBLISHER_MIN_BY_CHANNEL = {"radio-1": 6, "radio-2": 4}
LISTENER_HOURS = LISTENER_MIN / 60  # 0.3
STREAM_MIN = 6 + 4
EGRESS_MIN = 6 + 2  # ceil per job; also the recording minutes
# Down-track minutes: each listener and recorder takes the one published track of its room.
DOWNTRACK_MIN = (6 + 3 + 4 + 1 + 4) + (2 + 3 + 2 + 1)  # 18 + 8 = 26
BYTES_PER_TRACK_S = 128_000 / 8  # 128 kbps = 16 000 B/s (the script's audio_kbps, no overhead)
DOWNSTREAM_GB = DOWNTRACK_MIN * 60 * BYTES_PER_TRACK_S / 1e9  # 26 × 60 × 16 000 = 0.02496 GB
UPSTREAM_GB = PUBLISHER_MIN * 60 * BYTES_PER_TRACK_S / 1e9  # 10 × 60 × 16 000 = 0.0096 GB
PEAK_STREAMS = 2  # [60, 300)
PEAK_LISTENERS = 6  # [120, 240)
PEAK_PUBLISHERS = 2
PEAK_EGRESS = 2  # [60, 180)

# --- Monthly, at the window's rate (× 7 200) -------------------------------------------------
MONTHLY_CONNECTION_MIN = CONNECTION_MIN * MONTH_SCALE  # 201 600
MONTHLY_LISTENER_MIN = LISTENER_MIN * MONTH_SCALE  # 129 600
MONTHLY_LISTENER_HOURS = MONTHLY_LISTENER_MIN / 60  # 2 160
MONTHLY_DOWNSTREAM_GB = DOWNSTREAM_GB * MONTH_SCALE  # 179.712 GB
MONTHLY_EGRESS_MIN = EGRESS_MIN * MONTH_SCALE  # 57 600

# LiveKit Cloud (analytics/prices/livekit_cloud.yaml, price version 2026-09-27):
#   Build is a hard cap at 5 000 participant-min → not eligible (201 600).
#   Ship: fee $50; 150 000 min included, then $0.0005/min; 250 GB included; the recordings
#     are room-composite egress, i.e. transcode minutes: 600 included, then $0.02/min (the
#     audio-only rate is unpublished, so the video rate applies); no track egress.
#     = 50 + (201 600 − 150 000) × 0.0005 + 0 (179.72 GB ≤ 250) + (57 600 − 600) × 0.02 + 0
#     = 50 + 25.80 + 0 + 1 140.00 + 0 = $1 215.80
#   Scale: $500 + 0 + 0 + (57 600 − 8 000) × 0.015 = $1 244.00 → Ship is cheaper.
LIVEKIT_CLOUD_ITEMS_USD = {"plan fee": 50.0, "connection minutes over plan": 25.80,
                           "downstream data over plan": 0.0,
                           "transcode minutes over plan (ingress, composite/HLS egress)": 1140.00,
                           "track egress minutes over plan": 0.0}  # fmt: skip
LIVEKIT_CLOUD_USD = 1215.80
# LiveKit self-hosted (analytics/prices/self_hosted.yaml): Hetzner CX33 €8.49/month (from
# 2026-06-15) × 1.1637 USD/EUR (ECB, 2026-05-27) = $9.879813. Peak down-tracks 6 (6 listeners
# × 1 publisher) × 0.00067 cores = 0.004 cores, 0.768 Mbit/s: one CX33 (4 vCPU at 70 %),
# 0.18 TB of its 21.99 TB; egress workers: ceil(2 concurrent jobs × 1 CPU / (4 vCPU × 0.8))
# = 1 CX33; no Redis (one node).
CX33_USD = 8.49 * 1.1637
SELF_HOSTED_USD = 2 * CX33_USD  # $19.759626
# Cloudflare Stream (analytics/prices/cloudflare.yaml): $1.00 per 1 000 minutes delivered,
# $5.00 per prepaid 1 000-minute storage block (recordings = egress minutes).
#   129 600 min × $0.001 = $129.60; ceil(57 600 / 1 000) = 58 blocks × $5 = $290 → $419.60
CLOUDFLARE_STREAM_USD = 129.60 + 290.00
MONTHLY_USD = {
    "livekit_cloud": LIVEKIT_CLOUD_USD,
    "livekit_self_hosted": SELF_HOSTED_USD,
    "cloudflare_stream": CLOUDFLARE_STREAM_USD,
}
PER_LISTENER_HOUR_USD = {model: usd / MONTHLY_LISTENER_HOURS for model, usd in MONTHLY_USD.items()}
CURRENT_MODEL = "livekit_self_hosted"  # the dashboard config of these tests
COST_PER_HOUR_USD = SELF_HOSTED_USD / 720  # the Overview card: a 30-day month ÷ 720 h = $0.0210
# This month (November 2026, 30 days) as of T0+360: the same rate all along the 6 covered
# minutes and the last 7 days (which also cover only those 6 minutes), so
#   projected month = the monthly figure (a 30-day month), run rate = the monthly figure,
#   month to date = monthly × 6 min / 43 200 min = monthly / 7 200.
MONTH_TO_DATE_USD = {model: usd / MONTH_SCALE for model, usd in MONTHLY_USD.items()}

# --- Live figures at MID_END (both rooms live: the minute [180, 240)) -------------------------
LIVE_STREAMS = 2
LIVE_LISTENERS = 6  # radio-1: listener-1, -2, -4; radio-2: listener-5, -6, -7
LIVE_PUBLISHERS = 2
NODES_UP, NODES_TOTAL = 2, 2
# Down-tracks then: ND_ka_a 4 (3 listeners + the recorder), ND_ka_b 3 (rec2 failed at 180).
OUT_MBPS_BY_NODE = {"ND_ka_a": 4 * 0.128, "ND_ka_b": 3 * 0.128}  # 0.512 + 0.384
OUT_MBPS = 7 * 0.128  # 0.896 Mbit/s
IN_MBPS_BY_NODE = {"ND_ka_a": 0.128, "ND_ka_b": 0.128}  # one publisher each
PARTICIPANTS_BY_NODE = {"ND_ka_a": 4, "ND_ka_b": 4}  # a DJ and 3 listeners each (recorders hidden)
CPU_PCT = {"ND_ka_a": 90.0, "ND_ka_b": 30.0}
MEMORY_PCT = {"ND_ka_a": 40.0, "ND_ka_b": 92.0}
# histogram_quantile(0.95) of every observation at the scripted value, in livekit-server's
# buckets: linear inside the bucket holding the value, from its lower bound.
#   loss 0.4 % in (0.3, 0.5]: 0.3 + 0.2 × 0.95 = 0.49     loss 0.2 % in (0.1, 0.3]: 0.29
#   jitter 4 ms = 4 000 µs in (2 500, 5 000]: 2.5 + 2.5 × 0.95 = 4.875 ms;  8 ms in (5, 10]: 9.75
#   RTT 60 ms in (50, 75]: 50 + 25 × 0.95 = 73.75;           120 ms in (100, 150]: 147.5
LOSS_P95_PCT = {"ND_ka_a": 0.49, "ND_ka_b": 0.29}
JITTER_P95_MS = {"ND_ka_a": 4.875, "ND_ka_b": 9.75}
RTT_P95_MS = {"ND_ka_a": 73.75, "ND_ka_b": 147.5}
QUALITY_SCORE = {"ND_ka_a": 4.3, "ND_ka_b": 4.2}
JOIN_SUCCESS_PCT = {"ND_ka_a": 98.0, "ND_ka_b": 99.0}  # where the window has joins

# --- Streams over the hour to T0+360 ----------------------------------------------------------
STREAMS = {  # room: (started, ended (s after T0), duration min, peak listeners, peak participants)
    "radio-1": (0, 360, 6.0, 4, 5),  # [120,180): dj + 4 listeners
    "radio-2": (60, 300, 4.0, 3, 4),  # [180,240): dj + 3 listeners
}
EGRESS = {"radio-1": [("EG_ka_rec1", "EGRESS_COMPLETE")], "radio-2": [("EG_ka_rec2", "EGRESS_FAILED")]}
DRILL_DOWN = {  # room: (connection minutes, publishers, connections listed incl. the recorder, recorder min)
    "radio-1": (6 + 3 + 4 + 1 + 4, 1, 6, 6),
    "radio-2": (4 + 3 + 2 + 1, 1, 5, 2),
}
# Per stream, what the SFU sent: (listener + recorder minutes) × 60 s × 16 000 B/s.
STREAM_GB = {
    "radio-1": (12 + 6) * 60 * BYTES_PER_TRACK_S / 1e9,
    "radio-2": (6 + 2) * 60 * BYTES_PER_TRACK_S / 1e9,
}

# --- Alerts (tests/knownanswer/rules.yaml: > 80 % CPU / > 85 % memory for 30 s, 15 s grid) ----
# Backfilled samples every 15 s: the first hot one at T0+120 (pending), firing 30 s later at
# T0+150, the first cool one at T0+240 resolves it. Both episodes: T0+150 → T0+240, 90 s.
EPISODES = {("HighCPU", "ND_ka_a"): (150, 240), ("HighMemory", "ND_ka_b"): (150, 240)}
# Live, CPU comes from rate() over 20 s (the ramp crosses 80 % ~17 s after the step) and memory
# from the newest scrape before a 5 s tick: an episode starts up to 30 s later (a rate window
# and an evaluation step) and ends up to 15 s later (one evaluation step).
LIVE_START_SLACK_S = 30
LIVE_END_SLACK_S = 15
