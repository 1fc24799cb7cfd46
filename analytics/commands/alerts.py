"""`python -m analytics alerts backtest|export` — replay alert rules on history, export them."""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import nullcontext
from pathlib import Path

from sqlalchemy import Engine

from analytics.alerts.promql import ExportOptions, export_rules
from analytics.alerts.replay import (
    Replay,
    load_frame,
    promtool_cases,
    replay_json,
    replay_rule,
    write_promtool_tests,
)
from analytics.alerts.rules import Rule, RuleError, RuleSet, load_rules
from analytics.alerts.spend import RUN_RATE_NOTE
from core.cli import EXIT_CONFIG_ERROR
from core.resources import data_path
from core.settings import ConfigError, load_settings
from core.timeargs import (
    add_window_arguments,
    is_duration,
    now_ts,
    parse_duration_s,
    parse_instant_ts,
    parse_since_ts,
)
from store.engine import make_engine
from store.queries.alert_series import series_reader

HELP = "alert threshold review: backtest rules on history, export Prometheus rules"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--rules", required=True, help="the YAML rules file")
    common.add_argument("--rule", action="append", default=[], help="only this rule (repeatable)")
    add_window_arguments(common, since_default="30d", since_help="how far back to replay")
    common.add_argument("--series", default=None, help="replay a CSV ts,target,value instead of the store")
    common.add_argument("--db", default=None, help="database URL (default: from the settings)")
    common.add_argument("--config", default=None, help="castmeter TOML settings file")

    backtest = sub.add_parser("backtest", parents=[common], help="replay rules on stored history or a CSV")
    backtest.add_argument("--json", action="store_true", help="print JSON")
    backtest.add_argument(
        "--target-per-week", type=float, default=None, help="suggest a threshold for this many alerts/week"
    )
    backtest.add_argument(
        "--candidates", default="", help="comma-separated thresholds to compare side by side"
    )
    backtest.add_argument("--no-episodes", action="store_true", help="summaries only")

    export = sub.add_parser("export", parents=[common], help="write Prometheus alerting rules")
    export.add_argument("--format", choices=["prometheus"], default="prometheus")
    export.add_argument("--output", "-o", default=None, help="rules file to write (default: stdout)")
    export.add_argument(
        "--tests", default=None, help="also write a `promtool test rules` file (needs --output)"
    )
    export.add_argument("--rate-window", default="1m", help="rate() window for counters")
    export.add_argument(
        "--livekit-job", default="livekit", help="job label of the LiveKit scrape (node down)"
    )
    export.add_argument(
        "--castmeter-job", default="castmeter", help="job label of the scrape of castmeter's own /metrics"
    )
    export.add_argument(
        "--no-health-rules", action="store_true", help="leave out the rules on castmeter's own health"
    )
    export.add_argument("--max-steps", type=int, default=480, help="evaluations per generated test case")
    export.add_argument("--max-targets", type=int, default=2, help="targets per rule in generated tests")
    export.add_argument("--include-disabled", action="store_true")


def _selected(ruleset: RuleSet, names: list[str], *, include_disabled: bool) -> list[Rule]:
    if names:
        try:
            return [ruleset.get(name) for name in names]
        except KeyError as exc:
            raise RuleError(f"--rule: no rule named {exc.args[0]!r} in the rules file") from None
    return list(ruleset.rules if include_disabled else ruleset.enabled())


def _engine(args: argparse.Namespace) -> Engine:
    url = args.db or load_settings(args.config).database.url
    if args.config:
        # The spend rule prices with the settings' overrides and current model, read where
        # castmeter reads its settings: make that this file for the rest of this command.
        os.environ["CASTMETER_CONFIG"] = args.config
    return make_engine(url, read_only=True)


def _until_ts(args: argparse.Namespace) -> int | None:
    """The range's end: --until, else --now, else (a CSV) its last sample, else the clock."""
    if args.until:
        return parse_instant_ts(args.until, "--until", end_of_day=True)
    if args.now or not args.series:
        return now_ts(args)
    return None


def _since(args: argparse.Namespace, until_ts: int | None) -> int | tuple[str, int]:
    """A duration (seconds back from the end) or an instant: ``("at", ts)``."""
    if is_duration(args.since):
        seconds = parse_duration_s(args.since, "--since")
        if seconds <= 0:
            raise ConfigError("--since: must be longer than 0s")
        return seconds
    start_ts = parse_since_ts(args.since, until_ts or 0)
    if until_ts is not None and start_ts >= until_ts:
        raise ConfigError(f"--since ({args.since}) is not before --until")
    return ("at", start_ts)


