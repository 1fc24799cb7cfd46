"""Options shared by collector subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from sqlalchemy import Engine

from collectors.runner import TickHook
from core.settings import ConfigError, Settings, load_settings


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="castmeter TOML file (default: ./castmeter.toml)")
    parser.add_argument(
        "--db", metavar="URL", help="database URL (overrides the config and CASTMETER_DB_URL)"
    )


def settings_from(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    if getattr(args, "db", None):
        settings = settings.model_copy(
            update={"database": settings.database.model_copy(update={"url": args.db})}
        )
    return settings


def alert_hooks(settings: Settings, engine: Engine) -> tuple[list[TickHook], Callable[[], None]]:
    """Live alert evaluation as a tick hook (empty when alerting is disabled), and its closer.
    A bad rules file is a configuration error (exit 2), reported before collection starts."""
    from analytics.alerts.rules import RuleError
    from collectors.alerting import evaluator_from_settings

    try:
        evaluator = evaluator_from_settings(engine, settings)
    except RuleError as exc:
        raise ConfigError(f"alerts.rules_file: {exc}") from None
    except FileNotFoundError as exc:
        raise ConfigError(f"alerts.rules_file: not found: {exc.filename}") from None
    if evaluator is None:
        return [], lambda: None

    def evaluate_alerts(_engine: Engine, now_ts: int) -> None:
        evaluator.evaluate(now_ts)

    return [evaluate_alerts], evaluator.close
