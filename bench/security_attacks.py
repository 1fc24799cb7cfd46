"""Every attack of issue 13, measured: run it against this checkout (after) or an older one
(before, ``--app-dir``) and compare. Prints JSON. Loopback only; every loop bounded.

    .venv/bin/python bench/security_attacks.py [--app-dir DIR] [--only race csv ...] [--proxy]

Dashboard attacks run against a real ``streamlit run app.py`` (a fresh process per attack
group) with a password set, driven over the browser's websocket protocol
(harness/streamlit_ws.py); distinct attackers connect from distinct loopback addresses
(127.0.0.x). ``--proxy`` puts the shipped nginx configuration (docs/proxy/castmeter.nginx.conf)
in front and attacks through it. The webhook attacks run the receiver in this process
(aiohttp on a free port); the store and simulator checks are direct.

Numbers, not verdicts: a timing here is this machine's (2 cores, shared), reported with the
machine and load. The tests (tests/security/) assert the properties; this script measures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import psutil  # noqa: E402

from bench._common import machine  # noqa: E402
from harness import served as dash  # noqa: E402
from harness import streamlit_ws as browser  # noqa: E402

CACHE_MISS = re.compile(r'^cache_lookups_total\{.*result="miss".*\} ')
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Who the attacks talk to: the dashboard itself, or the proxy in front of it; (base URL, TLS context).
Front = Callable[[str], contextlib.AbstractContextManager[tuple[str, Any]]]


# ---------------------------------------------------------------------------------------------
# 1. The sign-in race on a fresh server
# ---------------------------------------------------------------------------------------------


def race(
    work: Path, env: dict[str, str], app_dir: Path, rounds: int, per_page: int, front: Front
) -> dict[str, Any]:
    """``rounds`` fresh servers; on each, ``per_page`` first sessions to every page at once."""
    leaked: list[str] = []
    sessions = with_fragments = 0
    for round_index in range(rounds):
        with (
            dash.served(work, env, app_dir=app_dir, name=f"race{round_index}") as board,
            front(board.base) as (
                base,
                ssl_context,
            ),
        ):
            results = dash.first_visits(base, ssl_context, per_page)
        sessions += len(results)
        for page, kinds, fragments in results:
            if kinds & dash.DATA_KINDS:
                leaked.append(f"round {round_index} {page}: {sorted(kinds & dash.DATA_KINDS)}")
            with_fragments += fragments > 0
    return {"rounds": rounds, "sessions": sessions, "received_data": len(leaked),
            "registered_live_fragments": with_fragments, "examples": leaked[:5]}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# 2-9. Attacks on one running dashboard
# ---------------------------------------------------------------------------------------------


def csv_export(base: str, ssl_context: Any) -> dict[str, Any]:
    session, run = dash.sign_in(base, "streams", ssl_context=ssl_context)
    try:
        buttons = [e.download_button for e in run.elements if e.WhichOneof("type") == "download_button"]
        if not buttons:
            return {"error": "no download button", "texts": run.texts[:5]}
        url = buttons[0].url if buttons[0].url.startswith("http") else base + buttons[0].url
        with urllib.request.urlopen(url, timeout=30, context=ssl_context) as response:
            text = response.read().decode("utf-8")
        import csv
        import io

        cells = [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]
        dangerous = [cell for cell in cells if cell.startswith(FORMULA_START)]
        return {"csv_cells": len(cells), "cells_a_spreadsheet_would_run": len(dangerous),
                "examples": dangerous[:3], "formula_rooms_in_csv": sum(
                    any(name.strip() in cell for cell in cells) for name in dash.FORMULA_NAMES)}  # fmt: skip
    finally:
        session.close()


def _guess_loop(base: str, ssl_context: Any, address: str, until: float, counts: dict[str, int], lock: threading.Lock) -> None:  # fmt: skip
    """Wrong guesses as fast as the page takes them; counts what the page answered."""
    session = browser.Session(base, "", ssl_context=ssl_context, source_address=address)
    try:
        form = session.run()
        while time.monotonic() < until:
            try:
                states = browser.sign_in_states(form, "wrong-guess-0000")
            except LookupError:  # no form shown: ask again
                form = session.run()
                continue
            result = session.run(states)
            said = " ".join(result.texts)
            with lock:
                counts["sent"] += 1
                counts["checked"] += "Wrong password" in said  # bcrypt ran
                counts["refused_unchecked"] += "Too many failed sign-ins" in said
            form = result if "text_input" in browser.element_kinds(result) else session.run()
    finally:
        session.close()


def guessing(base: str, ssl_context: Any, board: dash.Dashboard | None, seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # The right password after 9 wrong ones, from one address.
    session = browser.Session(base, "", ssl_context=ssl_context, source_address=dash.client_address(60))
    try:
        form = session.run()
        for _ in range(9):
            form = session.run(browser.sign_in_states(form, "wrong-guess-1111"))
            if "text_input" not in browser.element_kinds(form):
                form = session.run()
        after = session.run(browser.sign_in_states(form, dash.PASSWORD))
        kinds = browser.element_kinds(after) | browser.element_kinds(session.run())
        out["right_password_after_9_wrong"] = "admitted" if kinds & dash.DATA_KINDS else "refused"
        out["message_after_9_wrong"] = next((t for t in after.texts if "again" in t or "Wrong" in t), "")
    finally:
        session.close()
    for label, sessions, address in (("one_session", 1, 61), ("ten_sessions", 10, 62)):
        counts, lock = {"sent": 0, "checked": 0, "refused_unchecked": 0}, threading.Lock()
        until = time.monotonic() + seconds
        threads = [threading.Thread(target=_guess_loop, args=(base, ssl_context, dash.client_address(address), until, counts, lock))
                   for _ in range(sessions)]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=seconds + 120)
        out[f"guesses_in_{seconds:g}_s_{label}"] = counts  # checked: bcrypt ran on the guess
    if board is not None:
        log = board.log()
        out["log_lines_naming_a_failed_sign_in"] = len(re.findall(r"(?i)sign-in (failed|refused)", log))
        out["guess_in_log"] = "wrong-guess" in log
    return out


def _cache_misses(direct_base: str) -> int:
    """Streamlit's cache misses so far (its memory figures are cached by the endpoint; these are live)."""
    with urllib.request.urlopen(direct_base + "/_stcore/metrics", timeout=10) as response:
        text = response.read().decode()
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines() if CACHE_MISS.match(line))


