"""Costs: the measured usage priced under every provider model — month to date and its
projection, unit costs, itemized bars, the break-even chart, cost by channel, and the rates
used (with their dates and sources; overridden, stale, unverified and disputed rates marked).
Each day is priced at the prices in force that day: the window names its price version and
itemizes a price change inside it. Thin: the numbers come from analytics.costs / analytics.usage."""

from __future__ import annotations

import math

import pandas as pd
import plotly.express as px
import streamlit as st

from analytics import costs as cost_engine
from analytics.ledger import UsageLedger
from analytics.prices import Catalogue, CatalogueError, catalogue_from_settings
from analytics.prices.catalogue import STALE_AFTER_DAYS
from ui import data
from ui.auth import fragment
from ui.formatting import escape_markdown, format_usd, shorten
from ui.page import start
from ui.tables import show_table

BREAK_EVEN_LISTENERS = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
MEASURED = "Measured usage (this window)"


def _audience_product() -> str:
    """[prices] audience_product: the Agora product castmeter cannot see."""
    return str(getattr(data.settings().prices, "audience_product", "broadcast"))


def _catalogue() -> Catalogue:
    return catalogue_from_settings(data.settings())


def ledger_windows(until_ts: int) -> list[tuple[int, int]]:
    """The windows the month's outlook prices: the month to date, and the trailing days its
    projection runs at."""
    month_start, _month_end = cost_engine.month_bounds(until_ts)
    return [(month_start, until_ts), (until_ts - cost_engine.PROJECTION_TRAILING_DAYS * 86_400, until_ts)]


def month_to_date(url: str, view_source: int | None, catalogue: Catalogue, until_ts: int) -> None:
    """This month up to ``until_ts`` (the end of the page's time range: now, rounded up)."""
    (month_start, _), (trailing_start, _) = ledger_windows(until_ts)
    ledger = data.ledger(url, month_start, until_ts, view_source, _audience_product())
    trailing = data.ledger(url, trailing_start, until_ts, view_source, _audience_product())
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
    show_table(
        pd.DataFrame({"Model": frame["label"], "Month to date (USD)": frame["month_to_date_usd"].map(format_usd),
                      f"Projected month (USD, {days})": frame["projected_month_usd"].map(format_usd),
                      f"Run rate (USD per 30 days, last {cost_engine.PROJECTION_TRAILING_DAYS} days)": frame["run_rate_usd"].map(format_usd)}),
        hide_index=True, width="stretch", key="costs_month",
    )  # fmt: skip
    covered = outlook.covered_s / 86_400
    st.caption(
        f"{cost_engine.PROJECTION_METHOD} Data covers {covered:,.1f} of this month's {outlook.month_days:.0f} days so far."
    )


def price_versions(priced: cost_engine.PricedLedger, catalogue: Catalogue) -> None:
    """The price version(s) behind the window's figures, and any price change inside it."""
    versions = ", ".join(sorted({p.version.isoformat() for p in priced.periods}))
    st.caption(
        f"Priced at the prices in force on each day: price version {versions} "
        f"(catalogue last checked {catalogue.last_checked.isoformat()}; Agora audience: "
        f"{'Interactive Live Streaming' if _audience_product() == 'interactive' else 'Broadcast Streaming'})."
    )
    if not priced.changes:
        return
    days = ", ".join(sorted({c.day.isoformat() for c in priced.changes}))
    lines = [f"Prices changed inside this window on {days}; each part is priced at its own rates:"]
    lines += [
        f"- `{c.rate_id}`: {'not offered' if math.isinf(c.old) else f'{c.old:g}'} → "
        f"{'not offered' if math.isinf(c.new) else f'{c.new:g}'} {escape_markdown(c.unit)} from {c.day.isoformat()}"
        for c in priced.changes
    ]
    st.warning("\n".join(lines), icon=":material/price_change:")
    periods = pd.DataFrame(
        {
            "From": [p.first_day.isoformat() for p in priced.periods],
            "To": [p.last_day.isoformat() for p in priced.periods],
            "Share of window": [f"{p.weight:.0%}" for p in priced.periods],
            "Price version": [p.version.isoformat() for p in priced.periods],
            **{
                cost_engine.MODEL_LABELS[m]: [format_usd(p.monthly_usd[m]) for p in priced.periods]
                for m in cost_engine.MODEL_IDS
            },
        }
    )
    show_table(periods, hide_index=True, width="stretch", key="costs_price_periods")
    st.caption(
        "Monthly cost at each period's prices; the window's figures weight them by the period's share."
    )


