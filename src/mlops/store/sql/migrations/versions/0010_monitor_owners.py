"""monitoring: the model each monitor belongs to

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 20:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitoring_monitors",
        sa.Column("monitor", sa.String(length=256), nullable=False),
        sa.Column("model_name", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("monitor", name=op.f("pk_monitoring_monitors")),
    )
    # Monitors that already closed a window are bound to the model their results name, so an
    # upgrade leaves no existing monitor free for another model's editor to claim.
    op.execute(
        "INSERT INTO monitoring_monitors (monitor, model_name, created_at) "
        "SELECT monitor, MIN(model_name), MIN(created_at) FROM monitoring_results "
        "WHERE model_name IS NOT NULL GROUP BY monitor"
    )


def downgrade() -> None:
    op.drop_table("monitoring_monitors")