def clear_cache(base: str, ssl_context: Any, direct_base: str) -> dict[str, Any]:
    """Misses a signed-in rerun of the Overview causes after an unauthenticated clear_cache
    (0 when the caches survived; one per cached reader when they were emptied)."""
    session, _run = dash.sign_in(base, "overview", ssl_context=ssl_context)
    try:
        session.run()  # warm
        before = _cache_misses(direct_base)
        attacker = browser.Session(base, "", ssl_context=ssl_context, source_address=dash.client_address(70))
        try:
            attacker.run()
            message = browser.BackMsg()
            message.clear_cache = True
            attacker.send(message)
            time.sleep(1.5)
        finally:
            attacker.close()
        session.run()
        return {
            "cache_misses_of_a_warm_rerun_after_unauthenticated_clear_cache": _cache_misses(direct_base)
            - before
        }
    finally:
        session.close()


def _xsrf(base: str, ssl_context: Any) -> str:
    # Streamlit hands out its XSRF cookie with the health check the page makes first.
    with urllib.request.urlopen(base + "/_stcore/health", timeout=10, context=ssl_context) as response:
        cookies = response.headers.get_all("Set-Cookie") or []
    for cookie in cookies:
        if cookie.startswith("_streamlit_xsrf="):
            return cookie.split(";", 1)[0].split("=", 1)[1]
    return ""


