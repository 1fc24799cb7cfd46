"""`python -m analytics plan --scenario FILE --json`: price a what-if scenario under every model.

The scenario goes through the capacity planner (analytics/capacity/planner.py), so its planner fields
— ``growth_pct_per_month``, ``target_cpu_pct``, ``server_type``, ``hls_share``,
``peak_listeners_per_stream`` — size the self-hosted fleet and appear in ``plan``. Files written
before those fields existed load with their defaults (70 % CPU, the cheaper server, no HLS, no
growth), for which every model's cost is the cost engine's."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from analytics.capacity.planner import plan
from analytics.capacity.sizing import default_model
from analytics.commands._common import catalogue_for
from analytics.ledger import ScenarioError, ledger_from_scenario, load_scenario
from core.settings import ConfigError, load_settings

PRESETS_DIR = Path(__file__).resolve().parent.parent / "scenarios"
HELP = "price a scenario (YAML) under every provider model, with the capacity planner's sizing"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenario",
        required=True,
        help="scenario YAML (streams, hours_per_day, ...) or a preset: " + ", ".join(sorted(presets())),
    )
    parser.add_argument("--json", action="store_true", help="print JSON (default: a table)")
    parser.add_argument("--config", help="castmeter.toml (for [prices.overrides])")


def presets() -> dict[str, Path]:
    """The seed presets shipped with castmeter (analytics/scenarios/*.yaml), by name."""
    return {path.stem: path for path in sorted(PRESETS_DIR.glob("*.yaml"))}


def scenario_path(value: str) -> Path:
    """A scenario file, or a preset's file when ``value`` names one and no such file exists."""
    path = Path(value)
    if not path.exists() and value in presets():
        return presets()[value]
    return path


def run(args: argparse.Namespace) -> int:
    try:
        scenario = load_scenario(scenario_path(args.scenario))
    except ScenarioError as exc:
        raise ConfigError(str(exc)) from None
    catalogue = catalogue_for(load_settings(args.config))
    planned = plan(scenario, catalogue, default_model(catalogue))
    result = {
        "usage": ledger_from_scenario(scenario).usage_summary(),
        "providers": [provider.as_json() for provider in planned.providers],
        "plan": planned.as_json(),
    }
    print_result(result, as_json=args.json)
    return 0


def print_result(result: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    planned = result.get("plan")  # `analytics costs` prints measured usage: no plan
    if planned is not None:
        print(
            f"{planned['sfu_nodes']} × {planned['server']} SFU node(s), {planned['egress_nodes']} egress "
            f"node(s) at {planned['scenario']['target_cpu_pct']:g} % CPU; "
            f"{planned['sfu_traffic_tb_per_month']:,.2f} TB/month on the SFU"
        )
    for provider in sorted(result["providers"], key=lambda p: p["monthly_usd"]):
        unverified = (
            f"  ({len(provider['unverified_rates'])} unverified rates)"
            if provider.get("unverified_rates")
            else ""
        )
        print(f"{provider['id']:<26} {provider['monthly_usd']:>14,.2f} USD/month{unverified}")
    prices = result.get("prices")  # `analytics costs`: the price periods of the window
    if prices:
        versions = ", ".join(
            f"{p['from']}..{p['to']} (price version {p['price_version']})" for p in prices["periods"]
        )
        print(f"prices in force: {versions}")
        for change in prices["changes"]:
            print(
                f"price change on {change['day']}: {change['rate_id']} {change['old']:g} → {change['new']:g} {change['unit']}"
            )
    for warning in [] if planned is None else planned["warnings"]:
        print(f"note: {warning}")
