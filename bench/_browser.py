"""Timing a Streamlit page in a real Chromium (a helper of bench/browser_latency.py).

Everything is measured on the page's own clock (``performance.timeOrigin + performance.now()``,
epoch milliseconds, the same wall clock the server's run log uses):

- **the last change**: a MutationObserver on the whole document keeps the time of the last
  mutation outside Streamlit's header (the header holds the "running" indicator, whose icon
  changes every 200 ms while a script runs and fades out 200 ms after it — not content);
- **the input**: the time stamp of the last trusted ``pointerup`` or ``keydown`` (a click on an
  option, Enter in a text input, an arrow key on a slider); for a load, the navigation start;
- **the websocket**: ``WebSocket`` is wrapped before Streamlit's bundle runs, so every frame's
  arrival time and size is recorded, and each ForwardMsg's top-level protobuf fields are read
  to find ``script_finished`` (field 6) and its status (2 = stopped early for a rerun);
- **main-thread time**: CDP ``Performance.getMetrics`` (TaskDuration, ScriptDuration,
  LayoutDuration, RecalcStyleDuration) before and after, and the long tasks (> 50 ms);
- **what is drawn**: plotly figures (``.js-plotly-plot``) and their points, Vega charts,
  data frames, DOM nodes.

A step is over when the page has received a ``script_finished`` after the input, no script is
running, every plotly chart element holds its drawing (the chart bundle loads lazily), and
nothing has changed for a quiet period; its time is input → last change.
"""

from __future__ import annotations

import contextlib
import json
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

INIT_SCRIPT = r"""
(() => {
  if (window.__cm) return;
  const now = () => performance.timeOrigin + performance.now();
  const S = window.__cm = {lastMut: 0, firstMut: 0, lastMutAll: 0, mutations: 0, input: 0,
                           sent: [], recv: [], longtasks: []};
  const outsideContent = (node) => {
    const element = node && (node.nodeType === 1 ? node : node.parentElement);
    return !!(element && element.closest && element.closest('header, [data-testid="stHeader"]'));
  };
  new MutationObserver((records) => {
    const t = now();
    S.lastMutAll = t;
    if (records.some((r) => !outsideContent(r.target))) {
      S.lastMut = t;
      if (!S.firstMut) S.firstMut = t;
      S.mutations += records.length;
    }
  }).observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
  for (const type of ['pointerup', 'keydown']) {
    window.addEventListener(type, (e) => { if (e.isTrusted) S.input = performance.timeOrigin + e.timeStamp; }, true);
  }
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) S.longtasks.push([performance.timeOrigin + e.startTime, e.duration]);
    }).observe({type: 'longtask', buffered: true});
  } catch (e) {}
  const varint = (b, i) => { let v = 0, shift = 0, x; do { x = b[i++]; v += (x & 0x7f) * 2 ** shift; shift += 7; } while (x & 0x80 && i < b.length); return [v, i]; };
  // Top-level fields of a protobuf message: [[field, varint value or null], ...].
  const fields = (buffer) => {
    const b = new Uint8Array(buffer), out = [];
    let i = 0;
    while (i < b.length) {
      let tag; [tag, i] = varint(b, i);
      const field = Math.floor(tag / 8), wire = tag & 7;
      if (wire === 0) { let v; [v, i] = varint(b, i); out.push([field, v]); }
      else if (wire === 1) { i += 8; out.push([field, null]); }
      else if (wire === 2) { let n; [n, i] = varint(b, i); i += n; out.push([field, null]); }
      else if (wire === 5) { i += 4; out.push([field, null]); }
      else break;
    }
    return out;
  };
  const size = (d) => (d && (d.byteLength ?? d.size ?? d.length)) || 0;
  const Native = window.WebSocket;
  class TimedWebSocket extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => {
        const t = now();
        let finished = -1;
        if (e.data instanceof ArrayBuffer) {
          for (const [field, value] of fields(e.data)) if (field === 6) finished = value ?? 0;
        }
        S.recv.push([t, size(e.data), finished]);
      });
    }
    send(d) { S.sent.push([now(), size(d)]); return super.send(d); }
  }
  window.WebSocket = TimedWebSocket;
})();
"""

