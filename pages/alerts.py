"""Alerts: active alerts, their history, and the threshold review — replay the rules on the
stored history, two candidate thresholds side by side, a suggestion, and rule editing."""

from __future__ import annotations

import time

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from analytics.alerts.am_view import alertmanager_table, status_lines
from analytics.alerts.backtest import BacktestResult
from analytics.alerts.promql import ExportOptions, export_rules
from analytics.alerts.rules import Rule, RuleError, RuleSet, load_rules, parse_rules_yaml
from analytics.alerts.spend import RUN_RATE_NOTE
from analytics.alerts.timeline import busiest_targets, target_episodes, timeline_frame
from core.resources import data_path
from ui import data, params
from ui.formatting import escape_markdown
from ui.page import start
from ui.sidebar import ViewState
from ui.tables import show_table
from ui.timefmt import format_duration, to_local, to_local_text, with_zone

_KEY_YAML = "alerts_rules_yaml"
_KEY_RULE = "alerts_rule"
_KEY_TARGET = "alerts_target"
_KEY_PER_WEEK = "alerts_per_week"


def _default_rules_yaml() -> tuple[str, str | None]:
    path = data.settings().alerts.rules_file
    try:
        return load_rules(data_path(path)).to_yaml(), None
    except RuleError as exc:
        return "evaluation_interval: 15s\nlookback: 1m\nrules: []\n", str(exc)


def _units() -> dict[str, str]:
    """Rule name → the unit of its metric, from the configured rules file."""
    try:
        ruleset = load_rules(data_path(data.settings().alerts.rules_file))
    except RuleError:
        return {}
    return {rule.name: rule.spec.unit for rule in ruleset.rules}


def with_unit(values: pd.Series, rules: pd.Series, units: dict[str, str]) -> pd.Series:
    """``1,371.0 % of budget``; "no data" where the rule had no value."""
    numbers = pd.to_numeric(values, errors="coerce")
    return pd.Series(
        [
            "no data" if pd.isna(value) else f"{value:,.{_digits(value)}f} {units.get(str(rule), '')}".strip()
            for value, rule in zip(numbers, rules, strict=True)
        ],
        index=values.index,
        dtype=object,
    )


def _digits(value: float) -> int:
    return 1 if abs(value) >= 100 else 2 if abs(value) >= 1 else 4


def active_section(view: ViewState) -> None:
    st.subheader("Active alerts")
    active = data.active_alerts(data.db_url())
    if active.empty:
        st.success("No alert is pending or firing.", icon=":material/check_circle:")
        return
    units = _units()
    show_table(
        pd.DataFrame(
            {
                "State": active["state"].astype(str),
                "Rule": active["rule"].astype(str),
                "Target": active["target"].astype(str),
                "Severity": active["severity"].astype(str),
                "Value": with_unit(active["last_value"], active["rule"], units),
                with_zone("Active since", view.timezone): to_local_text(
                    active["active_since_ts"], view.timezone
                ),
                with_zone("Firing since", view.timezone): to_local_text(active["fired_ts"], view.timezone),
            }
        ),
        hide_index=True,
        width="stretch",
    )


def alertmanager_section() -> None:
    """What the configured Alertmanagers did with castmeter's alerts (silenced, inhibited,
    routed), as the collectors last read it back (collectors/alertmanager.py)."""
    am_view, status = data.alertmanager(data.db_url())
    if status.empty:
        return  # no [alerts.alertmanager] urls (or the collectors have not exchanged yet)
    for reachable, line in status_lines(status, int(time.time())):
        if reachable:
            st.caption(escape_markdown(line))
        else:
            st.warning(escape_markdown(line), icon=":material/cloud_off:")
    table = alertmanager_table(data.active_alerts(data.db_url()), am_view, status)
    if not table.empty:
        st.markdown("**In Alertmanager**")
        show_table(table, hide_index=True, width="stretch")


def history_section(view: ViewState) -> None:
    st.subheader("History")
    start_ts, end_ts = view.window()
    changes = data.alert_history(data.db_url(), start_ts, end_ts)
    if changes.empty:
        st.info(f"No alert changed state in {view.range_label.lower()}.", icon=":material/history:")
        return
    units = _units()
    show_table(
        pd.DataFrame(
            {
                with_zone("Time", view.timezone): to_local_text(changes["ts"], view.timezone),
                "Rule": changes["rule"].astype(str),
                "Target": changes["target"].astype(str),
                "Change": changes["from_state"].astype(str) + " → " + changes["to_state"].astype(str),
                "Value": with_unit(changes["value"], changes["rule"], units),
                "Threshold": with_unit(changes["threshold"], changes["rule"], units),
                # An episode's length, on its resolution; other changes have none (not "no data").
                "Lasted": changes["duration_s"]
                .map(format_duration)
                .where(changes["to_state"].eq("resolved"), ""),
            }
        ),
        hide_index=True,
        width="stretch",
    )


