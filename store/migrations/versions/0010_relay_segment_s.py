"""relay_samples.segment_s: an HLS playlist's segment duration as its poller knows it (issue 17)

Revision ID: 0010_relay_segment_s
Revises: 0009_audience
Create Date: 2026-12-02

The stale-playlist rule (analytics/audience.py) counts "3 segment durations" in the stream's
own segment duration, recorded with each playlist-health sample; null for other relays and for
rows written before this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_relay_segment_s"
down_revision = "0009_audience"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("relay_samples") as batch:
        batch.add_column(sa.Column("segment_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("relay_samples") as batch:
        batch.drop_column("segment_s")
