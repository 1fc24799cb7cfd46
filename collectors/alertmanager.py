"""Live alerts to one or more Alertmanagers (API v2), so that their grouping, routing,
silences and inhibitions apply to castmeter's alerts.

``AlertmanagerForwarder`` is a collector tick hook that runs right after the alert evaluation
hook. Each tick it reads castmeter's alert state from the store — the firing alerts, and the
alerts resolved in the last ``resolved_resend_s`` — and, when that set changed or every
``resend_interval_s``, hands it to a background thread that POSTs it to ``/api/v2/alerts`` on
every configured Alertmanager, as Prometheus does:

- a firing alert: ``startsAt`` = when it fired, ``endsAt`` = now + 4 × the resend interval
  (re-sent before then; should castmeter stop, Alertmanager resolves it itself);
- a resolved alert: ``endsAt`` = when it resolved;
- labels: ``alertname``, ``severity``, the target's label (``node``, ``room``…), the rule's own
  labels and ``[alerts.alertmanager] labels``; annotations: summary, description, value;
  ``generatorURL``: the dashboard's Alerts page for that rule and target.

Because it sends state, not events, nothing is lost while an Alertmanager is down: each attempt
is retried with backoff (tenacity), the failure is recorded (``alertmanager_status``, a counter,
castmeter_alertmanager_up, a log line), and the next exchange delivers what is firing then.
Collection never waits for it. After each exchange the thread reads back Alertmanager's view
of those alerts (active, silenced by whom, inhibited) into ``alertmanager_alerts`` for the
Alerts page.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests
from sqlalchemy import Engine, delete
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from analytics.alerts.promql import alert_annotations, target_label
from analytics.alerts.rules import RuleSet
from collectors import self_metrics
from collectors.webhook_sessions import bump_counter
from core.logs import redact, register_secret
from store import schema
from store.queries.alerts import alerts_to_forward
from store.upsert import upsert

log = logging.getLogger(__name__)
IDLE_POLL_S = 0.05  # how often wait_idle looks

RECEIVER = "alertmanager"
MAX_ERROR_CHARS = 300


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def parse_iso(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def display_url(url: str) -> str:
    """The URL without credentials (what is stored, logged and shown)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@dataclass(frozen=True)
class OutgoingAlert:
    rule: str
    target: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_ts: int
    ends_ts: int  # for a firing alert: when Alertmanager should resolve it if not re-sent
    resolved: bool
    generator_url: str

    def body(self) -> dict[str, Any]:
        return {
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": iso(self.starts_ts),
            "endsAt": iso(self.ends_ts),
            "generatorURL": self.generator_url,
        }


def _format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "no data"
    return f"{value:.4g} {unit}".strip()


def build_alerts(
    rows: Sequence[Mapping[str, Any]],
    ruleset: RuleSet,
    *,
    now_ts: int,
    valid_for_s: int,
    dashboard_url: str,
    extra_labels: Mapping[str, str],
) -> list[OutgoingAlert]:
    """The API v2 alerts for castmeter's firing and recently resolved alerts
    (``store.queries.alerts.alerts_to_forward`` rows)."""
    rules = {rule.name: rule for rule in ruleset.rules}
    alerts: list[OutgoingAlert] = []
    for row in rows:
        name, target = str(row["rule"]), str(row["target"])
        rule = rules.get(name)
        labels: dict[str, str] = {"alertname": name, "severity": str(row["severity"])}
        annotations: dict[str, str] = {}
        if rule is not None:
            labels.update({key: str(value) for key, value in rule.labels.items()})
            label = target_label(rule)
            if label is not None:
                labels[label] = target
            for key, template in alert_annotations(rule).items():
                annotations[key] = (
                    template.replace(f"{{{{ $labels.{label} }}}}", target) if label else template
                )
            annotations["value"] = _format_value(row["value"], rule.spec.unit)
        else:  # a rule since removed from the rules file: still resolve what it fired
            labels["target"] = target
            annotations["summary"] = f"{name} on {target}"
        for key, value in extra_labels.items():
            labels.setdefault(key, value)  # as Prometheus's external labels: never override
        resolved = row["resolved_ts"] is not None
        fired_ts = int(row["fired_ts"] if row["fired_ts"] is not None else row["resolved_ts"] or now_ts)
        alerts.append(
            OutgoingAlert(
                rule=name,
                target=target,
                labels=labels,
                annotations=annotations,
                starts_ts=fired_ts,
                ends_ts=int(row["resolved_ts"]) if resolved else now_ts + valid_for_s,
                resolved=resolved,
                generator_url=f"{dashboard_url}/alerts?{urlencode({'rule': name, 'target': target})}",
            )
        )
    return alerts


class AlertmanagerError(Exception):
    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass
class _Endpoint:
    url: str  # as configured (may hold credentials)
    shown: str  # without credentials
    consecutive_failures: int = 0
    last_success_ts: int | None = None