def rules_editor() -> RuleSet | None:
    """The rules as YAML, editable; returns the validated rules or None (error shown)."""
    if _KEY_YAML not in st.session_state:
        text, problem = _default_rules_yaml()
        st.session_state[_KEY_YAML] = text
        if problem:
            st.warning(f"Rules file not loaded: {escape_markdown(problem)}", icon=":material/warning:")
    with st.expander("Edit rules (YAML)", expanded=False):
        st.text_area(
            "Rules",
            key=_KEY_YAML,
            height=360,
            help="Validated on every change; nothing is saved "
            "on the server — download the file and point `[alerts] rules_file` at it.",
        )
        st.download_button(
            "Download rules",
            st.session_state[_KEY_YAML],
            file_name="castmeter.rules.yaml",
            mime="application/yaml",
        )
    try:
        ruleset = parse_rules_yaml(st.session_state[_KEY_YAML])
    except RuleError as exc:
        st.error(f"Invalid rules: {escape_markdown(str(exc))}", icon=":material/error:")
        return None
    prometheus_export(ruleset)
    return ruleset


def prometheus_export(ruleset: RuleSet) -> None:
    """These rules as Prometheus alerting rules over the exporters' metrics (what
    `python -m analytics alerts export` writes), with the rules Prometheus cannot evaluate."""
    exported = export_rules(ruleset, ExportOptions())
    st.download_button(
        "Download Prometheus rules",
        exported.text,
        file_name="castmeter.prometheus.rules.yml",
        mime="application/yaml",
        icon=":material/download:",
        key="alerts_prometheus_export",
    )
    skipped = "; ".join(f"{name}: {reason}" for name, reason in exported.skipped)
    st.caption(
        f"Prometheus rules for {len(exported.exported)} rule(s), with hysteresis kept through ALERTS"
        + (f". Not exported — {escape_markdown(skipped)}." if skipped else ".")
        + (
            f" {escape_markdown(', '.join(exported.on_castmeter_series))} read castmeter's own series "
            "(`castmeter_relay_down`, `castmeter_hls_bucket_*`): Prometheus must scrape castmeter's "
            "collectors ([metrics] port, /metrics)."
            if exported.on_castmeter_series
            else ""
        )
    )


def _result_metrics(result: BacktestResult, label: str) -> None:
    summary = result.summary()
    st.markdown(f"**{label}: {result.rule.comparison} {result.rule.threshold:g} {result.rule.spec.unit}**")
    first, second = st.columns(2)
    first.metric(f"Episodes ({label})", summary["episodes"])
    second.metric(f"Alerts per week ({label})", f"{summary['alerts_per_week']:.1f}")
    first.metric(f"Time in alert ({label})", f"{summary['time_in_alert_pct']:.2f} %")
    second.metric(f"Flapping ({label})", summary["flapping"])


def timeline_chart(result: BacktestResult, target: str, timezone: str) -> go.Figure:
    rule = result.rule
    line = timeline_frame(result, target)
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=to_local(line["ts"], timezone),
            y=line["value"],
            mode="lines",
            name=f"{rule.spec.title} ({rule.spec.unit})",
            connectgaps=False,
        )
    )
    figure.add_hline(
        y=rule.threshold,
        line_color="firebrick",
        line_dash="dash",
        annotation_text=f"threshold {rule.threshold:g}",
    )
    if rule.recovery is not None:
        figure.add_hline(
            y=rule.recovery,
            line_color="seagreen",
            line_dash="dot",
            annotation_text=f"recovery {rule.recovery:g}",
        )
    episodes = target_episodes(result, target)
    starts, ends = to_local(episodes["start_ts"], timezone), to_local(episodes["end_ts"], timezone)
    for begin, end in zip(starts, ends, strict=True):
        figure.add_vrect(x0=begin, x1=end, fillcolor="firebrick", opacity=0.18, line_width=0)
    figure.update_layout(
        title=f"{rule.name} on {target}: {len(episodes)} firing episode(s) shaded",
        xaxis_title=with_zone("Time", timezone),
        yaxis_title=rule.spec.unit,
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
        height=320,
    )
    return figure


