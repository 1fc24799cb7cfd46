"""`prices audit`: stale, unverified, single-source and disputed rates; text and JSON; exit 0."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from analytics.prices import load_catalogue
from analytics.prices.audit import audit

ROOT = Path(__file__).resolve().parents[2]
AS_OF = dt.date(2026, 12, 1)


def test_audit_sections() -> None:
    report = audit(load_catalogue(as_of=AS_OF), older_than_days=180)
    stale = set(report.sections["stale"]["rate_id"])
    # Read 2026-01-01 and 2026-05-27: more than 180 days before 2026-12-01.
    assert {"self_hosted.aws.egress.tier1_per_gb_usd", "self_hosted.fx.eur_usd"} <= stale
    assert "agora.standard.per_1000_usd" not in stale
    unverified = report.sections["unverified"].set_index("rate_id")
    why = str(unverified.loc["livekit_cloud.ship.transcode_audio_overage_per_min_usd", "why"])
    assert "no audio-only transcode rate" in why
    assert "self_hosted.hetzner.ax102.monthly_eur" in unverified.index
    single = set(report.sections["single_source"]["rate_id"])
    assert "self_hosted.hetzner.cx23.monthly_eur" in single  # €5.49: one secondary source
    assert "self_hosted.hetzner.cx33.monthly_eur" not in single  # €8.49: corroborated
    assert "agora.standard.per_1000_usd" not in single  # primary
    disputed = report.sections["disputed"].set_index("rate_id")
    assert "5000" in str(disputed.loc["livekit_cloud.scale.max_connections", "why"])
    assert report.counts()["unverified"] == len(unverified)


def test_a_longer_threshold_lists_fewer_stale_rates() -> None:
    catalogue = load_catalogue(as_of=AS_OF)
    assert len(audit(catalogue, 400).sections["stale"]) == 0 < len(audit(catalogue, 30).sections["stale"])
    with pytest.raises(ValueError):
        audit(catalogue, -1)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "analytics", "prices", "audit", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False,
                          env={"PATH": "/usr/bin:/bin", "CASTMETER_CONFIG": ""})  # fmt: skip


@pytest.mark.slow
def test_cli_text_and_json_report_and_exit_zero() -> None:
    text = _cli("--as-of", "2026-12-01", "--older-than", "26w")
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("price catalogue audit on 2026-12-01:")
    assert "== Stale (source read more than 182 days before 2026-12-01)" in text.stdout
    data = json.loads(_cli("--as-of", "2026-12-01", "--json").stdout)
    assert data["older_than_days"] == 180
    assert data["counts"]["unverified"] == len(data["unverified"]) > 0
    bad = _cli("--older-than", "soon")
    assert bad.returncode == 2 and "--older-than" in bad.stderr


def test_make_test_prints_the_audit_without_failing_on_it() -> None:
    """CI (`.ci/run` → `make test`) shows the audit; its exit status never fails the build."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\ntest: ", 1)[1].split("\n\n", 1)[0]
    line = next(line for line in recipe.splitlines() if "analytics prices audit" in line)
    assert "|| echo" in line and "status=1" not in line
