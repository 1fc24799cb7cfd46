"""Options shared by collector subcommands."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable

from sqlalchemy import Engine

from analytics.alerts.rules import RuleError
from collectors import self_metrics
from collectors.alerting import evaluator_from_settings
from collectors.alertmanager import forwarder_from_settings
from collectors.runner import Collector, TickHook
from collectors.self_metrics import MetricsServer, serve_metrics
from core.settings import ConfigError, Settings, load_settings
from store.queries.alerts import active_counts

log = logging.getLogger(__name__)


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


def start_metrics(
    settings: Settings, engine: Engine, collector: Collector, *, required: bool
) -> MetricsServer | None:
    """castmeter's own /metrics ([metrics]); None when disabled. An address that cannot be
    bound is a configuration error when ``required`` (``castmeter run``), else a warning."""
    sources = [(source.poller.name, source.health.source_id) for source in collector.of_kind("livekit")]
    try:
        return serve_metrics(settings, engine, sources)
    except OSError as exc:
        where = f"{settings.metrics.host}:{settings.metrics.port}"
        if required:
            raise ConfigError(
                f"metrics.port: cannot serve /metrics on {where}: {exc.strerror or exc}"
            ) from None
        log.warning("castmeter's own metrics not served (%s: %s)", where, exc.strerror or exc)
        return None


def alert_hooks(settings: Settings, engine: Engine) -> tuple[list[TickHook], Callable[[], None]]:
    """Live alert evaluation as a tick hook (empty when alerting is disabled), and its closer.
    A bad rules file is a configuration error (exit 2), reported before collection starts."""
    try:
        evaluator = evaluator_from_settings(engine, settings)
    except RuleError as exc:
        raise ConfigError(f"alerts.rules_file: {exc}") from None
    except FileNotFoundError as exc:
        raise ConfigError(f"alerts.rules_file: not found: {exc.filename}") from None
    if evaluator is None:
        return [], lambda: None

    def evaluate_alerts(_engine: Engine, now_ts: int) -> None:
        # The evaluator runs at its own interval and skips the ticks in between: only a pass
        # that evaluated (its last evaluation time moved) counts as an evaluation.
        before = getattr(evaluator, "_last_eval_ts", None)
        try:
            evaluator.evaluate(now_ts)
        except Exception:
            self_metrics.observe_alert_evaluation(False)
            raise
        if getattr(evaluator, "_last_eval_ts", None) != before:
            with engine.connect() as connection:
                self_metrics.observe_alert_evaluation(True, active_counts(connection))

    # Alertmanager ([alerts.alertmanager] urls): right after each evaluation, from the store's
    # alert state (collectors/alertmanager.py).
    forwarder = forwarder_from_settings(engine, evaluator.rules, settings)
    if forwarder is None:
        return [evaluate_alerts], evaluator.close

    def close() -> None:
        evaluator.close()
        forwarder.close()

    return [evaluate_alerts, forwarder], close
