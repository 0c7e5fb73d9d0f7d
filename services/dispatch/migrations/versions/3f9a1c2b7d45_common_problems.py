"""common problems (共性问题): confirmed groups of appeals and their members

Revision ID: 3f9a1c2b7d45
Revises: e15b1d8f4c32
Create Date: 2026-12-05 07:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '3f9a1c2b7d45'
down_revision = 'e15b1d8f4c32'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "common_problems",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("district", sa.String(64), nullable=True),
        sa.Column("lead_unit", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_by", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("reply_text", sa.Text, nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replied_by", sa.String(128), nullable=True),
    )
    op.create_index("ix_common_problems_lead_unit", "common_problems", ["lead_unit"])
    op.create_table(
        "common_problem_members",
        sa.Column("appeal_id", sa.String(32), primary_key=True),
        sa.Column("problem_id", sa.String(32), nullable=False),
    )
    op.create_index("ix_common_problem_members_problem", "common_problem_members", ["problem_id"])


def downgrade() -> None:
    op.drop_index("ix_common_problem_members_problem", "common_problem_members")
    op.drop_table("common_problem_members")
    op.drop_index("ix_common_problems_lead_unit", "common_problems")
    op.drop_table("common_problems")
