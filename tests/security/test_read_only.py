"""Pages read through a read-only engine: writes are refused on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from store import schema
from store.engine import open_store
from ui import data


def _page_engine(url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The engine a page gets (ui.data.engine), for the store at ``url``."""
    monkeypatch.setenv("CASTMETER_DB_URL", url)
    monkeypatch.delenv("CASTMETER_CONFIG", raising=False)
    data.engine.clear()
    data._settings_cached.clear()
    return data.engine(url)


def _assert_refuses_writes(engine: Engine) -> None:
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(schema.sources)).scalar_one() == 0
    for statement in (
        schema.sources.insert().values(name="x", kind="livekit", url="", created_ts=1),
        text("DELETE FROM room_samples"),
        text("DROP TABLE room_samples"),
    ):
        with pytest.raises(DBAPIError, match=r"(?i)read.?only"), engine.begin() as connection:
            connection.execute(statement)


def test_sqlite_page_engine_is_read_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'ro.db'}"
    open_store(url).dispose()
    _assert_refuses_writes(_page_engine(url, monkeypatch))


@pytest.mark.postgres
def test_postgresql_page_engine_is_read_only(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    open_store(pg_url).dispose()
    engine = _page_engine(pg_url, monkeypatch)
    _assert_refuses_writes(engine)
    # A page cannot switch the session back to read-write behind the engine's back either
    # without saying so explicitly; the default stays read-only on every new connection.
    with engine.connect() as connection:
        assert connection.execute(text("SHOW default_transaction_read_only")).scalar() == "on"
    engine.dispose()


def test_sqlite_page_engine_cannot_attach_another_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``mode=ro`` covers the one file: ATTACH would open (and create) any other read-write."""
    url = f"sqlite:///{tmp_path / 'ro.db'}"
    open_store(url).dispose()
    engine = _page_engine(url, monkeypatch)
    planted = tmp_path / "planted.db"
    for statement in (f"ATTACH DATABASE '{planted}' AS planted", "ATTACH DATABASE ':memory:' AS scratch"):
        with pytest.raises(DBAPIError, match="not authorized"), engine.connect() as connection:
            connection.execute(text(statement))
    assert not planted.exists()
    with engine.connect() as connection:  # and the page still reads
        assert connection.execute(select(func.count()).select_from(schema.sources)).scalar_one() == 0
        with pytest.raises(DBAPIError, match=r"(?i)read.?only"):
            connection.execute(text("CREATE TEMP TABLE t (x)"))  # query_only: not even temp tables
