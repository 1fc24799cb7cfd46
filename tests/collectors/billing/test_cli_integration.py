"""All five providers configured against local servers: `python -m collectors billing --once`
fills the billing tables and `python -m analytics billing --json` reconciles them.

Both commands get ``--now`` (the fakes' 2026-11-20 12:00 UTC): without it they read the wall
clock, and from 2026-12-01 on the month's figures moved to a month the fakes never billed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

from store import schema
from store.engine import make_engine
from tests.collectors.billing import fakes

REPO_ROOT = Path(__file__).resolve().parents[3]
NOW = str(fakes.NOW_TS)  # 2026-11-20 12:00 UTC, the day the fakes' data ends


def config_text(base: str) -> str:
    return f"""
[billing]
max_attempts = 2

[billing.livekit_cloud]
api_base_url = "{base}"
project_id = "{fakes.LK_PROJECT}"
api_key = "APIkey"
api_secret = "{fakes.LK_SECRET}"
page_size = 2

[billing.agora]
api_base_url = "{base}"
customer_id = "{fakes.AGORA_ID}"
customer_secret = "{fakes.AGORA_SECRET}"
project_ids = ["proj1"]

[billing.cloudflare]
api_base_url = "{base}"
account_id = "{fakes.CF_ACCOUNT}"
api_token = "{fakes.CF_TOKEN}"

[billing.aws]
api_base_url = "{base}"
cloudwatch_url = "{base}"
access_key_id = "AKIDTEST"
secret_access_key = "{fakes.AWS_SECRET}"

[billing.hetzner]
api_base_url = "{base}"
api_token = "{fakes.HZ_TOKEN}"
"""


def run_cli(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CASTMETER_", "LIVEKIT_", "PROMETHEUS_", "AWS_"))
    }
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_collect_then_reconcile_end_to_end(httpserver: HTTPServer, tmp_path: Path) -> None:
    fakes.serve_livekit(httpserver)
    fakes.serve_agora(httpserver)
    fakes.serve_cloudflare(httpserver)
    fakes.serve_hetzner(httpserver)
    httpserver.expect_request("/", method="POST").respond_with_handler(fakes.aws_handler())
    config = tmp_path / "castmeter.toml"
    config.write_text(config_text(httpserver.url_for("").rstrip("/")))
    db_url = f"sqlite:///{tmp_path / 'e2e.db'}"

    collected = run_cli(
        "collectors",
        "billing",
        "--once",
        "--since",
        "2026-11-18",
        "--now",
        NOW,
        "--db",
        db_url,
        "--config",
        str(config),
        "--json",
    )
    assert collected.returncode == 0, collected.stderr
    summary = json.loads(collected.stdout)
    assert summary["started_ts"] == fakes.NOW_TS
    assert {name: p["status"] for name, p in summary["providers"].items()} == dict.fromkeys(
        ["livekit_cloud", "agora", "cloudflare", "aws", "hetzner"], "ok"
    )
    for secret in (fakes.LK_SECRET, fakes.AGORA_SECRET, fakes.CF_TOKEN, fakes.HZ_TOKEN, fakes.AWS_SECRET):
        assert secret not in collected.stdout + collected.stderr

    engine = make_engine(db_url)
    with engine.connect() as conn:
        counts: dict[str, int] = dict(
            conn.execute(
                select(schema.billing_usage.c.provider, func.count()).group_by(
                    schema.billing_usage.c.provider
                )
            ).all()
        )
    assert set(counts) == {"livekit_cloud", "agora", "cloudflare", "aws", "hetzner"}

    # A second run stores the same rows: nothing doubled.
    again = run_cli(
        "collectors",
        "billing",
        "--once",
        "--since",
        "2026-11-18",
        "--now",
        NOW,
        "--db",
        db_url,
        "--config",
        str(config),
    )
    assert again.returncode == 0, again.stderr
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.billing_usage)).scalar() == sum(
            counts.values()
        )
    engine.dispose()

    reconciled = run_cli(
        "analytics",
        "billing",
        "--since",
        "2026-11-18",
        "--now",
        NOW,
        "--json",
        "--db",
        db_url,
        "--config",
        str(config),
    )
    assert reconciled.returncode == 0, reconciled.stderr
    report = json.loads(reconciled.stdout)
    assert report["providers"] == ["livekit_cloud", "agora", "cloudflare", "aws", "hetzner"]
    assert {r["month"] for r in report["monthly"]} == {"2026-11"}
    monthly = {(r["provider"], r["measure"]): r for r in report["monthly"]}
    assert monthly[("livekit_cloud", "connection_min")]["billed"] == 63 + 45 + 10
    assert monthly[("aws", "delivered_min")]["billed_usd"] == 1.44 + 0.85 + 0.72
    assert monthly[("aws", "delivered_min")]["billed_usd_source"] == "api"
    assert monthly[("cloudflare", "minutes_delivered")]["billed_usd_source"] == "catalogue"
    assert monthly[("hetzner", "traffic_out_gb")]["billed"] == 25_000.0
    assert {r["provider"] for r in report["daily"]} >= {"livekit_cloud", "agora", "cloudflare", "aws"}


@pytest.mark.slow
def test_without_providers_the_command_explains(tmp_path: Path) -> None:
    config = tmp_path / "castmeter.toml"
    config.write_text("")
    result = run_cli(
        "collectors", "billing", "--once", "--config", str(config), "--db", f"sqlite:///{tmp_path / 'x.db'}"
    )
    assert result.returncode == 0 and "no billing provider configured" in result.stderr
