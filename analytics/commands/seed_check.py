"""`python -m analytics seed-check`: recompute the seeds' cost claims, write docs/seed-check.md and
the README's table of the seed presets. Both are priced on one day — by default the catalogue's
last check — so the same catalogue and code give the same files, byte for byte."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from analytics.commands._common import catalogue_for
from analytics.ledger import load_scenario
from analytics.seedcheck import README_PRESETS, check, readme_block, render_markdown, replace_readme_block
from core.settings import ConfigError, load_settings

HELP = "recompute the seed documents' cost claims from the catalogue (writes docs/seed-check.md and README's table)"
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "docs" / "seed-check.md"
DEFAULT_README = ROOT / "README.md"
SCENARIO_DIR = ROOT / "analytics" / "scenarios"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output Markdown file")
    parser.add_argument("--readme", type=Path, default=DEFAULT_README,
                        help="README whose prices:begin/prices:end block is rewritten ('-' for none)")  # fmt: skip
    parser.add_argument("--as-of", help="price on this day, YYYY-MM-DD (default: the catalogue's last check)")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when a file is not up to date"
    )
    parser.add_argument("--config", help="castmeter.toml (for [prices.overrides])")


def generated(catalogue_as_of: dt.date | None, settings: object | None) -> tuple[str, str]:
    """(seed-check Markdown, README block) for the settings' overrides on the given day."""
    catalogue = catalogue_for(settings)
    catalogue = catalogue.at(catalogue_as_of or catalogue.last_checked)
    scenarios = {name: load_scenario(SCENARIO_DIR / f"{name}.yaml") for name in README_PRESETS}
    return render_markdown(catalogue), readme_block(catalogue, scenarios)


def run(args: argparse.Namespace) -> int:
    try:
        as_of = dt.date.fromisoformat(args.as_of) if args.as_of else None
    except ValueError:
        raise ConfigError(f"--as-of: expected YYYY-MM-DD, got {args.as_of!r}") from None
    settings = load_settings(args.config)
    markdown, block = generated(as_of, settings)
    targets: list[tuple[Path, str]] = [(args.out, markdown)]
    if str(args.readme) != "-":
        try:
            targets.append(
                (args.readme, replace_readme_block(args.readme.read_text(encoding="utf-8"), block))
            )
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--readme {args.readme}: {exc}") from None
    stale = [path for path, text in targets if not path.exists() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path}: not what `python -m analytics seed-check` generates")
        return 1 if stale else 0
    for path, text in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    catalogue = catalogue_for(settings)
    frame = check(catalogue.at(as_of or catalogue.last_checked))
    print(f"{args.out}: {int(frame['holds'].sum())} of {len(frame)} claims hold")
    return 0
