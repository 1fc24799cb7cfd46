"""`castmeter dashboard`: serve the Streamlit dashboard from wherever castmeter is installed.

Streamlit reads ``.streamlit/config.toml`` from the working directory, which is the operator's
(their castmeter.toml and data/ live there), not castmeter's. So castmeter's own config file is
passed as command-line options; options after ``--`` come last and win.
"""

from __future__ import annotations

import argparse
import os
import tomllib
from pathlib import Path
from typing import Any

from core.resources import app_root

HELP = "serve the dashboard (Streamlit)"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8501


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="castmeter TOML file (default: $CASTMETER_CONFIG or ./castmeter.toml)",
    )
    parser.add_argument(
        "streamlit_args", nargs=argparse.REMAINDER, help="after --: options passed to `streamlit run`"
    )


def config_options(config_file: Path) -> list[str]:
    """``--section.key value`` for every option in a Streamlit config file."""
    document: dict[str, Any] = tomllib.loads(config_file.read_text(encoding="utf-8"))
    options: list[str] = []
    for section, values in document.items():
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            options += [f"--{section}.{key}", text]
    return options


def streamlit_argv(args: argparse.Namespace) -> list[str]:
    """The ``streamlit run`` arguments: castmeter's app.py, its config, then the caller's."""
    root = app_root()
    config_file = root / ".streamlit" / "config.toml"
    extra = [value for value in (args.streamlit_args or []) if value != "--"]
    return [
        "run",
        str(root / "app.py"),
        *(config_options(config_file) if config_file.is_file() else []),
        "--server.address",
        args.host,
        "--server.port",
        str(args.port),
        *extra,
    ]


def run(args: argparse.Namespace) -> int:
    from streamlit.web import cli as streamlit_cli

    if args.config:
        if not Path(args.config).is_file():
            from core.settings import ConfigError

            raise ConfigError(f"config file not found: {args.config}")
        # The dashboard reads its settings where every castmeter process does.
        os.environ["CASTMETER_CONFIG"] = str(Path(args.config).resolve())
    streamlit_cli.main(args=streamlit_argv(args), prog_name="castmeter dashboard", standalone_mode=True)
    return 0
