"""billing tables (issue 8): billing_usage, billing_fetches

Revision ID: 0003_billing
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_billing"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_usage",
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("day_ts", sa.BigInteger(), nullable=False),
        sa.Column("metric", sa.String(length=80), nullable=False),
        sa.Column("dims_key", sa.String(length=40), nullable=False),
        sa.Column("part", sa.String(length=40), nullable=False),
        sa.Column("dimensions_json", sa.Text(), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("usd", sa.Float(), nullable=True),
        sa.Column("fetched_ts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("provider", "day_ts", "metric", "dims_key", name=op.f("pk_billing_usage")),
    )
    op.create_index("ix_billing_usage_day", "billing_usage", ["day_ts"], unique=False)
    op.create_table(
        "billing_fetches",
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("day_ts", sa.BigInteger(), nullable=False),
        sa.Column("part", sa.String(length=40), nullable=False),
        sa.Column("fetched_ts", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("provider", "day_ts", "part", name=op.f("pk_billing_fetches")),
    )


def downgrade() -> None:
    op.drop_table("billing_fetches")
    op.drop_index("ix_billing_usage_day", table_name="billing_usage")
    op.drop_table("billing_usage")