def _replays(
    args: argparse.Namespace,
    ruleset: RuleSet,
    rules: list[Rule],
    *,
    target_per_week: float | None = None,
    candidates: list[float] | None = None,
) -> list[Replay]:
    until_ts = _until_ts(args)
    engine = None if args.series else _engine(args)
    replays = []
    try:
        for rule in rules:
            with series_reader(engine) if engine is not None else nullcontext() as reader:
                frame, start_ts, end_ts = load_frame(
                    rule,
                    reader=reader,
                    series_csv=args.series,
                    since=_since(args, until_ts),
                    until_ts=until_ts,
                    lookback_s=ruleset.lookback_s,
                )
            replays.append(
                replay_rule(
                    rule,
                    ruleset,
                    frame,
                    start_ts,
                    end_ts,
                    target_per_week=target_per_week,
                    candidates=candidates or [],
                )
            )
    finally:
        if engine is not None:
            engine.dispose()
    return replays


def _run_backtest(args: argparse.Namespace, ruleset: RuleSet) -> int:
    rules = _selected(ruleset, args.rule, include_disabled=bool(args.rule))
    try:
        candidates = [float(x) for x in args.candidates.split(",") if x.strip()]
    except ValueError:
        raise RuleError("--candidates: expected comma-separated numbers") from None
    replays = _replays(args, ruleset, rules, target_per_week=args.target_per_week, candidates=candidates)
    notes = [RUN_RATE_NOTE] if any(r.rule.metric == "spend_run_rate_pct" for r in replays) else []
    if args.json:
        document = {
            "source": args.series or "store",
            "rules": [replay_json(r, with_episodes=not args.no_episodes) for r in replays],
            "notes": notes,
        }
        json.dump(document, sys.stdout, indent=2, default=_json_default)
        print()
        return 0
    for replay in replays:
        s = replay.result.summary()
        print(
            f"{s['rule']:<20} {s['episodes']:>5} episodes  {s['alerts_per_week']:>8.2f}/week  "
            f"{s['time_in_alert_pct']:>7.3f}% in alert  {s['flapping']:>4} flapping  {s['targets']:>4} targets"
        )
        if replay.suggestion is not None and replay.suggestion.threshold is not None:
            print(
                f"  suggested threshold {replay.suggestion.threshold:g} → {replay.suggestion.alerts_per_week:.2f}/week"
            )
        for candidate in replay.candidates:
            c = candidate.summary()
            print(f"  at {c['threshold']:g}: {c['episodes']} episodes, {c['alerts_per_week']:.2f}/week")
    for note in notes:
        print(f"note: {note}")
    return 0


def _json_default(value: object) -> object:
    if hasattr(value, "item"):
        return value.item()  # numpy scalars
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _run_export(args: argparse.Namespace, ruleset: RuleSet) -> int:
    if args.rule:
        ruleset = RuleSet(
            tuple(_selected(ruleset, args.rule, include_disabled=True)),
            ruleset.evaluation_interval_s,
            ruleset.lookback_s,
        )
    options = ExportOptions(
        rate_window=args.rate_window,
        livekit_job=args.livekit_job,
        health_rules=not args.no_health_rules,
        castmeter_job=args.castmeter_job,
    )
    exported = export_rules(ruleset, options, include_disabled=args.include_disabled or bool(args.rule))
    for name, reason in exported.skipped:
        print(f"warning: rule {name!r} not exported: {reason}", file=sys.stderr)
    if exported.on_castmeter_series:
        print(
            f"note: {', '.join(exported.on_castmeter_series)} read castmeter's own series "
            "(castmeter_relay_down, castmeter_hls_bucket_*): Prometheus must scrape castmeter's collectors",
            file=sys.stderr,
        )
    if args.output:
        Path(args.output).write_text(exported.text, encoding="utf-8")
    else:
        sys.stdout.write(exported.text)
    if args.tests:
        if not args.output:
            raise RuleError("--tests needs --output (the test file refers to the rules file)")
        exportable = [ruleset.get(name) for name in exported.exported]
        replays = _replays(args, ruleset, exportable)
        cases = promtool_cases(replays, ruleset, max_steps=args.max_steps, max_targets=args.max_targets)
        if not cases:
            print("warning: no data to build promtool tests from; test file has no cases", file=sys.stderr)
        write_promtool_tests(args.tests, args.output, ruleset, cases)
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        ruleset = load_rules(data_path(args.rules))
        if args.alerts_command == "backtest":
            return _run_backtest(args, ruleset)
        return _run_export(args, ruleset)
    except (RuleError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