# Done: a script_finished (not "stopped for a rerun") after `since`, no script running, and
# `quiet` ms without a content change since the last one (which came after `since`).
DONE_JS = """({since, quiet, marker}) => {
  const S = window.__cm; if (!S) return false;
  const t = performance.timeOrigin + performance.now();
  const finished = S.recv.some(([rt, , status]) => rt >= since && status >= 0 && status !== 2);
  const widget = document.querySelector('[data-testid="stStatusWidget"]');
  const running = !!document.querySelector('[data-testid="stStatusWidgetRunningIcon"]')
    || !!(widget && widget.innerText.includes('Running'));
  // Charts load their bundle lazily: a chart element without its drawing is not done yet.
  // Until its bundle has loaded, a lazy element (a chart, a table) is Streamlit's Suspense
  // fallback, "stSkeleton", with no chart element at all: wait for every one to be replaced.
  const drawn = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
    .every((el) => el.querySelector('.js-plotly-plot .main-svg'))
    && !document.querySelector('[data-testid="stSkeleton"]');
  // A page that sets a marker when done (the Overview's "Rendered ..." caption): wait for it too.
  const main = document.querySelector('[data-testid="stMain"]');
  const marked = !marker || !!(main && main.innerText.includes(marker));
  return finished && !running && drawn && marked && S.lastMut >= since && t - S.lastMut >= quiet;
}"""

COLLECT_JS = """(since) => {
  const S = window.__cm;
  const after = (rows) => rows.filter((r) => r[0] >= since);
  const recv = after(S.recv), sent = after(S.sent);
  const finished = recv.filter((r) => r[2] >= 0 && r[2] !== 2).map((r) => r[0]);
  const resources = performance.getEntriesByType('resource')
    .filter((e) => performance.timeOrigin + e.startTime >= since);
  const messages = resources.filter((e) => e.name.includes('/_stcore/message'));
  const plots = [...document.querySelectorAll('.js-plotly-plot')].map((gd) => {
    const traces = gd.data || [];
    return {traces: traces.length,
            points: traces.reduce((n, tr) => n + ((tr.x && tr.x.length) || (tr.y && tr.y.length) || 0), 0),
            webgl: traces.some((tr) => String(tr.type || '').endsWith('gl'))};
  });
  const largest = [...resources].sort((a, b) => b.transferSize - a.transferSize).slice(0, 3)
    .map((e) => ({name: e.name.split('/').pop().slice(0, 60), kb: Math.round(e.transferSize / 1024),
                  ms: Math.round(e.duration)}));
  return {
    input: S.input, last_change: S.lastMut, first_change: S.firstMut, mutations: S.mutations,
    finished_at: finished.length ? finished[finished.length - 1] : null,
    first_sent: sent.length ? sent[0][0] : null,
    ws_sent_bytes: sent.reduce((n, r) => n + r[1], 0),
    ws_received_bytes: recv.reduce((n, r) => n + r[1], 0), ws_messages: recv.length,
    http_message_bytes: messages.reduce((n, e) => n + e.transferSize, 0),
    resource_bytes: resources.reduce((n, e) => n + e.transferSize, 0), resources: resources.length,
    largest_resources: largest,
    longtasks: after(S.longtasks).map((r) => r[1]),
    plotly_figures: plots.length, plotly_points: plots.reduce((n, p) => n + p.points, 0),
    plotly_points_max: plots.reduce((n, p) => Math.max(n, p.points), 0),
    plotly_traces: plots.reduce((n, p) => n + p.traces, 0), plotly_webgl: plots.filter((p) => p.webgl).length,
    vega_charts: document.querySelectorAll('[data-testid="stVegaLiteChart"]').length,
    dataframes: document.querySelectorAll('[data-testid="stDataFrame"]').length,
    dom_nodes: document.getElementsByTagName('*').length,
  };
}"""

RESET_JS = """() => { const S = window.__cm; S.input = 0; S.firstMut = 0; S.mutations = 0;
  return performance.timeOrigin + performance.now(); }"""

ACTION_TIMEOUT_MS = 15_000
METRICS = ("TaskDuration", "ScriptDuration", "LayoutDuration", "RecalcStyleDuration")


class StepTimeout(Exception):
    """The page did not settle within the step's time limit."""


