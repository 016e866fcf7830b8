"""A/B tests and their outcomes

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "abtests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("variants", sa.Text(), nullable=False),
        sa.Column("models", sa.Text(), nullable=False),
        sa.Column("metrics", sa.Text(), nullable=False),
        sa.Column("duration_days", sa.Float(), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("stopped_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_abtests")),
        sa.UniqueConstraint("name", name=op.f("uq_abtests_name")),
    )
    op.create_table(
        "abtest_outcomes",
        sa.Column("test_id", sa.String(length=32), nullable=False),
        sa.Column("unit_id", sa.String(length=256), nullable=False),
        sa.Column("metric", sa.String(length=256), nullable=False),
        sa.Column("variant", sa.String(length=256), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["test_id"],
            ["abtests.id"],
            name=op.f("fk_abtest_outcomes_test_id_abtests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("test_id", "unit_id", "metric", name=op.f("pk_abtest_outcomes")),
    )


def downgrade() -> None:
    op.drop_table("abtest_outcomes")
    op.drop_table("abtests")
