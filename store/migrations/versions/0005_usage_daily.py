"""daily usage rollup (issue 10)

Revision ID: 0005_usage_daily
Revises: 0004_perf_indexes
Create Date: 2026-11-21

``room_usage_daily``: connection minutes per room and UTC join day over closed participant
sessions (store/usage_rollup.py), plus two participant_sessions indexes its refresh and reader
use (by last_seen_ts; open sessions by left_ts, joined_ts). Kept in step with store/schema.py
(section "daily usage rollup (issue 10)").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_usage_daily"
down_revision = "0004_perf_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "room_usage_daily",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("room_sid", sa.String(length=200), nullable=False),
        sa.Column("day_ts", sa.BigInteger(), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("publisher_minutes", sa.BigInteger(), nullable=False),
        sa.Column("listener_minutes", sa.BigInteger(), nullable=False),
        sa.Column("publisher_seconds", sa.BigInteger(), nullable=False),
        sa.Column("listener_seconds", sa.BigInteger(), nullable=False),
        sa.Column("min_left_ts", sa.BigInteger(), nullable=False),
        sa.Column("max_left_ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("source_id", "room_sid", "day_ts", name=op.f("pk_room_usage_daily")),
    )
    op.create_index("ix_room_usage_daily_day", "room_usage_daily", ["day_ts"], unique=False)
    op.create_index(
        "ix_participant_sessions_last_seen", "participant_sessions", ["last_seen_ts"], unique=False
    )
    op.create_index(
        "ix_participant_sessions_open", "participant_sessions", ["left_ts", "joined_ts"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_participant_sessions_open", table_name="participant_sessions")
    op.drop_index("ix_participant_sessions_last_seen", table_name="participant_sessions")
    op.drop_index("ix_room_usage_daily_day", table_name="room_usage_daily")
    op.drop_table("room_usage_daily")
