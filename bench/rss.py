"""Bench: resident memory of the real dashboard process after the operator pages were opened.

    .venv/bin/python bench/rss.py [--db URL] [--range 30d]

Starts ``streamlit run app.py`` headless on a free loopback port against the 30-day
platform-500 store, opens every page with that range in a real headless Chromium (Debian
``chromium`` driven by playwright), waits for each script run to finish, and reads the
Streamlit process's RSS with psutil (after each page and at the end). Prints JSON with
dashboard_rss_mb. (collector_rss_mb comes from bench/tick.py, the collector process.)
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import REPO_ROOT, add_db_argument, backend, demo_db, emit, store_facts

TARGET_MB = 400.0
PAGES = ["", "streams", "nodes", "costs", "billing", "alerts"]  # "" = the default page (Overview)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
PAGE_TIMEOUT_MS = 60_000


def _settle(page: Any) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=PAGE_TIMEOUT_MS,
    )
    page.wait_for_timeout(1000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_db_argument(parser)
    parser.add_argument("--range", default="30d")
    args = parser.parse_args()
    result: dict[str, Any] = {"bench": "rss", "target_mb": TARGET_MB, "range": args.range}
    try:
        import psutil
        from playwright.sync_api import sync_playwright

        from harness.realparts import chromium_path, streamlit_run

        chromium = chromium_path()
        if chromium is None:
            raise FileNotFoundError("Debian chromium not installed")
        url, how = demo_db(args.db)
        result.update(how, backend=backend(url), store=store_facts(url))
    except Exception as exc:
        emit({**result, "dashboard_rss_mb": None, "reason": f"{type(exc).__name__}: {exc}"})
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="castmeter-bench-rss-"))
    config = workdir / "castmeter.toml"
    config.write_text("[dashboard]\nstale_after_s = 1800\n")
    env = {**os.environ, "CASTMETER_DB_URL": url, "CASTMETER_CONFIG": str(config)}
    env.pop("CASTMETER_PASSWORD_HASH", None)
    log_path = workdir / "streamlit.log"
    per_page: dict[str, float] = {}
    load_s: dict[str, float] = {}
    try:
        with streamlit_run("app.py", cwd=REPO_ROOT, env=env, log_path=log_path, start_timeout_s=90) as (
            base,
            process,
        ):
            server = psutil.Process(process.pid)
            per_page["started"] = round(server.memory_info().rss / 1e6, 1)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS,
                                                     timeout=PAGE_TIMEOUT_MS)  # fmt: skip
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.set_default_timeout(PAGE_TIMEOUT_MS)
                for name in PAGES:
                    started = time.perf_counter()
                    page.goto(f"{base}/{name}?range={args.range}")
                    _settle(page)
                    load_s[name or "overview"] = round(time.perf_counter() - started, 2)
                    per_page[name or "overview"] = round(server.memory_info().rss / 1e6, 1)
                # Back to the Overview once more: caches are full now, RSS should hold still.
                page.goto(f"{base}/?range={args.range}")
                _settle(page)
                browser.close()
            final_mb = server.memory_info().rss / 1e6
        result.update(
            dashboard_rss_mb=round(final_mb, 1),
            dashboard_rss_peak_mb=round(max([final_mb, *per_page.values()]), 1),
            rss_mb_after_page=per_page,
            browser_page_load_s=load_s,
            meets_target=final_mb < TARGET_MB,
        )
    except Exception as exc:
        result.update(dashboard_rss_mb=None, reason=f"{type(exc).__name__}: {exc}",
                      streamlit_log_tail=log_path.read_text(errors="replace")[-1500:])  # fmt: skip
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
