"""pause requests: a clock pause is asked for by the lead unit and approved by the office;
appeals.phone_listed_at: on the office's phone-callback list (the ledger's filter)

Revision ID: 5a9c3e7b1d42
Revises: 9e4b1d3c5f27
Create Date: 2026-12-05 07:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '5a9c3e7b1d42'
down_revision = '9e4b1d3c5f27'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("appeals", sa.Column("phone_listed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "pause_requests",
        sa.Column("request_id", sa.String(32), primary_key=True),
        sa.Column("appeal_id", sa.String(64), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("unit", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("resume_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_pause_requests_appeal", "pause_requests", ["appeal_id"])
    op.create_index("ix_pause_requests_status", "pause_requests", ["status", "requested_at"])
    waiting = sa.text("ended_at IS NULL AND resume_at IS NOT NULL")
    op.create_index("ix_pause_requests_resume", "pause_requests", ["resume_at"],
                    postgresql_where=waiting, sqlite_where=waiting)


def downgrade() -> None:
    op.drop_index("ix_pause_requests_resume", table_name="pause_requests")
    op.drop_index("ix_pause_requests_status", table_name="pause_requests")
    op.drop_index("ix_pause_requests_appeal", table_name="pause_requests")
    op.drop_table("pause_requests")
    op.drop_column("appeals", "phone_listed_at")
