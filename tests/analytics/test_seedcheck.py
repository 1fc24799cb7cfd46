"""Seed check: claims recomputed from the catalogue; the Markdown is generated."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from analytics.prices import load_catalogue
from analytics.seedcheck import check, render_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_known_verdicts() -> None:
    frame = check(load_catalogue()).set_index("claim").to_dict("index")
    # Seed 003 prices 720p buyers at the audio rate: HD audience is $1.99/1,000 min.
    assert not frame["200 buyers: 200 × $0.06 = $12.00 per hour"]["holds"]
    assert round(frame["200 buyers: 200 × $0.06 = $12.00 per hour"]["ours"], 2) == 23.88
    assert frame["Seller: $0.06 per stream hour"]["holds"]
    # Seed 000's $290,000 Scale overage is an order of magnitude too high.
    assert frame["Scale plan overage for 50M+ minutes: ~$290,000/month"]["ours"] < 30_000


def test_overrides_change_our_figures() -> None:
    base = check(load_catalogue()).set_index("claim")["ours"]
    cheap = check(load_catalogue({"cloudflare.stream.delivery_per_1000_min_usd": 0.05})).set_index("claim")[
        "ours"
    ]
    claim = "100 listeners, 4 h/day: ~$20-40/month"
    assert cheap[claim] == base[claim] * 0.05


def test_markdown_has_every_seed_and_claim() -> None:
    text = render_markdown(load_catalogue())
    frame = check(load_catalogue())
    assert text.count("\n| ") - 3 == len(frame)  # one header row per seed table
    for seed in ("## Seed 000", "## Seed 002", "## Seed 003"):
        assert seed in text


def test_cli_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "seed-check.md"
    result = subprocess.run([sys.executable, "-m", "analytics", "seed-check", "--out", str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert out.read_text().startswith("# Seed check")
