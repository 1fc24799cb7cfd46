"""Bench: the data behind the Overview and Costs pages for 30 days of platform-500, read from
our store, against a real Prometheus answering the equivalent ``query_range`` calls over the
same samples, in the same run.

    .venv/bin/python bench/query_vs_prometheus.py [--db URL] [--runs 3] [--resolution-s 60]

Prometheus side: the simulator's 1-minute history for the store's window (the samples the
backfill aggregated into the store) is written as OpenMetrics — a per-room gauge of listeners
and of publishers labelled room/channel (LiveKit exports no per-room series; this is what a
per-room exporter would give) and LiveKit's own ``livekit_packet_bytes{direction}`` counter
per node — imported with ``promtool tsdb create-blocks-from openmetrics`` and served by
``/usr/bin/prometheus`` on a loopback port. The queries use the step our tier uses (1 h for
30 days; 1 d for the per-day ledger).

Our side: the analytics calls the pages make on a cold engine (no Streamlit cache):
``headline`` + ``fleet_history`` + ``busiest_channels`` (Overview) and ``measured_ledger``
(Costs). Each side runs once to warm the OS page cache, then ``--runs`` times; the ratio
uses medians. Prints JSON with ``query_vs_prometheus_ratio``.

The Prometheus figures are also written to bench/out/prometheus_query_s.json so a later pass
on another backend (run_all --postgres) can divide by the same run's Prometheus time with
``--prometheus-from-file`` instead of importing the TSDB again.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import OUT_DIR, SCENARIO, add_db_argument, backend, demo_db, emit, machine, store_facts
from core.units import DAY_S, HOUR_S

TARGET_RATIO = 0.1

PROMETHEUS_TIMES = OUT_DIR / "prometheus_query_s.json"


# ---------------------------------------------------------------------------------------------
# Our store
# ---------------------------------------------------------------------------------------------


def our_pages_once(url: str, start_ts: int, end_ts: int) -> dict[str, float]:
    """Seconds per page for the reads behind Overview and Costs on a fresh engine."""
    from analytics import monitoring
    from analytics.usage import measured_ledger
    from store.engine import make_engine
    from store.queries import fleet
    from store.queries.usage import usage_parts

    engine = make_engine(url, read_only=True)
    try:
        started = time.perf_counter()
        with engine.connect() as connection:
            fleet.headline(connection, start_ts, end_ts)
            history = monitoring.fleet_history(fleet.fleet_history_frames(connection, start_ts, end_ts))
            fleet.busiest_channels(connection, end_ts)
        overview_s = time.perf_counter() - started
        started = time.perf_counter()
        ledger = measured_ledger(usage_parts(engine, start_ts, end_ts), start_ts, end_ts)
        costs_s = time.perf_counter() - started
    finally:
        engine.dispose()
    if history.series.empty or ledger.is_empty:
        raise RuntimeError("the store returned no data for the window")
    return {"overview_s": overview_s, "costs_s": costs_s, "total_s": overview_s + costs_s}


# ---------------------------------------------------------------------------------------------
# Prometheus
# ---------------------------------------------------------------------------------------------


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def write_openmetrics(path: Path, start_ts: int, end_ts: int, resolution_s: int) -> dict[str, int]:
    """The simulator's history of [start_ts, end_ts) as OpenMetrics; returns sample counts."""
    from simulator.model import FleetModel

    history = FleetModel(SCENARIO).history(start_ts, end_ts, step_s=resolution_s)
    rooms = history.room_samples.sort_values(["room_sid", "ts"], kind="stable")
    channel_of = history.room_sessions.set_index("room_sid")["channel"].astype(str)
    codes = rooms["room_sid"].cat.codes.to_numpy()
    categories = [str(sid) for sid in rooms["room_sid"].cat.categories]
    ts_text = rooms["ts"].astype("int64").astype(str).to_numpy(dtype=object)
    counts = {"room_series": len(categories), "room_samples_per_metric": len(rooms)}
    with path.open("w") as out:
        for metric, column in (
            ("castmeter_room_listeners", "listeners"),
            ("castmeter_room_publishers", "publishers"),
        ):
            out.write(f"# TYPE {metric} gauge\n")
            prefixes = np.array(
                [f'{metric}{{room="{_label_value(sid)}",channel="{_label_value(channel_of.get(sid, sid))}"}} '
                 for sid in categories], dtype=object,
            )  # fmt: skip
            values = rooms[column].astype("int64").astype(str).to_numpy(dtype=object)
            lines = prefixes[codes] + values + " " + ts_text
            out.write("\n".join(lines.tolist()))
            out.write("\n")
        nodes = history.node_samples.sort_values(["node_id", "ts"], kind="stable")
        # LiveKit's counter has no _total suffix, which OpenMetrics requires of a counter; as
        # "unknown" it keeps its real name, and rate()/increase() treat it the same.
        out.write("# TYPE livekit_packet_bytes unknown\n")
        node_samples = 0
        for node_id, frame in nodes.groupby("node_id", observed=True, sort=True):
            for direction, column in (("outgoing", "bytes_out_per_s"), ("incoming", "bytes_in_per_s")):
                # A counter: the running total of bytes at each sample.
                total = (frame[column].fillna(0.0).to_numpy() * resolution_s).cumsum().round()
                prefix = (
                    f'livekit_packet_bytes{{node_id="{_label_value(str(node_id))}",direction="{direction}"}} '
                )
                totals = total.astype("int64").astype(str).astype(object)
                times = frame["ts"].astype("int64").astype(str).to_numpy(dtype=object)
                lines = prefix + totals + " " + times
                out.write("\n".join(lines.tolist()))
                out.write("\n")
                node_samples += len(frame)
        out.write("# EOF\n")
    counts["node_counter_samples"] = node_samples
    counts["total_samples"] = 2 * len(rooms) + node_samples
    return counts


