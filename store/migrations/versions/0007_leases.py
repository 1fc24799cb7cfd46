"""Leases for several collectors on one PostgreSQL (issue 20)

Revision ID: 0007_leases
Revises: 0006_alertmanager
Create Date: 2026-12-01

``collector_leases``: which collector process owns each source, which one is the leader (the
once-only jobs), and each process's heartbeat (store/leases.py, collectors/ownership.py). Kept
in step with store/schema.py (section "Leases").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_leases"
down_revision = "0006_alertmanager"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collector_leases",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.Column("acquired_ts", sa.Float(), nullable=False),
        sa.Column("renewed_ts", sa.Float(), nullable=False),
        sa.Column("expires_ts", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_collector_leases")),
    )


def downgrade() -> None:
    op.drop_table("collector_leases")
