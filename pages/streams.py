"""Streams: every room/channel in the window, searchable, with a drill-down per stream."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics.audience import RelayChain
from analytics.monitoring import StreamDetail
from ui import charts, data, empty, export, params
from ui.formatting import escape_markdown, format_count, shorten
from ui.page import start
from ui.sidebar import ViewState
from ui.tables import show_table
from ui.timefmt import format_duration, format_ts, to_local, to_local_text, with_zone

_KEY_SEARCH, _KEY_STATUS, _KEY_STREAM = "streams_q", "streams_status", "streams_stream"


def table_frame(rows: pd.DataFrame, timezone: str, *, with_channel: bool) -> pd.DataFrame:
    """What the table shows, and exactly what its CSV contains. ``with_channel``: a Channel
    column beside the Room (only when some room maps to another channel)."""
    frame = pd.DataFrame(
        {
            "Channel": rows["channel"].astype(str),
            "Room": rows["room_name"].astype(str),
            "Status": rows["status"].astype(str),
            with_zone("Started", timezone): to_local_text(rows["started_ts"], timezone),
            with_zone("Ended", timezone): to_local_text(rows["ended_ts"], timezone),
            "Duration (min)": (pd.to_numeric(rows["duration_s"]).clip(lower=0) / 60).round(1),
            "Peak listeners": rows["max_listeners"].astype(int),
            "Peak participants": rows["max_participants"].astype(int),
            "Source": rows["source"].fillna("").astype(str),
            "Room SID": rows["room_sid"].astype(str),
        }
    )
    return frame if with_channel else frame.drop(columns="Channel")


def channels_differ(rows: pd.DataFrame) -> bool:
    """Whether any room belongs to a channel of another name (else one column says it all)."""
    return bool((rows["channel"].astype(str) != rows["room_name"].astype(str)).any())


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def stream_label(room_name: object, status: object, started_ts: int, timezone: str) -> str:
    return f"{shorten(str(room_name), 60)} · {status} · started {format_ts(started_ts, timezone)}"


def show_detail(detail: StreamDetail, timezone: str) -> None:
    st.subheader("Stream detail")
    # Room names are untrusted: plain text only, shortened (the table and CSV keep it whole).
    st.text(f"Room: {shorten(detail.room_name, 200)}")
    if detail.channel != detail.room_name:
        st.text(f"Channel: {shorten(detail.channel, 200)}")
    ended = f"ended {format_ts(detail.ended_ts, timezone)}" if detail.ended_ts else "still live"
    lasted = "live for" if detail.ended_ts is None else "lasted"
    st.caption(
        f"Started {format_ts(detail.started_ts, timezone)} · {ended} · "
        f"{lasted} {format_duration(detail.until_ts - detail.started_ts)}"
    )
    columns = st.columns(6)
    columns[0].metric("Peak listeners", format_count(detail.peak_listeners), border=True)
    columns[1].metric("Avg listeners", f"{detail.avg_listeners:,.1f}", border=True)
    columns[2].metric("Publishers", format_count(detail.publishers), border=True)
    columns[3].metric(
        "Connection minutes",
        format_count(detail.connection_minutes),
        border=True,
        help="Σ ceil(duration / 60), at least 1, over every participant connection (LiveKit's metering); "
        "egress recorders and ingress are not connection minutes.",
    )
    columns[4].metric("Listener minutes", format_count(detail.listener_minutes), border=True)
    columns[5].metric(
        "Downstream GB",
        f"{detail.downstream_gb:,.4f}" if detail.downstream_gb < 1 else f"{detail.downstream_gb:,.2f}",
        border=True,
        help=(
            f"(Listener minutes + egress recorder minutes) × {detail.listener_kbps:,.1f} kbps, in GB of 10⁹ "
            "bytes: the fleet's measured bytes per subscribed track during the stream × its publishers."
            if detail.listener_kbps_measured
            else f"An estimate: (listener + egress recorder minutes) × {detail.listener_kbps:g} kbps (assumed audio "
            "bitrate: the fleet had no node samples with subscribed tracks during the stream)."
        ),
    )

    if detail.curve.empty:
        st.caption("No samples for this stream yet.")
    else:
        curve = detail.curve.assign(time=to_local(detail.curve["bucket_ts"], timezone))
        figure = charts.lines(
            curve.rename(columns={"listeners": "Listeners", "publishers": "Publishers"}),
            "time",
            ["Listeners", "Publishers"],
            x_title=with_zone("Time", timezone),
            y_title="Count",
        )
        st.plotly_chart(figure, key="stream_curve")

    st.markdown("**Participants**")
    participants = detail.participants
    if participants.empty:
        st.caption("No participant sessions recorded for this stream.")
    else:
        show_table(
            pd.DataFrame(
                {
                    "Identity": participants["identity"].astype(str),
                    "Name": participants["name"].fillna("").astype(str),
                    "Kind": participants["kind"].astype(str),
                    "Publisher": participants["is_publisher"].astype(bool),
                    with_zone("Joined", timezone): to_local_text(participants["joined_ts"], timezone),
                    with_zone("Left", timezone): to_local_text(participants["left_ts"], timezone),
                    "Connection minutes": participants["connection_min"].astype(int),
                    "Times from": participants["origin"].astype(str),
                }
            ),
            hide_index=True,
            key="participants",
        )
        if detail.participants_total > len(participants):
            st.caption(
                f"Showing the first {len(participants):,} of {detail.participants_total:,} connections."
            )

    left, right = st.columns(2)
    with left:
        st.markdown("**Egress (HLS / recording)**")
        if detail.egress.empty:
            st.caption("No egress for this stream.")
        else:
            show_table(_status_frame(detail.egress, "egress_id", timezone), hide_index=True, key="egress")
    with right:
        st.markdown("**Ingress (RTMP / WHIP / URL)**")
        if detail.ingress.empty:
            st.caption("No ingress for this stream.")
        else:
            show_table(_status_frame(detail.ingress, "ingress_id", timezone), hide_index=True, key="ingress")


def show_relay_chain(chain: RelayChain, timezone: str) -> None:
    """A channel's delivery chain, source → sink, each hop's state; a broken hop is flagged."""
    st.markdown("**Delivery chain (relays and audiences)**")
    if not chain.hops:
        st.caption(
            "No relay reported for this channel: no LiveKit egress, HLS playlist, Agora, Cloudflare Stream "
            "or IVS relay in the store."
        )
        return
    rows = chain.frame()
    show_table(
        pd.DataFrame(
            {
                "Hop": rows["hop"],
                "ID": rows["hop_id"].map(lambda text: shorten(str(text), 80)),
                "State": rows["health"],
                "Status": rows["status"].map(lambda text: shorten(str(text), 120)),
                "Viewers": rows["viewers"].map(
                    lambda v: "n/a" if v is None or pd.isna(v) else format_count(v)
                ),
                with_zone("Last activity", timezone): to_local_text(rows["last_activity_ts"], timezone),
                "Problem": rows["problem"].map(lambda text: text or "none"),
            }
        ),
        hide_index=True,
        key=f"relay_chain_{chain.channel}",
    )
    for hop in chain.broken:
        st.error(
            f"Broken hop: {hop.label} {escape_markdown(shorten(hop.hop_id, 80))} — {escape_markdown(hop.problem)}",
            icon=":material/link_off:",
        )


def relay_chains_section(url: str, now_ts: int, timezone: str) -> None:
    """Every channel's chain on one line (Agora channels too, which have no LiveKit room)."""
    chains = data.relay_chains(url, now_ts)
    st.subheader("Relay chains")
    if not chains:
        st.caption(
            "No relay reported: no LiveKit egress, HLS playlist, Agora, Cloudflare Stream or IVS relay."
        )
        return
    broken = sum(1 for chain in chains if chain.broken)
    st.caption(
        f"{plural(len(chains), 'channel')} with relays, {broken:,} with a broken hop (an HLS playlist is stale "
        "when, at its log poller's last read, its newest segment was over 3 of its own segment durations old)."
    )
    show_table(
        pd.DataFrame(
            {
                "Channel": [shorten(chain.channel, 80) for chain in chains],
                "Chain (source → sink)": [chain.summary for chain in chains],
                "Broken hop": [
                    "; ".join(f"{hop.label}: {hop.problem}" for hop in chain.broken) or "none"
                    for chain in chains
                ],
            }
        ),
        hide_index=True,
        key="relay_chains",
    )
    # Channels outside LiveKit (an Agora channel) have no stream above to drill into: pick one here.
    by_channel = {chain.channel: chain for chain in chains}
    picked = st.selectbox(
        "Show a channel's chain",
        list(by_channel),
        index=None,
        placeholder="Pick a channel…",
        format_func=lambda name: shorten(name, 80),
        key="relay_chain_channel",
    )
    if picked is not None:
        show_relay_chain(by_channel[picked], timezone)


