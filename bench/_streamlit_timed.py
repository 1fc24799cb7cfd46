"""``streamlit run`` with a clock on every script run (a helper of bench/browser_latency.py).

    python bench/_streamlit_timed.py run app.py --server.port ...   (the arguments of `streamlit`)

The same Streamlit CLI, in the same process, with two of its methods wrapped before it starts:
``ScriptRunner._run_script`` (one script or fragment run, reruns included) and
``ScriptRunner._on_script_finished`` (after the script body: session-state cleanup, the
``script_finished`` event, and ``runner.postScriptGC``'s full collection, timed on its own
through the runner module's ``gc``). Each run appends one JSON line to
``$CASTMETER_BENCH_RUNLOG``: epoch start/end, the script body's time (reruns included), the
finish and gc times, how many times the script ran (``st.rerun``), the thread's CPU time, whether it was a fragment run, and the page. The wrappers cost two clock
reads; nothing else in the server changes.

What-if (``$CASTMETER_BENCH_GC=freeze``, never a default): ``gc.freeze()`` right after each
post-run collection, so the next one scans only the objects created since — what moving the
long-lived heap (imports, caches) out of the collector's way would save. (Turning the
collection off is a Streamlit option: ``--runner.postScriptGC false``.)

While the file named by ``$CASTMETER_BENCH_PROFILE_FLAG`` exists, every run is also profiled with
pyinstrument (in the script thread only) and the session saved to ``$CASTMETER_BENCH_PROFILE_DIR``
as ``<start epoch ms>.pyisession``: the browser benchmark turns this on for its profiling pass.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()
_STATE = threading.local()  # .finish_started: epoch when _on_script_finished began in this thread


def _log(record: dict[str, Any]) -> None:
    path = os.environ.get("CASTMETER_BENCH_RUNLOG")
    if not path:
        return
    line = json.dumps(record) + "\n"
    with _LOCK, open(path, "a", encoding="utf-8") as handle:
        handle.write(line)


def _page_of(rerun_data: Any) -> str:
    return str(getattr(rerun_data, "page_name", None) or getattr(rerun_data, "page_script_hash", "") or "")


def install() -> None:
    from streamlit.runtime.scriptrunner import script_runner

    runner_class: Any = script_runner.ScriptRunner
    real_gc = script_runner.gc
    gc_mode = os.environ.get("CASTMETER_BENCH_GC", "default")
    if gc_mode not in ("default", "freeze"):
        raise SystemExit(f"CASTMETER_BENCH_GC must be default or freeze, not {gc_mode!r}")

    class TimedGC:
        """The script runner's ``gc`` module with its ``collect`` timed (postScriptGC)."""

        def __getattr__(self, name: str) -> Any:
            return getattr(real_gc, name)

        def collect(self, *args: Any) -> int:
            started = time.perf_counter()
            try:
                found = int(real_gc.collect(*args))
                if gc_mode == "freeze":
                    real_gc.freeze()  # the survivors are never scanned again
                return found
            finally:
                _STATE.gc_s = getattr(_STATE, "gc_s", 0.0) + time.perf_counter() - started

    script_runner.gc = TimedGC()  # type: ignore[assignment]
    original_run = runner_class._run_script
    original_finished = runner_class._on_script_finished
    profile_flag = os.environ.get("CASTMETER_BENCH_PROFILE_FLAG")
    profile_dir = os.environ.get("CASTMETER_BENCH_PROFILE_DIR")

    def on_script_finished(self: Any, *args: Any, **kwargs: Any) -> None:
        started = time.time()
        _STATE.finishes = getattr(_STATE, "finishes", 0) + 1  # more than one: st.rerun() inside the run
        try:
            original_finished(self, *args, **kwargs)
        finally:
            _STATE.finish_s = getattr(_STATE, "finish_s", 0.0) + time.time() - started

    def run_script(self: Any, rerun_data: Any) -> None:
        _STATE.finishes = 0
        _STATE.finish_s = 0.0
        _STATE.gc_s = 0.0
        profiler = None
        if profile_flag and profile_dir and Path(profile_flag).exists():
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.001, async_mode="disabled")
            profiler.start()
        started, started_cpu = time.time(), time.thread_time()
        try:
            original_run(self, rerun_data)
        finally:
            ended, cpu_s = time.time(), time.thread_time() - started_cpu
            record: dict[str, Any] = {
                "start": started,
                "end": ended,
                "body_s": round(ended - started - _STATE.finish_s, 5),
                "finish_s": round(_STATE.finish_s, 5),
                "script_runs": _STATE.finishes,
                "gc_s": round(_STATE.gc_s, 5),
                "cpu_s": round(cpu_s, 5),
                "fragment": bool(getattr(rerun_data, "fragment_id_queue", None)),
                "auto": bool(getattr(rerun_data, "is_auto_rerun", False)),
                "page": _page_of(rerun_data),
            }
            if profiler is not None and profile_dir:
                profiler.stop()
                session = profiler.last_session
                if session is not None:
                    target = Path(profile_dir) / f"{int(started * 1000)}.pyisession"
                    session.save(str(target))
                    record["profile"] = target.name
            _log(record)

    runner_class._run_script = run_script
    runner_class._on_script_finished = on_script_finished


def main() -> int:
    # Run as a file, this directory heads sys.path; the app's own imports must not see it.
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [entry for entry in sys.path if not entry or Path(entry).resolve() != Path(here)]
    install()
    from streamlit.web import cli

    sys.argv = ["streamlit", *sys.argv[1:]]
    return int(cli.main() or 0)


if __name__ == "__main__":
    sys.exit(main())
