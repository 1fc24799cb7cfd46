"""`python -m analytics plan --scenario FILE --json`: price a what-if scenario under every model."""

from __future__ import annotations

import argparse
import json
import sys

from analytics.commands._common import catalogue_for
from analytics.costs import costs_json
from analytics.ledger import ScenarioError, ledger_from_scenario, load_scenario
from core.settings import ConfigError, load_settings

HELP = "price a scenario (YAML) under every provider model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", required=True, help="scenario YAML (streams, hours_per_day, ...)")
    parser.add_argument("--json", action="store_true", help="print JSON (default: a table)")
    parser.add_argument("--config", help="castmeter.toml (for [prices.overrides])")


def run(args: argparse.Namespace) -> int:
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as exc:
        raise ConfigError(str(exc)) from None
    catalogue = catalogue_for(load_settings(args.config))
    result = costs_json(ledger_from_scenario(scenario), catalogue)
    print_result(result, as_json=args.json)
    return 0


def print_result(result: dict[str, object], *, as_json: bool) -> None:
    if as_json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    providers = result["providers"]
    assert isinstance(providers, list)
    for provider in sorted(providers, key=lambda p: p["monthly_usd"]):
        print(f"{provider['id']:<26} {provider['monthly_usd']:>14,.2f} USD/month")
