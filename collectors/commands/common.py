"""Options shared by collector subcommands."""

from __future__ import annotations

import argparse

from core.settings import Settings, load_settings


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="castmeter TOML file (default: ./castmeter.toml)")
    parser.add_argument("--db", metavar="URL", help="database URL (overrides the config and CASTMETER_DB_URL)")


def settings_from(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    if getattr(args, "db", None):
        settings = settings.model_copy(
            update={"database": settings.database.model_copy(update={"url": args.db})}
        )
    return settings