def episodes_table(result: BacktestResult, timezone: str) -> pd.DataFrame:
    episodes = result.episodes
    return pd.DataFrame(
        {
            "Target": episodes["target"].astype(str),
            with_zone("Fired", timezone): to_local_text(episodes["start_ts"], timezone),
            with_zone("Resolved", timezone): to_local_text(episodes["end_ts"], timezone).where(
                ~episodes["open"].astype(bool), "still firing"
            ),
            "Duration": episodes["duration_s"].map(format_duration),
            "Flapping": episodes["flapping"].astype(bool),
        }
    )


def backtest_section(view: ViewState) -> None:
    st.subheader("Threshold review")
    st.caption(
        "Replays a rule on the stored history of the selected time range with Prometheus's semantics "
        "(for, keep_firing_for, gaps = no data), plus a recovery threshold."
    )
    ruleset = rules_editor()
    if ruleset is None:
        return
    if not ruleset.rules:
        st.info("No rules yet: add one in the editor above.", icon=":material/rule:")
        return
    names = [rule.name for rule in ruleset.rules]
    if st.session_state.get(_KEY_RULE) not in names:
        linked = params.read("rule")  # a deep link from an alert (Alertmanager's generatorURL)
        st.session_state[_KEY_RULE] = linked if linked in names else names[0]
    chosen, per_week_column = st.columns([2, 1])
    rule_name = chosen.selectbox("Rule", names, key=_KEY_RULE)
    per_week = per_week_column.number_input(
        "Target alerts per week", min_value=0.0, max_value=10_000.0, value=2.0, step=1.0, key=_KEY_PER_WEEK
    )
    rule: Rule = ruleset.get(rule_name)
    a_column, b_column = st.columns(2)
    candidate_a = a_column.number_input(
        "Candidate A", value=float(rule.threshold), key=f"alerts_a_{rule_name}"
    )
    candidate_b = b_column.number_input(
        "Candidate B",
        value=float(rule.threshold) * (0.9 if rule.comparison.startswith(">") else 1.1) or 1.0,
        key=f"alerts_b_{rule_name}",
    )
    start_ts, end_ts = view.window()
    replay = data.replay(
        data.db_url(),
        ruleset.to_yaml(),
        rule_name,
        start_ts,
        end_ts,
        (float(candidate_a), float(candidate_b)),
        float(per_week),
    )
    if rule.metric == "spend_run_rate_pct":
        st.caption(RUN_RATE_NOTE)
    result = replay.result
    if 0 < result.range_s < result.chosen_s:
        st.caption(
            f"The rule has data for {format_duration(result.range_s)} of the {format_duration(result.chosen_s)} "
            "chosen: alerts per week and time in alert are per time with data."
        )
    if replay.frame.empty:
        st.info(
            f"No samples for {rule.spec.title.lower()} in {view.range_label.lower()}: pick a longer range.",
            icon=":material/filter_alt_off:",
        )
        return
    suggestion = replay.suggestion
    if suggestion is not None and suggestion.threshold is not None:
        st.success(
            f"Suggested threshold for at most {per_week:g} alert(s) per week: "
            f"{rule.comparison} {suggestion.threshold:g} {rule.spec.unit} "
            f"({suggestion.alerts_per_week:.1f} per week on this history).",
            icon=":material/tips_and_updates:",
        )
    elif suggestion is not None:
        st.warning(f"No threshold suggestion: {suggestion.note}.", icon=":material/warning:")
    columns = st.columns(2)
    for column, label, result in zip(columns, ("A", "B"), replay.candidates, strict=True):
        with column:
            _result_metrics(result, label)
    targets = busiest_targets(replay.candidates[0])
    if st.session_state.get(_KEY_TARGET) not in targets:
        linked = params.read("target")
        st.session_state[_KEY_TARGET] = linked if linked in targets else targets[0]
    target = st.selectbox("Target", targets, key=_KEY_TARGET)
    chart_columns = st.columns(2)
    for column, result in zip(chart_columns, replay.candidates, strict=True):
        column.plotly_chart(timeline_chart(result, target, view.timezone), width="stretch")
    st.markdown("**Episodes at candidate A**")
    if replay.candidates[0].episodes.empty:
        st.info("Candidate A would not have fired in this range.", icon=":material/notifications_off:")
    else:
        show_table(episodes_table(replay.candidates[0], view.timezone), hide_index=True, width="stretch")


def main() -> None:
    view = start("Alerts")
    active_section(view)
    alertmanager_section()
    history_section(view)
    backtest_section(view)


main()
