"""monitoring: stored alert rules

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitoring_alert_rules",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("model_name", sa.String(length=256), nullable=True),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_monitoring_alert_rules")),
    )


def downgrade() -> None:
    op.drop_table("monitoring_alert_rules")
