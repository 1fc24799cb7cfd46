"""The whole audience: HLS/Agora/Cloudflare Stream/IVS audience, relays, log cursors (issue 17)

Revision ID: 0009_audience
Revises: 0008_day_partitions
Create Date: 2026-12-02

``audience_samples`` (viewers by delivery path and channel), ``relay_samples`` (each relay
hop's health over time) and ``log_cursors`` (where the HLS log reader stopped). Kept in step
with store/schema.py (section "the whole audience").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_audience"
down_revision = "0008_day_partitions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audience_samples",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column("path", sa.String(length=20), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("viewers", sa.Integer(), nullable=False),
        sa.Column("hosts", sa.Integer(), nullable=True),
        sa.Column("viewer_s", sa.Float(), nullable=True),
        sa.Column("bytes_delivered", sa.BigInteger(), nullable=True),
        sa.Column("requests", sa.Integer(), nullable=True),
        sa.Column("errors_4xx", sa.Integer(), nullable=True),
        sa.Column("errors_5xx", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("source_id", "channel", "path", "ts", name=op.f("pk_audience_samples")),
    )
    op.create_index("ix_audience_samples_ts", "audience_samples", ["ts"])
    op.create_table(
        "relay_samples",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("relay_id", sa.String(length=200), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("sink", sa.Text(), nullable=False),
        sa.Column("health", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=60), nullable=False),
        sa.Column("last_activity_ts", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("source_id", "relay_id", "ts", name=op.f("pk_relay_samples")),
    )
    op.create_index("ix_relay_samples_ts", "relay_samples", ["ts"])
    op.create_table(
        "log_cursors",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("file_key", sa.String(length=200), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("offset_bytes", sa.BigInteger(), nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("updated_ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source_id", "file_key", name=op.f("pk_log_cursors")),
    )


def downgrade() -> None:
    op.drop_table("log_cursors")
    op.drop_index("ix_relay_samples_ts", table_name="relay_samples")
    op.drop_table("relay_samples")
    op.drop_index("ix_audience_samples_ts", table_name="audience_samples")
    op.drop_table("audience_samples")
