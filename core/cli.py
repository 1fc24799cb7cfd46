"""Shared CLI plumbing: subcommands as modules, config errors exit 2, secrets redacted."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Protocol

from core.logs import setup_logging
from core.settings import ConfigError

EXIT_CONFIG_ERROR = 2


class Command(Protocol):
    """A subcommand module: ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``."""

    HELP: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def main(prog: str, package: str, commands: Sequence[str], argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules: dict[str, Command] = {}
    for name in commands:
        module: Command = importlib.import_module(f"{package}.{name.replace('-', '_')}")
        modules[name] = module
        module.add_arguments(sub.add_parser(name, help=module.HELP, description=module.HELP))
    args = parser.parse_args(argv)
    return run_command(prog, modules[args.command], args)


def run_command(prog: str, module: Command, args: argparse.Namespace) -> int:
    """Run a parsed subcommand: logging set up, a configuration error is exit 2 with one line."""
    setup_logging(args.log_level)
    try:
        return module.run(args)
    except ConfigError as exc:
        logging.getLogger(prog).error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    except KeyboardInterrupt:
        return 130
