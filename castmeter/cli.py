"""The ``castmeter`` command: one entry point over the collectors', the analytics' and the
dashboard's subcommands (``python -m collectors …`` and ``python -m analytics …`` keep working;
both run the same modules).

Only the chosen subcommand's module is imported, so ``castmeter --help`` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from core.cli import Command, run_command

PROG = "castmeter"


@dataclass(frozen=True)
class Subcommand:
    name: str
    module: str  # exposes HELP, add_arguments(parser) and run(args) (core.cli.Command)
    summary: str  # the line in `castmeter --help`
    examples: str


SUBCOMMANDS: tuple[Subcommand, ...] = (
    Subcommand(
        "run",
        "collectors.commands.run",
        "poll every configured LiveKit and Prometheus source into the database (the collector service)",
        """\
  castmeter run --config /etc/castmeter/castmeter.toml
  castmeter run --once                      # one tick of every source, then exit (prints JSON)
  CASTMETER_DB_URL=postgresql+psycopg://castmeter_collector@db/castmeter castmeter run
Serves castmeter's own metrics on http://127.0.0.1:9465/metrics ([metrics] in the config).""",
    ),
    Subcommand(
        "demo",
        "simulator.demo",
        "backfill a simulated fleet's history, then run the simulator and the collectors live",
        """\
  castmeter demo --days 7                   # 7 days of history, then live (Ctrl-C stops)
  castmeter demo --days 1 --backfill-only --db sqlite:///demo.db
  castmeter demo --scenario dj-radio --days 2 --speed 10""",
    ),
    Subcommand(
        "dashboard",
        "castmeter.dashboard",
        "serve the dashboard (Streamlit) on http://127.0.0.1:8501",
        """\
  castmeter dashboard                       # http://127.0.0.1:8501
  castmeter dashboard --host 0.0.0.0 --port 8080 --config /etc/castmeter/castmeter.toml
  castmeter dashboard -- --server.baseUrlPath castmeter   # any streamlit option after --""",
    ),
    Subcommand(
        "password-hash",
        "castmeter.password",
        "print a bcrypt hash of the dashboard's sign-in password (never the password itself)",
        """\
  castmeter password-hash                   # prompts twice; put the output in CASTMETER_PASSWORD_HASH
  printf '%s\\n' "$PASSWORD" | castmeter password-hash --stdin""",
    ),
    Subcommand(
        "costs",
        "analytics.commands.costs",
        "price the measured usage in the store under every provider model",
        """\
  castmeter costs --since 30d
  castmeter costs --since 7d --json --db sqlite:///data/castmeter.db""",
    ),
    Subcommand(
        "plan",
        "analytics.commands.plan",
        "price a what-if scenario (YAML) under every provider model, with server sizing",
        """\
  castmeter plan --scenario dj-radio        # a preset (dj-radio, tours, live-shopping, platform-500)
  castmeter plan --scenario my-scenario.yaml --json""",
    ),
    Subcommand(
        "alerts",
        "analytics.commands.alerts",
        "replay alert rules on the stored history; export them as Prometheus rules",
        """\
  castmeter alerts backtest --rules rules/castmeter.rules.example.yaml --since 30d
  castmeter alerts backtest --rules my.rules.yaml --rule HighCPU --candidates 75,85 --json
  castmeter alerts export --rules my.rules.yaml -o castmeter.rules.yml   # + castmeter's own health rules
  castmeter alerts export --rules my.rules.yaml -o rules.yml --tests rules.test.yml""",
    ),
    Subcommand(
        "billing",
        "analytics.commands.billing",
        "reconcile what the providers billed with the cost model (after `castmeter fetch-billing`)",
        """\
  castmeter billing --since 2026-11-01
  castmeter billing --since 2026-11-01 --until 2026-11-30 --json""",
    ),
    Subcommand(
        "fetch-billing",
        "collectors.commands.billing",
        "fetch usage and billing from the providers' APIs (LiveKit Cloud, Agora, Cloudflare, AWS, Hetzner)",
        """\
  castmeter fetch-billing --once            # fetch since the last complete day, then exit
  castmeter fetch-billing --once --since 2026-10-01 --json
(`castmeter run` also fetches billing once a day.)""",
    ),
    Subcommand(
        "capacity",
        "analytics.commands.capacity",
        "calibrate the capacity model on the stored fleet and forecast when to add a node",
        """\
  castmeter capacity --since 30d
  castmeter capacity --since 14d --target-cpu 60 --json""",
    ),
    Subcommand(
        "prices",
        "analytics.commands.prices",
        "the price catalogue: audit stale, unverified, single-source and disputed rates",
        """\
  castmeter prices audit --older-than 180d
  castmeter prices audit --as-of 2026-12-01 --json""",
    ),
    Subcommand(
        "seed-check",
        "analytics.commands.seed_check",
        "recompute the seed documents' cost claims (docs/seed-check.md and the README table)",
        """\
  castmeter seed-check
  castmeter seed-check --as-of 2026-12-01 --out /tmp/seed-check.md""",
    ),
)

DESCRIPTION = """\
castmeter: monitoring and cost analytics for LiveKit streaming fleets.

Services: `castmeter run` (the collectors) and `castmeter dashboard`; or `castmeter demo` for a
simulated fleet. Everything else reads the store or a scenario and prints a report."""

EPILOG = """\
Examples:
  castmeter demo --days 7 & castmeter dashboard     # try it on a simulated fleet
  castmeter run --config castmeter.toml             # collect from your fleet
  castmeter costs --since 30d                       # what it cost, on every provider
  castmeter COMMAND --help                          # each command's options and examples

Settings: --config FILE, else $CASTMETER_CONFIG, else ./castmeter.toml (see castmeter.example.toml)."""


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=28)


def build_parser(chosen: str | None) -> tuple[argparse.ArgumentParser, Command | None]:
    """The parser with every subcommand listed; only ``chosen``'s module is imported and
    contributes its options (the others' would only be needed to run them)."""
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, epilog=EPILOG, formatter_class=_formatter
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    module: Command | None = None
    for command in SUBCOMMANDS:
        child = sub.add_parser(
            command.name,
            help=command.summary,
            description=command.summary,
            epilog=f"Examples:\n{command.examples}",
            formatter_class=_formatter,
        )
        if command.name == chosen:
            module = importlib.import_module(command.module)
            module.add_arguments(child)
    return parser, module


def _version() -> str:
    import castmeter

    return str(castmeter.__version__)


def _chosen(argv: Sequence[str]) -> str | None:
    names = {command.name for command in SUBCOMMANDS}
    for value in argv:
        if value in names:
            return value
        if not value.startswith("-") and value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            return None  # an unknown command: argparse says so
    return None


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser, module = build_parser(_chosen(arguments))
    args = parser.parse_args(arguments)
    assert module is not None  # argparse exits on a missing or unknown command
    return run_command(PROG, module, args)


if __name__ == "__main__":
    sys.exit(main())
