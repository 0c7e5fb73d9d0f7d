"""natures and common problems, rectification orders, the year's manual score adjustments (issue 16)

Revision ID: c7e2a9d4f610
Revises: e15d3c0a6e54
Create Date: 2026-12-05 07:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'c7e2a9d4f610'
down_revision = 'e15d3c0a6e54'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "appeal_natures",
        sa.Column("appeal_id", sa.String(64), primary_key=True),
        sa.Column("nature", sa.String(16), nullable=False),
        sa.Column("common_problem_id", sa.String(32), nullable=True),
        sa.Column("common_problem_title", sa.String(200), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_appeal_natures_common_problem", "appeal_natures", ["common_problem_id"])
    op.create_table(
        "rectification_orders",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("report", sa.String(16), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("satisfaction_rate", sa.Float, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("responsible", sa.String(64), nullable=False),
        sa.Column("consecutive", sa.Integer, nullable=False),
        sa.Column("escalated", sa.Boolean, nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.String(128), nullable=False),
        sa.UniqueConstraint("report", "period", "unit", name="uq_rectification_orders_report_period_unit"),
    )
    op.create_index("ix_rectification_orders_unit", "rectification_orders", ["unit"])
    op.create_table(
        "score_adjustments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("points", sa.Float, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("entered_by", sa.String(128), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_score_adjustments_year_unit", "score_adjustments", ["year", "unit"])


def downgrade() -> None:
    op.drop_index("ix_score_adjustments_year_unit", "score_adjustments")
    op.drop_table("score_adjustments")
    op.drop_index("ix_rectification_orders_unit", "rectification_orders")
    op.drop_table("rectification_orders")
    op.drop_index("ix_appeal_natures_common_problem", "appeal_natures")
    op.drop_table("appeal_natures")