class RunLog:
    """The server's per-run timings (bench/_streamlit_timed.py), read on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def runs(self, start_s: float, end_s: float) -> list[dict[str, Any]]:
        """Runs that started inside [start_s, end_s] (epoch seconds)."""
        if not self.path.exists():
            return []
        found = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                run = json.loads(line)
            except json.JSONDecodeError:
                continue
            if start_s <= run["start"] <= end_s:
                found.append(run)
        return found


def _js_bucket(url: str, function: str) -> str | None:
    if function in ("(idle)", "(root)"):
        return None
    if function == "(program)":
        return "browser internals (program: parsing, layout, paint)"
    if function == "(garbage collector)":
        return "JS garbage collector"
    name = url.split("?", 1)[0].rsplit("/", 1)[-1]
    if not name:
        return "native / no script"
    lowered = name.lower()
    for marker, label in (("plotly", "plotly.js"), ("vega", "vega"), ("glide", "data grid (glide)"),
                          ("dataframe", "data grid (glide)"), ("arrow", "arrow / data frames"),
                          ("protobuf", "protobuf decoding"), ("index.", "streamlit core (React)")):  # fmt: skip
        if marker in lowered:
            return label
    return name


def js_by_bundle(profile: dict[str, Any]) -> dict[str, Any]:
    """Self time of a CDP CPU profile by bundle (plotly.js, Streamlit's React core, the data
    grid, Vega, ...) and the busiest functions."""
    nodes = {node["id"]: node for node in profile.get("nodes", [])}
    samples, deltas = profile.get("samples", []), profile.get("timeDeltas", [])
    by_bundle: dict[str, float] = {}
    by_function: dict[str, float] = {}
    for index, node_id in enumerate(samples):
        elapsed_ms = (deltas[index + 1] if index + 1 < len(deltas) else 0) / 1000
        frame = nodes.get(node_id, {}).get("callFrame", {})
        label = _js_bucket(frame.get("url", ""), frame.get("functionName", ""))
        if label is None:
            continue
        by_bundle[label] = by_bundle.get(label, 0.0) + elapsed_ms
        name = f"{frame.get('functionName') or '(anonymous)'} @ {label}"
        by_function[name] = by_function.get(name, 0.0) + elapsed_ms

    def top(table: dict[str, float], count: int) -> list[list[Any]]:
        return [[k, round(v, 1)] for k, v in sorted(table.items(), key=lambda kv: -kv[1])[:count]]

    return {"busy_ms": round(sum(by_bundle.values()), 1), "by_bundle_ms": top(by_bundle, 8),
            "functions_ms": top(by_function, 8)}  # fmt: skip


class Tab:
    """One browser tab on a Streamlit app, with a CDP session for main-thread metrics."""

    js_profile = False  # True: a CDP CPU profile of each step (the profiling pass)

    def __init__(
        self, context: Any, runlog: RunLog, quiet_ms: int, step_timeout_ms: int, password: str = ""
    ) -> None:
        self.password = password
        self.page = context.new_page()
        # Finding and clicking a control: seconds; waiting for the page to settle: step_timeout_ms.
        self.page.set_default_timeout(ACTION_TIMEOUT_MS)
        self.cdp = context.new_cdp_session(self.page)
        self.cdp.send("Performance.enable")
        self.runlog = runlog
        self.quiet_ms = quiet_ms
        self.step_timeout_ms = step_timeout_ms

    def metrics(self) -> dict[str, float]:
        values = {m["name"]: m["value"] for m in self.cdp.send("Performance.getMetrics")["metrics"]}
        return {name: float(values.get(name, 0.0)) for name in METRICS}

    def _js_start(self) -> None:
        if self.js_profile:
            self.cdp.send("Profiler.enable")
            self.cdp.send("Profiler.setSamplingInterval", {"interval": 500})
            self.cdp.send("Profiler.start")

    def _js_stop(self, sample: dict[str, Any]) -> dict[str, Any]:
        if self.js_profile:
            try:
                sample["js"] = js_by_bundle(self.cdp.send("Profiler.stop")["profile"])
            except Exception as exc:  # e.g. the renderer changed during a navigation
                sample["js"] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
        return sample

    def _settle(self, since_ms: float, marker: str = "") -> None:
        try:
            self.page.wait_for_function(
                DONE_JS, arg={"since": since_ms, "quiet": self.quiet_ms, "marker": marker}, polling=100,
                timeout=self.step_timeout_ms,
            )  # fmt: skip
        except Exception as exc:  # playwright's TimeoutError
            raise StepTimeout(f"not settled within {self.step_timeout_ms} ms: {exc}") from exc

    def load(self, url: str, marker: str = "") -> dict[str, Any]:
        """Navigate (a deep link); input = navigation start, to the last change.

        With a ``password`` the link lands on the sign-in form (a new tab is a new Streamlit
        session): the time to the settled form (``sign_in_form_s``) plus the time from the
        "Sign in" click to the page's last change (``after_sign_in_s``) — the typing between
        them is the operator's, not the page's."""
        self._js_start()
        self.page.goto(url, wait_until="commit")
        since_ms = float(self.page.evaluate("() => performance.timeOrigin"))
        if not self.password:
            self._settle(since_ms, marker)
            after = self.metrics()
            return self._js_stop(self._sample(since_ms, since_ms, None, after))
        field = self.page.get_by_label("Password", exact=True)
        field.wait_for(timeout=self.step_timeout_ms)  # a cold server imports everything first
        self._settle(since_ms)
        form_s = (float(self.page.evaluate("() => window.__cm.lastMut")) - since_ms) / 1000
        field.fill(self.password)
        submit_since_ms = float(self.page.evaluate(RESET_JS))
        self.page.get_by_role("button", name="Sign in").click()
        self._settle(submit_since_ms, marker)
        after = self.metrics()
        facts = self.page.evaluate("() => window.__cm.input")
        input_ms = float(facts) if facts else submit_since_ms
        sample = self._sample(submit_since_ms, input_ms, None, after)
        sample["sign_in_form_s"] = round(form_s, 4)
        sample["after_sign_in_s"] = sample["total_s"]
        sample["total_s"] = round(form_s + sample["total_s"], 4)
        return self._js_stop(sample)

    def step(
        self, action: Callable[[], None], prepare: Callable[[], None] | None = None, marker: str = ""
    ) -> dict[str, Any]:
        """Perform ``action`` (user input) and time it from the input to the last change;
        ``prepare`` (opening a list, typing before Enter) runs before the clock starts."""
        if prepare is not None:
            prepare()
        before = self.metrics()
        since_ms = float(self.page.evaluate(RESET_JS))
        self._js_start()
        action()
        self._settle(since_ms, marker)
        after = self.metrics()
        facts = self.page.evaluate("() => window.__cm.input")
        input_ms = float(facts) if facts else since_ms
        return self._js_stop(self._sample(since_ms, input_ms, before, after))

    def watch(self, window_s: float) -> dict[str, Any] | None:
        """Wait for the next change nobody asked for (a live refresh tick) within ``window_s``;
        time it from its first to its last change, with the main-thread time it took."""
        before = self.metrics()
        since_ms = float(self.page.evaluate(RESET_JS))
        try:
            self.page.wait_for_function(
                DONE_JS, arg={"since": since_ms, "quiet": self.quiet_ms, "marker": ""}, polling=100,
                timeout=int(window_s * 1000),
            )  # fmt: skip
        except Exception:
            return None
        after = self.metrics()
        sample = self._sample(since_ms, since_ms, before, after)
        first = sample["first_change_ms"]
        sample["tick_wall_s"] = None if first is None else round((sample["last_change_ms"] - first) / 1000, 4)
        return sample

    def _sample(
        self, since_ms: float, input_ms: float, before: dict[str, float] | None, after: dict[str, float]
    ) -> dict[str, Any]:
        facts = self.page.evaluate(COLLECT_JS, since_ms)
        finished = facts["finished_at"]
        # The end: the last change, or the run's script_finished when the rerun changed nothing
        # after it (the list closing was the last change): the input is not handled before.
        last = max(float(facts["last_change"]), float(finished or 0.0))
        runs = self.runlog.runs(input_ms / 1000 - 0.05, last / 1000)
        total_s = (last - input_ms) / 1000
        sample: dict[str, Any] = {"total_s": round(total_s, 4)}
        if runs:
            first_start = min(run["start"] for run in runs)
            newest = max(runs, key=lambda run: run["start"])
            body_end = newest["start"] + newest["body_s"]
            sample.update(
                server_runs=len(runs),
                server_fragment_runs=sum(1 for run in runs if run.get("fragment")),
                server_script_runs=sum(run.get("script_runs", 1) for run in runs),
                server_s=round(sum(run["end"] - run["start"] for run in runs), 4),
                server_body_s=round(sum(run["body_s"] for run in runs), 4),
                server_finish_s=round(sum(run["finish_s"] for run in runs), 4),
                server_gc_s=round(sum(run.get("gc_s", 0.0) for run in runs), 4),
                server_cpu_s=round(sum(run["cpu_s"] for run in runs), 4),
                before_server_s=round(first_start - input_ms / 1000, 4),
                # The script body's end → its script_finished in the page: the forced gc when it
                # ran before the message left (it holds the GIL), Nagle/delayed ACK, and the
                # page's main thread busy with earlier messages.
                delivery_s=None if finished is None else round(finished / 1000 - body_end, 4),
            )
        sample["browser_tail_s"] = None if finished is None else round((last - finished) / 1000, 4)
        used = {name: after[name] - (before or {}).get(name, 0.0) for name in METRICS}
        sample.update(
            main_thread_ms=round(used["TaskDuration"] * 1000, 1),
            script_ms=round(used["ScriptDuration"] * 1000, 1),
            layout_ms=round(used["LayoutDuration"] * 1000, 1),
            style_ms=round(used["RecalcStyleDuration"] * 1000, 1),
            long_tasks=len(facts["longtasks"]),
            long_task_ms=round(sum(facts["longtasks"]), 1),
        )
        for key in ("ws_sent_bytes", "ws_received_bytes", "ws_messages", "http_message_bytes", "resource_bytes",
                    "resources", "largest_resources", "mutations", "plotly_figures", "plotly_points",
                    "plotly_points_max", "plotly_traces", "plotly_webgl", "vega_charts", "dataframes",
                    "dom_nodes"):  # fmt: skip
            sample[key] = facts[key]
        sample["last_change_ms"] = last
        sample["first_change_ms"] = facts["first_change"] or None
        return sample

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.page.close()


def nearest_rank(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def summarise(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Median, p90 (nearest rank) and the medians of each part of the split."""
    ok = [s for s in samples if "total_s" in s]
    out: dict[str, Any] = {"n": len(ok), "errors": [s["error"] for s in samples if "error" in s][:3]}
    if not ok:
        out.update(median_s=None, p90_s=None)
        return out
    totals = [s["total_s"] for s in ok]
    out.update(
        median_s=round(statistics.median(totals), 4),
        p90_s=round(nearest_rank(totals, 0.9), 4),
        first_s=totals[0],
        samples_s=totals,
    )
    split: dict[str, Any] = {}
    for key in ("sign_in_form_s", "after_sign_in_s", "before_server_s", "server_s", "server_body_s", "server_finish_s", "server_gc_s", "server_cpu_s",
                "delivery_s",
                "browser_tail_s", "main_thread_ms", "script_ms", "layout_ms", "style_ms", "long_task_ms",
                "ws_received_bytes", "http_message_bytes", "resource_bytes", "server_runs"):  # fmt: skip
        values = [s[key] for s in ok if s.get(key) is not None]
        if values:
            split[key] = round(statistics.median(values), 4)
    out["split_median"] = split
    last = ok[-1]
    out["drawn"] = {key: last[key] for key in ("plotly_figures", "plotly_points", "plotly_points_max",
                                               "plotly_traces", "plotly_webgl", "vega_charts", "dataframes",
                                               "dom_nodes")}  # fmt: skip
    return out


def timed_steps(count: int, deadline: float, step: Callable[[int], dict[str, Any]]) -> list[dict[str, Any]]:
    """Up to ``count`` samples, stopping early at ``deadline`` (monotonic); a failed step is
    recorded with its error and ends the series (the page state is then unknown)."""
    samples: list[dict[str, Any]] = []
    for index in range(count):
        if time.monotonic() > deadline:
            break
        try:
            samples.append(step(index))
        except Exception as exc:
            samples.append({"error": f"{type(exc).__name__}: {str(exc)[:300]}"})
            break
    return samples
