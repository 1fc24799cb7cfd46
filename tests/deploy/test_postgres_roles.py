"""deploy/postgresql/roles.sql applied with psql to the real PostgreSQL server: the collector
role migrates and writes (a demo backfill through the `castmeter` command), the dashboard role
reads every table — including one a later migration creates — and cannot write, create, alter
or drop anything, even with its read-only default switched off."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from core.units import DAY_S
from harness.realparts import REPO_ROOT, PostgresServer, require
from store.engine import make_engine, open_store
from store.queries import sources

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

# The history ends at 20:00 of a model day, when the radio is on air: at 03:00 UTC no DJ is live
# and a 72-minute history holds no session (the test must not depend on the time of day).
EVENING = 20_000 * DAY_S + 20 * 3600
ROLES_SQL = REPO_ROOT / "deploy" / "postgresql" / "roles.sql"


@dataclass(frozen=True)
class Roles:
    database: str
    collector_url: str
    dashboard_url: str


def _psql(server: PostgresServer, *variables: str) -> subprocess.CompletedProcess[str]:
    psql = shutil.which("psql")
    require(psql is not None, "psql (apt package postgresql-client)")
    assert psql is not None
    admin = make_url(server.admin_url)
    env = {**os.environ, "PGPASSWORD": admin.password or ""}
    argv = [psql, "-X", "-q", "-h", admin.host or "127.0.0.1", "-p", str(admin.port or 5432),
            "-U", admin.username or "postgres", "-d", admin.database or "postgres", "-v", "ON_ERROR_STOP=1"]  # fmt: skip
    for variable in variables:
        argv += ["-v", variable]
    return subprocess.run([*argv, "-f", str(ROLES_SQL)], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def roles(postgres_server: PostgresServer) -> Iterator[Roles]:
    suffix = uuid.uuid4().hex[:10]
    database, collector, dashboard = f"castmeter_{suffix}", f"cm_writer_{suffix}", f"cm_reader_{suffix}"
    variables = (f"db={database}", f"collector_role={collector}", f"dashboard_role={dashboard}",
                 "collector_password=writer-pw", "dashboard_password=reader-pw")  # fmt: skip
    for _run in range(2):  # idempotent: a second run (a password change) succeeds too
        result = _psql(postgres_server, *variables)
        assert result.returncode == 0, result.stdout + result.stderr
    admin = make_url(postgres_server.admin_url)

    def url(user: str, password: str) -> str:
        return admin.set(username=user, password=password, database=database).render_as_string(
            hide_password=False
        )

    yield Roles(database, url(collector, "writer-pw"), url(dashboard, "reader-pw"))
    engine = make_engine(postgres_server.admin_url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            for role in (collector, dashboard):
                connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
    finally:
        engine.dispose()


def _refused(engine_url: str, statement: str, *, read_only_off: bool = False) -> str:
    engine = make_engine(engine_url)
    try:
        with engine.begin() as connection:
            if read_only_off:
                connection.execute(text("SET LOCAL default_transaction_read_only = off"))
                connection.execute(text("SET LOCAL transaction_read_only = off"))
            connection.execute(text(statement))
    except DBAPIError as exc:
        return str(exc.orig)
    finally:
        engine.dispose()
    raise AssertionError(f"the dashboard role was allowed: {statement}")


def test_collector_writes_dashboard_only_reads(roles: Roles, tmp_path: Path) -> None:
    # The collector role: migrations (open_store) and a demo backfill through the real command.
    demo = subprocess.run(
        [sys.executable, "-m", "castmeter", "demo", "--days", "0.05", "--backfill-only", "--until", str(EVENING), "--scenario", "dj-radio",
         "--db", roles.collector_url, "--ready-file", str(tmp_path / "ready")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr[-3000:]
    writer = open_store(roles.collector_url)  # already migrated: a no-op upgrade as the writer
    with writer.begin() as connection:
        sessions = connection.execute(text("SELECT count(*) FROM participant_sessions")).scalar_one()
        connection.execute(text("UPDATE sources SET url = url"))
        # What a later migration does: a new table, created by the writer.
        connection.execute(text("CREATE TABLE later_table (x integer)"))
        connection.execute(text("INSERT INTO later_table VALUES (7)"))
    writer.dispose()
    assert sessions > 0

    # The dashboard role reads everything, through castmeter's own read path too.
    reader = make_engine(roles.dashboard_url, read_only=True)
    try:
        with reader.connect() as connection:
            assert (
                connection.execute(text("SELECT count(*) FROM participant_sessions")).scalar_one() == sessions
            )
            assert connection.execute(text("SELECT x FROM later_table")).scalar_one() == 7
            assert not sources.list_sources(connection).empty
            assert connection.execute(text("SHOW default_transaction_read_only")).scalar_one() == "on"
    finally:
        reader.dispose()

    # ...and writes nothing: refused by its read-only default, and by privilege without it.
    assert "read-only transaction" in _refused(roles.dashboard_url, "INSERT INTO later_table VALUES (1)")
    for statement, refusal in (
        ("INSERT INTO later_table VALUES (1)", "permission denied for table later_table"),
        ("UPDATE sources SET url = 'x'", "permission denied for table sources"),
        ("DELETE FROM participant_sessions", "permission denied for table participant_sessions"),
        ("CREATE TABLE intruder (x integer)", "permission denied for schema public"),
        ("DROP TABLE sources", "must be owner of table sources"),
        ("ALTER TABLE sources ADD COLUMN y integer", "must be owner of table sources"),
        ("TRUNCATE sources", "permission denied for table sources"),
    ):
        assert refusal in _refused(roles.dashboard_url, statement, read_only_off=True), statement
