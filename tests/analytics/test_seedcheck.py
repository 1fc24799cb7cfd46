"""Seed check: claims recomputed from the catalogue; the Markdown (and README's table) are
generated, reproducible byte for byte, and the committed files are what the generator writes."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from analytics.commands.seed_check import generated
from analytics.prices import load_catalogue
from analytics.seedcheck import check, render_markdown, seed_check_catalogue

pytestmark = pytest.mark.slow  # prices every seed claim; the CLI test runs a subprocess (9 s)

ROOT = Path(__file__).resolve().parents[2]
AS_OF = dt.date(2026, 12, 1)


def _verdicts() -> dict[str, dict[str, object]]:
    frame = check(load_catalogue(as_of=AS_OF)).set_index("claim")
    return frame.to_dict("index")  # type: ignore[return-value]


def test_known_verdicts() -> None:
    frame = _verdicts()
    # 720p buyers as a Broadcast Streaming audience: 2 standard min per min × $0.99/1,000 each.
    buyers = frame["200 buyers: 200 × $0.06 = $12.00 per hour"]
    assert not buyers["holds"] and round(float(buyers["ours"]), 2) == 23.76  # type: ignore[arg-type]
    assert frame["Seller: $0.06 per stream hour"]["holds"]
    # Seed 003's Agora-only month: 721,800 standard min on Business = $658.57, not $361.80.
    assert round(float(frame["Monthly (30 h): $361.80"]["ours"]), 2) == 658.57  # type: ignore[arg-type]
    # Seed 000's $290,000 Scale overage is an order of magnitude too high.
    assert float(frame["Scale plan overage for 50M+ minutes: ~$290,000/month"]["ours"]) < 30_000  # type: ignore[arg-type]
    # The DJ channel's OBS ingress + HLS egress: Ship $50 + 13,800 × $0.02 = $326.
    assert round(float(frame["10 listeners, 4 h/day: $50-100/month"]["ours"]), 2) == 326.0  # type: ignore[arg-type]
    # Heroku Performance-M is $250, not $25; CX33 is €8.49 for orders since 2026-06-15.
    assert float(frame["Performance-M dyno: $25.00"]["ours"]) == 250  # type: ignore[arg-type]
    assert not frame["CX32 (4 vCPU, 8 GB) at $7.59/month"]["holds"]
    assert float(frame["AWS IVS: + $0.015/GB bandwidth"]["ours"]) == 0  # type: ignore[arg-type]


def test_verdicts_before_the_hetzner_rise() -> None:
    before = check(load_catalogue(as_of=dt.date(2026, 6, 14))).set_index("claim")
    assert before.loc["CX32 (4 vCPU, 8 GB) at $7.59/month", "holds"]  # €6.49 = $7.55


def test_overrides_change_our_figures() -> None:
    base = check(load_catalogue(as_of=AS_OF)).set_index("claim")["ours"]
    cheap = check(load_catalogue({"cloudflare.stream.delivery_per_1000_min_usd": 0.05}, as_of=AS_OF))
    claim = "100 listeners, 4 h/day: ~$20-40/month"
    assert cheap.set_index("claim")["ours"][claim] == base[claim] * 0.05


def test_markdown_has_every_seed_and_claim_and_no_date_but_the_price_day() -> None:
    catalogue = seed_check_catalogue(load_catalogue())
    text = render_markdown(catalogue)
    frame = check(catalogue)
    assert text.count("\n| ") - 3 == len(frame)  # one header row per seed table
    for seed in ("## Seed 000", "## Seed 002", "## Seed 003"):
        assert seed in text
    assert catalogue.as_of == catalogue.last_checked
    assert f"prices in force on {catalogue.as_of.isoformat()}" in text
    assert "`self_hosted.hetzner.ax102.monthly_eur` = 122" in text  # unverified rates it used


def test_generated_files_are_reproducible_and_committed() -> None:
    first = generated(None, None)
    assert generated(None, None) == first  # byte for byte, run after run
    markdown, block = first
    assert (ROOT / "docs" / "seed-check.md").read_text(encoding="utf-8") == markdown
    assert block in (ROOT / "README.md").read_text(encoding="utf-8")


def test_cli_writes_and_checks_the_files(tmp_path: Path) -> None:
    out, readme = tmp_path / "seed-check.md", tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- prices:begin -->\nold\n<!-- prices:end -->\n\nrest\n", encoding="utf-8")

    def cli(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "analytics", "seed-check", "--out", str(out), "--readme",
                               str(readme), *extra], cwd=ROOT, capture_output=True, text=True, timeout=120,
                              check=False, env={"PATH": "/usr/bin:/bin", "CASTMETER_CONFIG": ""})  # fmt: skip

    assert cli("--check").returncode == 1
    result = cli()
    assert result.returncode == 0, result.stderr
    assert out.read_text().startswith("# Seed check")
    assert "| LiveKit Cloud |" in readme.read_text() and readme.read_text().endswith("\nrest\n")
    assert cli("--check").returncode == 0
    assert cli("--check", "--as-of", "2026-06-14").returncode == 1