def uploads(base: str, ssl_context: Any, board: dash.Dashboard | None, files: int = 5, size_mb: int = 20) -> dict[str, Any]:  # fmt: skip
    attacker = browser.Session(base, "", ssl_context=ssl_context, source_address=dash.client_address(71))
    try:
        attacker.run()
        token = _xsrf(base, ssl_context)
        rss_before = psutil.Process(board.process.pid).memory_info().rss if board else 0
        statuses: list[int | str] = []
        payload = os.urandom(size_mb * 1024 * 1024)
        boundary = "castmeterbench"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.bin\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()  # fmt: skip
        for index in range(files):
            request = urllib.request.Request(
                f"{base}/_stcore/upload_file/{attacker.session_id}/file{index}", data=body, method="PUT",
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "X-Xsrftoken": token,
                         "Cookie": f"_streamlit_xsrf={token}"},
            )  # fmt: skip
            try:
                with urllib.request.urlopen(request, timeout=60, context=ssl_context) as response:
                    statuses.append(response.status)
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
            except (urllib.error.URLError, OSError) as exc:  # answered (413) and closed mid-body
                statuses.append(f"closed mid-body ({type(getattr(exc, 'reason', exc)).__name__})")
        rss_after = psutil.Process(board.process.pid).memory_info().rss if board else 0
        return {"uploads_sent": files, "size_mb_each": size_mb, "statuses": statuses,
                "accepted": sum(status == 204 for status in statuses),
                "server_rss_growth_mb": round((rss_after - rss_before) / 1e6, 1) if board else None}  # fmt: skip
    finally:
        attacker.close()


def metrics(base: str, ssl_context: Any) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(base + "/_stcore/metrics", timeout=10, context=ssl_context) as response:
            return {"status": response.status, "bytes": len(response.read())}
    except urllib.error.HTTPError as exc:
        return {"status": exc.code, "bytes": 0}


def resume(base: str, ssl_context: Any) -> dict[str, Any]:
    session, run = dash.sign_in(
        base, "streams", ssl_context=ssl_context, source_address=dash.client_address(80)
    )
    session_id = session.session_id
    owner_saw_data = bool(browser.element_kinds(run) & dash.DATA_KINDS)
    session.close()
    time.sleep(0.5)
    attacker = browser.Session(
        base, "streams", ssl_context=ssl_context, resume=session_id, source_address=dash.client_address(81)
    )
    try:
        stolen = attacker.run()
        return {"owner_saw_data": owner_saw_data, "resumed_same_session": attacker.session_id == session_id,
                "attacker_received_data": bool(browser.element_kinds(stolen) & dash.DATA_KINDS)}  # fmt: skip
    finally:
        attacker.close()


