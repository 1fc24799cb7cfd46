"""castmeter installs as a package: the wheel carries every file the product reads at run time,
and the installed `castmeter` command works from a directory that is not the checkout."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import tomllib
import zipfile

import pytest

from castmeter.cli import SUBCOMMANDS
from harness.realparts import REPO_ROOT, chromium_path, free_port, require, stop_process, wait_http
from tests.deploy.conftest import Installed

pytestmark = pytest.mark.slow


def test_the_wheel_carries_the_runtime_files_and_no_tests(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    expected = {
        "castmeter/_root/app.py",
        "castmeter/_root/.streamlit/config.toml",
        "castmeter/_root/rules/castmeter.rules.example.yaml",
        "castmeter/_root/castmeter.example.toml",
        "store/migrations/env.py",
        "store/migrations/script.py.mako",
    }
    expected |= {f"castmeter/_root/pages/{path.name}" for path in (REPO_ROOT / "pages").glob("*.py")}
    for folder in ("analytics/prices", "analytics/scenarios"):
        expected |= {f"{folder}/{path.name}" for path in (REPO_ROOT / folder).glob("*.yaml")}
    expected |= {
        f"store/migrations/versions/{path.name}"
        for path in (REPO_ROOT / "store" / "migrations" / "versions").glob("*.py")
    }
    assert expected - names == set()
    assert not [name for name in names if name.startswith(("tests/", "bench/"))]
    entry_points = next(name for name in names if name.endswith(".dist-info/entry_points.txt"))
    assert "castmeter = castmeter.cli:main" in zipfile.ZipFile(installed.wheel).read(entry_points).decode()


def test_installed_code_is_the_wheels_not_the_checkouts(installed: Installed) -> None:
    probe = (
        "import analytics, collectors, store, core.resources as r; "
        "print(analytics.__file__); print(store.__file__); print(r.app_root())"
    )
    result = subprocess.run(
        [str(installed.python), "-c", probe], cwd=installed.workdir, env=installed.env(),
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    paths = result.stdout.split()
    assert len(paths) == 3
    for path in paths:
        assert path.startswith(str(installed.venv)), path
        assert not path.startswith(str(REPO_ROOT)), path


def test_help_on_every_subcommand_with_examples(installed: Installed) -> None:
    top = installed.run("--help")
    assert top.returncode == 0, top.stderr
    for command in SUBCOMMANDS:
        assert command.name in top.stdout
    assert "Examples:" in top.stdout
    for command in SUBCOMMANDS:
        result = installed.run(command.name, "--help")
        assert result.returncode == 0, f"{command.name}: {result.stderr}"
        assert "Examples:" in result.stdout, command.name
        assert f"castmeter {command.name}" in result.stdout, command.name
    version = installed.run("--version")
    assert version.returncode == 0 and version.stdout.strip() == "castmeter 0.1.0"
    # The package CLIs keep working beside the command.
    for package, name in (("collectors", "run"), ("analytics", "costs")):
        result = subprocess.run(
            [str(installed.python), "-m", package, name, "--help"], cwd=installed.workdir,
            env=installed.env(), capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert result.returncode == 0 and "usage:" in result.stdout, result.stderr


def test_a_one_day_demo_backfill_then_reports_from_the_installed_command(installed: Installed) -> None:
    database = installed.workdir / "demo.db"
    url = f"sqlite:///{database}"
    demo = installed.run(
        "demo", "--days", "1", "--backfill-only", "--scenario", "dj-radio", "--db", url,
        "--ready-file", str(installed.workdir / "demo.ready"), timeout_s=240,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert (installed.workdir / "demo.ready").exists()
    with sqlite3.connect(database) as connection:
        sessions = connection.execute("SELECT count(*) FROM participant_sessions").fetchone()[0]
        migrated = connection.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    assert sessions > 0
    newest = sorted((REPO_ROOT / "store" / "migrations" / "versions").glob("*.py"))[-1].name
    assert newest.startswith(migrated[:4])  # every migration shipped and applied

    costs = installed.run("costs", "--since", "1d", "--json", "--db", url)
    assert costs.returncode == 0, costs.stderr[-2000:]
    priced = {provider["id"] for provider in json.loads(costs.stdout)["providers"]}
    assert {"livekit_cloud", "livekit_self_hosted", "agora"} <= priced

    plan = installed.run("plan", "--scenario", "dj-radio", "--json")  # a preset shipped in the wheel
    assert plan.returncode == 0, plan.stderr[-2000:]
    assert json.loads(plan.stdout)["providers"]

    # The documented example rules path works outside the checkout (the wheel's copy).
    export = installed.run("alerts", "export", "--rules", "rules/castmeter.rules.example.yaml")
    assert export.returncode == 0, export.stderr[-2000:]
    assert "alert: HighCPU" in export.stdout


@pytest.mark.browser
def test_the_installed_dashboard_renders_its_pages(installed: Installed) -> None:
    chromium = chromium_path()
    require(chromium is not None, "chromium (apt package chromium)")
    assert chromium is not None
    port = free_port()
    log_path = installed.workdir / "dashboard.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(installed.castmeter), "dashboard", "--port", str(port)], cwd=installed.workdir,
            env=installed.env(CASTMETER_DB_URL=f"sqlite:///{installed.workdir / 'demo.db'}"),
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", 90, process=process)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(chromium),
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            try:
                page = browser.new_page()
                for path, title in (("/", "Overview"), ("/alerts", "Alerts"), ("/costs", "Costs")):
                    page.goto(f"http://127.0.0.1:{port}{path}", timeout=60_000)
                    page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
                    body = page.inner_text("body")
                    assert "Traceback" not in body and "Page not found" not in body, body[:2000]
            finally:
                browser.close()
    finally:
        stop_process(process)
        print(log_path.read_text(errors="replace")[-3000:])


def test_the_installed_dashboard_carries_the_shipped_streamlit_settings(installed: Installed) -> None:
    """Streamlit reads .streamlit/config.toml from the working directory, which is the
    operator's: `castmeter dashboard` passes the shipped file's options itself (the security
    settings among them: no data export, no uploads)."""
    probe = (
        "import argparse, json; from castmeter.dashboard import streamlit_argv; "
        "print(json.dumps(streamlit_argv(argparse.Namespace(host='127.0.0.1', port=8501, streamlit_args=[]))))"
    )
    result = subprocess.run(
        [str(installed.python), "-c", probe], cwd=installed.workdir, env=installed.env(),
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    argv = json.loads(result.stdout)
    assert argv[0] == "run" and argv[1] == str(
        next(installed.venv.glob("lib/python*/site-packages/castmeter/_root/app.py"))
    )
    shipped = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text())
    for section, values in shipped.items():
        for key, value in values.items():
            flag = argv.index(f"--{section}.{key}")
            assert argv[flag + 1] == (str(value).lower() if isinstance(value, bool) else str(value))
