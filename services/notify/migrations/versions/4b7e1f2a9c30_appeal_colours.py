"""appeal colours: the colour supervision last told notify, and the stage's deadline

Warnings before a deadline (yellow: the lead unit; red: the unit and its leader) go out when
an appeal's colour turns; notify keeps the colour it knows to warn once per turn.

Revision ID: 4b7e1f2a9c30
Revises: e15c2a9b5d43
Create Date: 2026-12-05 07:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '4b7e1f2a9c30'
down_revision = 'e15c2a9b5d43'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("appeals", sa.Column("colour", sa.String(8), nullable=True))
    op.add_column("appeals", sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("appeals", "due_at")
    op.drop_column("appeals", "colour")