def window_costs(
    ledger: UsageLedger, catalogue: Catalogue, range_label: str
) -> list[cost_engine.ProviderCost]:
    priced = cost_engine.price_ledger_detail(ledger, catalogue)
    provider_costs = priced.costs
    st.subheader(f"{range_label}: monthly cost at this usage rate")
    price_versions(priced, catalogue)
    st.caption(
        "USD per 30-day month at the window's usage rate"
        + (f"; {ledger.coverage_note}." if ledger.coverage_note else ".")
    )
    if ledger.origin == "measured":
        st.caption(ledger.audience_note)
    units = cost_engine.unit_costs_frame(ledger, provider_costs).sort_values("monthly_usd")
    unverified = {c.id: c.unverified for c in provider_costs}
    # A model's name ("Agora (legacy pay-as-you-go)") is the longest value: its card is wider.
    columns = st.columns([1.8, 1, 1.3])
    cheapest = units.iloc[0]
    columns[0].metric(
        "Cheapest model",
        str(cheapest["label"]),
        format_usd(float(cheapest["monthly_usd"])) + "/month",
        delta_color="off",
        delta_arrow="off",  # the delta is the model's monthly cost, not a change
        border=True,
    )
    columns[1].metric("Listener-hours per month", f"{units['listener_hours'].iloc[0]:,.0f}", border=True)
    columns[2].metric(
        "Cheapest per 1,000 listener-hours",
        format_usd(float(cheapest["usd_per_1000_listener_hours"])),
        border=True,
    )
    show_table(
        pd.DataFrame({"Model": units["label"], "Monthly": units["monthly_usd"].map(format_usd),
                      "Per listener-hour": units["usd_per_listener_hour"].map(lambda v: "no data" if pd.isna(v) else f"${v:,.4f}"),
                      "Per 1,000 listener-hours": units["usd_per_1000_listener_hours"].map(format_usd),
                      "Unverified rates": units["model"].map(lambda m: f"⚠ {len(unverified[m])}" if unverified[m] else "none")}),
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
            for rate_id in cost.unverified:
                st.caption(f"⚠ unverified: `{rate_id}` — {escape_markdown(catalogue.rate(rate_id).reason)}")
    return provider_costs


# A section whose own control only changes that section is a fragment: picking a baseline or a
# model reruns it alone, on the ledger of the page's run, instead of the whole page (whose
# window end moves every 15 s, which re-reads every ledger: seconds on 30 days).
@fragment()
def break_even(ledger: UsageLedger | None, catalogue: Catalogue) -> None:
    st.subheader("Break-even: monthly cost against listeners per stream")
    presets = data.presets()
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


@fragment()
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


RATE_FLAGS: tuple[tuple[str, str], ...] = (
    ("overridden", "overridden"), ("stale", "stale"), ("unverified", "unverified"),
    ("single_source", "single-source"), ("disputed", "disputed"),
)  # fmt: skip


def rates_table(catalogue: Catalogue) -> None:
    st.subheader("Rates used")
    frame = catalogue.frame()
    stale, overridden = int(frame["stale"].sum()), int(frame["overridden"].sum())
    unverified, disputed = int(frame["unverified"].sum()), int((frame["disputed"] != "").sum())
    st.caption(
        f"{len(frame)} rates in force on {catalogue.as_of.isoformat()} (price version "
        f"{catalogue.version_on(catalogue.as_of).isoformat()}); {overridden} overridden in `[prices.overrides]`; "
        f"{stale} read more than {STALE_AFTER_DAYS} days ago (stale); {unverified} unverified; {disputed} disputed. "
        "Confidence: P primary source, S secondary, U unverified (the reason says why). "
        "`python -m analytics prices audit` lists them."
    )
    flags = frame.apply(
        lambda r: ", ".join(label for column, label in RATE_FLAGS if bool(r[column]) and r[column] != ""),
        axis=1,
    )
    show_table(
        pd.DataFrame({"Rate": frame["rate_id"], "Value": frame["value"], "Unit": frame["unit"],
                      "Effective from": frame["effective_from"], "Read": frame["read"], "Confidence": frame["confidence"],
                      "Flags": flags, "Why unverified": frame["reason"], "Other values": frame["disputed"],
                      "Versions": frame["versions"], "Source": frame["source"], "Note": frame["note"]}),
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
    now_ts = view.now_ts()
    data.prefetch_ledgers(
        url, [*ledger_windows(now_ts), (start_ts, end_ts)], view.source_id, _audience_product()
    )
    month_to_date(url, view.source_id, catalogue, now_ts)
    ledger = data.ledger(url, start_ts, end_ts, view.source_id, _audience_product())
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
