"""A scripted fleet: exactly the rooms, participants, egress jobs and node figures a YAML file
lists, for known-answer tests and reproducible demos.

It is a :class:`~simulator.model.FleetModel` whose day plans come from the script instead of
random draws and whose node figures are the script's step functions (no noise), so the live
simulator (``python -m simulator --script FILE``: Twirp API, LiveKit and node_exporter
metrics) and the bulk backfill serve the same scripted fleet. The quality histograms get
every observation at the scripted value, so ``histogram_quantile`` reads the bucket's
interpolation of it, on a live fleet and in the backfill alike.

Times in the script are seconds after ``start``; a step function ``{0: 20, 120: 90}`` holds
each value from its time on. Every egress job has its hidden recorder participant (kind
EGRESS) subscribed to the room's tracks for the job's span, as LiveKit's room composite does.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from simulator.model import (
    DAY_S,
    EGRESS_COLUMNS,
    INGRESS_COLUMNS,
    PARTICIPANT_COLUMNS,
    ROOM_COLUMNS,
    DayPlan,
    FleetModel,
)
from simulator.quality import JITTER_US_BUCKETS, LOSS_BUCKETS, RTT_MS_BUCKETS, histogram_quantile, point_cdf
from simulator.scenarios import KIND_EGRESS, KIND_STANDARD, ScenarioSpec

AUDIO_PACKETS_PER_S = 50.0  # Opus, 20 ms frames
NODE_FIGURES = (
    "cpu_pct", "memory_pct", "packet_loss_pct", "jitter_ms", "rtt_ms", "join_success_ratio",
    "quality_score", "api_requests_per_s", "api_errors_per_s",
)  # fmt: skip


class ScriptError(ValueError):
    """An invalid fleet script; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Steps = dict[int, float]


class ScriptedNode(_Strict):
    id: str = Field(min_length=1)
    cpu_pct: Steps = {0: 10.0}
    memory_pct: Steps = {0: 30.0}
    packet_loss_pct: Steps = {0: 0.2}  # every per-track observation
    jitter_ms: Steps = {0: 4.0}
    rtt_ms: Steps = {0: 60.0}
    join_success_ratio: Steps = {0: 1.0}
    quality_score: Steps = {0: 4.3}
    api_requests_per_s: Steps = {0: 1.0}
    api_errors_per_s: Steps = {0: 0.0}

    @field_validator(*NODE_FIGURES)
    @classmethod
    def _from_the_start(cls, value: Steps) -> Steps:
        if not value or min(value) > 0:
            raise ValueError("a step function needs a value from time 0")
        return dict(sorted(value.items()))


class ScriptedParticipant(_Strict):
    sid: str = Field(min_length=1)
    identity: str = Field(min_length=1)
    name: str = ""
    publisher: bool = False
    join: int
    leave: int

    @model_validator(mode="after")
    def _order(self) -> ScriptedParticipant:
        if self.leave <= self.join:
            raise ValueError(f"{self.identity}: leave must be after join")
        return self


class ScriptedEgress(_Strict):
    id: str = Field(min_length=1)
    start: int
    end: int
    status: Literal["EGRESS_COMPLETE", "EGRESS_FAILED", "EGRESS_ABORTED"] = "EGRESS_COMPLETE"
    error: str = ""


class ScriptedRoom(_Strict):
    sid: str = Field(min_length=1)
    name: str = Field(min_length=1)
    node: str
    start: int
    end: int
    participants: list[ScriptedParticipant] = []
    egress: list[ScriptedEgress] = []

    @model_validator(mode="after")
    def _inside(self) -> ScriptedRoom:
        spans = [(p.join, p.leave) for p in self.participants] + [(e.start, e.end) for e in self.egress]
        for begin, finish in spans:
            if begin < self.start or finish > self.end:
                raise ValueError(
                    f"room {self.name}: a session runs outside the room's {self.start}..{self.end}"
                )
        return self


