"""The deterministic fleet model shared by the live simulator and the bulk backfill.

Sessions are generated per (channel, UTC day) from an RNG seeded by ``(seed, channel, day)``,
so any process that asks for the same day gets exactly the same rooms, participants, egress
and ingress sessions: the live server answers from ``snapshot(ts)``, the backfill from
``history(start_ts, end_ts)``, and both agree.

Definitions used everywhere:
- a session is open at ``ts`` when ``joined_ts <= ts < left_ts`` (rooms: started/ended);
- ``listeners`` = open STANDARD participants that do not publish;
- ``participants`` = open participants except EGRESS (like ``Room.num_participants``, which
  leaves out dependent participants), ``publishers`` = open publishers (DJ, guide, INGRESS);
- every listener and the egress recorder subscribe to every published track of their room.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.units import DAY_S
from simulator import ids
from simulator.load import JITTER_SIGMA, LOSS_SIGMA, RTT_SIGMA, node_metrics
from simulator.scenarios import KIND_EGRESS, KIND_INGRESS, KIND_STANDARD, ScenarioSpec, get_scenario
from store.schema import NODE_METRICS

DEPARTURE_S = 20  # a room closes this long after its publisher leaves (departure_timeout)
EGRESS_DELAY_S = 3  # the recorder starts this long after the broadcast
LISTENER_POOL = 2**17  # distinct listener identities per scenario
MIN_LISTEN_S = 5

ROOM_COLUMNS = ["room_sid", "room_name", "channel", "node_id", "started_ts", "ended_ts"]
PARTICIPANT_COLUMNS = [
    "participant_sid", "room_sid", "identity", "name", "kind", "is_publisher", "joined_ts", "left_ts",
]  # fmt: skip
EGRESS_COLUMNS = ["egress_id", "room_sid", "room_name", "kind", "status", "started_ts", "ended_ts", "error"]
INGRESS_COLUMNS = ["ingress_id", "name", "room_name", "input_type", "status", "started_ts", "ended_ts"]


@dataclass(frozen=True)
class DayPlan:
    """Everything that starts on one UTC day (sessions may end after midnight)."""

    day_index: int
    rooms: pd.DataFrame
    participants: pd.DataFrame
    egress: pd.DataFrame
    ingress: pd.DataFrame
    # Internal numeric views for fast masks: r_node (node index per room), p_room (room row per
    # participant), p_kind (0 STANDARD, 1 INGRESS, 2 EGRESS).
    arrays: dict[str, np.ndarray] = field(repr=False, compare=False, default_factory=dict)


def _obj(values: object) -> pd.Series:
    """A Series of Python strings (object dtype): avoids pandas' Arrow string conversion,
    which costs more than everything else when building millions of rows."""
    return pd.Series(np.asarray(values, dtype=object), dtype=object, copy=False)


def _empty(columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    for column in columns:
        if column.endswith("_ts"):
            frame[column] = frame[column].astype(np.int64)
    return frame


@dataclass(frozen=True)
class Snapshot:
    """The fleet at one instant. Times are model (simulated) Unix seconds."""

    ts: float
    # room_sid, room_name, channel, node_id, started_ts, num_participants, num_publishers,
    # listeners, egress_participants, active_recording
    rooms: pd.DataFrame
    # participant_sid, room_sid, identity, name, kind, is_publisher, joined_ts, state
    participants: pd.DataFrame
    # track_sid, participant_sid, type (AUDIO|VIDEO), source, mime_type, name, width, height
    tracks: pd.DataFrame
    # egress_id, room_sid, room_name, kind, output, status, started_ts, ended_ts (NA while live), error
    egress: pd.DataFrame
    # ingress_id, name, room_name, input_type, participant_identity, status, started_ts, ended_ts
    ingress: pd.DataFrame
    # node_id + every store.schema.NODE_METRICS column (+ per-kind track splits, cpu_cores)
    nodes: pd.DataFrame
    participants_by_room: dict[str, np.ndarray] = field(repr=False)
    tracks_by_participant: dict[str, np.ndarray] = field(repr=False)


@dataclass(frozen=True)
class History:
    """Bulk history for a backfill: sessions overlapping [start_ts, end_ts) and samples."""

    room_sessions: pd.DataFrame
    participant_sessions: pd.DataFrame
    room_samples: pd.DataFrame  # ts, room_sid, participants, publishers, listeners, egress_participants
    node_samples: pd.DataFrame  # ts, node_id, + store.schema.NODE_METRICS
    egress: pd.DataFrame
    ingress: pd.DataFrame
    nodes: pd.DataFrame  # node_id, node_type


@dataclass
class _Sessions:
    """Concatenated plans as numpy arrays for fast masks."""

    rooms: pd.DataFrame
    participants: pd.DataFrame
    egress: pd.DataFrame
    ingress: pd.DataFrame
    r_start: np.ndarray
    r_end: np.ndarray
    r_node: np.ndarray
    p_join: np.ndarray
    p_left: np.ndarray
    p_room: np.ndarray
    p_kind: np.ndarray
    p_pub: np.ndarray


def _stable_int(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:4], "big")


class FleetModel:
    """A deterministic simulated LiveKit fleet for one scenario."""

    def __init__(self, scenario: str, nodes: int | None = None, seed: int = 0) -> None:
        if seed < 0:
            raise ValueError("seed must be >= 0")
        self.spec: ScenarioSpec = get_scenario(scenario)
        self.scenario = scenario
        self.seed = int(seed)
        self.n_nodes = int(nodes) if nodes else self.spec.default_nodes
        if self.n_nodes < 1:
            raise ValueError("nodes must be >= 1")
        spec = self.spec
        self.node_ids: list[str] = [ids.stable_id("ND_", scenario, self.seed, i) for i in range(self.n_nodes)]
        self.node_salts = np.array([_stable_int(node) for node in self.node_ids], dtype=np.uint64)
        self.channel_keys: list[str] = [ids.channel_key(scenario, c) for c in range(spec.channels)]
        self.room_names: list[str] = [spec.room_prefix + key for key in self.channel_keys]
        # Channels stay on one node (the seed's "node 1: channels 1-N" layout).
        self.channel_node = np.arange(spec.channels) % self.n_nodes
        self.has_video = spec.video_in_kbps > 0
        self.ingress_ids: list[str] = (
            [ids.stable_id("IN_", scenario, self.seed, c) for c in range(spec.channels)]
            if spec.ingress_share > 0
            else []
        )
        constants = np.random.default_rng([self.seed, 2**31 - 1])
        sigma = spec.listeners_popularity_sigma
        self.popularity = spec.listeners_mean * constants.lognormal(-(sigma**2) / 2, sigma, spec.channels)
        if spec.listener_mode == "group":
            self.popularity[:] = spec.listeners_mean
        self._kmax = len(spec.broadcasts_per_day_p) - 1
        self._p_cum_list = (np.cumsum(spec.broadcasts_per_day_p) / sum(spec.broadcasts_per_day_p)).tolist()
        first_min, last_min = int(spec.start_window_h[0] * 60), int(spec.start_window_h[1] * 60)
        minutes = np.arange(first_min, last_min)
        weights = np.asarray(spec.start_curve, dtype=np.float64)[(minutes // 60) % 24]
        self._start_minutes_list = minutes.tolist()
        self._start_cdf_list = (np.cumsum(weights) / weights.sum()).tolist()
        self._log_broadcast_median = math.log(spec.broadcast_median_s)
        self._last_start_s = int(spec.start_window_h[1] * 3600)
        self._ends_by_s = int(min(spec.ends_by_h, 24 + spec.start_window_h[0]) * 3600) - DEPARTURE_S
        # Listener curve per minute of the day, interpolated between hour centres.
        hours = (np.arange(1440) + 0.5) / 60.0
        centres = np.arange(24) + 0.5
        self._curve_by_minute = np.interp(hours, centres, spec.listener_curve, period=24.0)
        self._curve_max = float(self._curve_by_minute.max())
        self._listen_mean_s = spec.listener_session_median_s * math.exp(spec.listener_session_sigma**2 / 2)
        # Spreads of the per-track quality observations (simulator/quality.py).
        self.quality_sigmas = {"loss": LOSS_SIGMA, "jitter": JITTER_SIGMA, "rtt": RTT_SIGMA}
        self._plans: OrderedDict[int, DayPlan] = OrderedDict()
        self._windows: OrderedDict[int, _Sessions] = OrderedDict()
        self._snapshots: OrderedDict[float, Snapshot] = OrderedDict()

    # -----------------------------------------------------------------------------------------
    # Day plans
    # -----------------------------------------------------------------------------------------

    def day(self, day_index: int) -> DayPlan:
        """The sessions that start on UTC day ``day_index`` (= Unix seconds // 86400). Cached."""
        plan = self._plans.get(day_index)
        if plan is None:
            plan = self._build_day(day_index)
            self._plans[day_index] = plan
            while len(self._plans) > 64:
                self._plans.popitem(last=False)
        else:
            self._plans.move_to_end(day_index)
        return plan

    def _place(self, u: np.ndarray, z: np.ndarray, day0: int) -> tuple[list[int], list[int]]:
        """Broadcast (start, end) of one channel-day from its uniforms ``u`` and normals ``z``:
        a count, start times from the start curve, log-normal durations, then placed one
        after the other so one room name is never live twice."""
        spec = self.spec
        kmax = self._kmax
        n = min(bisect.bisect_right(self._p_cum_list, float(u[0])), kmax)
        if n == 0:
            return [], []
        last = len(self._start_minutes_list) - 1
        starts = sorted(
            self._start_minutes_list[min(bisect.bisect_left(self._start_cdf_list, float(u[1 + i])), last)]
            * 60
            + int(u[1 + kmax + i] * 60)
            for i in range(n)
        )
        out_s: list[int] = []
        out_e: list[int] = []
        free_from = -(10**9)
        for i, start in enumerate(starts):
            duration = math.exp(self._log_broadcast_median + spec.broadcast_sigma * float(z[i]))
            duration = min(max(duration, spec.broadcast_min_s), spec.broadcast_max_s)
            start = max(start, free_from)
            if start >= self._last_start_s:
                break
            end = min(start + int(duration), self._ends_by_s)
            if end - start < spec.broadcast_min_s / 2:
                break
            out_s.append(day0 + start)
            out_e.append(day0 + end)
            free_from = end + DEPARTURE_S + int(spec.gap_min_s)
        return out_s, out_e

    def _build_day(self, day_index: int) -> DayPlan:
        """One RNG per (seed, channel, day) draws everything random for that channel-day;
        the arithmetic is then done once, vectorized, for the whole day."""
        spec = self.spec
        day0 = day_index * DAY_S
        kmax = self._kmax
        group = spec.listener_mode == "group"
        head = 1 + 5 * kmax
        b_chan: list[int] = []
        b_start: list[int] = []
        b_end: list[int] = []
        b_u: list[np.ndarray] = []  # per broadcast: ingress, egress failure, egress cut
        b_raw: list[np.ndarray] = []  # per broadcast: room, publisher, egress ids
        c_count: list[np.ndarray] = []
        c_u: list[np.ndarray] = []
        c_z: list[np.ndarray] = []
        c_raw: list[np.ndarray] = []
        lo, hi = spec.group_size
        for channel in range(spec.channels):
            rng = np.random.default_rng([self.seed, channel, day_index])
            u = rng.random(head)
            z = rng.standard_normal(kmax + 1)
            starts, ends = self._place(u, z, day0)
            nb = len(starts)
            if nb == 0:
                continue
            b_chan.extend([channel] * nb)
            b_start.extend(starts)
            b_end.extend(ends)
            b_u.append(u[1 + 2 * kmax : 1 + 5 * kmax].reshape(3, kmax)[:, :nb].T)
            b_raw.append(rng.integers(0, 2**62, (nb, 3), dtype=np.int64))
            if group:
                counts = rng.integers(lo, hi + 1, nb)
            else:
                day_factor = math.exp(
                    spec.listeners_day_sigma * float(z[kmax]) - spec.listeners_day_sigma**2 / 2
                )
                rate = float(self.popularity[channel]) * day_factor * self._curve_max / self._listen_mean_s
                counts = rng.poisson(rate * (np.asarray(ends) - np.asarray(starts)))
            total = int(counts.sum())
            c_count.append(counts)
            c_u.append(rng.random((total, 4 if group else 2)))
            c_z.append(rng.standard_normal(total))
            c_raw.append(rng.integers(0, 2**62, total, dtype=np.int64))
        n_b = len(b_start)
        width = 4 if group else 2
        return self._assemble_day(
            day_index,
            chan=np.asarray(b_chan, dtype=np.intp),
            starts=np.asarray(b_start, dtype=np.int64),
            pub_ends=np.asarray(b_end, dtype=np.int64),
            b_u=np.concatenate(b_u) if n_b else np.empty((0, 3)),
            b_raw=np.concatenate(b_raw) if n_b else np.empty((0, 3), np.int64),
            counts=np.concatenate(c_count).astype(np.int64) if n_b else np.empty(0, np.int64),
            c_u=np.concatenate(c_u) if n_b else np.empty((0, width)),
            c_z=np.concatenate(c_z) if n_b else np.empty(0),
            c_raw=np.concatenate(c_raw) if n_b else np.empty(0, np.int64),
        )

    def _listener_sessions(
        self, starts: np.ndarray, ends: np.ndarray, counts: np.ndarray, u: np.ndarray, z: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(join, left, broadcast index, kept-candidate mask) of the listener sessions."""
        spec = self.spec
        b = np.repeat(np.arange(len(starts)), counts)
        durations = ends - starts
        if spec.listener_mode == "group":
            join = starts[b] + np.minimum(-180.0 * np.log1p(-u[:, 0]), 900.0).astype(np.int64)
            left = ends[b] - np.minimum(-60.0 * np.log1p(-u[:, 1]), 600.0).astype(np.int64)
            early = u[:, 2] < spec.group_dropout_p
            left = np.where(early, join + (u[:, 3] * np.maximum(left - join, 0)).astype(np.int64), left)
            keep = np.ones(len(b), dtype=bool)
        else:
            t = starts[b] + u[:, 0] * durations[b]
            minute = ((t.astype(np.int64) % DAY_S) // 60).astype(np.intp)
            keep = u[:, 1] * self._curve_max < self._curve_by_minute[minute]
            join = t.astype(np.int64)
            listen = np.exp(math.log(spec.listener_session_median_s) + spec.listener_session_sigma * z)
            left = join + np.maximum(listen, MIN_LISTEN_S).astype(np.int64)
        left = np.minimum(left, ends[b])
        keep &= left > join
        return join[keep], left[keep], b[keep], keep

    def _assemble_day(
        self,
        day_index: int,
        *,
        chan: np.ndarray,
        starts: np.ndarray,
        pub_ends: np.ndarray,
        b_u: np.ndarray,
        b_raw: np.ndarray,
        counts: np.ndarray,
        c_u: np.ndarray,
        c_z: np.ndarray,
        c_raw: np.ndarray,
    ) -> DayPlan:
        spec = self.spec
        n_b = len(starts)
        ends = pub_ends + DEPARTURE_S
        room_raw = b_raw[:, 0]
        room_sids = ids.prefixed("RM_", ids.suffixes_from_ints(room_raw))
        names = _obj(np.asarray(self.room_names, dtype=object)[chan])
        keys = np.asarray(self.channel_keys, dtype=object)[chan]
        node = self.channel_node[chan]
        rooms = pd.DataFrame(
            {
                "room_sid": _obj(room_sids),
                "room_name": names,
                "channel": names,
                "node_id": _obj(np.asarray(self.node_ids, dtype=object)[node]),
                "started_ts": starts,
                "ended_ts": ends,
            },
            columns=ROOM_COLUMNS,
        )
        # Publishers: one per broadcast, for the whole broadcast; some through the RTMP ingress.
        via_ingress = b_u[:, 0] < spec.ingress_share
        title = spec.publisher_prefix.rstrip("-").title()
        pub_identity = np.where(via_ingress, "obs-" + keys, spec.publisher_prefix + keys) if n_b else keys
        pub_name = np.where(via_ingress, "OBS " + keys, title + " " + keys) if n_b else keys
        pub_kind = np.where(via_ingress, KIND_INGRESS, KIND_STANDARD).astype(object)
        # Listeners.
        join, left, b, _kept = self._listener_sessions(starts, pub_ends, counts, c_u, c_z)
        first = np.concatenate([[0], np.cumsum(counts)])[:-1]
        position = np.flatnonzero(_kept) - first[b] if len(b) else np.empty(0, np.int64)
        offset = room_raw % LISTENER_POOL
        stride = 2 * ((room_raw >> 20) % (LISTENER_POOL // 2)) + 1
        users = (offset[b] + position * stride[b]) % LISTENER_POOL
        n_l = len(join)
        identity_l = (
            np.char.add(spec.listener_prefix, np.char.zfill(users.astype(str), 6)) if n_l else np.empty(0)
        )
        parts_sid = [
            ids.prefixed("PA_", ids.suffixes_from_ints(b_raw[:, 1])),
            ids.prefixed("PA_", ids.suffixes_from_ints(c_raw[_kept])),
        ]
        parts_room = [np.arange(n_b), b]
        parts_identity = [pub_identity, identity_l]
        parts_name = [pub_name, np.full(n_l, "", dtype=object)]
        parts_kind = [pub_kind, np.full(n_l, KIND_STANDARD, dtype=object)]
        parts_pub = [np.ones(n_b, bool), np.zeros(n_l, bool)]
        parts_join = [starts, join]
        parts_left = [pub_ends, left]
        # Egress: a room-composite recorder per broadcast, a hidden EGRESS participant.
        if spec.egress_output:
            egress_ids = ids.prefixed("EG_", ids.suffixes_from_ints(b_raw[:, 2]))
            failed = b_u[:, 1] < spec.egress_failure_p
            e_start = starts + EGRESS_DELAY_S
            cut = np.maximum(e_start + (b_u[:, 2] * (pub_ends - e_start)).astype(np.int64), e_start + 1)
            e_end = np.where(failed, np.minimum(cut, pub_ends), pub_ends)
            egress = pd.DataFrame(
                {
                    "egress_id": _obj(egress_ids),
                    "room_sid": _obj(room_sids),
                    "room_name": names,
                    "kind": _obj(np.full(n_b, "room_composite", dtype=object)),
                    "status": _obj(np.where(failed, "EGRESS_FAILED", "EGRESS_COMPLETE").astype(object)),
                    "started_ts": e_start,
                    "ended_ts": e_end,
                    "error": _obj(np.where(failed, "pipeline frozen", "").astype(object)),
                },
                columns=EGRESS_COLUMNS,
            )
            parts_sid.append(ids.prefixed("PA_", ids.suffixes_from_ints(b_raw[:, 2] ^ 0x5A5A5A5A)))
            parts_room.append(np.arange(n_b))
            parts_identity.append(egress_ids)
            parts_name.append(np.full(n_b, "", dtype=object))
            parts_kind.append(np.full(n_b, KIND_EGRESS, dtype=object))
            parts_pub.append(np.zeros(n_b, bool))
            parts_join.append(e_start)
            parts_left.append(e_end)
        else:
            egress = _empty(EGRESS_COLUMNS)
        if self.ingress_ids:
            ingress = pd.DataFrame(
                {
                    "ingress_id": _obj(np.asarray(self.ingress_ids, dtype=object)[chan][via_ingress]),
                    "name": _obj(("OBS " + keys[via_ingress]) if n_b else keys),
                    "room_name": _obj(names.to_numpy()[via_ingress]),
                    "input_type": _obj(np.full(int(via_ingress.sum()), "RTMP_INPUT", dtype=object)),
                    # the state of a reusable RTMP ingress once its stream stopped
                    "status": _obj(np.full(int(via_ingress.sum()), "ENDPOINT_INACTIVE", dtype=object)),
                    "started_ts": starts[via_ingress],
                    "ended_ts": pub_ends[via_ingress],
                },
                columns=INGRESS_COLUMNS,
            )
        else:
            ingress = _empty(INGRESS_COLUMNS)
        p_room = np.concatenate(parts_room).astype(np.intp)
        kind = np.concatenate(parts_kind)
        participants = pd.DataFrame(
            {
                "participant_sid": _obj(np.concatenate(parts_sid)),
                "room_sid": _obj(room_sids[p_room] if n_b else np.empty(0, object)),
                "identity": _obj(np.concatenate([np.asarray(x, dtype=object) for x in parts_identity])),
                "name": _obj(np.concatenate([np.asarray(x, dtype=object) for x in parts_name])),
                "kind": _obj(kind),
                "is_publisher": np.concatenate(parts_pub),
                "joined_ts": np.concatenate(parts_join).astype(np.int64),
                "left_ts": np.concatenate(parts_left).astype(np.int64),
            },
            columns=PARTICIPANT_COLUMNS,
        )
        arrays = {
            "r_node": node.astype(np.intp),
            "p_room": p_room,
            "p_kind": np.select([kind == KIND_INGRESS, kind == KIND_EGRESS], [1, 2], 0).astype(np.int8),
        }
        return DayPlan(day_index, rooms, participants, egress, ingress, arrays)

    # -----------------------------------------------------------------------------------------
    # Sessions over several days
    # -----------------------------------------------------------------------------------------

    def _sessions(self, first_day: int, last_day: int) -> _Sessions:
        plans = [self.day(d) for d in range(first_day, last_day + 1)]
        rooms = pd.concat([p.rooms for p in plans], ignore_index=True)
        participants = pd.concat([p.participants for p in plans], ignore_index=True)
        egress = pd.concat([p.egress for p in plans], ignore_index=True)
        ingress = pd.concat([p.ingress for p in plans], ignore_index=True)
        room_offsets = np.concatenate([[0], np.cumsum([len(p.rooms) for p in plans])])[:-1]
        return _Sessions(
            rooms=rooms,
            participants=participants,
            egress=egress,
            ingress=ingress,
            r_start=rooms["started_ts"].to_numpy(np.int64),
            r_end=rooms["ended_ts"].to_numpy(np.int64),
            r_node=np.concatenate([p.arrays["r_node"] for p in plans]).astype(np.intp),
            p_join=participants["joined_ts"].to_numpy(np.int64),
            p_left=participants["left_ts"].to_numpy(np.int64),
            p_room=np.concatenate(
                [p.arrays["p_room"] + offset for p, offset in zip(plans, room_offsets, strict=True)]
            ).astype(np.intp),
            p_kind=np.concatenate([p.arrays["p_kind"] for p in plans]).astype(np.int8),
            p_pub=participants["is_publisher"].to_numpy(bool),
        )

    def _window(self, day_index: int) -> _Sessions:
        """Sessions of ``day_index`` and the day before (rooms may cross midnight)."""
        window = self._windows.get(day_index)
        if window is None:
            window = self._sessions(day_index - 1, day_index)
            self._windows[day_index] = window
            while len(self._windows) > 3:
                self._windows.popitem(last=False)
        return window

    def _room_tracks(
        self, listeners: np.ndarray, publishers: np.ndarray, egress: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(published audio, published video, subscribed audio, subscribed video) per room:
        every non-publisher subscribes to every published track, publishers to each other."""
        video = 1.0 if self.has_video else 0.0
        pub = publishers.astype(np.float64)
        subs = (listeners + egress) * pub + pub * np.maximum(pub - 1, 0)
        return pub, pub * video, subs, subs * video

    def _node_frame(self, ts: np.ndarray, node: np.ndarray, sums: dict[str, np.ndarray]) -> pd.DataFrame:
        metrics = node_metrics(
            self.spec, ts, self.node_salts[node], sums["rooms"], sums["participants"],
            sums["pub_audio"], sums["pub_video"], sums["sub_audio"], sums["sub_video"],
        )  # fmt: skip
        return pd.DataFrame(metrics)

    # -----------------------------------------------------------------------------------------
    # Snapshot
    # -----------------------------------------------------------------------------------------

    def snapshot(self, ts: float) -> Snapshot:
        """The fleet at model time ``ts`` (Unix seconds). Cached for the last few ``ts``."""
        key = float(ts)
        cached = self._snapshots.get(key)
        if cached is not None:
            return cached
        snap = self._build_snapshot(key)
        self._snapshots[key] = snap
        while len(self._snapshots) > 4:
            self._snapshots.popitem(last=False)
        return snap

    def _live_counts(self, w: _Sessions, ts: float) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Live room mask, live participant mask and per-room counts (over all window rooms)."""
        live_r = (w.r_start <= ts) & (ts < w.r_end)
        live_p = (w.p_join <= ts) & (ts < w.p_left)
        n = len(w.r_start)
        rooms_of = w.p_room[live_p]
        kinds = w.p_kind[live_p]
        pubs = w.p_pub[live_p]
        counts = {
            "listeners": np.bincount(rooms_of[(kinds == 0) & ~pubs], minlength=n),
            "publishers": np.bincount(rooms_of[pubs], minlength=n),
            "egress": np.bincount(rooms_of[kinds == 2], minlength=n),
            "participants": np.bincount(rooms_of[kinds != 2], minlength=n),
        }
        return live_r, live_p, counts

    def _node_sums(
        self, w: _Sessions, live_r: np.ndarray, counts: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        pa, pv, sa, sv = self._room_tracks(counts["listeners"], counts["publishers"], counts["egress"])
        node = w.r_node[live_r]
        m = self.n_nodes

        def per_node(values: np.ndarray) -> np.ndarray:
            return np.bincount(node, weights=np.asarray(values, np.float64)[live_r], minlength=m)

        return {
            "rooms": np.bincount(node, minlength=m).astype(np.float64),
            "participants": per_node(counts["participants"]),
            "pub_audio": per_node(pa),
            "pub_video": per_node(pv),
            "sub_audio": per_node(sa),
            "sub_video": per_node(sv),
        }

    def node_load(self, ts: float) -> pd.DataFrame:
        """Per-node metrics at ``ts`` without building the full snapshot (cheap)."""
        cached = self._snapshots.get(float(ts))
        if cached is not None:
            return cached.nodes
        w = self._window(int(ts // DAY_S))
        live_r, _live_p, counts = self._live_counts(w, ts)
        frame = self._node_frame(
            np.full(self.n_nodes, float(ts)), np.arange(self.n_nodes), self._node_sums(w, live_r, counts)
        )
        frame.insert(0, "node_id", self.node_ids)
        return frame

    def joins_between(self, t0: float, t1: float) -> np.ndarray:
        """Per node: participants (not EGRESS) who joined in (t0, t1]; t1 - t0 < 1 day."""
        w = self._window(int(t1 // DAY_S))
        mask = (w.p_join > t0) & (w.p_join <= t1) & (w.p_kind != 2)
        node = w.r_node[w.p_room[mask]]
        return np.bincount(node, minlength=self.n_nodes).astype(np.float64)

    def _build_snapshot(self, ts: float) -> Snapshot:
        w = self._window(int(ts // DAY_S))
        live_r, live_p, counts = self._live_counts(w, ts)
        rooms = w.rooms.loc[
            live_r, ["room_sid", "room_name", "channel", "node_id", "started_ts"]
        ].reset_index(drop=True)
        rooms["num_participants"] = counts["participants"][live_r]
        rooms["num_publishers"] = counts["publishers"][live_r]
        rooms["listeners"] = counts["listeners"][live_r]
        rooms["egress_participants"] = counts["egress"][live_r]
        rooms["active_recording"] = rooms["egress_participants"] > 0
        participants = w.participants.loc[live_p, PARTICIPANT_COLUMNS[:-1]].reset_index(drop=True)
        participants["state"] = "ACTIVE"
        tracks = self._tracks(participants)
        egress = self._egress_at(w.egress, ts)
        ingress = self._ingress_at(w.ingress, ts)
        nodes = self._node_frame(
            np.full(self.n_nodes, ts), np.arange(self.n_nodes), self._node_sums(w, live_r, counts)
        )
        nodes.insert(0, "node_id", self.node_ids)
        by_room = {
            str(k): np.asarray(v) for k, v in participants.groupby("room_sid", sort=False).indices.items()
        }
        by_participant = (
            {str(k): np.asarray(v) for k, v in tracks.groupby("participant_sid", sort=False).indices.items()}
            if len(tracks)
            else {}
        )
        return Snapshot(ts, rooms, participants, tracks, egress, ingress, nodes, by_room, by_participant)

    def _tracks(self, participants: pd.DataFrame) -> pd.DataFrame:
        pubs = participants.loc[participants["is_publisher"], "participant_sid"].to_numpy(dtype=object)
        # A track id per (participant, kind), derived from the participant id.
        tail = [sid[4:] for sid in pubs]
        audio = pd.DataFrame(
            {
                "track_sid": np.asarray(["TR_A" + t for t in tail], dtype=object),
                "participant_sid": pubs.astype(object),
                "type": "AUDIO",
                "source": "MICROPHONE",
                "mime_type": "audio/opus",
                "name": "microphone",
                "width": 0,
                "height": 0,
            }
        )
        if not self.has_video:
            return audio
        video = pd.DataFrame(
            {
                "track_sid": np.asarray(["TR_V" + t for t in tail], dtype=object),
                "participant_sid": pubs.astype(object),
                "type": "VIDEO",
                "source": "CAMERA",
                "mime_type": "video/VP8",
                "name": "camera",
                "width": 1280,
                "height": 720,
            }
        )
        return pd.concat([audio, video], ignore_index=True)

    def _egress_at(self, egress: pd.DataFrame, ts: float) -> pd.DataFrame:
        """Egress known at ``ts``: live ones and those ended within the last day."""
        started = egress["started_ts"].to_numpy(np.int64)
        ended = egress["ended_ts"].to_numpy(np.int64)
        mask = (started <= ts) & (ended > ts - DAY_S)
        out = egress.loc[mask].reset_index(drop=True)
        live = out["ended_ts"].to_numpy(np.int64) > ts
        out["status"] = np.where(live, "EGRESS_ACTIVE", out["status"].to_numpy(dtype=object))
        out["error"] = np.where(live, "", out["error"].to_numpy(dtype=object))
        out["ended_ts"] = pd.array(np.where(live, 0, out["ended_ts"]), dtype="Int64")
        out.loc[live, "ended_ts"] = pd.NA
        out["output"] = self.spec.egress_output
        return out

    def _ingress_at(self, sessions: pd.DataFrame, ts: float) -> pd.DataFrame:
        """Every channel's reusable RTMP ingress with its state at ``ts``."""
        columns = ["ingress_id", "name", "room_name", "input_type", "participant_identity", "status",
                   "started_ts", "ended_ts"]  # fmt: skip
        if not self.ingress_ids:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
        base = pd.DataFrame(
            {
                "ingress_id": self.ingress_ids,
                "name": ["OBS " + key for key in self.channel_keys],
                "room_name": self.room_names,
                "input_type": "RTMP_INPUT",
                "participant_identity": ["obs-" + key for key in self.channel_keys],
            }
        )
        past = sessions.loc[
            sessions["started_ts"].to_numpy(np.int64) <= ts, ["ingress_id", "started_ts", "ended_ts"]
        ]
        latest = past.sort_values("started_ts").drop_duplicates("ingress_id", keep="last")
        out = base.merge(latest, on="ingress_id", how="left")
        started = out["started_ts"].astype("Int64")
        ended = out["ended_ts"].astype("Int64")
        publishing = (started.notna() & (ended > ts)).fillna(False).to_numpy(bool)
        out["status"] = np.where(publishing, "ENDPOINT_PUBLISHING", "ENDPOINT_INACTIVE")
        out["started_ts"] = started
        out["ended_ts"] = ended.mask(pd.Series(publishing))
        return out[columns]

    # -----------------------------------------------------------------------------------------
    # History (vectorized bulk backfill)
    # -----------------------------------------------------------------------------------------

    def history(self, start_ts: int, end_ts: int, step_s: int = 60) -> History:
        """Sessions overlapping [start_ts, end_ts) and samples at start_ts + k*step_s."""
        start_ts, end_ts, step_s = int(start_ts), int(end_ts), int(step_s)
        if end_ts <= start_ts or step_s <= 0:
            raise ValueError("need start_ts < end_ts and step_s > 0")
        w = self._sessions(start_ts // DAY_S - 1, (end_ts - 1) // DAY_S)
        room_keep = (w.r_start < end_ts) & (w.r_end > start_ts)
        part_keep = (w.p_join < end_ts) & (w.p_left > start_ts)
        room_index = np.flatnonzero(room_keep)
        n_samples = -(-(end_ts - start_ts) // step_s)

        # Sample rows: a contiguous block of grid indices per live room.
        r_s, r_e = w.r_start[room_index], w.r_end[room_index]
        k0 = -(-(np.maximum(r_s, start_ts) - start_ts) // step_s)
        k1 = -(-(np.minimum(r_e, end_ts) - start_ts) // step_s)
        sizes = np.maximum(k1 - k0, 0)
        block = np.concatenate([[0], np.cumsum(sizes)])
        total = int(block[-1])
        row_room = np.repeat(np.arange(len(room_index)), sizes)
        row_k = k0[row_room] + (np.arange(total) - block[row_room])

        # Open sessions per sample: +1 at the first grid point >= join, -1 at the first >= left.
        local = np.full(len(w.r_start), -1, np.intp)
        local[room_index] = np.arange(len(room_index))
        p_local = local[w.p_room]
        ok = part_keep & (p_local >= 0)
        pr = p_local[ok]
        kj = np.maximum(-(-(w.p_join[ok] - start_ts) // step_s), k0[pr])
        kl = np.minimum(np.maximum(-(-(w.p_left[ok] - start_ts) // step_s), kj), k1[pr])
        row_j = block[pr] + (kj - k0[pr])
        row_l = block[pr] + (kl - k0[pr])
        kinds, pubs = w.p_kind[ok], w.p_pub[ok]

        def open_count(mask: np.ndarray) -> np.ndarray:
            delta = np.bincount(row_j[mask], minlength=total + 1) - np.bincount(
                row_l[mask], minlength=total + 1
            )
            return np.cumsum(delta)[:total]

        listeners = open_count((kinds == 0) & ~pubs)
        publishers = open_count(pubs)
        egress_open = open_count(kinds == 2)
        room_sids = w.rooms["room_sid"].to_numpy(dtype=object)[room_index]
        room_samples = pd.DataFrame(
            {
                "ts": start_ts + row_k * step_s,
                "room_sid": pd.Categorical.from_codes(row_room, categories=pd.Index(room_sids)),
                "participants": listeners + publishers,
                "publishers": publishers,
                "listeners": listeners,
                "egress_participants": egress_open,  # the HLS origin's rooms (simulator/hls_log.py)
            }
        )

        # Node samples: per (grid point, node) sums of the room rows.
        m = self.n_nodes
        cell = row_k * m + w.r_node[room_index][row_room]
        pa, pv, sa, sv = self._room_tracks(listeners, publishers, egress_open)
        cells = n_samples * m

        def per_cell(values: np.ndarray | None) -> np.ndarray:
            return np.bincount(cell, weights=values, minlength=cells).astype(np.float64)

        sums = {
            "rooms": per_cell(None),
            "participants": per_cell((listeners + publishers).astype(np.float64)),
            "pub_audio": per_cell(pa),
            "pub_video": per_cell(pv),
            "sub_audio": per_cell(sa),
            "sub_video": per_cell(sv),
        }
        node = np.tile(np.arange(m), n_samples)
        ts_grid = start_ts + np.repeat(np.arange(n_samples, dtype=np.int64), m) * step_s
        metrics = self._node_frame(ts_grid.astype(np.float64), node, sums)
        node_samples = pd.DataFrame(
            {"ts": ts_grid, "node_id": pd.Categorical.from_codes(node, categories=pd.Index(self.node_ids))}
        )
        for name in NODE_METRICS:
            node_samples[name] = metrics[name].to_numpy()

        egress_mask = (w.egress["started_ts"].to_numpy(np.int64) < end_ts) & (
            w.egress["ended_ts"].to_numpy(np.int64) > start_ts
        )
        ingress_mask = (w.ingress["started_ts"].to_numpy(np.int64) < end_ts) & (
            w.ingress["ended_ts"].to_numpy(np.int64) > start_ts
        )
        return History(
            room_sessions=w.rooms.loc[room_keep].reset_index(drop=True),
            participant_sessions=w.participants.loc[part_keep].reset_index(drop=True),
            room_samples=room_samples,
            node_samples=node_samples,
            egress=w.egress.loc[egress_mask].reset_index(drop=True),
            ingress=w.ingress.loc[ingress_mask].reset_index(drop=True),
            nodes=pd.DataFrame({"node_id": self.node_ids, "node_type": "SERVER"}),
        )