def _queries(start_ts: int, end_ts: int) -> list[tuple[str, str, int, int, int]]:
    """(what, PromQL, start, end, step): the Overview's 1 h series and the Costs ledger's per-day
    figures, over the same window as ours."""
    hour_start = start_ts - start_ts % HOUR_S + HOUR_S
    day_start = start_ts - start_ts % DAY_S + DAY_S
    day_end = end_ts - end_ts % DAY_S + DAY_S
    out = 'livekit_packet_bytes{direction="outgoing"}'
    return [
        ("listeners by channel", "sum by (channel) (avg_over_time(castmeter_room_listeners[1h]))", hour_start, end_ts, HOUR_S),
        ("live streams", "sum(count_over_time(castmeter_room_listeners[1h])) / 60", hour_start, end_ts, HOUR_S),
        ("outgoing bandwidth", f"sum(rate({out}[1h]))", hour_start, end_ts, HOUR_S),
        ("listener-minutes per day and channel", "sum by (channel) (sum_over_time(castmeter_room_listeners[1d]))", day_start, day_end, DAY_S),
        ("publisher-minutes per day and channel", "sum by (channel) (sum_over_time(castmeter_room_publishers[1d]))", day_start, day_end, DAY_S),
        ("peak listeners per day and channel", "max by (channel) (max_over_time(castmeter_room_listeners[1d]))", day_start, day_end, DAY_S),
        ("streams per day and channel", "count by (channel) (count_over_time(castmeter_room_listeners[1d]))", day_start, day_end, DAY_S),
        ("downstream bytes per day", f"sum(increase({out}[1d]))", day_start, day_end, DAY_S),
        ("fleet peak listeners per day", "max_over_time(sum(castmeter_room_listeners)[1d:5m])", day_start, day_end, DAY_S),
    ]  # fmt: skip


