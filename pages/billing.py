"""Billing: what the providers billed against what the model says, per provider over time; the
variance table with its known causes; and the billing collectors' health."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import plotly.express as px
import streamlit as st

from analytics.reconcile import PROVIDER_LABELS
from core import clock
from ui import data
from ui.formatting import escape_markdown, format_usd, shorten
from ui.page import start
from ui.tables import show_table
from ui.timefmt import to_local_text, with_zone

PERIODS_DAYS = {"Last 30 days": 30, "Last 90 days": 90, "Last 12 months": 365}
HOW_TO_ADD = (
    "Add a section with the provider's credentials to `castmeter.toml` (see the commented "
    "`[billing.*]` blocks in `castmeter.example.toml`), then run `python -m collectors billing --once` "
    "for a backfill; `python -m collectors run` fetches daily."
)


def _label(provider: str) -> str:
    return PROVIDER_LABELS.get(provider, provider)


def status_frame(status: pd.DataFrame, configured: list[str], timezone: str) -> pd.DataFrame:
    known = status.set_index("provider") if not status.empty else status
    rows = []
    for provider in configured:
        row = known.loc[provider] if provider in known.index else None
        rows.append(
            {
                "Provider": _label(provider),
                "Status": "not run yet" if row is None or pd.isna(row["status"]) else str(row["status"]),
                "last_success_ts": None if row is None else row["last_success_ts"],
                "last_attempt_ts": None if row is None else row["last_attempt_ts"],
                "Last error": ""
                if row is None or pd.isna(row["last_error"])
                else shorten(str(row["last_error"]), 300),
            }
        )
    frame = pd.DataFrame(rows)
    frame.insert(
        2,
        with_zone("Last success", timezone),
        to_local_text(pd.to_numeric(frame.pop("last_success_ts")), timezone),
    )
    frame.insert(
        3,
        with_zone("Last attempt", timezone),
        to_local_text(pd.to_numeric(frame.pop("last_attempt_ts")), timezone),
    )
    return frame


def variance_frame(monthly: pd.DataFrame) -> pd.DataFrame:
    def share(value: float | None) -> str:
        return "no data" if value is None or pd.isna(value) else f"{float(value):+.1%}"

    def quantity(value: float | None) -> str:
        return "no data" if value is None or pd.isna(value) else f"{float(value):,.2f}"

    return pd.DataFrame(
        {
            "Provider": monthly["provider"].map(_label),
            "Month": monthly["month"],
            "Meter": monthly["measure"] + " (" + monthly["unit"] + ")",
            "Billed": monthly["billed"].map(quantity),
            "Modeled": monthly["modeled"].map(quantity),
            "Usage variance": monthly["variance_share"].map(share),
            "Billed $": monthly["billed_usd"].map(format_usd),
            "Money from": monthly["billed_usd_source"],
            "Modeled $": monthly["modeled_usd"].map(format_usd),
            "Money variance": monthly["variance_usd_share"].map(share),
            "Known causes": monthly["causes"].map(lambda causes: "; ".join(causes)),
        }
    )


def main() -> None:
    view = start("Billing")
    settings = data.settings()
    configured = list(settings.billing.configured())
    missing = [_label(p) for p in PROVIDER_LABELS if p not in configured]
    if not configured:
        st.info(f"No billing provider is configured.\n\n{HOW_TO_ADD}", icon=":material/receipt_long:")
        return
    url = data.db_url()
    st.caption(
        "What each provider's usage API reports against the model (measured usage priced by the cost engine). "
        "Billing days are UTC days."
    )
    period = st.selectbox("Period", list(PERIODS_DAYS), index=0, key="billing_period")
    today = datetime.fromtimestamp(clock.now_ts(), tz=UTC).date().isoformat()
    warn_share = settings.billing.variance_warn_share
    result = data.reconciliation(url, PERIODS_DAYS[period], today, warn_share)

    st.subheader("Collectors")
    show_table(
        status_frame(data.billing_status(url), configured, view.timezone), hide_index=True, width="stretch"
    )
    if missing:
        st.caption(f"Not configured: {', '.join(missing)}. {HOW_TO_ADD}")

    if result.is_empty:
        st.info(
            "No billing data in this period yet. Run `python -m collectors billing --once` to fetch it.",
            icon=":material/hourglass_empty:",
        )
        return
    for note in result.notes:
        st.caption(note)
    flagged = result.monthly[result.monthly["warn"].astype(bool)]
    for row in flagged.drop_duplicates(["provider", "month"]).itertuples():
        st.warning(
            f"{escape_markdown(_label(str(row.provider)))} {row.month}: billed and modeled differ by more than "
            f"{warn_share:.0%}. See the known causes below.",
            icon=":material/warning:",
        )

    st.subheader("Billed vs modeled, per day")
    if not result.daily.empty:
        long = result.daily.melt(
            id_vars=["provider", "day", "measure", "unit"],
            value_vars=["billed", "modeled"],
            var_name="figure",
        )
        long["series"] = long["provider"].map(_label) + " · " + long["measure"] + " (" + long["unit"] + ")"
        figure = px.line(
            long, x="day", y="value", color="figure", facet_row="series", markers=True,
            labels={"day": "Day (UTC)", "value": "", "figure": ""},
        )  # fmt: skip
        figure.update_yaxes(matches=None)
        figure.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1]))
        figure.update_layout(
            height=220 * long["series"].nunique() + 60, margin={"l": 0, "r": 0, "t": 30, "b": 0}
        )
        st.plotly_chart(figure, width="stretch")

    st.subheader("Variance by month")
    show_table(variance_frame(result.monthly), hide_index=True, width="stretch")
    st.caption(
        f"Money from `api` is what the provider's API states; `catalogue` is the billed usage priced at the "
        f"catalogue's list rates. A warning shows above a {warn_share:.0%} difference "
        "(`billing.variance_warn_share`)."
    )


main()