class FleetScript(_Strict):
    name: str = "scripted"
    start: dt.datetime
    audio_kbps: float = Field(default=128.0, gt=0)
    node_vcpus: int = Field(default=4, ge=1)
    node_memory_bytes: int = Field(default=8 * 2**30, gt=0)
    nodes: list[ScriptedNode] = Field(min_length=1)
    rooms: list[ScriptedRoom] = []

    @field_validator("start")
    @classmethod
    def _utc(cls, value: dt.datetime) -> dt.datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)

    @model_validator(mode="after")
    def _known_nodes(self) -> FleetScript:
        known = {node.id for node in self.nodes}
        for room in self.rooms:
            if room.node not in known:
                raise ValueError(f"room {room.name}: unknown node {room.node!r}")
        return self

    @property
    def start_ts(self) -> int:
        return int(self.start.timestamp())


def load_script(path: str | Path) -> FleetScript:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScriptError(f"cannot read fleet script {path}: {exc}") from None
    try:
        return FleetScript.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in item['loc']) or '(root)'}: {item['msg']}" for item in exc.errors()
        ]
        raise ScriptError(f"invalid fleet script {path}: " + "; ".join(problems)) from None


def _step_values(steps: Steps, offsets: np.ndarray) -> np.ndarray:
    times = np.asarray(list(steps), dtype=np.float64)
    values = np.asarray(list(steps.values()), dtype=np.float64)
    index = np.searchsorted(times, offsets, side="right") - 1
    return values[np.clip(index, 0, None)]


def _histogram_p95(bounds: tuple[float, ...], values: np.ndarray) -> np.ndarray:
    return histogram_quantile(0.95, bounds, point_cdf(bounds, values))


