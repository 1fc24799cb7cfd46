"""Storing: idempotent re-runs, a correction of a past day, failures that keep what was stored,
collector status, and the daily schedule."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from sqlalchemy import Engine, func, select

from collectors.billing.agora import AgoraCollector
from collectors.billing.base import RetryPolicy
from collectors.billing.cloudflare import CloudflareCollector
from collectors.billing.runner import BillingScheduler, default_start, run_billing_once
from core.settings import CloudflareBilling, Settings
from store import schema
from tests.collectors.billing import fakes
from tests.collectors.billing.fakes import NOW_TS, TODAY

START = date(2026, 11, 18)


def agora_settings(server: HTTPServer) -> Settings:
    return Settings.model_validate(
        {"billing": {"agora": {"api_base_url": server.url_for(""), "customer_id": fakes.AGORA_ID,
                               "customer_secret": fakes.AGORA_SECRET, "project_ids": ["proj1"]}}}
    )  # fmt: skip


def agora(settings: Settings, policy: RetryPolicy) -> AgoraCollector:
    assert settings.billing.agora is not None
    return AgoraCollector(settings.billing.agora, policy=policy)


def stored(engine: Engine, provider: str = "agora") -> dict[tuple[str, str], float]:
    table = schema.billing_usage
    with engine.connect() as conn:
        rows = conn.execute(select(table).where(table.c.provider == provider)).mappings().all()
    out: dict[tuple[str, str], float] = {}
    for row in rows:
        key = (datetime.fromtimestamp(row["day_ts"], tz=UTC).date().isoformat(), row["metric"])
        out[key] = out.get(key, 0.0) + row["quantity"]
    return out


def health(engine: Engine, provider: str) -> dict[str, object]:
    with engine.connect() as conn:
        row = (
            conn.execute(
                select(schema.source_health, schema.sources.c.kind)
                .join(schema.sources, schema.sources.c.id == schema.source_health.c.source_id)
                .where(schema.sources.c.name == f"billing:{provider}")
            )
            .mappings()
            .one()
        )
    return dict(row)


def test_rerun_is_idempotent_and_a_correction_replaces_the_day(
    httpserver: HTTPServer, engine: Engine, policy: RetryPolicy
) -> None:
    usages = {day: dict(values) for day, values in fakes.AGORA_USAGES.items()}
    fakes.serve_agora(httpserver, usages)
    settings = agora_settings(httpserver)
    collectors = [agora(settings, policy)]
    first = run_billing_once(settings, engine, START, now_ts=NOW_TS, collectors=collectors)
    assert first["providers"]["agora"]["status"] == "ok"
    before = stored(engine)
    run_billing_once(settings, engine, START, now_ts=NOW_TS, collectors=collectors)
    assert stored(engine) == before  # not doubled
    assert before[("2026-11-19", "audio_min")] == 600.0

    # The provider corrects 11-19 later (audio 36000 s → 30000 s; the Full HD minutes vanish).
    usages["2026-11-19"] = {"durationAudioAll": 30000}
    run_billing_once(settings, engine, START, now_ts=NOW_TS + 86_400, collectors=collectors)
    after = stored(engine)
    assert after[("2026-11-19", "audio_min")] == 500.0
    assert ("2026-11-19", "video_fullhd_min") not in after
    assert after[("2026-11-18", "audio_min")] == before[("2026-11-18", "audio_min")]
    status = health(engine, "agora")
    assert (
        status["status"] == "ok"
        and status["kind"] == "billing:agora"
        and status["last_success_ts"] == NOW_TS + 86_400
    )


def test_a_failure_keeps_what_was_stored_and_is_recorded(
    httpserver: HTTPServer, engine: Engine, policy: RetryPolicy
) -> None:
    fakes.serve_agora(httpserver)
    settings = agora_settings(httpserver)
    run_billing_once(settings, engine, START, now_ts=NOW_TS, collectors=[agora(settings, policy)])
    before = stored(engine)
    httpserver.clear()
    httpserver.expect_request("/dev/v3/usage").respond_with_data("Service Unavailable", status=503)
    summary = run_billing_once(
        settings, engine, START, now_ts=NOW_TS + 60, collectors=[agora(settings, policy)]
    )
    assert summary["providers"]["agora"]["status"] == "failing"
    assert "HTTP 503" in summary["providers"]["agora"]["error"]
    assert stored(engine) == before
    status = health(engine, "agora")
    assert status["status"] == "failing" and status["last_success_ts"] == NOW_TS
    assert status["consecutive_failures"] == 1 and "HTTP 503" in str(status["last_error"])
    assert fakes.AGORA_SECRET not in str(status["last_error"])


def test_one_failing_part_is_partial_and_unavailable_part_is_skipped(
    httpserver: HTTPServer, engine: Engine, policy: RetryPolicy
) -> None:
    # Stream minutes as documented, storage-usage broken (truncated JSON; registered first, so it
    # wins), Realtime not on the account.
    httpserver.expect_request(f"/accounts/{fakes.CF_ACCOUNT}/stream/storage-usage").respond_with_data(
        '{"result": {', content_type="application/json"
    )
    fakes.serve_cloudflare(httpserver, realtime=False)
    config = CloudflareBilling(
        api_base_url=httpserver.url_for(""), account_id=fakes.CF_ACCOUNT, api_token=SecretStr(fakes.CF_TOKEN)
    )
    settings = Settings.model_validate(
        {"billing": {"cloudflare": config.model_dump(mode="json") | {"api_token": fakes.CF_TOKEN}}}
    )
    summary = run_billing_once(
        settings, engine, START, now_ts=NOW_TS, collectors=[CloudflareCollector(config, policy=policy)]
    )
    result = summary["providers"]["cloudflare"]
    assert result["status"] == "partial"
    assert "skipped" in result["parts"]["realtime"] and "error" in result["parts"]["stream_storage"]
    assert stored(engine, "cloudflare")[("2026-11-18", "minutes_delivered")] == 2234
    assert health(engine, "cloudflare")["status"] == "partial"


def test_default_start_fills_an_outage_and_respects_lookback(
    httpserver: HTTPServer, engine: Engine, policy: RetryPolicy
) -> None:
    fakes.serve_agora(httpserver)
    settings = agora_settings(httpserver)
    billing = settings.billing
    assert default_start(engine, "agora", billing, TODAY) == date(2026, 10, 22)  # 30-day backfill
    run_billing_once(settings, engine, START, now_ts=NOW_TS, collectors=[agora(settings, policy)])
    # 11-19 complete, 11-20 partial: three days later start after the last complete day.
    assert default_start(engine, "agora", billing, date(2026, 11, 23)) == date(2026, 11, 20)
    assert default_start(engine, "agora", billing, TODAY) == date(2026, 11, 18)  # lookback 3 days
    with engine.connect() as conn:
        partial = conn.execute(
            select(func.count()).select_from(schema.billing_fetches).where(~schema.billing_fetches.c.complete)
        ).scalar()
    assert partial == 1


def test_scheduler_runs_daily_and_remembers_across_restarts(
    httpserver: HTTPServer, engine: Engine, policy: RetryPolicy
) -> None:
    fakes.serve_agora(httpserver)
    settings = agora_settings(httpserver)
    scheduler = BillingScheduler(settings, engine, collectors=[agora(settings, policy)])
    assert scheduler.due(NOW_TS)
    summary = scheduler.run(NOW_TS)
    assert summary["providers"]["agora"]["status"] == "ok"
    assert not scheduler.due(NOW_TS + 3600)
    assert scheduler.due(NOW_TS + 86_400)
    restarted = BillingScheduler(settings, engine, collectors=[agora(settings, policy)])
    assert not restarted.due(NOW_TS + 60) and restarted.due(NOW_TS + 86_400)


def test_scheduler_without_providers_is_never_due(engine: Engine) -> None:
    assert not BillingScheduler(Settings(), engine).due(NOW_TS)
