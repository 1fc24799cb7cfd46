"""``python -m simulator --scenario NAME`` — a fake LiveKit fleet on the real wire protocols.

The API secret comes from ``LIVEKIT_API_SECRET`` or ``--api-secret-file PATH`` (never the
command line, which every user of the machine can read with ``ps``); without either, the
development secret."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from core.logs import setup_logging
from simulator.model import FleetModel
from simulator.scenarios import SCENARIOS
from simulator.server import DEV_API_KEY, DEV_API_SECRET, FleetServer

SECRET_ENV = "LIVEKIT_API_SECRET"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="simulator", description=__doc__)
    fleet = parser.add_mutually_exclusive_group(required=True)
    fleet.add_argument("--scenario", choices=sorted(SCENARIOS))
    fleet.add_argument("--script", metavar="FILE", help="a scripted fleet (simulator/scripted.py) instead")
    parser.add_argument("--api-port", type=int, default=7880, help="Twirp API port (0 = any free port)")
    parser.add_argument("--metrics-port", type=int, default=6789,
                        help="node i serves Prometheus metrics on this port + i (0 = free ports)")  # fmt: skip
    parser.add_argument("--node-exporter-port", type=int, default=0,
                        help="node i serves node_exporter host metrics on this port + i (default 0 = free ports)")  # fmt: skip
    parser.add_argument("--nodes", type=int, default=None, help="number of nodes (default: the scenario's)")
    parser.add_argument("--speed", type=float, default=1.0, help="run the fleet this many times faster")
    parser.add_argument("--api-key", default=DEV_API_KEY)
    parser.add_argument("--api-secret-file", type=Path, default=None,
                        help=f"a file holding the API secret (default: ${SECRET_ENV}, else the development secret)")  # fmt: skip
    parser.add_argument("--api-secret", help=argparse.SUPPRESS)  # refused below, with the reason
    parser.add_argument(
        "--no-redis", action="store_true", help="answer ListEgress/ListIngress like a server without Redis"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--sim-start",
        type=float,
        default=None,
        help="model Unix time the fleet shows at startup (default: now), e.g. a busy evening",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    if args.api_secret is not None:
        parser.error(
            f"--api-secret would show the secret to anyone running ps; use ${SECRET_ENV} or --api-secret-file"
        )
    args.api_secret = _api_secret(parser, args.api_secret_file)
    if args.speed <= 0:
        parser.error("--speed must be > 0")
    if args.nodes is not None and args.nodes < 1:
        parser.error("--nodes must be >= 1")
    if args.seed < 0:
        parser.error("--seed must be >= 0")
    return args


def _api_secret(parser: argparse.ArgumentParser, path: Path | None) -> str:
    if path is not None:
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            parser.error(f"--api-secret-file: {exc.strerror}: {path}")
        if not secret:
            parser.error(f"--api-secret-file: {path} is empty")
        return secret
    return os.environ.get(SECRET_ENV, "").strip() or DEV_API_SECRET


def _model(args: argparse.Namespace) -> FleetModel:
    if args.script:
        from simulator.scripted import ScriptedFleet, load_script

        return ScriptedFleet(load_script(args.script))
    return FleetModel(args.scenario, nodes=args.nodes, seed=args.seed)


async def _run(args: argparse.Namespace) -> None:
    model = _model(args)
    server = FleetServer(
        model,
        args.host,
        args.api_port,
        args.metrics_port,
        args.api_key,
        args.api_secret,
        args.speed,
        args.no_redis,
        sim_start=args.sim_start,
        node_exporter_port=args.node_exporter_port,
    )
    await server.start()
    # One machine-readable line for whoever started us (tests, bench/tick.py).
    shown = "" if args.sim_start is None else f" sim_start={int(args.sim_start)}"
    print(
        f"READY api={server.api_url} metrics={','.join(server.metrics_targets)} "
        f"node_exporter={','.join(server.node_exporter_targets)}{shown}",
        flush=True,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.log_level)
    if args.script:
        from simulator.scripted import ScriptError, load_script

        try:
            load_script(args.script)
        except ScriptError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    try:
        asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