def _query_range(base: str, promql: str, start: int, end: int, step: int) -> int:
    params = urllib.parse.urlencode({"query": promql, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{base}/api/v1/query_range?{params}", timeout=300) as response:
        body = json.loads(response.read())
    if body.get("status") != "success":
        raise RuntimeError(f"{promql}: {body}")
    return sum(len(series["values"]) for series in body["data"]["result"])


def prometheus_side(start_ts: int, end_ts: int, runs: int, resolution_s: int) -> dict[str, Any]:
    from harness.realparts import free_port, prometheus_path, promtool_path, wait_http

    prometheus, promtool = prometheus_path(), promtool_path()
    if prometheus is None or promtool is None:
        raise FileNotFoundError("Debian `prometheus` (/usr/bin/prometheus, /usr/bin/promtool) not installed")
    workdir = Path(tempfile.mkdtemp(prefix="castmeter-bench-prom-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        started = time.perf_counter()
        openmetrics = workdir / "samples.om.txt"
        counts = write_openmetrics(openmetrics, start_ts, end_ts, resolution_s)
        write_s = time.perf_counter() - started
        tsdb = workdir / "tsdb"
        started = time.perf_counter()
        # 162 h blocks: what Prometheus' own compaction reaches for a month of data (2h × 3^4),
        # so Prometheus is not slowed by hundreds of 2 h blocks.
        subprocess.run(
            [str(promtool), "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=162h",
             str(openmetrics), str(tsdb)],
            check=True, capture_output=True, timeout=900,
        )  # fmt: skip
        import_s = time.perf_counter() - started
        openmetrics_mb = openmetrics.stat().st_size / 1e6
        openmetrics.unlink()
        tsdb_mb = sum(path.stat().st_size for path in tsdb.rglob("*") if path.is_file()) / 1e6
        config = workdir / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 60s\nscrape_configs: []\n")
        port = free_port()
        log = (workdir / "prometheus.log").open("wb")
        process = subprocess.Popen(
            [str(prometheus), f"--config.file={config}", f"--storage.tsdb.path={tsdb}",
             "--storage.tsdb.retention.time=3650d", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/-/ready", 120, process=process)
        queries = _queries(start_ts, end_ts)
        points = {
            what: _query_range(base, promql, s, e, step) for what, promql, s, e, step in queries
        }  # warm-up
        if not all(points.values()):
            raise RuntimeError(f"Prometheus answered empty series: {points}")
        per_query: dict[str, list[float]] = {what: [] for what, *_ in queries}
        totals: list[float] = []
        for _ in range(runs):
            run_started = time.perf_counter()
            for what, promql, s, e, step in queries:
                one = time.perf_counter()
                _query_range(base, promql, s, e, step)
                per_query[what].append(time.perf_counter() - one)
            totals.append(time.perf_counter() - run_started)
        return {
            "total_s_median": statistics.median(totals),
            "total_s_runs": [round(value, 4) for value in totals],
            "per_query_s_median": {what: round(statistics.median(values), 4) for what, values in per_query.items()},
            "queries": [{"what": what, "promql": promql, "step_s": step} for what, promql, _s, _e, step in queries],
            "points_returned": points,
            "samples": counts,
            "resolution_s": resolution_s,
            "openmetrics_mb": round(openmetrics_mb, 1),
            "tsdb_mb": round(tsdb_mb, 1),
            "openmetrics_write_s": round(write_s, 1),
            "promtool_import_s": round(import_s, 1),
            "version": subprocess.run([str(prometheus), "--version"], capture_output=True, text=True,
                                      check=False).stdout.splitlines()[0],
        }  # fmt: skip
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_db_argument(parser)
    parser.add_argument("--runs", type=int, default=2, help="timed rounds per side after one warm-up round")
    parser.add_argument("--resolution-s", type=int, default=60, help="Prometheus sample interval")
    parser.add_argument("--prometheus-from-file", action="store_true",
                        help=f"reuse this run's Prometheus timing from {PROMETHEUS_TIMES.name}")  # fmt: skip
    args = parser.parse_args()
    result: dict[str, Any] = {"bench": "query_vs_prometheus", "target_ratio": TARGET_RATIO}
    try:
        url, how = demo_db(args.db)
        facts = store_facts(url)
    except Exception as exc:  # no store: report why instead of crashing
        emit({**result, "query_vs_prometheus_ratio": None, "reason": f"store unavailable: {exc}"})
        return 0
    result.update(how)
    result["backend"] = backend(url)
    result["store"] = facts
    end_ts = int(facts["window_end_ts"]) + 1
    start_ts = end_ts - 30 * DAY_S
    result["window"] = {"start_ts": start_ts, "end_ts": end_ts, "days": 30}

    our_pages_once(url, start_ts, end_ts)  # warm the OS cache, as Prometheus gets a warm-up query
    ours = [our_pages_once(url, start_ts, end_ts) for _ in range(max(1, args.runs))]
    ours_total = statistics.median(run["total_s"] for run in ours)
    result["ours"] = {
        "total_s_median": round(ours_total, 4),
        "overview_s_median": round(statistics.median(run["overview_s"] for run in ours), 4),
        "costs_ledger_s_median": round(statistics.median(run["costs_s"] for run in ours), 4),
        "total_s_runs": [round(run["total_s"], 4) for run in ours],
    }
    prometheus: dict[str, Any] | None = None
    reason = None
    try:
        if args.prometheus_from_file:
            prometheus = json.loads(PROMETHEUS_TIMES.read_text())
            prometheus["measured"] = "earlier in this run (bench/out/prometheus_query_s.json)"
        else:
            prometheus = prometheus_side(start_ts, end_ts, max(1, args.runs), args.resolution_s)
            prometheus["measured"] = "this process"
            PROMETHEUS_TIMES.parent.mkdir(parents=True, exist_ok=True)
            PROMETHEUS_TIMES.write_text(json.dumps(prometheus))
    except Exception as exc:
        reason = f"Prometheus side failed: {type(exc).__name__}: {exc}"
    result["prometheus"] = prometheus
    if prometheus is None:
        result["query_vs_prometheus_ratio"] = None
        result["reason"] = reason
    else:
        ratio = ours_total / float(prometheus["total_s_median"])
        result["query_vs_prometheus_ratio"] = round(ratio, 4)
        result["speedup_x"] = round(1 / ratio, 1) if ratio > 0 else None
        result["meets_target"] = ratio <= TARGET_RATIO
    result["machine"] = machine()
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
