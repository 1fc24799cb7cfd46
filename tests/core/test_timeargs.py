"""The one time grammar of every command line (core/timeargs.py), with hand-written answers."""

from __future__ import annotations

import argparse
from datetime import date

import pytest

from core.settings import ConfigError
from core.timeargs import (
    add_window_arguments,
    day_window_from,
    parse_duration_s,
    parse_instant_ts,
    window_from,
)

# 2026-11-20 12:00:00 UTC: 1970..2025 are 56 years with 14 leap days (1972..2024) = 20 454 days,
# plus 304 days of January..October 2026 and 19 of November = 20 777 days, × 86 400 s, + 12 h.
NOV20_NOON_TS = 20_777 * 86_400 + 43_200


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h30m", 5_400), ("30d", 2_592_000), ("2w", 1_209_600), ("1w2d", 777_600),
     ("1d12h", 129_600), (" 12H ", 43_200)],
)  # fmt: skip
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("text", ["", "d", "30", "1.5h", "30m1h", "-2d", "soon", "1y"])
def test_bad_durations_name_the_option(text: str) -> None:
    with pytest.raises(ConfigError, match="--since"):
        parse_duration_s(text, "--since")


def test_instants() -> None:
    assert NOV20_NOON_TS == 1_795_176_000
    assert parse_instant_ts("2026-11-20T12:00:00Z", "--now") == NOV20_NOON_TS
    assert parse_instant_ts("2026-11-20T12:00", "--now") == NOV20_NOON_TS  # naive = UTC
    assert parse_instant_ts("2026-11-20T13:00:00+01:00", "--now") == NOV20_NOON_TS
    assert parse_instant_ts("1795176000", "--now") == NOV20_NOON_TS
    assert parse_instant_ts("2026-11-20", "--until") == NOV20_NOON_TS - 43_200
    assert parse_instant_ts("2026-11-20", "--until", end_of_day=True) == NOV20_NOON_TS + 43_200
    with pytest.raises(ConfigError, match="--now"):
        parse_instant_ts("yesterday", "--now")


def _args(*argv: str, since_default: str | None = "30d") -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_window_arguments(parser, since_default=since_default)
    return parser.parse_args(list(argv))


def test_window_is_pinned_by_now() -> None:
    window = window_from(_args("--since", "1h30m", "--now", "2026-11-20T12:00:00Z"))
    assert (window.start_ts, window.end_ts, window.now_ts) == (
        NOV20_NOON_TS - 5_400,
        NOV20_NOON_TS,
        NOV20_NOON_TS,
    )


def test_until_date_includes_the_day_and_since_date_starts_it() -> None:
    window = window_from(_args("--since", "2026-11-01", "--until", "2026-11-30", "--now", "2026-12-31"))
    assert window.first_day == date(2026, 11, 1) and window.last_day == date(2026, 11, 30)
    assert window.end_ts - window.start_ts == 30 * 86_400


def test_day_windows_for_billing() -> None:
    # 30d ending with the --now day includes it: 2026-10-22 .. 2026-11-20 (10 October days + 20).
    assert day_window_from(_args("--now", "2026-11-20T12:00:00Z"))[:2] == (
        date(2026, 10, 22),
        date(2026, 11, 20),
    )
    assert day_window_from(_args("--since", "2026-11-18", "--until", "2026-11-20", "--now", "2027-01-01"))[
        :2
    ] == (
        date(2026, 11, 18),
        date(2026, 11, 20),
    )
    with pytest.raises(ConfigError, match="after --until"):
        day_window_from(_args("--since", "2026-11-21", "--until", "2026-11-20"))


def test_since_must_precede_until() -> None:
    with pytest.raises(ConfigError, match="not before"):
        window_from(_args("--since", "2026-12-01", "--until", "2026-11-01"))


# Every command that reads a window, with the arguments it needs besides the window.
WINDOWED_COMMANDS = [
    ("analytics.commands.costs", []),
    ("analytics.commands.capacity", []),
    ("analytics.commands.billing", []),
    ("analytics.commands.alerts", ["backtest", "--rules", "rules.yaml"]),
    ("analytics.commands.alerts", ["export", "--rules", "rules.yaml"]),
]


@pytest.mark.parametrize(("module", "extra"), WINDOWED_COMMANDS)
def test_every_windowed_command_shares_the_grammar(module: str, extra: list[str]) -> None:
    import importlib

    parser = argparse.ArgumentParser()
    importlib.import_module(module).add_arguments(parser)
    args = parser.parse_args(
        [*extra, "--since", "1h30m", "--until", "2026-11-20T12:00Z", "--now", "1795176000"]
    )
    window = window_from(args)
    assert (window.start_ts, window.end_ts, window.now_ts) == (
        NOV20_NOON_TS - 5_400,
        NOV20_NOON_TS,
        NOV20_NOON_TS,
    )
    bad = parser.parse_args([*extra, "--since", "thirty"])
    with pytest.raises(ConfigError, match="--since: 'thirty' is neither a duration"):
        window_from(bad)


def test_the_collectors_billing_command_takes_now_and_since() -> None:
    from collectors.commands import billing

    parser = argparse.ArgumentParser()
    billing.add_arguments(parser)
    args = parser.parse_args(["--once", "--since", "2d", "--now", "2026-11-20T12:00:00Z"])
    assert day_window_from(args)[:2] == (date(2026, 11, 19), date(2026, 11, 20))
