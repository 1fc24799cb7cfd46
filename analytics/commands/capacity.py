"""`python -m analytics capacity --json`: calibrate the capacity model on the stored fleet's
node samples and forecast headroom; with ``--scenario FILE`` also plan that scenario."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from analytics.capacity.planner import plan
from analytics.capacity.report import fleet_capacity, fleet_node_vcpus
from analytics.commands._common import catalogue_for
from analytics.ledger import ScenarioError, load_scenario
from core.settings import ConfigError, load_settings
from core.timeargs import add_window_arguments, window_from
from store.engine import make_engine
from store.queries.nodes import node_load

HELP = "calibrate the capacity model on the stored fleet and forecast when to add a node"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_window_arguments(parser, since_default="30d", since_help="history to fit and trend")
    parser.add_argument("--db", help="database URL (default: [database].url from the config)")
    parser.add_argument("--config", help="castmeter.toml (for [prices.overrides] and node sizes)")
    parser.add_argument("--source-id", type=int, default=None, help="only this source")
    parser.add_argument(
        "--node-vcpus", type=float, default=None, help="vCPUs of the fleet's nodes (CPU %% → cores)"
    )
    parser.add_argument("--target-cpu", type=float, default=70.0, help="target CPU %% per node (default 70)")
    parser.add_argument(
        "--port-mbps", type=float, default=None, help="node port speed (default: the catalogue's CX33)"
    )
    parser.add_argument("--scenario", default=None, help="also plan this scenario YAML with the model in use")
    parser.add_argument("--json", action="store_true", help="print JSON (default: a summary)")


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    catalogue = catalogue_for(settings)
    if not 10 <= args.target_cpu <= 95:
        raise ConfigError("--target-cpu: must be between 10 and 95")
    if args.node_vcpus is not None and args.node_vcpus <= 0:
        raise ConfigError("--node-vcpus: must be above 0")
    if args.port_mbps is not None and args.port_mbps <= 0:
        raise ConfigError("--port-mbps: must be above 0")
    scenario = None
    if args.scenario:
        try:
            scenario = load_scenario(args.scenario)
        except ScenarioError as exc:
            raise ConfigError(str(exc)) from None
    vcpus, vcpus_source = fleet_node_vcpus(settings)
    if args.node_vcpus is not None:
        vcpus, vcpus_source = args.node_vcpus, "--node-vcpus"
    window = window_from(args)
    engine = make_engine(args.db or settings.database.url, read_only=True)
    try:
        load = node_load(engine, window.start_ts, window.end_ts, args.source_id)
    finally:
        engine.dispose()
    fleet = fleet_capacity(
        load, catalogue, since_ts=window.start_ts, until_ts=window.end_ts, node_vcpus=vcpus,
        node_vcpus_source=vcpus_source, target_cpu_pct=args.target_cpu, port_mbps=args.port_mbps,
    )  # fmt: skip
    document: dict[str, Any] = fleet.as_json()
    if scenario is not None:
        document["plan"] = plan(scenario, catalogue, fleet.in_use).as_json()
    if args.json:
        json.dump(document, sys.stdout, indent=2, default=_json_default)
        sys.stdout.write("\n")
        return 0
    print(f"calibration: {fleet.calibration.message}")
    in_use = fleet.in_use
    print(
        f"model in use ({in_use.source}): {in_use.cores_per_subscribed_track:.6f} cores per subscribed track, "
        f"{in_use.cores_per_published_track:.6f} per published track, {in_use.base_cores:.3f} idle per node"
    )
    print(f"forecast: {fleet.headroom.recommendation}")
    if scenario is not None:
        p = document["plan"]
        print(
            f"plan {scenario.name or args.scenario}: {p['sfu_nodes']} × {p['server']} SFU, {p['egress_nodes']} egress"
        )
    return 0


def _json_default(value: object) -> object:
    if hasattr(value, "item"):
        return value.item()  # numpy scalars
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