def _status_frame(rows: pd.DataFrame, id_column: str, timezone: str) -> pd.DataFrame:
    frame = pd.DataFrame({"ID": rows[id_column].astype(str)})
    for column, title in (("kind", "Kind"), ("input_type", "Input"), ("name", "Name")):
        if column in rows:
            frame[title] = rows[column].fillna("").astype(str)
    frame["Status"] = rows["status"].astype(str)
    frame[with_zone("Started", timezone)] = to_local_text(rows["started_ts"], timezone)
    frame[with_zone("Ended", timezone)] = to_local_text(rows["ended_ts"], timezone)
    frame["Error"] = rows["error"].fillna("").astype(str)
    return frame


def page(view: ViewState) -> None:
    empty.banners(view)
    url = data.db_url()
    start_ts, end_ts = view.window()
    if key := params.read("q"):
        st.session_state.setdefault(_KEY_SEARCH, key)
    st.session_state.setdefault(_KEY_STATUS, params.read("status") or "all")

    left, right = st.columns([3, 1])
    search = left.text_input("Search room or channel", key=_KEY_SEARCH, max_chars=params.MAX_SEARCH_CHARS)
    status = right.selectbox("Status", data.STREAM_STATUSES, key=_KEY_STATUS, format_func=str.capitalize)
    now_ts = view.now_ts()
    listing = data.streams(url, start_ts, end_ts, view.source_id, search, status, now_ts)
    rows = listing.rows

    selected: str | None = None
    if rows.empty:
        if search or status != "all":
            st.info("No stream matches these filters.", icon=":material/filter_alt_off:")
        else:
            empty.nothing_in_window("streams", view)
    else:
        every = (
            data.streams(
                url, start_ts, end_ts, view.source_id, search, status, now_ts, data.STREAM_CSV_ROWS_LIMIT
            )
            if listing.truncated
            else listing
        )
        with_channel = channels_differ(every.rows)
        shown = table_frame(rows, view.timezone, with_channel=with_channel)
        exported = (
            table_frame(every.rows, view.timezone, with_channel=with_channel) if listing.truncated else shown
        )
        st.caption(
            f"{plural(listing.total, 'stream')} ({listing.live:,} live) in {view.range_label.lower()}"
            + (
                f" — the table shows the newest {len(shown):,}; the CSV holds "
                + (f"all {len(exported):,}." if not every.truncated else f"the newest {len(exported):,}.")
                if listing.truncated
                else ""
            )
        )
        show_table(shown, hide_index=True, key="streams_table")
        st.download_button(
            "Download CSV",
            export.csv_bytes(exported),
            file_name=f"castmeter-streams-{format_ts(now_ts, 'UTC', with_zone=False).replace(' ', '-').replace(':', '')}Z.csv",
            mime="text/csv",
            icon=":material/download:",
        )
        keys = [
            params.keyed_id(int(source_id), str(sid))
            for source_id, sid in zip(rows["source_id"], rows["room_sid"], strict=True)
        ]
        labels = {
            key: stream_label(room_name, status, int(started_ts), view.timezone)
            for key, room_name, status, started_ts in zip(
                keys, rows["room_name"], rows["status"], rows["started_ts"], strict=True
            )
        }
        wanted = params.read("stream")
        if _KEY_STREAM not in st.session_state and wanted in labels:
            st.session_state[_KEY_STREAM] = wanted
        if st.session_state.get(_KEY_STREAM) not in labels:
            st.session_state[_KEY_STREAM] = None
        selected = st.selectbox(
            "Drill down into a stream",
            keys,
            key=_KEY_STREAM,
            index=None,
            placeholder="Pick a stream…",
            format_func=lambda key: labels[key],
        )
    params.write({"q": search or None, "status": None if status == "all" else status, "stream": selected})

    parsed = params.split_keyed_id(selected)
    if parsed is not None:
        detail = data.stream_detail(url, parsed[0], parsed[1], now_ts)
        if detail is None:
            st.warning("That stream is no longer in the store.")
        else:
            show_detail(detail, view.timezone)
            show_relay_chain(data.relay_chain(url, detail.channel, now_ts), view.timezone)
    relay_chains_section(url, now_ts, view.timezone)


page(start("Streams"))