class ScriptedFleet(FleetModel):
    """The fleet of a :class:`FleetScript` (see the module docstring)."""

    def __init__(self, script: FleetScript) -> None:  # no super().__init__: nothing is drawn
        self.script = script
        self.scenario = script.name
        self.seed = 0
        self.spec = ScenarioSpec(
            name=script.name, seed_ref="a fleet script", description=f"scripted fleet {script.name}",
            channels=len({room.name for room in script.rooms}), default_nodes=len(script.nodes),
            room_prefix="", publisher_prefix="", listener_prefix="", broadcasts_per_day_p=(1.0,),
            broadcast_median_s=1.0, broadcast_sigma=0.0, broadcast_min_s=1.0, broadcast_max_s=1.0, gap_min_s=0.0,
            start_window_h=(0.0, 24.0), ends_by_h=24.0, start_curve=(1.0,) * 24, listener_mode="poisson",
            listeners_mean=0.0, listeners_popularity_sigma=0.0, listeners_day_sigma=0.0,
            listener_curve=(1.0,) * 24, listener_session_median_s=1.0, listener_session_sigma=0.0,
            audio_kbps=script.audio_kbps, egress_output="segments", node_vcpus=script.node_vcpus,
            node_memory_bytes=script.node_memory_bytes,
        )  # fmt: skip
        self.n_nodes = len(script.nodes)
        self.node_ids = [node.id for node in script.nodes]
        self.node_salts = np.arange(self.n_nodes, dtype=np.uint64)
        self.channel_keys = []
        self.room_names = sorted({room.name for room in script.rooms})
        self.has_video = False
        self.ingress_ids = []
        # Every observation at the scripted value: histogram_quantile reads its bucket.
        self.quality_sigmas = {"loss": 0.0, "jitter": 0.0, "rtt": 0.0}
        self._node_index = {node_id: index for index, node_id in enumerate(self.node_ids)}
        self._plans: OrderedDict[int, DayPlan] = OrderedDict()
        self._windows = OrderedDict()
        self._snapshots = OrderedDict()

    def _build_day(self, day_index: int) -> DayPlan:
        start = self.script.start_ts
        day0 = day_index * DAY_S
        rooms = [room for room in self.script.rooms if day0 <= start + room.start < day0 + DAY_S]
        room_rows, part_rows, egress_rows = [], [], []
        r_node, p_room, p_kind = [], [], []
        for index, room in enumerate(rooms):
            room_rows.append(
                {"room_sid": room.sid, "room_name": room.name, "channel": room.name, "node_id": room.node,
                 "started_ts": start + room.start, "ended_ts": start + room.end}
            )  # fmt: skip
            r_node.append(self._node_index[room.node])
            for person in room.participants:
                part_rows.append(
                    {"participant_sid": person.sid, "room_sid": room.sid, "identity": person.identity,
                     "name": person.name, "kind": KIND_STANDARD, "is_publisher": person.publisher,
                     "joined_ts": start + person.join, "left_ts": start + person.leave}
                )  # fmt: skip
                p_room.append(index)
                p_kind.append(0)
            for job in room.egress:
                egress_rows.append(
                    {"egress_id": job.id, "room_sid": room.sid, "room_name": room.name, "kind": "room_composite",
                     "status": job.status, "started_ts": start + job.start, "ended_ts": start + job.end,
                     "error": job.error}
                )  # fmt: skip
                part_rows.append(
                    {"participant_sid": "PA_" + job.id, "room_sid": room.sid, "identity": job.id, "name": "",
                     "kind": KIND_EGRESS, "is_publisher": False, "joined_ts": start + job.start,
                     "left_ts": start + job.end}
                )  # fmt: skip
                p_room.append(index)
                p_kind.append(2)

        def frame(rows: list[dict[str, object]], columns: list[str]) -> pd.DataFrame:
            result = pd.DataFrame(rows, columns=columns)
            for column in columns:
                if column.endswith("_ts"):
                    result[column] = result[column].astype(np.int64)
                elif column != "is_publisher":
                    result[column] = result[column].astype(object)
            return result

        participants = frame(part_rows, PARTICIPANT_COLUMNS)
        participants["is_publisher"] = participants["is_publisher"].astype(bool)
        arrays: dict[str, np.ndarray] = {
            "r_node": np.asarray(r_node, dtype=np.intp),
            "p_room": np.asarray(p_room, dtype=np.intp),
            "p_kind": np.asarray(p_kind, dtype=np.int8),
        }
        return DayPlan(
            day_index, frame(room_rows, ROOM_COLUMNS), participants, frame(egress_rows, EGRESS_COLUMNS),
            frame([], INGRESS_COLUMNS), arrays,
        )  # fmt: skip

    def _node_frame(self, ts: np.ndarray, node: np.ndarray, sums: dict[str, np.ndarray]) -> pd.DataFrame:
        offsets = np.asarray(ts, dtype=np.float64) - self.script.start_ts
        node = np.asarray(node, dtype=np.intp)
        figures = {name: np.empty(offsets.shape) for name in NODE_FIGURES}
        for index, scripted in enumerate(self.script.nodes):
            rows = node == index
            for name in NODE_FIGURES:
                figures[name][rows] = _step_values(getattr(scripted, name), offsets[rows])
        kbps = self.script.audio_kbps
        pub, sub = sums["pub_audio"], sums["sub_audio"]
        zeros = np.zeros(offsets.shape)
        return pd.DataFrame(
            {
                "cpu_pct": figures["cpu_pct"],
                "memory_bytes": figures["memory_pct"] / 100.0 * self.script.node_memory_bytes,
                "memory_pct": figures["memory_pct"],
                "bytes_in_per_s": pub * kbps * 125.0,
                "bytes_out_per_s": sub * kbps * 125.0,
                "packets_in_per_s": pub * AUDIO_PACKETS_PER_S,
                "packets_out_per_s": sub * AUDIO_PACKETS_PER_S,
                "packet_loss_pct": _histogram_p95(LOSS_BUCKETS, figures["packet_loss_pct"]),
                "jitter_p95_ms": _histogram_p95(JITTER_US_BUCKETS, figures["jitter_ms"] * 1000.0) / 1000.0,
                "rtt_p95_ms": _histogram_p95(RTT_MS_BUCKETS, figures["rtt_ms"]),
                "nack_per_s": zeros,
                "pli_per_s": zeros,
                "rooms": sums["rooms"],
                "participants": sums["participants"],
                "tracks_published": pub,
                "tracks_subscribed": sub,
                "join_success_ratio": figures["join_success_ratio"],
                "api_requests_per_s": figures["api_requests_per_s"],
                "api_errors_per_s": figures["api_errors_per_s"],
                "quality_score": figures["quality_score"],
                "tracks_published_audio": pub,
                "tracks_published_video": zeros,
                "tracks_subscribed_audio": sub,
                "tracks_subscribed_video": zeros,
                "cpu_cores": figures["cpu_pct"] / 100.0 * self.script.node_vcpus,
                "loss_median_pct": figures["packet_loss_pct"],
                "jitter_median_ms": figures["jitter_ms"],
                "rtt_median_ms": figures["rtt_ms"],
            }
        )
