"""`python -m core.password`: print a bcrypt hash for the dashboard password.

Put the output in the environment (``CASTMETER_PASSWORD_HASH``) or in
``.streamlit/secrets.toml`` (``[castmeter] password_hash = "..."``); never the password.
``--stdin`` reads the password from standard input (for scripts) instead of prompting.
"""

from __future__ import annotations

import argparse
import getpass
import sys

import bcrypt

MIN_LENGTH = 8
ROUNDS = 12


def hash_password(password: str, rounds: int = ROUNDS) -> str:
    if len(password) < MIN_LENGTH:
        raise ValueError(f"the password must have at least {MIN_LENGTH} characters")
    if len(password.encode("utf-8")) > 72:
        raise ValueError("the password must be at most 72 bytes (bcrypt's limit)")
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.password", description=__doc__.splitlines()[0])
    parser.add_argument("--stdin", action="store_true", help="read the password from standard input")
    args = parser.parse_args(argv)
    if args.stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Dashboard password: ")
        if getpass.getpass("Again: ") != password:
            print("the passwords differ", file=sys.stderr)
            return 2
    try:
        print(hash_password(password))
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
