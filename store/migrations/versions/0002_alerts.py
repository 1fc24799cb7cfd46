"""alert state and history (issue 7)

Revision ID: 0002_alerts
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_alerts"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_state",
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("active_since_ts", sa.BigInteger(), nullable=True),
        sa.Column("fired_ts", sa.BigInteger(), nullable=True),
        sa.Column("keep_firing_since_ts", sa.BigInteger(), nullable=True),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column("last_eval_ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("rule", "target", name=op.f("pk_alert_state")),
    )
    op.create_table(
        "alert_history",
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("to_state", sa.String(length=10), nullable=False),
        sa.Column("from_state", sa.String(length=10), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("fired_ts", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("rule", "target", "ts", "to_state", name=op.f("pk_alert_history")),
    )
    op.create_index("ix_alert_history_ts", "alert_history", ["ts"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_alert_history_ts", table_name="alert_history")
    op.drop_table("alert_history")
    op.drop_table("alert_state")
