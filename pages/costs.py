"""Costs: the measured usage priced under every provider model — month to date and its
projection, unit costs, itemized bars, the break-even chart, cost by channel, and the rates
used (with their dates and sources; overridden and stale rates marked). Thin: the numbers
come from analytics.costs / analytics.usage."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from analytics import costs as cost_engine
from analytics import usage as usage_module
from analytics.ledger import Scenario, UsageLedger, load_scenario
from analytics.prices import Catalogue, CatalogueError, catalogue_from_settings
from ui import data
from ui.formatting import escape_markdown, format_usd, shorten
from ui.page import start

COSTS_TTL_S = 300
SCENARIO_DIR = Path(__file__).resolve().parents[1] / "analytics" / "scenarios"
BREAK_EVEN_LISTENERS = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
MEASURED = "Measured usage (this window)"


@st.cache_data(ttl=COSTS_TTL_S, show_spinner=False)
def _ledger(url: str, start_ts: int, end_ts: int, source_id: int | None) -> UsageLedger:
    return usage_module.measured_ledger(data.engine(url), start_ts, end_ts, source_id)


def _catalogue() -> Catalogue:
    return catalogue_from_settings(data.settings())


def _presets() -> dict[str, Scenario]:
    return {path.stem: load_scenario(path) for path in sorted(SCENARIO_DIR.glob("*.yaml"))}


def month_to_date(url: str, view_source: int | None, catalogue: Catalogue, until_ts: int) -> None:
    """This month up to ``until_ts`` (the end of the page's time range: now, rounded up)."""
    month_start, _month_end = cost_engine.month_bounds(until_ts)
    ledger = _ledger(url, month_start, until_ts, view_source)
    trailing = _ledger(url, until_ts - cost_engine.PROJECTION_TRAILING_DAYS * 86_400, until_ts, view_source)
    outlook = cost_engine.month_outlook(ledger, trailing, until_ts, catalogue)
    month_name = pd.Timestamp(month_start, unit="s", tz="UTC").strftime("%B %Y")
    st.subheader(f"This month ({month_name}, UTC), per model")
    if ledger.is_empty and trailing.is_empty:
        st.info("No usage recorded this month yet.", icon=":material/hourglass_empty:")
        return
    frame = outlook.frame.sort_values("projected_month_usd")
    long = frame.melt(
        id_vars=["label"],
        value_vars=["month_to_date_usd", "projected_month_usd"],
        var_name="figure",
        value_name="usd",
    )
    long["figure"] = long["figure"].map(
        {"month_to_date_usd": "month to date", "projected_month_usd": "projected month"}
    )
    figure = px.bar(
        long,
        x="label",
        y="usd",
        color="figure",
        barmode="group",
        labels={"label": "", "usd": "USD", "figure": ""},
    )
    figure.update_layout(height=360, margin={"l": 0, "r": 0, "t": 10, "b": 0})
    st.plotly_chart(figure, width="stretch")
    days = f"{outlook.month_days:.0f}-day month"
    st.dataframe(
        pd.DataFrame({"Model": frame["label"], "Month to date (USD)": frame["month_to_date_usd"].map(format_usd),
                      f"Projected month (USD, {days})": frame["projected_month_usd"].map(format_usd),
                      f"Run rate (USD per 30 days, last {cost_engine.PROJECTION_TRAILING_DAYS} days)": frame["run_rate_usd"].map(format_usd)}),
        hide_index=True, width="stretch", key="costs_month",
    )  # fmt: skip
    covered = outlook.covered_s / 86_400
    st.caption(
        f"{cost_engine.PROJECTION_METHOD} Data covers {covered:,.1f} of this month's {outlook.month_days:.0f} days so far."
    )


def window_costs(
    ledger: UsageLedger, catalogue: Catalogue, range_label: str
) -> list[cost_engine.ProviderCost]:
    provider_costs = cost_engine.price_ledger(ledger, catalogue)
    st.subheader(f"{range_label}: monthly cost at this usage rate")
    st.caption(
        "USD per 30-day month at the window's usage rate"
        + (f"; {ledger.coverage_note}." if ledger.coverage_note else ".")
    )
    units = cost_engine.unit_costs_frame(ledger, provider_costs).sort_values("monthly_usd")
    columns = st.columns(3)
    cheapest = units.iloc[0]
    columns[0].metric(
        "Cheapest model",
        str(cheapest["label"]),
        format_usd(float(cheapest["monthly_usd"])) + "/month",
        delta_color="off",
        border=True,
    )
    columns[1].metric("Listener-hours per month", f"{units['listener_hours'].iloc[0]:,.0f}", border=True)
    columns[2].metric(
        "Cheapest per 1,000 listener-hours",
        format_usd(float(cheapest["usd_per_1000_listener_hours"])),
        border=True,
    )
    st.dataframe(
        pd.DataFrame({"Model": units["label"], "Monthly": units["monthly_usd"].map(format_usd),
                      "Per listener-hour": units["usd_per_listener_hour"].map(lambda v: "no data" if pd.isna(v) else f"${v:,.4f}"),
                      "Per 1,000 listener-hours": units["usd_per_1000_listener_hours"].map(format_usd)}),
        hide_index=True, width="stretch",
    )  # fmt: skip
    items = cost_engine.items_frame(provider_costs)
    items = items[items["usd"] > 0]
    if not items.empty:
        figure = px.bar(
            items,
            x="label",
            y="usd",
            color="item",
            labels={"label": "", "usd": "USD per month", "item": "Item"},
        )
        figure.update_layout(height=420, margin={"l": 0, "r": 0, "t": 10, "b": 0})
        st.plotly_chart(figure, width="stretch")
    with st.expander("Notes per model"):
        for cost in provider_costs:
            st.markdown(f"**{cost_engine.MODEL_LABELS[cost.id]}**")
            for note in cost.notes:
                st.caption(escape_markdown(note))
    return provider_costs


def break_even(ledger: UsageLedger | None, catalogue: Catalogue) -> None:
    st.subheader("Break-even: monthly cost against listeners per stream")
    presets = _presets()
    options = ([MEASURED] if ledger is not None and not ledger.is_empty else []) + list(presets)
    choice = st.selectbox("Baseline", options, index=0, key="costs_break_even_base")
    base = (
        cost_engine.scenario_from_ledger(ledger)
        if choice == MEASURED and ledger is not None
        else presets[choice]
    )
    frame = cost_engine.break_even_frame(base, BREAK_EVEN_LISTENERS, catalogue)
    figure = px.line(frame, x="listeners_per_stream", y="monthly_usd", color="label", markers=True, log_x=True, log_y=True,
                     labels={"listeners_per_stream": "Listeners per stream", "monthly_usd": "USD per month", "label": "Model"})  # fmt: skip
    figure.update_layout(height=420, margin={"l": 0, "r": 0, "t": 10, "b": 0})
    st.plotly_chart(figure, width="stretch")
    st.caption(
        f"{base.streams:,.0f} streams × {base.hours_per_day:,.1f} h/day × {base.days_per_month:,.0f} days, "
        f"{base.audio_kbps:,.0f} kbps audio, video {base.video}; zero listeners are drawn at the left edge."
    )


def by_channel(
    ledger: UsageLedger, provider_costs: list[cost_engine.ProviderCost], catalogue: Catalogue
) -> None:
    st.subheader("Cost by channel")
    frame = cost_engine.cost_by_channel(ledger, provider_costs, catalogue)
    model = st.selectbox(
        "Model",
        list(cost_engine.MODEL_IDS),
        format_func=cost_engine.MODEL_LABELS.__getitem__,
        key="costs_channel_model",
    )
    shown = frame[frame["model"] == model].sort_values("usd", ascending=False).head(25)
    shown = shown.assign(channel=shown["channel"].map(lambda name: shorten(str(name), 40)))
    figure = px.bar(
        shown, x="usd", y="channel", orientation="h", labels={"usd": "USD per month", "channel": ""}
    )
    figure.update_layout(
        height=max(240, 26 * len(shown) + 80),
        margin={"l": 0, "r": 0, "t": 10, "b": 0},
        yaxis={"autorange": "reversed"},
    )
    st.plotly_chart(figure, width="stretch")
    st.caption(
        "Each model's total shared by connection minutes; for self-hosted, capacity no channel used is shown as idle."
    )


def rates_table(catalogue: Catalogue) -> None:
    st.subheader("Rates used")
    frame = catalogue.frame()
    stale, overridden = int(frame["stale"].sum()), int(frame["overridden"].sum())
    st.caption(
        f"{len(frame)} rates; {overridden} overridden in `[prices.overrides]`; {stale} older than a year (stale). "
        "Confidence: P primary source, S secondary, U unverified."
    )
    flags = frame.apply(
        lambda r: ", ".join(f for f, on in (("overridden", r["overridden"]), ("stale", r["stale"])) if on),
        axis=1,
    )
    st.dataframe(
        pd.DataFrame({"Rate": frame["rate_id"], "Value": frame["value"], "Unit": frame["unit"], "Effective": frame["effective"],
                      "Confidence": frame["confidence"], "Flags": flags, "Source": frame["source"], "Note": frame["note"]}),
        hide_index=True, width="stretch",
    )  # fmt: skip


def main() -> None:
    view = start("Costs")
    try:
        catalogue = _catalogue()
    except CatalogueError as exc:
        st.error(f"Invalid price override: {escape_markdown(str(exc))}", icon=":material/error:")
        return
    url = data.db_url()
    start_ts, end_ts = view.window()
    month_to_date(url, view.source_id, catalogue, view.now_ts())
    ledger = _ledger(url, start_ts, end_ts, view.source_id)
    if ledger.is_empty:
        st.info(
            f"No usage in {view.range_label.lower()}. Pick a longer range in the sidebar; the break-even chart "
            "below uses the seed scenarios meanwhile.",
            icon=":material/filter_alt_off:",
        )
        break_even(None, catalogue)
    else:
        provider_costs = window_costs(ledger, catalogue, view.range_label)
        break_even(ledger, catalogue)
        by_channel(ledger, provider_costs, catalogue)
    rates_table(catalogue)


main()