def flood(base: str, ssl_context: Any, sessions: int, seconds: float) -> dict[str, Any]:
    user, _first = dash.sign_in(base, "overview", ssl_context=ssl_context, source_address="127.0.0.1")
    try:
        idle = [user.run().elapsed_s for _ in range(5)]
        stop = time.monotonic() + seconds
        runs, refused = [0], [0]
        lock = threading.Lock()

        def attacker(index: int) -> None:
            try:
                session = browser.Session(
                    base, "", ssl_context=ssl_context, source_address=dash.client_address(90), timeout_s=30
                )
            except Exception:
                with lock:
                    refused[0] += 1
                return
            try:
                while time.monotonic() < stop:
                    session.run()
                    with lock:
                        runs[0] += 1
            except Exception:
                with lock:
                    refused[0] += 1
            finally:
                session.close()

        threads = [threading.Thread(target=attacker, args=(i,)) for i in range(sessions)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        during: list[tuple[float, float]] = []  # (seconds into the flood, rerun seconds)
        while time.monotonic() < stop - 1:
            at = time.monotonic() - started
            during.append((round(at, 1), user.run().elapsed_s))
        for thread in threads:
            thread.join(timeout=seconds + 60)
        times = sorted(elapsed for _at, elapsed in during)
        return {"attacker_sessions": sessions, "seconds": seconds, "sign_in_reruns_served": runs[0],
                "attacker_sessions_refused": refused[0],
                "signed_in_rerun_s_idle_median": round(statistics.median(idle), 3),
                "signed_in_reruns_during": len(times),
                "signed_in_rerun_s_during_median": round(statistics.median(times), 3) if times else None,
                "signed_in_rerun_s_during_p90": round(statistics.quantiles(times, n=10)[-1], 3) if len(times) >= 10 else None,
                "signed_in_rerun_s_during_max": round(times[-1], 3) if times else None,
                "signed_in_reruns_over_1s_at": [at for at, elapsed in during if elapsed > 1.0][:10]}  # fmt: skip
    finally:
        user.close()


def _signed_in_with_query(base: str, ssl_context: Any, page: str, query: str, address: str) -> tuple[browser.Session, browser.Run]:  # fmt: skip
    """A first visit to ``page?query`` that signs in, as someone following a shared link."""
    session = browser.Session(base, page, ssl_context=ssl_context, source_address=address, query_string=query)
    form = session.run()
    run = session.run(browser.sign_in_states(form, dash.PASSWORD))
    if not browser.element_kinds(run) & dash.DATA_KINDS:
        run = session.run()
    return session, run


def inputs(base: str, ssl_context: Any) -> dict[str, Any]:
    import urllib.parse

    from ui import planner as planner_state

    out: dict[str, Any] = {}
    session, run = _signed_in_with_query(base, ssl_context, "overview", "range=custom&from=2026-11-01&to=2999-12-31", dash.client_address(100))  # fmt: skip
    try:
        again = session.run()
        out["custom_future_range"] = {
            "exception": again.exception,
            "reason_shown": next(
                (t for t in again.texts if "future" in t.lower() or "today" in t.lower()), ""
            )[:160],
        }
        picker = next((e.selectbox for e in run.elements if e.WhichOneof("type") == "selectbox" and e.selectbox.label == "Data source"), None)  # fmt: skip
        out["billing_sources_in_data_source_picker"] = (
            None if picker is None else [o for o in picker.options if o.startswith("billing:")]
        )
    finally:
        session.close()
    shared = planner_state.to_url(planner_state.presets()["platform-500"])
    huge = ";".join("s=1e300" if part.startswith("s=") else part for part in shared.split(";"))
    # Signed in first, then the shared planner link (so a lost deep link cannot hide this one).
    session, _run = dash.sign_in(
        base, "overview", ssl_context=ssl_context, source_address=dash.client_address(101)
    )
    try:
        session.page_name, session.page_script_hash = "planner", ""
        session.query_string = urllib.parse.urlencode({"plan": huge})
        run = session.run()
        longest = max((len(d) for t in run.texts for d in re.findall(r"[\d,]{20,}", t)), default=0)
        out["planner_s_1e300"] = {
            "longest_number_chars": longest,
            "sfu_nodes": next((t for t in run.texts if t.startswith("SFU nodes")), "")[:80],
            "reason_shown": next((t for t in run.texts if "1e+300" in t or "clamped" in t.lower()), "")[:200],
        }
    finally:
        session.close()
    session, run = _signed_in_with_query(base, ssl_context, "streams", "range=7d", dash.client_address(102))
    try:
        out["deep_link_streams_range_7d_lands_on"] = {"page": run.page, "query": session.query_string,
                                                      "has_streams_title": "Streams" in run.texts}  # fmt: skip
    finally:
        session.close()
    return out


# ---------------------------------------------------------------------------------------------
# Store, simulator, webhooks (no dashboard)
# ---------------------------------------------------------------------------------------------


def store_attach(work: Path, app_dir: Path) -> dict[str, Any]:
    code = (
        "import sys; from sqlalchemy import text\n"
        "from store.engine import make_engine, open_store\n"
        f"url = 'sqlite:///{work / 'attach.db'}'\n"
        "open_store(url).dispose()\n"
        "engine = make_engine(url, read_only=True)\n"
        "try:\n"
        f"    with engine.connect() as c: c.execute(text(\"ATTACH DATABASE '{work / 'planted.db'}' AS planted\"))\n"
        "    print('attached')\n"
        "except Exception as exc:\n"
        "    print('refused:', str(exc).splitlines()[0][:120])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=app_dir, capture_output=True, text=True, timeout=60
    )
    return {"attach_on_read_only_engine": result.stdout.strip() or result.stderr.strip()[-200:],
            "file_created": (work / "planted.db").exists()}  # fmt: skip


def simulator_secret(app_dir: Path) -> dict[str, Any]:
    """Does the simulator start with its secret on the command line (where ps shows it)?"""
    command = [sys.executable, "-m", "simulator", "--scenario", "tours", "--api-port", "0", "--metrics-port", "0",
               "--api-secret", "visible-in-ps-0123456789"]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=app_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    started = shown = False
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break  # exited
            lines.append(line)
            if line.startswith("READY"):
                started = True
                shown = "visible-in-ps" in " ".join(psutil.Process(process.pid).cmdline())
                break
    finally:
        process.terminate()
        lines += process.communicate(timeout=30)[0].splitlines()
    return {"started_with_secret_on_command_line": started, "secret_in_ps": shown,
            "refusal": "" if started else "".join(lines).strip().splitlines()[-1][:160]}  # fmt: skip


def webhooks(work: Path, app_dir: Path, unsigned: int) -> dict[str, Any]:
    """The receiver of ``app_dir`` in a child process; the attacks from here."""
    port = _free_port()
    db = work / "webhooks.db"
    log_path = work / "webhooks.log"
    code = (
        "import asyncio, logging, sys\n"
        "from core.logs import setup_logging\n"
        "from collectors.webhooks import WebhookServer, make_webhook_app\n"
        "from store.engine import open_store\n"
        "setup_logging('INFO')\n"
        f"engine = open_store('sqlite:///{db}')\n"
        f"app = make_webhook_app(engine, {{'APIbench': 'bench-secret-0123456789abcdefghij'}}, 1048576, 1)\n"
        "import signal\n"
        "async def main():\n"
        f"    server = WebhookServer(app, '127.0.0.1', {port})\n"
        "    await server.start()\n"
        "    stop = asyncio.Event()\n"
        "    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)\n"
        "    await stop.wait()\n"
        "    await server.stop()\n"
        "asyncio.run(main())\n"
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", code], cwd=app_dir, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        _wait_port(port)
        out = asyncio.run(_webhook_attacks(port, unsigned))
        time.sleep(1.0)
    finally:
        process.terminate()
        process.wait(timeout=30)
    text = log_path.read_text(errors="replace")
    out["log_lines_total"] = len(text.splitlines())
    out["log_lines_refused"] = len(re.findall(r"(?i)refus", text))
    out["error_tracebacks"] = text.count("Traceback")
    import sqlite3

    with contextlib.closing(sqlite3.connect(db)) as connection:
        out["collector_counters"] = dict(
            connection.execute(
                "SELECT name, value FROM collector_counters WHERE name LIKE 'webhook_%'"
            ).fetchall()
        )
    return out


async def _webhook_attacks(port: int, unsigned: int) -> dict[str, Any]:
    import base64
    import hashlib

    import aiohttp
    import jwt

    url = f"http://127.0.0.1:{port}/livekit"
    out: dict[str, Any] = {}
    connector = aiohttp.TCPConnector(limit=50)
    async with aiohttp.ClientSession(connector=connector) as client:
        started = time.monotonic()
        semaphore = asyncio.Semaphore(50)

        async def one() -> int:
            async with semaphore, client.post(url, data=b"{}", headers={"Content-Type": "application/json"}) as response:  # fmt: skip
                return response.status

        statuses = await asyncio.gather(*(one() for _ in range(unsigned)))
        out["unsigned_posts"] = unsigned
        out["unsigned_statuses"] = sorted(set(statuses))
        out["unsigned_posts_s"] = round(time.monotonic() - started, 1)

        def signed(body: bytes, issued_ts: int, ttl_s: int) -> str:
            digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
            claims = {
                "iss": "APIbench",
                "nbf": issued_ts,
                "iat": issued_ts,
                "exp": issued_ts + ttl_s,
                "sha256": digest,
            }
            return jwt.encode(claims, "bench-secret-0123456789abcdefghij", algorithm="HS256")

        body = b'{"event":"room_started","id":"EV_old","createdAt":"1800000000","room":{"sid":"RM_x","name":"x"}}'
        old = signed(body, int(time.time()) - 86_400, 2 * 86_400)
        async with client.post(url, data=body, headers={"Authorization": old, "Content-Type": "application/webhook+json"}) as response:  # fmt: skip
            out["token_issued_24h_ago"] = response.status
        fresh = body.replace(b"EV_old", b"EV_ct")
        async with client.post(url, data=fresh, headers={"Authorization": signed(fresh, int(time.time()), 300),
                                                          "Content-Type": "text/plain"}) as response:  # fmt: skip
            out["signed_text_plain"] = response.status
    # 20 clients that drop mid-body (validly signed: the body is what they never finish);
    # 50 clients that send their headers slowly.
    token = signed(b"{}", int(time.time()), 300).encode()
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(
                b"POST /livekit HTTP/1.1\r\nHost: x\r\nAuthorization: " + token + b"\r\n"
                b'Content-Type: application/webhook+json\r\nContent-Length: 1000\r\n\r\n{"a":'
            )
    out["dropped_mid_body_clients"] = 20
    held = await _slow_clients(port, clients=50, limit_s=40.0)
    out["slow_header_clients"] = 50
    out["slow_header_held_s_median"] = round(statistics.median(held), 1)
    out["slow_header_held_s_max"] = round(max(held), 1)
    return out


async def _slow_clients(port: int, clients: int, limit_s: float) -> list[float]:
    """Each client sends its request head one byte a second; how long until the server closed it."""
    head = b"POST /livekit HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
    return list(
        await asyncio.gather(
            *(dash.trickle(port, head, byte_every_s=1.0, limit_s=limit_s) for _ in range(clients))
        )
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port}")


# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _direct(base: str) -> Iterator[tuple[str, Any]]:
    yield base, None


@contextlib.contextmanager
def _through_nginx(base: str) -> Iterator[tuple[str, Any]]:
    from harness.realparts import nginx_proxy

    with nginx_proxy(base) as proxy:
        yield proxy.https_base, proxy.ssl_context()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--app-dir", type=Path, default=REPO_ROOT, help="the checkout to attack (default: this one)"
    )
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--rounds", type=int, default=3, help="fresh servers for the race")
    parser.add_argument("--per-page", type=int, default=8, help="first sessions per page per round")
    parser.add_argument("--flood-sessions", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the flood")
    parser.add_argument("--guess-seconds", type=float, default=60.0, help="length of each guessing loop")
    parser.add_argument("--unsigned", type=int, default=20_000, help="unsigned webhook POSTs")
    parser.add_argument("--proxy", action="store_true", help="attack through the shipped nginx configuration")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    wanted = set(args.only or ["race", "csv", "guessing", "clear_cache", "uploads", "metrics", "resume",
                               "flood", "inputs", "store", "simulator", "webhooks"])  # fmt: skip
    results: dict[str, Any] = {"app_dir": str(args.app_dir), "proxy": args.proxy, "machine": machine()}
    with tempfile.TemporaryDirectory(prefix="castmeter-attacks-") as tmp:
        work = Path(tmp)
        env = dash.dashboard_env(work, dash.hostile_store(work / "fleet.db"), dash.password_hash())
        front: Front = _direct
        if args.proxy:
            front = _through_nginx

        if "race" in wanted:
            results["race"] = race(work, env, args.app_dir, args.rounds, args.per_page, front)
        dashboard_attacks = wanted & {"csv", "guessing", "clear_cache", "uploads", "metrics", "resume", "flood", "inputs"}  # fmt: skip
        if dashboard_attacks:
            with dash.served(work, env, app_dir=args.app_dir, name="attacks") as board, front(board.base) as (base, ctx):  # fmt: skip
                for name, attack in (
                    ("csv", lambda: csv_export(base, ctx)),
                    ("inputs", lambda: inputs(base, ctx)),
                    ("resume", lambda: resume(base, ctx)),
                    ("clear_cache", lambda: clear_cache(base, ctx, board.base)),
                    ("metrics", lambda: metrics(base, ctx)),
                    ("uploads", lambda: uploads(base, ctx, board)),
                    ("guessing", lambda: guessing(base, ctx, board, args.guess_seconds)),
                    ("flood", lambda: flood(base, ctx, args.flood_sessions, args.seconds)),
                ):
                    if name in wanted:
                        try:
                            results[name] = attack()
                        except Exception as exc:  # one failed attack must not hide the others
                            results[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        if "store" in wanted:
            results["store"] = store_attach(work, args.app_dir)
        if "simulator" in wanted:
            results["simulator"] = simulator_secret(args.app_dir)
        if "webhooks" in wanted:
            results["webhooks"] = webhooks(work, args.app_dir, args.unsigned)
    print(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
