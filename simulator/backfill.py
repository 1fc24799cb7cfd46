"""Bulk backfill of simulated history into the store (computed in bulk, not by replaying ticks).

Tiers written, fitted to what the pages read and to the retention defaults:
- sessions (room, participant, egress, ingress) for the whole range;
- 1-hour rollups for the whole range, aggregated from the model's 1-minute history;
- 1-minute rollups for the most recent ``minute_days`` (pages read hourly beyond 3 days);
- raw 15 s samples for the most recent ``raw_hours``.
Every write is an upsert on its natural key, so re-running a backfill duplicates nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Engine, Table

from simulator.audience_history import AudienceTargets, audience_history
from store import schema
from store.bulk import bulk_upsert, deferred_indexes
from store.rollups import DAY_S, HOUR_S, MINUTE_S, refresh_rollups
from store.usage_rollup import refresh_usage_daily

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]  # (stage, fraction done 0..1)

_CHUNK_ROWS = 200_000
_ROOM_FIELDS = ("participants", "publishers", "listeners")
_AUDIENCE_CHUNK_S = 3 * DAY_S


@dataclass(frozen=True)
class BackfillReport:
    start_ts: int
    end_ts: int
    rows: dict[str, int]
    duration_s: float


def _write(
    engine: Engine, table: Table, frame: pd.DataFrame, source_id: int, progress: Progress, stage: str
) -> int:
    if frame.empty:
        return 0
    frame = frame.assign(source_id=source_id)
    total = len(frame)
    for start in range(0, total, _CHUNK_ROWS):
        bulk_upsert(engine, table, frame.iloc[start : start + _CHUNK_ROWS])
        progress(stage, min(1.0, (start + _CHUNK_ROWS) / total))
    return total


def _still_open(frame: pd.DataFrame, end_column: str, end_ts: int) -> pd.DataFrame:
    """Sessions ending after ``end_ts`` are live at ``end_ts``: no end yet."""
    if frame.empty:
        return frame
    ends = frame[end_column]
    return frame.assign(**{end_column: ends.where(ends <= end_ts)})


def _clip_to(history: Any, end_ts: int) -> Any:
    from dataclasses import replace

    rooms = history.room_sessions[history.room_sessions["started_ts"] <= end_ts]
    participants = history.participant_sessions[history.participant_sessions["joined_ts"] <= end_ts]
    egress = history.egress[history.egress["started_ts"].fillna(0) <= end_ts]
    egress = _still_open(egress, "ended_ts", end_ts)
    if not egress.empty:
        egress = egress.assign(status=egress["status"].where(egress["ended_ts"].notna(), "EGRESS_ACTIVE"))
    return replace(
        history,
        room_sessions=_still_open(rooms, "ended_ts", end_ts),
        participant_sessions=_still_open(participants, "left_ts", end_ts),
        egress=egress,
        ingress=_still_open(history.ingress, "ended_ts", end_ts),
    )


def _rollup(
    samples: pd.DataFrame, key: str, fields: tuple[str, ...], bucket_s: int, step_s: int
) -> pd.DataFrame:
    """Aggregate model samples (one per step_s) into rollup rows with *_avg/*_max and a sample count
    expressed in 15 s collector samples, so weights match what the live rollups produce."""
    if samples.empty:
        return pd.DataFrame()
    frame = samples.assign(bucket_ts=samples["ts"] - samples["ts"] % bucket_s)
    grouped = frame.groupby([key, "bucket_ts"], sort=False)
    out = grouped.size().rename("steps").to_frame()
    for name in fields:
        out[f"{name}_avg"] = grouped[name].mean()
        out[f"{name}_max"] = grouped[name].max()
    out["samples"] = (out.pop("steps") * max(1, step_s // 15)).astype(int)
    return out.reset_index()


def _write_audience(
    engine: Engine, model: Any, targets: AudienceTargets, history: Any, start_ts: int, end_ts: int,
    progress: Progress,
) -> dict[str, int]:  # fmt: skip
    """The audience and relay history of each path whose source is given, a few days at a time
    (the provider rows are built as Python dicts: chunks keep their memory bounded)."""
    rows = {"audience_samples": 0, "relay_samples": 0}
    quiet: Progress = lambda stage, fraction: None  # noqa: E731 - one bar for the whole history
    for chunk_start in range(start_ts, end_ts, _AUDIENCE_CHUNK_S):
        chunk_end = min(chunk_start + _AUDIENCE_CHUNK_S, end_ts)
        found = audience_history(
            model, targets, history.room_samples, history.room_sessions, chunk_start, chunk_end
        )
        for path, frame in found.audience.items():
            source = targets.source_of(path)
            if source is not None:
                rows["audience_samples"] += _write(engine, schema.audience_samples, frame, source, quiet, "")
        for path, frame in found.relays.items():
            source = targets.source_of(path)
            if source is not None:
                rows["relay_samples"] += _write(engine, schema.relay_samples, frame, source, quiet, "")
        progress("audience history", (chunk_end - start_ts) / max(1, end_ts - start_ts))
    return rows


def backfill(
    engine: Engine,
    model: Any,
    source_id: int,
    *,
    end_ts: int,
    days: float,
    minute_days: float = 3,
    raw_hours: float = 6,
    progress: Progress | None = None,
    node_source_id: int | None = None,
    start_ts: int | None = None,
    audience: AudienceTargets | None = None,
) -> BackfillReport:
    """Write ``days`` of history of ``model`` (a simulator.model.FleetModel) ending at ``end_ts``,
    from the hour before (or exactly from ``start_ts`` when given: a scripted fleet's start).
    Sessions and room samples belong to ``source_id`` (the LiveKit API source); nodes and node
    samples to ``node_source_id`` (the Prometheus source that scrapes them), by default the same.
    With ``audience``, also the audience and relay samples the HLS log and provider pollers would
    have written (simulator/audience_history.py), under their sources' ids."""
    node_source = source_id if node_source_id is None else node_source_id
    started = time.perf_counter()
    report_progress: Progress = progress or (lambda stage, fraction: None)
    if start_ts is None:
        start_ts = int(end_ts - days * DAY_S)
        start_ts -= start_ts % HOUR_S
    rows: dict[str, int] = {}

    report_progress("simulating history", 0.0)
    history = model.history(start_ts, end_ts, step_s=MINUTE_S)
    report_progress("simulating history", 1.0)

    rows["nodes"] = _write(
        engine,
        schema.nodes,
        history.nodes.assign(first_seen_ts=start_ts, last_seen_ts=end_ts),
        node_source,
        report_progress,
        "nodes",
    )
    # The model knows when live sessions will end; the store must not: clip at end_ts.
    history = _clip_to(history, end_ts)
    peaks = history.room_samples.groupby("room_sid")[["participants", "listeners"]].max()
    room_sessions = history.room_sessions.assign(
        last_seen_ts=history.room_sessions["ended_ts"].fillna(end_ts).astype("int64"),
        max_participants=history.room_sessions["room_sid"].map(peaks["participants"]).fillna(0).astype(int),
        max_listeners=history.room_sessions["room_sid"].map(peaks["listeners"]).fillna(0).astype(int),
    )
    rows["room_sessions"] = _write(
        engine, schema.room_sessions, room_sessions, source_id, report_progress, "room sessions"
    )
    participants = history.participant_sessions.assign(
        last_seen_ts=history.participant_sessions["left_ts"].fillna(end_ts).astype("int64"),
        origin="backfill",
    )
    with deferred_indexes(engine, schema.participant_sessions):
        rows["participant_sessions"] = _write(
            engine,
            schema.participant_sessions,
            participants,
            source_id,
            report_progress,
            "participant sessions",
        )
    egress = history.egress.assign(last_seen_ts=history.egress["ended_ts"].fillna(end_ts).astype("int64"))
    rows["egress"] = _write(engine, schema.egress_status, egress, source_id, report_progress, "egress")
    ingress = history.ingress.assign(last_seen_ts=history.ingress["ended_ts"].fillna(end_ts).astype("int64"))
    rows["ingress"] = _write(engine, schema.ingress_status, ingress, source_id, report_progress, "ingress")

    node_fields = tuple(schema.NODE_METRICS)
    rows["room_samples_1h"] = _write(
        engine,
        schema.room_samples_1h,
        _rollup(history.room_samples, "room_sid", _ROOM_FIELDS, HOUR_S, MINUTE_S),
        source_id,
        report_progress,
        "hourly room rollups",
    )
    rows["node_samples_1h"] = _write(
        engine,
        schema.node_samples_1h,
        _rollup(history.node_samples, "node_id", node_fields, HOUR_S, MINUTE_S),
        node_source,
        report_progress,
        "hourly node rollups",
    )
    minute_from = max(end_ts - int(minute_days * DAY_S), start_ts)
    recent_rooms = history.room_samples[history.room_samples["ts"] >= minute_from]
    recent_nodes = history.node_samples[history.node_samples["ts"] >= minute_from]
    rows["room_samples_1m"] = _write(
        engine,
        schema.room_samples_1m,
        _rollup(recent_rooms, "room_sid", _ROOM_FIELDS, MINUTE_S, MINUTE_S),
        source_id,
        report_progress,
        "minute room rollups",
    )
    rows["node_samples_1m"] = _write(
        engine,
        schema.node_samples_1m,
        _rollup(recent_nodes, "node_id", node_fields, MINUTE_S, MINUTE_S),
        node_source,
        report_progress,
        "minute node rollups",
    )
    if audience is not None:
        rows.update(_write_audience(engine, model, audience, history, start_ts, end_ts, report_progress))
    raw_from = max(end_ts - int(raw_hours * HOUR_S), start_ts)
    raw = model.history(raw_from - raw_from % MINUTE_S, end_ts, step_s=15)
    rows["room_samples"] = _write(
        engine,
        schema.room_samples,
        raw.room_samples.drop(columns="egress_participants"),
        source_id,
        report_progress,
        "raw room samples",
    )
    rows["node_samples"] = _write(
        engine, schema.node_samples, raw.node_samples, node_source, report_progress, "raw node samples"
    )
    # Only the raw window needs re-aggregating; older buckets were written directly above.
    refresh_rollups(engine, end_ts, since_ts=raw_from)
    # Sessions were written for the whole range with their own (old) last_seen_ts: recompute
    # every backfilled day of the daily usage rollup, not only what the watermark would catch.
    refresh_usage_daily(engine, end_ts, since_ts=start_ts)
    return BackfillReport(start_ts, end_ts, rows, time.perf_counter() - started)
