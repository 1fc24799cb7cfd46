"""`collectors demo`: backfill simulated history, then run the simulator and the collectors live.

The simulator speaks LiveKit's real Twirp API and Prometheus exposition, so the live part runs
the same pollers as a real fleet. When the Debian ``prometheus`` binary is present, a real
Prometheus scrapes the simulated nodes; otherwise node samples come straight from the model
(and the log says so).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import secrets
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

from sqlalchemy import Engine

from collectors.commands.common import add_config_arguments, alert_hooks, settings_from, start_metrics
from collectors.health import ensure_source
from collectors.runner import Collector, TickHook
from core.logs import setup_logging
from core.settings import LiveKitSource, PrometheusSource, Settings
from core.timeargs import INSTANT_HELP, parse_duration_s, parse_instant_ts
from simulator.audience_history import AudienceTargets
from simulator.backfill import BackfillReport, backfill
from simulator.demo_prometheus import DemoPrometheus, prometheus_binary
from simulator.hls_log import HlsLogWriter, demo_data_dir, demo_hls_source
from simulator.hybrid import (
    DEMO_AGORA,
    DEMO_CLOUDFLARE_STREAM,
    DEMO_IVS,
    provider_sources,
    start_demo_providers,
)
from simulator.model import FleetModel
from simulator.providers import ProviderFakes
from simulator.scenarios import WITH_PROVIDERS
from simulator.server import FleetServer, ThreadedFleetServer
from store.engine import make_engine, open_store

HELP = "backfill N days of a simulated fleet, then run the simulator and collectors live"
log = logging.getLogger("collectors.demo")

DEMO_LIVEKIT = "demo-livekit"
DEMO_PROMETHEUS = "demo-prometheus"
# What the demo fleet is (a self-hosted cluster): used when no settings file is given.
DEMO_CONFIG = Path(__file__).resolve().parent / "demo.castmeter.toml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--days", type=float, default=30, help="days of history to backfill (default 30)")
    parser.add_argument(
        "--scenario",
        default="platform-500",
        help="dj-radio | tours | live-shopping | platform-500 (default) | hybrid (also serves Agora, "
        "Cloudflare Stream and IVS APIs; what `make run` shows)",
    )
    parser.add_argument("--nodes", type=int, default=None, help="simulated nodes (default: the scenario's)")
    parser.add_argument("--speed", type=float, default=1.0, help="simulated time runs this many times faster")
    parser.add_argument(
        "--api-port", type=_fixed_port, default=7880, help="the simulated LiveKit API (default 7880)"
    )
    parser.add_argument(
        "--metrics-port", type=int, default=6789, help="first node's metrics port (0: free ports)"
    )
    parser.add_argument(
        "--node-exporter-port", type=int, default=0, help="simulated node_exporters (0: free ports)"
    )
    parser.add_argument(
        "--prometheus-port", type=_fixed_port, default=9090, help="the demo's Prometheus (default 9090)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backfill-only", action="store_true", help="stop after the backfill")
    parser.add_argument(
        "--until",
        default=None,
        help=f"with --backfill-only: end the history at this instant, {INSTANT_HELP} (default: now); "
        "tests pin it so what the history holds does not depend on the time of day",
    )
    parser.add_argument(
        "--ready-file",
        default="data/demo.ready",
        help="written when the backfill is done (scripts wait for it); a line 'live TS' follows "
        "when the live collectors take over",
    )


def _fixed_port(text: str) -> int:
    """A port from 1 to 65535: the collectors' source URLs are written before the fleet and its
    Prometheus bind, so "any free port" (0) cannot be followed (it read "127.0.0.1:0")."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"{port} is not a port from 1 to 65535 (0, any free port, is not supported here)"
        )
    return port


def _bar(stage: str, fraction: float) -> None:
    if not sys.stderr.isatty():
        if fraction >= 1.0:
            log.info("backfill: %s done", stage)
        return
    width = 30
    filled = int(width * fraction)
    sys.stderr.write(f"\r  {stage:<24} [{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%}")
    if fraction >= 1.0:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _demo_settings(
    base: Settings, args: argparse.Namespace, api_secret: str, with_prometheus: bool
) -> Settings:
    livekit = LiveKitSource(
        name=DEMO_LIVEKIT,
        url=f"http://127.0.0.1:{args.api_port}",
        api_key="demo",
        api_secret=api_secret,  # type: ignore[arg-type]
    )
    prometheus = (
        [
            PrometheusSource(
                name=DEMO_PROMETHEUS, url=f"http://127.0.0.1:{args.prometheus_port}", rate_window="1m"
            )
        ]
        if with_prometheus
        else []
    )
    # The HLS origin's access log the simulator writes (simulator/hls_log.py), read back as a source.
    hls_logs = [demo_hls_source(demo_data_dir(base.database.url))]
    return base.model_copy(
        update={"livekit": [livekit], "prometheus": prometheus, "hls_logs": hls_logs, "mode": "demo"}
    )