class AlertmanagerClient:
    """POST /api/v2/alerts and the reads behind the Alerts page's view, for one Alertmanager."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.session = requests.Session()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.session.request(method, f"{self.url}{path}", timeout=self.timeout_s, **kwargs)
        except requests.RequestException as exc:
            raise AlertmanagerError(f"{type(exc).__name__}: {exc}", retry=True) from None
        if response.status_code >= 300:
            retry = response.status_code == 429 or response.status_code >= 500
            raise AlertmanagerError(f"HTTP {response.status_code}: {response.text[:200]}", retry=retry)
        return response.json() if response.content else None

    def post_alerts(self, alerts: Sequence[OutgoingAlert]) -> None:
        self._request("POST", "/api/v2/alerts", json=[alert.body() for alert in alerts])

    def alerts(self) -> list[dict[str, Any]]:
        params = {"active": "true", "silenced": "true", "inhibited": "true", "unprocessed": "true"}
        return list(self._request("GET", "/api/v2/alerts", params=params) or [])

    def silence(self, silence_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/api/v2/silence/{silence_id}") or {})


def view_rows(
    url: str,
    sent: Sequence[OutgoingAlert],
    answered: Sequence[Mapping[str, Any]],
    silences: Mapping[str, Mapping[str, Any]],
    now_ts: int,
) -> list[dict[str, Any]]:
    """Alertmanager's alerts that are castmeter's firing alerts (same label set), as
    ``alertmanager_alerts`` rows."""
    by_labels = {tuple(sorted(alert.labels.items())): alert for alert in sent if not alert.resolved}
    rows = []
    for item in answered:
        labels = {str(k): str(v) for k, v in dict(item.get("labels") or {}).items()}
        alert = by_labels.get(tuple(sorted(labels.items())))
        if alert is None:
            continue
        status = dict(item.get("status") or {})
        silenced_by = [str(s) for s in status.get("silencedBy") or []]
        notes = []
        for silence_id in silenced_by:
            silence = silences.get(silence_id) or {}
            until = parse_iso(silence.get("endsAt"))
            until_text = f" until {iso(until)[:16].replace('T', ' ')} UTC" if until else ""
            comment = str(silence.get("comment") or "").strip()
            notes.append(
                f"{silence.get('createdBy') or 'someone'}{until_text}" + (f": {comment}" if comment else "")
            )
        rows.append(
            {
                "url": url,
                "fingerprint": str(item.get("fingerprint") or "")[:64],
                "rule": alert.rule,
                "target": alert.target,
                "state": str(status.get("state") or "unprocessed")[:20],
                "silenced_by": ",".join(silenced_by),
                "inhibited_by": ",".join(str(s) for s in status.get("inhibitedBy") or []),
                "note": "; ".join(notes),
                "receivers": ",".join(
                    str(r.get("name")) for r in item.get("receivers") or [] if r.get("name")
                ),
                "starts_ts": parse_iso(item.get("startsAt")),
                "ends_ts": parse_iso(item.get("endsAt")),
                "updated_ts": now_ts,
            }
        )
    return rows


class AlertmanagerForwarder:
    """A tick hook (``forwarder(engine, now_ts)``); ``close()`` stops its thread."""

    def __init__(self, engine: Engine, ruleset: RuleSet, alerts_settings: Any) -> None:
        settings = alerts_settings.alertmanager
        self.engine = engine
        self.ruleset = ruleset
        self.dashboard_url = str(alerts_settings.dashboard_url)
        self.extra_labels = dict(settings.labels)
        self.resend_interval_s = float(settings.resend_interval_s)
        self.resolved_resend_s = float(settings.resolved_resend_s)
        self.attempts = int(settings.attempts)
        self.max_backoff_s = float(settings.max_backoff_s)
        # Prometheus: an alert is valid for 4 × max(resend delay, evaluation interval).
        self.valid_for_s = int(4 * max(self.resend_interval_s, ruleset.evaluation_interval_s))
        self.endpoints = [_Endpoint(url, display_url(url)) for url in settings.urls]
        self.clients = [AlertmanagerClient(url, settings.timeout_s) for url in settings.urls]
        for url in settings.urls:
            password = urlsplit(url).password
            if password:
                register_secret(password)
        self._signature: frozenset[tuple[str, str, int, bool]] | None = None
        self._last_submit_ts: float | None = None
        self._pending: tuple[int, list[OutgoingAlert]] | None = None
        self._wake = threading.Condition()
        self._closed = False
        self._busy = False
        self._thread: threading.Thread | None = None

    # --- the tick side: cheap, never blocks on the network --------------------------------

    def __call__(self, _engine: Engine, now_ts: int) -> None:
        with self.engine.connect() as connection:
            rows = alerts_to_forward(connection, since_ts=int(now_ts - self.resolved_resend_s))
        alerts = build_alerts(
            rows,
            self.ruleset,
            now_ts=now_ts,
            valid_for_s=self.valid_for_s,
            dashboard_url=self.dashboard_url,
            extra_labels=self.extra_labels,
        )
        signature = frozenset((a.rule, a.target, a.starts_ts, a.resolved) for a in alerts)
        due = (
            signature != self._signature
            or self._last_submit_ts is None
            or now_ts - self._last_submit_ts >= self.resend_interval_s
        )
        if not due:
            return
        self._signature = signature
        self._last_submit_ts = now_ts
        self.submit(now_ts, alerts)

    def submit(self, now_ts: int, alerts: list[OutgoingAlert]) -> None:
        """Hand the current set to the sender; a newer set replaces one not yet sent."""
        with self._wake:
            self._pending = (now_ts, alerts)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="alertmanager", daemon=True)
                self._thread.start()
            self._wake.notify()

    # --- the sender thread ---------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._pending is None and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                assert self._pending is not None
                now_ts, alerts = self._pending
                self._pending = None
                self._busy = True
            try:
                for endpoint, client in zip(self.endpoints, self.clients, strict=True):
                    self._exchange(endpoint, client, alerts, now_ts)
            finally:
                with self._wake:
                    self._busy = False
                    self._wake.notify_all()

    def _retrying(self) -> Retrying:
        return Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=0.5, max=self.max_backoff_s),
            retry=retry_if_exception(lambda exc: isinstance(exc, AlertmanagerError) and exc.retry),
            reraise=True,
        )

    def _exchange(
        self, endpoint: _Endpoint, client: AlertmanagerClient, alerts: list[OutgoingAlert], now_ts: int
    ) -> None:
        attempt_ts = int(time.time())
        try:
            if alerts:
                self._retrying()(client.post_alerts, alerts)
            answered = self._retrying()(client.alerts)
            silence_ids = {
                str(s) for item in answered for s in (dict(item.get("status") or {}).get("silencedBy") or [])
            }
            silences = {
                silence_id: self._retrying()(client.silence, silence_id) for silence_id in silence_ids
            }
        except Exception as exc:  # an Alertmanager must never take the collector down
            endpoint.consecutive_failures += 1
            error = redact(" ".join(str(exc).split()))[:MAX_ERROR_CHARS] or type(exc).__name__
            log.warning(
                "Alertmanager %s: %d alert(s) not delivered after %d attempt(s): %s (failure %d; re-sent on the "
                "next exchange)",
                endpoint.shown, len(alerts), self.attempts, error, endpoint.consecutive_failures,
            )  # fmt: skip
            self_metrics.set_alertmanager_up(endpoint.shown, False)
            if alerts:
                self_metrics.count_alert_notification(RECEIVER, "failed")
            self._record(endpoint, attempt_ts, error=error, sent=len(alerts), view=None)
            return
        if endpoint.consecutive_failures:
            log.info("Alertmanager %s: reachable again", endpoint.shown)
        endpoint.consecutive_failures = 0
        endpoint.last_success_ts = attempt_ts
        self_metrics.set_alertmanager_up(endpoint.shown, True)
        if alerts:
            self_metrics.count_alert_notification(RECEIVER, "sent")
        view = view_rows(endpoint.shown, alerts, answered, silences, attempt_ts)
        self._record(endpoint, attempt_ts, error=None, sent=len(alerts), view=view)

    def _record(
        self,
        endpoint: _Endpoint,
        attempt_ts: int,
        *,
        error: str | None,
        sent: int,
        view: list[dict[str, Any]] | None,
    ) -> None:
        try:
            with self.engine.begin() as connection:
                upsert(
                    connection,
                    schema.alertmanager_status,
                    [
                        {
                            "url": endpoint.shown,
                            "status": "failing" if error else "ok",
                            "last_attempt_ts": attempt_ts,
                            "last_success_ts": endpoint.last_success_ts,
                            "consecutive_failures": endpoint.consecutive_failures,
                            "last_error": error,
                            "alerts_sent": sent,
                        }
                    ],
                )
                if view is not None:
                    table = schema.alertmanager_alerts
                    connection.execute(delete(table).where(table.c.url == endpoint.shown))
                    if view:
                        upsert(connection, table, view)
            if sent:
                bump_counter(self.engine, f"alerts.notify.{RECEIVER}.{'failed' if error else 'sent'}")
        except Exception as exc:  # the store may be the thing that is down
            log.warning("Alertmanager %s: could not record the exchange: %s", endpoint.shown, exc)

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until nothing is queued or being sent (tests and shutdown). Polled in short
        sleeps, not a timed condition wait: under libfaketime (the tests that move the clock) a
        timed wait never returns, and shutdown would hang (core/pause.py)."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._wake:
                if self._pending is None and not self._busy:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(IDLE_POLL_S)

    def close(self, timeout_s: float = 5.0) -> None:
        self.wait_idle(timeout_s)
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)


def forwarder_from_settings(engine: Engine, ruleset: RuleSet, settings: Any) -> AlertmanagerForwarder | None:
    """None when no Alertmanager is configured."""
    if not settings.alerts.alertmanager.urls:
        return None
    return AlertmanagerForwarder(engine, ruleset, settings.alerts)
