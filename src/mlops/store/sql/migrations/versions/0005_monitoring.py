"""monitoring: detectors, open windows, window results, predictions, alerts and silences

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitoring_alerts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=256), nullable=False),
        sa.Column("metric", sa.String(length=128), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("model_name", sa.String(length=256), nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("deployment", sa.String(length=256), nullable=True),
        sa.Column("group_key", sa.String(length=512), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("last_seen_at", sa.Float(), nullable=False),
        sa.Column("resolved_at", sa.Float(), nullable=True),
        sa.Column("acked_by", sa.String(length=128), nullable=True),
        sa.Column("acked_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_alerts")),
    )
    with op.batch_alter_table("monitoring_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_monitoring_alerts_fingerprint", ["fingerprint"], unique=False)
        batch_op.create_index("ix_monitoring_alerts_status", ["status"], unique=False)

    op.create_table(
        "monitoring_chunks",
        sa.Column("monitor", sa.String(length=256), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("window_start", sa.Float(), nullable=False),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("monitor", "seq", name=op.f("pk_monitoring_chunks")),
    )
    op.create_table(
        "monitoring_detectors",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("model_name", sa.String(length=256), nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("deployment", sa.String(length=256), nullable=True),
        sa.Column("blob", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_monitoring_detectors")),
    )
    with op.batch_alter_table("monitoring_detectors", schema=None) as batch_op:
        batch_op.create_index(
            "ix_monitoring_detectors_model", ["model_name", "model_version"], unique=False
        )

    op.create_table(
        "monitoring_predictions",
        sa.Column("monitor", sa.String(length=256), nullable=False),
        sa.Column("prediction_id", sa.String(length=128), nullable=False),
        sa.Column("window_start", sa.Float(), nullable=False),
        sa.Column("predicted_at", sa.Float(), nullable=False),
        sa.Column("prediction", sa.Float(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("label", sa.Float(), nullable=True),
        sa.Column("latency", sa.Float(), nullable=True),
        sa.Column("error", sa.Boolean(), nullable=False),
        sa.Column("labelled_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("monitor", "prediction_id", name=op.f("pk_monitoring_predictions")),
    )
    with op.batch_alter_table("monitoring_predictions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_monitoring_predictions_window", ["monitor", "window_start"], unique=False
        )

    op.create_table(
        "monitoring_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("monitor", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("model_name", sa.String(length=256), nullable=True),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("deployment", sa.String(length=256), nullable=True),
        sa.Column("window_start", sa.Float(), nullable=False),
        sa.Column("window_end", sa.Float(), nullable=False),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_results")),
        sa.UniqueConstraint(
            "monitor",
            "kind",
            "window_start",
            name=op.f("uq_monitoring_results_monitor_kind_window_start"),
        ),
    )
    with op.batch_alter_table("monitoring_results", schema=None) as batch_op:
        batch_op.create_index(
            "ix_monitoring_results_model",
            ["model_name", "model_version", "window_start"],
            unique=False,
        )

    op.create_table(
        "monitoring_silences",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("matchers", sa.Text(), nullable=False),
        sa.Column("starts_at", sa.Float(), nullable=False),
        sa.Column("ends_at", sa.Float(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_silences")),
    )
    op.create_table(
        "monitoring_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=128), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.Column("delivered_at", sa.Float(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["monitoring_alerts.id"],
            name=op.f("fk_monitoring_deliveries_alert_id_monitoring_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_deliveries")),
    )
    with op.batch_alter_table("monitoring_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_monitoring_deliveries_status", ["status", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("monitoring_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_monitoring_deliveries_status")

    op.drop_table("monitoring_deliveries")
    op.drop_table("monitoring_silences")
    with op.batch_alter_table("monitoring_results", schema=None) as batch_op:
        batch_op.drop_index("ix_monitoring_results_model")

    op.drop_table("monitoring_results")
    with op.batch_alter_table("monitoring_predictions", schema=None) as batch_op:
        batch_op.drop_index("ix_monitoring_predictions_window")

    op.drop_table("monitoring_predictions")
    with op.batch_alter_table("monitoring_detectors", schema=None) as batch_op:
        batch_op.drop_index("ix_monitoring_detectors_model")

    op.drop_table("monitoring_detectors")
    op.drop_table("monitoring_chunks")
    with op.batch_alter_table("monitoring_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_monitoring_alerts_status")
        batch_op.drop_index("ix_monitoring_alerts_fingerprint")

    op.drop_table("monitoring_alerts")