def _backfill_in_child(
    db_url: str,
    busy_timeout_ms: int,
    scenario: str,
    nodes: int | None,
    seed: int,
    livekit_id: int,
    node_source_id: int,
    end_ts: int,
    days: float,
    log_level: str,
    audience: AudienceTargets,
) -> BackfillReport:
    setup_logging(log_level)
    engine = make_engine(db_url, busy_timeout_ms=busy_timeout_ms)
    try:
        return backfill(
            engine,
            FleetModel(scenario, nodes=nodes, seed=seed),
            livekit_id,
            end_ts=end_ts,
            days=days,
            progress=_bar,
            node_source_id=node_source_id,
            audience=audience,
        )
    finally:
        engine.dispose()


async def _backfill(args: argparse.Namespace, base: Settings, livekit_id: int, node_source_id: int, end_ts: int,
                    days: float, audience: AudienceTargets) -> BackfillReport:  # fmt: skip
    """``days`` of history ending at ``end_ts``, in a child process: the bulk frames' memory goes
    back to the OS when it exits, so the long-running demo stays small."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return await asyncio.wrap_future(pool.submit(
            _backfill_in_child, base.database.url, base.database.busy_timeout_ms, args.scenario, args.nodes,
            args.seed, livekit_id, node_source_id, end_ts, days, args.log_level, audience,
        ))  # fmt: skip


async def _catch_up(
    engine: Engine, model: FleetModel, livekit_id: int, node_source_id: int, from_ts: int, slack_s: float,
    audience: AudienceTargets,
) -> int:  # fmt: skip
    """Backfill from ``from_ts`` up to now, again until less than ``slack_s`` (a collector
    interval) is left: the live collectors then start where the history ends, with no gap."""
    while time.time() - from_ts > slack_s:
        end_ts = int(time.time())
        hours = (end_ts - from_ts) / 3600 + 1
        await asyncio.to_thread(
            backfill, engine, model, livekit_id, end_ts=end_ts, days=hours / 24, minute_days=hours / 24,
            raw_hours=hours, node_source_id=node_source_id, audience=audience,
        )  # fmt: skip
        from_ts = end_ts
    return from_ts


async def _prometheus_window_filled(started_monotonic: float, rate_window_s: float, scrape_s: float) -> None:
    """rate() over a series younger than its window under-reads (Prometheus extrapolates only
    half an interval past the first sample): wait until the simulator has been scraped for a
    whole window before the first live tick."""
    remaining = started_monotonic + rate_window_s + 2 * scrape_s - time.monotonic()
    if remaining > 0:
        log.info("waiting %.0f s for a full rate() window of scrapes", remaining)
        await asyncio.sleep(remaining)


def _audience_targets(engine: Engine, settings: Settings, *, with_providers: bool) -> AudienceTargets:
    """The sources the audience pollers will write under (the same names, so the same ids): the
    demo's HLS origin log always, the fake providers' in the hybrid scenario."""
    hls = settings.hls_logs[0]
    targets = AudienceTargets(
        hls=ensure_source(engine, hls.name, "hls_logs", hls.url), segment_s=hls.segment_s
    )
    if not with_providers:
        return targets
    urls = {  # the live pollers refresh the url with the fakes' port
        kind: next((source.url for source in getattr(settings, kind)), "http://127.0.0.1")
        for kind in ("agora", "cloudflare_stream", "ivs")
    }
    return replace(
        targets,
        agora=ensure_source(engine, DEMO_AGORA, "agora", urls["agora"]),
        cloudflare_stream=ensure_source(
            engine, DEMO_CLOUDFLARE_STREAM, "cloudflare_stream", urls["cloudflare_stream"]
        ),
        ivs=ensure_source(engine, DEMO_IVS, "ivs", urls["ivs"]),
    )


def _use_demo_config(args: argparse.Namespace) -> None:
    """Without --config, $CASTMETER_CONFIG or ./castmeter.toml, read the demo's own settings
    (also where the spend alert reads them: the environment of this process)."""
    if args.config or os.environ.get("CASTMETER_CONFIG") or Path("castmeter.toml").exists():
        return
    args.config = str(DEMO_CONFIG)
    os.environ["CASTMETER_CONFIG"] = str(DEMO_CONFIG)


async def _main(args: argparse.Namespace) -> int:
    if args.until is not None and not args.backfill_only:
        log.error("--until needs --backfill-only: the live fleet starts at the machine's clock")
        return 2
    until_ts = None if args.until is None else parse_instant_ts(args.until, "--until")
    _use_demo_config(args)
    base = settings_from(args)
    engine = open_store(base.database.url, busy_timeout_ms=base.database.busy_timeout_ms)
    # Built before the backfill so an unknown scenario fails at once; it serves the live fleet
    # (the backfill builds its own in a child process, deterministically the same).
    model = FleetModel(args.scenario, nodes=args.nodes, seed=args.seed)
    api_secret = secrets.token_urlsafe(32)
    use_prometheus = prometheus_binary() is not None and not args.backfill_only
    settings = _demo_settings(base, args, api_secret, use_prometheus)
    livekit_id = ensure_source(engine, DEMO_LIVEKIT, "livekit", settings.livekit[0].url)
    node_source_id = (
        ensure_source(engine, DEMO_PROMETHEUS, "prometheus", settings.prometheus[0].url)
        if use_prometheus
        else livekit_id
    )
    ready = Path(args.ready_file)
    ready.unlink(missing_ok=True)

    simulator: FleetServer | None = None
    fleet_thread: ThreadedFleetServer | None = None
    prometheus: DemoPrometheus | None = None
    providers: ProviderFakes | None = None
    simulator_started = time.monotonic()
    if not args.backfill_only:
        # The fleet and its Prometheus start first, so Prometheus holds a full rate() window of
        # scrapes by the time the collectors take over from the backfill (no dip at the seam).
        # On its own thread and loop: scrapes are answered on time while this loop backfills,
        # catches up and runs the collectors (a late answer makes Prometheus' rate() under-read).
        fleet_thread = ThreadedFleetServer(
            model, host="127.0.0.1", api_port=args.api_port, metrics_port=args.metrics_port, api_key="demo",
            api_secret=api_secret, speed=args.speed, node_exporter_port=args.node_exporter_port,
        )  # fmt: skip
        try:
            simulator = await fleet_thread.start_async()
        except OSError as exc:  # a port in use: say which option moves it
            log.error(
                "cannot start the simulated fleet: %s (choose other ports with --api-port / --metrics-port)",
                exc,
            )
            await fleet_thread.stop_async()
            return 1
        simulator_started = time.monotonic()
        if use_prometheus:
            prometheus = DemoPrometheus(
                port=args.prometheus_port,
                scrape_configs=simulator.scrape_configs(),
                workdir=Path(base.database.url.split("///")[-1]).parent / "prometheus"
                if base.database.url.startswith("sqlite")
                else Path("data/prometheus"),
            )
            prometheus.start()
        if args.scenario in WITH_PROVIDERS:  # the Agora -> Cloudflare/IVS path beside the fleet
            providers = await start_demo_providers(args.seed)
            settings = settings.model_copy(update=provider_sources(providers))
            log.info("fake Agora, Cloudflare Stream and IVS APIs at %s", providers.url)
    audience = _audience_targets(engine, settings, with_providers=args.scenario in WITH_PROVIDERS)
    try:
        end_ts = int(time.time()) if until_ts is None else until_ts
        if args.days > 0:
            log.info(
                "backfilling %.0f days of %s into %s",
                args.days,
                args.scenario,
                base.database.url.split("@")[-1],
            )
            report = await _backfill(args, base, livekit_id, node_source_id, end_ts, args.days, audience)
            log.info(
                "backfill done in %.1f s: %s",
                report.duration_s,
                ", ".join(f"{k}={v}" for k, v in report.rows.items()),
            )
        # The history is there: the dashboard may open (`make run` waits for this file). The live
        # collectors follow as soon as Prometheus has a full rate() window of scrapes.
        ready.parent.mkdir(parents=True, exist_ok=True)
        ready.write_text(f"{end_ts}\n")
        if simulator is None:
            return 0
        interval_s = settings.collectors.interval_s
        if prometheus is not None:
            window_s = parse_duration_s(settings.prometheus[0].rate_window, "rate_window")
            await _prometheus_window_filled(simulator_started, window_s, prometheus.scrape_interval_s)
        if args.days > 0:
            # Its own model instance: the simulator's serves requests on its thread meanwhile.
            history = FleetModel(args.scenario, nodes=args.nodes, seed=args.seed)
            end_ts = await _catch_up(
                engine, history, livekit_id, node_source_id, end_ts, interval_s, audience
            )
        return await _run_live(args, settings, engine, model, simulator, prometheus, node_source_id, ready)
    finally:
        if providers is not None:
            await providers.stop()
        if fleet_thread is not None:
            await fleet_thread.stop_async()
        if prometheus is not None:
            prometheus.stop()


async def _run_live(
    args: argparse.Namespace,
    settings: Settings,
    engine: Engine,
    model: FleetModel,
    simulator: FleetServer,
    prometheus: DemoPrometheus | None,
    node_source_id: int,
    ready: Path,
) -> int:
    hooks: list[TickHook] = []
    if prometheus is None:
        log.warning(
            "no `prometheus` binary found: node samples come straight from the simulator's model "
            "(install Debian's prometheus package to scrape the simulated nodes for real)"
        )
        from simulator.model_nodes import model_node_hook

        hooks.append(model_node_hook(model, node_source_id))
    hooks += [HlsLogWriter(model, Path(source.path)).hook() for source in settings.hls_logs]
    alert_hook_list, close_alerts = alert_hooks(settings, engine)
    collector = Collector(settings, engine, hooks=[*hooks, *alert_hook_list])
    metrics = start_metrics(settings, engine, collector, required=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Second line of the ready file: when the live collectors took over from the backfill.
    with ready.open("a", encoding="utf-8") as marker:
        marker.write(f"live {int(time.time())}\n")
    log.info(
        "demo fleet live: LiveKit API %s, node metrics at %s; Ctrl-C stops",
        simulator.api_url,
        ", ".join(simulator.metrics_targets),
    )
    try:
        await collector.run_forever(stop)
    finally:
        close_alerts()
        if metrics is not None:
            metrics.stop()
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_main(args))
