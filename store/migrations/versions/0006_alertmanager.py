"""Alertmanager status and view (issue 19)

Revision ID: 0006_alertmanager
Revises: 0005_usage_daily
Create Date: 2026-12-01

``alertmanager_status``: each configured Alertmanager's reachability; ``alertmanager_alerts``:
its view of castmeter's alerts (state, silences, inhibitions), written by
collectors/alertmanager.py and shown on the Alerts page. Kept in step with store/schema.py
(section "Alertmanager (issue 19)").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_alertmanager"
down_revision = "0005_usage_daily"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alertmanager_status",
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("last_attempt_ts", sa.BigInteger(), nullable=False),
        sa.Column("last_success_ts", sa.BigInteger(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("alerts_sent", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("url", name=op.f("pk_alertmanager_status")),
    )
    op.create_table(
        "alertmanager_alerts",
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("silenced_by", sa.Text(), nullable=False),
        sa.Column("inhibited_by", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("receivers", sa.Text(), nullable=False),
        sa.Column("starts_ts", sa.BigInteger(), nullable=True),
        sa.Column("ends_ts", sa.BigInteger(), nullable=True),
        sa.Column("updated_ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("url", "fingerprint", name=op.f("pk_alertmanager_alerts")),
    )


def downgrade() -> None:
    op.drop_table("alertmanager_alerts")
    op.drop_table("alertmanager_status")
