"""Where a server-side script run spent its time, from pyinstrument sessions (a helper of
bench/browser_latency.py's profiling pass).

- ``buckets``: self time by what does the work — SQL in the driver (sqlite3's C calls, psycopg),
  SQLAlchemy, pandas, numpy, plotly, pyarrow, yaml, Streamlit (its own work, including protobuf
  marshalling), the forced ``gc.collect(2)`` after each run (``runner.postScriptGC``), waiting
  (locks, futures), imports, castmeter's own code, the rest (pyinstrument 5 records C calls;
  a function's own time sits in a synthetic ``[self]`` child and is given to the function);
- ``functions``: castmeter functions (files under the repository) by cumulative time, counted
  once per call chain (recursion is not double counted), with ``file:line`` of the function;
- ``calls_out``: the library calls castmeter makes, by (castmeter function → library function),
  cumulative: where a page hands work to plotly, pandas or Streamlit.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def is_project(path: str) -> bool:
    """A castmeter source file (absolute, under the repository, not the venv or bench/)."""
    if not path.startswith("/") or "site-packages" in path or "/bench/" in path:
        return False
    try:
        Path(path).resolve().relative_to(REPO_ROOT)
    except ValueError:
        return False
    return True


def short(path: str) -> str:
    if path.startswith("/"):
        try:
            return str(Path(path).resolve().relative_to(REPO_ROOT))
        except ValueError:
            pass
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    return Path(path).name


def _real(frame: Any) -> Any:
    """pyinstrument keeps a function's own time in a synthetic ``[self]`` child."""
    while frame is not None and (frame.is_synthetic or not frame.file_path):
        frame = frame.parent
    return frame


def bucket(frame: Any) -> str:
    """What did the work in ``frame`` (its own time)."""
    frame = _real(frame)
    if frame is None:
        return "other"
    path, function = frame.file_path or "", frame.function or ""
    if path == "<built-in>":
        if function == "collect":
            return "gc.collect (postScriptGC)"
        if function.startswith(("Cursor.", "Connection.")) or function in ("PQexec", "PQgetResult"):
            return "SQL in the driver"
        if function in ("lock.acquire", "wait", "select", "poll", "sleep") or function.endswith(".wait"):
            return "waiting (locks, futures, sockets)"
        parent = _real(frame.parent)
        return "other" if parent is None or parent is frame else bucket(parent)
    if path.startswith("<frozen importlib"):
        return "imports"
    if "site-packages/" in path:
        package = path.split("site-packages/", 1)[1].split("/", 1)[0]
        if package in ("psycopg", "psycopg_binary", "psycopg_c", "psycopg_pool"):
            return "SQL in the driver"
        if package in ("yaml", "_yaml"):
            return "yaml"
        if package in ("google", "protobuf"):
            return "streamlit"
        return package
    if is_project(path):
        return "castmeter code"
    if "bench/_streamlit_timed" in path:  # the timed wrapper around gc.collect and the runner
        return "gc.collect (postScriptGC)" if function == "collect" else "streamlit"
    return "python stdlib / other"


def _label(frame: Any) -> str:
    path = frame.file_path or ""
    if path == "<built-in>":
        return f"{frame.function} (C)"
    return f"{short(path)} {frame.function}"


def summarise_sessions(paths: list[Path]) -> dict[str, Any] | None:
    from pyinstrument.session import Session

    sessions = [Session.load(str(path)) for path in paths if path.exists()]
    if not sessions:
        return None
    session = sessions[0]
    for other in sessions[1:]:
        session = Session.combine(session, other)
    root = session.root_frame()
    if root is None:
        return None
    buckets: dict[str, float] = defaultdict(float)
    functions: dict[str, float] = defaultdict(float)
    calls_out: dict[str, float] = defaultdict(float)
    other_time: dict[str, float] = defaultdict(float)

    def walk(frame: Any, project_stack: tuple[str, ...], last_project: str | None) -> None:
        self_time = frame.time - sum(child.time for child in frame.children)
        if self_time > 0:
            where = bucket(frame)
            buckets[where] += self_time
            if where == "python stdlib / other":
                real = _real(frame)
                other_time[_label(real) if real is not None else "?"] += self_time
        path = frame.file_path or ""
        stack = project_stack
        project_here = last_project
        if frame.is_synthetic:
            pass
        elif is_project(path):
            key = f"{short(path)}:{frame.line_no} {frame.function}"
            if key not in project_stack:
                functions[key] += frame.time
                stack = (*project_stack, key)
            project_here = key
        elif (
            last_project is not None and frame.parent is not None and is_project(frame.parent.file_path or "")
        ):
            calls_out[f"{last_project} → {_label(frame)}"] += frame.time
        for child in frame.children:
            walk(child, stack, project_here)

    walk(root, (), None)
    total = root.time

    def top(table: dict[str, float], count: int) -> list[list[Any]]:
        return [[key, round(value, 4)] for key, value in sorted(table.items(), key=lambda kv: -kv[1])[:count]]

    return {
        "profiled_s": round(total, 4),
        "runs": len(sessions),
        "buckets": top(buckets, 12),
        "functions": top(functions, 15),
        "calls_out": top(calls_out, 12),
        "other": top(other_time, 8),
    }
