"""castmeter's database schema (SQLAlchemy 2 Core), the single source for Alembic migrations.

Conventions:
- every time is an integer Unix timestamp in seconds, in columns named ``*_ts`` (or ``ts``);
- rates carry their unit in the name (``bytes_out_per_s``, ``cpu_pct``);
- every table written by a collector has a natural key, so writes are upserts and a re-run
  of a tick or a backfill never duplicates a row.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    literal_column,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# ---------------------------------------------------------------------------------------------
# Sources and their health
# ---------------------------------------------------------------------------------------------

sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    # livekit | prometheus | webhook | billing:<provider>
    Column("kind", String(40), nullable=False),
    # The URL without credentials; never a secret.
    Column("url", Text, nullable=False, default=""),
    Column("created_ts", BigInteger, nullable=False),
)

source_health = Table(
    "source_health",
    metadata,
    Column("source_id", Integer, primary_key=True),
    Column("status", String(20), nullable=False),  # ok | failing | partial
    Column("last_attempt_ts", BigInteger, nullable=False),
    Column("last_success_ts", BigInteger),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("next_attempt_ts", BigInteger),
    # Gap report: when a failing stretch started (null while healthy).
    Column("failing_since_ts", BigInteger),
)

collector_gaps = Table(
    "collector_gaps",
    metadata,
    Column("source_id", Integer, primary_key=True),
    Column("start_ts", BigInteger, primary_key=True),
    Column("end_ts", BigInteger),
    Column("reason", Text),
)

# ---------------------------------------------------------------------------------------------
# Inventory and sessions
# ---------------------------------------------------------------------------------------------

nodes = Table(
    "nodes",
    metadata,
    Column("source_id", Integer, primary_key=True),
    Column("node_id", String(200), primary_key=True),
    Column("node_type", String(40), nullable=False, default="SERVER"),
    Column("first_seen_ts", BigInteger, nullable=False),
    Column("last_seen_ts", BigInteger, nullable=False),
)

room_sessions = Table(
    "room_sessions",
    metadata,
    Column("source_id", Integer, primary_key=True),
    Column("room_sid", String(200), primary_key=True),
    Column("room_name", Text, nullable=False),
    # The channel a room belongs to (the room name unless a mapping says otherwise).
    Column("channel", Text, nullable=False),
    Column("started_ts", BigInteger, nullable=False),
    Column("ended_ts", BigInteger),
    Column("last_seen_ts", BigInteger, nullable=False),
    Column("max_participants", Integer, nullable=False, default=0),
    Column("max_listeners", Integer, nullable=False, default=0),
)
Index("ix_room_sessions_started", room_sessions.c.started_ts)
Index("ix_room_sessions_open", room_sessions.c.ended_ts)

participant_sessions = Table(
    "participant_sessions",
    metadata,
    Column("source_id", Integer, primary_key=True),
    Column("participant_sid", String(200), primary_key=True),
    Column("room_sid", String(200), nullable=False),
    Column("identity", Text, nullable=False),
    Column("name", Text, nullable=False, default=""),
    # ParticipantInfo.Kind name: STANDARD, INGRESS, EGRESS, SIP, AGENT, ...
    Column("kind", String(20), nullable=False, default="STANDARD"),
    Column("is_publisher", Boolean, nullable=False, default=False),
    Column("joined_ts", BigInteger, nullable=False),
    Column("left_ts", BigInteger),
    Column("last_seen_ts", BigInteger, nullable=False),
    # Where the session was learned: poll | webhook | backfill (webhook times are exact).
    Column("origin", String(10), nullable=False, default="poll"),
)
Index("ix_participant_sessions_room", participant_sessions.c.source_id, participant_sessions.c.room_sid)
Index("ix_participant_sessions_joined", participant_sessions.c.joined_ts)

egress_status = Table(
    "egress_status",
    metadata,
    Column("source_id", Integer, primary_key=True),
    Column("egress_id", String(200), primary_key=True),
    Column("room_sid", String(200)),
    Column("room_name", Text),
    Column("kind", String(40), nullable=False, default=""),  # room_composite, track, ...
    Column("status", String(40), nullable=False),  # EGRESS_ACTIVE, ...
    Column("started_ts", BigInteger),
    Column("ended_ts", BigInteger),
    Column("updated_ts", BigInteger),
    Column("last_seen_ts", BigInteger, nullable=False),
    Column("error", Text),
)

ingress_status = Table(
    "ingress_status",
    metadata,
    Column("source_id", Integer, primary_key=True),
    Column("ingress_id", String(200), primary_key=True),
    Column("name", Text),
    Column("room_name", Text),
    Column("input_type", String(20), nullable=False, default=""),  # RTMP_INPUT, WHIP_INPUT, URL_INPUT
    Column("status", String(40), nullable=False),  # ENDPOINT_INACTIVE, PUBLISHING, ...
    Column("started_ts", BigInteger),
    Column("ended_ts", BigInteger),
    Column("last_seen_ts", BigInteger, nullable=False),
    Column("error", Text),
)

# ---------------------------------------------------------------------------------------------
# Samples (raw) and rollups
# ---------------------------------------------------------------------------------------------

room_samples = Table(
    "room_samples",
    metadata,
    Column("source_id", Integer, primary_key=True),
    Column("room_sid", String(200), primary_key=True),
    Column("ts", BigInteger, primary_key=True),
    Column("participants", Integer, nullable=False),
    Column("publishers", Integer, nullable=False),
    Column("listeners", Integer, nullable=False),
)
Index("ix_room_samples_ts", room_samples.c.ts)

NODE_METRICS: tuple[str, ...] = (
    "cpu_pct",
    "memory_bytes",
    "memory_pct",
    "bytes_in_per_s",
    "bytes_out_per_s",
    "packets_in_per_s",
    "packets_out_per_s",
    "packet_loss_pct",
    "jitter_p95_ms",
    "rtt_p95_ms",
    "nack_per_s",
    "pli_per_s",
    "rooms",
    "participants",
    "tracks_published",
    "tracks_subscribed",
    "join_success_ratio",
    "api_requests_per_s",
    "api_errors_per_s",
    "quality_score",
)

node_samples = Table(
    "node_samples",
    metadata,
    Column("source_id", Integer, primary_key=True),
    Column("node_id", String(200), primary_key=True),
    Column("ts", BigInteger, primary_key=True),
    *(Column(name, Float) for name in NODE_METRICS),
)
Index("ix_node_samples_ts", node_samples.c.ts)


def _room_rollup(name: str) -> Table:
    table = Table(
        name,
        metadata,
        Column("source_id", Integer, primary_key=True),
        Column("room_sid", String(200), primary_key=True),
        Column("bucket_ts", BigInteger, primary_key=True),
        Column("samples", Integer, nullable=False),
        Column("participants_avg", Float, nullable=False),
        Column("participants_max", Integer, nullable=False),
        Column("publishers_avg", Float, nullable=False),
        Column("publishers_max", Integer, nullable=False),
        Column("listeners_avg", Float, nullable=False),
        Column("listeners_max", Integer, nullable=False),
    )
    Index(f"ix_{name}_bucket", table.c.bucket_ts)
    return table


def _node_rollup(name: str) -> Table:
    columns = [Column("samples", Integer, nullable=False)]
    for metric in NODE_METRICS:
        columns.append(Column(f"{metric}_avg", Float))
        columns.append(Column(f"{metric}_max", Float))
    table = Table(
        name,
        metadata,
        Column("source_id", Integer, primary_key=True),
        Column("node_id", String(200), primary_key=True),
        Column("bucket_ts", BigInteger, primary_key=True),
        *columns,
    )
    Index(f"ix_{name}_bucket", table.c.bucket_ts)
    return table


room_samples_1m = _room_rollup("room_samples_1m")
room_samples_1h = _room_rollup("room_samples_1h")
node_samples_1m = _node_rollup("node_samples_1m")
node_samples_1h = _node_rollup("node_samples_1h")

# Incremental rollups: how far each rollup is complete (exclusive upper bound, Unix s).
rollup_state = Table(
    "rollup_state",
    metadata,
    Column("name", String(60), primary_key=True),
    Column("done_until_ts", BigInteger, nullable=False),
)

# ---------------------------------------------------------------------------------------------
# Webhook events (exact session times) — filled by collectors/webhooks.py
# ---------------------------------------------------------------------------------------------

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("event_id", String(200), primary_key=True),
    Column("source_id", Integer, nullable=False),
    Column("event", String(60), nullable=False),
    Column("created_ts", BigInteger, nullable=False),
    Column("received_ts", BigInteger, nullable=False),
    Column("room_sid", String(200)),
    Column("room_name", Text),
    Column("participant_sid", String(200)),
    Column("participant_identity", Text),
    Column("body_json", Text, nullable=False),
)
Index("ix_webhook_events_created", webhook_events.c.created_ts)
# The room poller asks, every tick, which live rooms have a room_started event (their sessions
# come from webhooks, so their participants are not listed). Migration 0008_day_partitions.
Index("ix_webhook_events_room", webhook_events.c.source_id, webhook_events.c.room_sid)

# Counters of refused webhook requests etc., by name (never the request itself).
collector_counters = Table(
    "collector_counters",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("value", BigInteger, nullable=False, default=0),
    Column("updated_ts", BigInteger, nullable=False),
)

__all__ = [
    "NODE_METRICS",
    "collector_counters",
    "collector_gaps",
    "egress_status",
    "ingress_status",
    "metadata",
    "node_samples",
    "node_samples_1h",
    "node_samples_1m",
    "nodes",
    "participant_sessions",
    "rollup_state",
    "room_samples",
    "room_samples_1h",
    "room_samples_1m",
    "room_sessions",
    "source_health",
    "sources",
    "webhook_events",
]

# --- billing (issue 8) ---
# What the providers' usage/billing APIs report, normalized (collectors/billing/). A re-fetch of
# a day replaces that provider's rows for that day and metric, so late corrections never double.

billing_usage = Table(
    "billing_usage",
    metadata,
    Column("provider", String(40), primary_key=True),  # livekit_cloud | agora | cloudflare | aws | hetzner
    Column("day_ts", BigInteger, primary_key=True),  # UTC midnight of the usage day
    Column("metric", String(80), primary_key=True),  # e.g. connection_min, downstream_gb
    # sha1 of the canonical dimensions JSON: part of the key without indexing long text.
    Column("dims_key", String(40), primary_key=True),
    # The endpoint family the row came from; a re-fetch replaces (provider, day, part) whole,
    # so a usage type that a correction removed disappears too.
    Column("part", String(40), nullable=False),
    Column("dimensions_json", Text, nullable=False, default="{}"),
    Column("unit", String(20), nullable=False),
    Column("quantity", Float, nullable=False),
    # Money as the provider states it (null when its API gives none), and its USD value.
    Column("amount", Float),
    Column("currency", String(3)),
    Column("usd", Float),
    Column("fetched_ts", BigInteger, nullable=False),
)
Index("ix_billing_usage_day", billing_usage.c.day_ts)

# One row per provider, day and fetched part: lets reconciliation tell "no usage" from "not fetched"
# and a partial day (fetched before it ended) from a complete one.
billing_fetches = Table(
    "billing_fetches",
    metadata,
    Column("provider", String(40), primary_key=True),
    Column("day_ts", BigInteger, primary_key=True),
    Column("part", String(40), primary_key=True),  # the endpoint family, e.g. sessions, usage, cost
    Column("fetched_ts", BigInteger, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("complete", Boolean, nullable=False),  # the day had ended when it was fetched
)

# --- alerts (issue 7) ---
# Live alert evaluation (collectors/alerting.py): the current state of every (rule, target)
# and the history of its transitions. Owned by the alerting feature; migration 0002_alerts.

alert_state = Table(
    "alert_state",
    metadata,
    Column("rule", String(100), primary_key=True),
    # node id, stream (room name) or "fleet"
    Column("target", String(200), primary_key=True),
    Column("state", String(10), nullable=False),  # normal | pending | firing
    Column("severity", String(10), nullable=False, default="warning"),
    Column("active_since_ts", BigInteger),  # when it went pending (Prometheus ActiveAt)
    Column("fired_ts", BigInteger),
    # When the condition first failed while firing (keep_firing_for clock), else null.
    Column("keep_firing_since_ts", BigInteger),
    Column("last_value", Float),
    Column("last_eval_ts", BigInteger, nullable=False),
)

alert_history = Table(
    "alert_history",
    metadata,
    Column("rule", String(100), primary_key=True),
    Column("target", String(200), primary_key=True),
    Column("ts", BigInteger, primary_key=True),
    Column("to_state", String(10), primary_key=True),  # pending | firing | resolved | normal
    Column("from_state", String(10), nullable=False),
    Column("severity", String(10), nullable=False, default="warning"),
    Column("value", Float),
    Column("threshold", Float, nullable=False),
    # For resolved: when the episode started firing (its duration is ts - fired_ts).
    Column("fired_ts", BigInteger),
)
Index("ix_alert_history_ts", alert_history.c.ts)

__all__ += ["alert_history", "alert_state"]

# --- performance indexes (issue 9) ---
# The usage ledger's per-room, per-day connection minutes (store/queries/usage.py ``connection_minutes``)
# read in index order: grouped by (source_id, room_sid, UTC day of joining) with no sort and no
# table lookups (covering). The day expression must match the query's textually. Migration
# 0004_perf_indexes.
Index(
    "ix_participant_sessions_usage",
    participant_sessions.c.source_id,
    participant_sessions.c.room_sid,
    participant_sessions.c.joined_ts // literal_column("86400", BigInteger),
    participant_sessions.c.joined_ts,
    participant_sessions.c.left_ts,
    participant_sessions.c.last_seen_ts,
    participant_sessions.c.is_publisher,
    participant_sessions.c.kind,
)

# --- daily usage rollup (issue 10) ---
# Per room and UTC day of joining, the connection-minute sums store/queries/usage.py ``connection_minutes``
# needs, over *closed* participant sessions (left_ts set) of closed days, so a 30-day read sums
# a few thousand rows instead of millions of sessions. Maintained by store/usage_rollup.py (its
# horizon and last_seen_ts watermark live in ``rollup_state``). Migration 0005_usage_daily.

room_usage_daily = Table(
    "room_usage_daily",
    metadata,
    Column("source_id", Integer, primary_key=True),
    Column("room_sid", String(200), primary_key=True),
    Column("day_ts", BigInteger, primary_key=True),  # UTC midnight of the join day
    Column("sessions", Integer, nullable=False),
    # Rounded up per connection (at least 1 min each), as LiveKit bills.
    Column("publisher_minutes", BigInteger, nullable=False),
    Column("listener_minutes", BigInteger, nullable=False),
    # Unrounded, as whole seconds (exact sums; the reader divides by 60).
    Column("publisher_seconds", BigInteger, nullable=False),
    Column("listener_seconds", BigInteger, nullable=False),
    # The row is only valid for windows with since_ts < min_left_ts and max_left_ts <= until_ts
    # (no session in it is clipped); other windows read its sessions raw.
    Column("min_left_ts", BigInteger, nullable=False),
    Column("max_left_ts", BigInteger, nullable=False),
)
Index("ix_room_usage_daily_day", room_usage_daily.c.day_ts)
# What the rollup's refresh and reader look up besides it: sessions changed since the
# watermark, and still-open sessions (NULL left_ts) by join time.
Index("ix_participant_sessions_last_seen", participant_sessions.c.last_seen_ts)
Index("ix_participant_sessions_open", participant_sessions.c.left_ts, participant_sessions.c.joined_ts)

__all__ += ["room_usage_daily"]

# --- Alertmanager (issue 19) ---
# What each configured Alertmanager said at the last exchange (collectors/alertmanager.py):
# whether it could be reached, and its view of castmeter's alerts (silenced, inhibited), which
# the Alerts page shows beside castmeter's own state. Migration 0006_alertmanager.
alertmanager_status = Table(
    "alertmanager_status",
    metadata,
    Column("url", String(500), primary_key=True),  # without credentials
    Column("status", String(10), nullable=False),  # ok | failing
    Column("last_attempt_ts", BigInteger, nullable=False),
    Column("last_success_ts", BigInteger),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("alerts_sent", Integer, nullable=False, default=0),  # in the last successful post
)

alertmanager_alerts = Table(
    "alertmanager_alerts",
    metadata,
    Column("url", String(500), primary_key=True),
    Column("fingerprint", String(64), primary_key=True),
    Column("rule", String(100), nullable=False),
    Column("target", String(200), nullable=False),
    Column("state", String(20), nullable=False),  # active | suppressed | unprocessed
    Column("silenced_by", Text, nullable=False, default=""),  # silence ids, comma-separated
    Column("inhibited_by", Text, nullable=False, default=""),  # fingerprints of the inhibiting alerts
    Column("note", Text, nullable=False, default=""),  # the silences' authors, comments and ends
    Column("receivers", Text, nullable=False, default=""),
    Column("starts_ts", BigInteger),
    Column("ends_ts", BigInteger),
    Column("updated_ts", BigInteger, nullable=False),
)

__all__ += ["alertmanager_alerts", "alertmanager_status"]

# --- Leases: several collectors on one PostgreSQL (issue 20) ---
# Who owns what (collectors/ownership.py, store/leases.py): one row per source
# (``source:<name>``), the once-only jobs (``leader``) and each live process (``member:<holder>``,
# its heartbeat). Times are Unix seconds from the DATABASE's clock (fractional: leases live a
# fraction of a poll interval). ``generation`` grows each time the holder changes: a write is
# allowed only under the generation its process was granted (the fencing check). Migration
# 0007_leases. Unused on SQLite (one collector process, held by a lock file).
collector_leases = Table(
    "collector_leases",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("holder", String(200), nullable=False),  # host:pid:random
    Column("generation", BigInteger, nullable=False),
    Column("acquired_ts", Float, nullable=False),  # when this holder took it
    Column("renewed_ts", Float, nullable=False),
    Column("expires_ts", Float, nullable=False),
)

__all__ += ["collector_leases"]

# --- the whole audience (issue 17) ---
# Audiences outside LiveKit's rooms and the relays that feed them, written by the pollers of
# collectors/pollers/ (HLS delivery logs, Agora, Cloudflare Stream, Amazon IVS). The WebRTC
# audience stays in room_samples; analytics/audience.py puts the paths side by side by channel
# (the same key as room_sessions.channel). Migration 0009_audience.

audience_samples = Table(
    "audience_samples",
    metadata,
    Column("source_id", Integer, primary_key=True),
    # The stream's channel: HLS by the path pattern, Agora's channelName, a Cloudflare live
    # input's or an IVS channel's mapped name.
    Column("channel", String(200), primary_key=True),
    Column("path", String(20), primary_key=True),  # hls | agora | cloudflare_stream | ivs
    Column("ts", BigInteger, primary_key=True),
    Column("viewers", Integer, nullable=False),  # concurrent at ts, as the source counts them
    Column("hosts", Integer),  # publishers on that path (Agora hosts), null when not reported
    # Measured viewer-seconds in (previous sample of this source, ts]; null when the source
    # reports only concurrency (the ledger then integrates ``viewers``).
    Column("viewer_s", Float),
    Column("bytes_delivered", BigInteger),  # in the same interval; null when not reported
    Column("requests", Integer),
    Column("errors_4xx", Integer),
    Column("errors_5xx", Integer),
)
Index("ix_audience_samples_ts", audience_samples.c.ts)

# One row per relay hop and poll: LiveKit egress -> HLS playlist, Agora Media Push / Cloud
# Recording -> a Cloudflare Stream or IVS input. The newest row of a relay is its state.
relay_samples = Table(
    "relay_samples",
    metadata,
    Column("source_id", Integer, primary_key=True),
    Column("relay_id", String(200), primary_key=True),  # the provider's id, or the playlist path
    Column("ts", BigInteger, primary_key=True),
    Column("channel", String(200), nullable=False),
    # livekit_egress | hls_playlist | agora_media_push | agora_cloud_recording |
    # cloudflare_live_input | ivs_stream
    Column("kind", String(40), nullable=False),
    Column("sink", Text, nullable=False, default=""),  # where it goes, never with a stream key
    Column("health", String(10), nullable=False),  # ok | degraded | down | idle
    Column("status", String(60), nullable=False),  # the provider's own word for it
    Column("last_activity_ts", BigInteger),  # e.g. the playlist's last new segment
    Column("detail", Text),  # the provider's error text, credential-free
    # An HLS playlist's segment duration as its poller is configured (the stale-playlist rule
    # counts in it); null for other relays.
    Column("segment_s", Float),
)
Index("ix_relay_samples_ts", relay_samples.c.ts)

# Where a log reader stopped in each file (or which Logpush objects it has read), advanced in
# the same transaction as the samples it produced, so a restart neither loses nor re-counts.
log_cursors = Table(
    "log_cursors",
    metadata,
    Column("source_id", Integer, primary_key=True),
    Column("file_key", String(200), primary_key=True),  # "dev:inode", or an object's key/hash
    Column("path", Text, nullable=False),
    Column("fingerprint", String(64), nullable=False, default=""),  # hash of the first bytes
    Column("offset_bytes", BigInteger, nullable=False),
    Column("done", Boolean, nullable=False, default=False),  # a rotated file read to its end
    Column("updated_ts", BigInteger, nullable=False),
)

__all__ += ["audience_samples", "log_cursors", "relay_samples"]
