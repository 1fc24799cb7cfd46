"""`castmeter password-hash`: print a bcrypt hash for the dashboard's sign-in (core/password.py)."""

from __future__ import annotations

import argparse

HELP = "print a bcrypt hash of the dashboard password (for CASTMETER_PASSWORD_HASH)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stdin", action="store_true", help="read the password from standard input")


def run(args: argparse.Namespace) -> int:
    from core.password import main

    return main(["--stdin"] if args.stdin else [])
