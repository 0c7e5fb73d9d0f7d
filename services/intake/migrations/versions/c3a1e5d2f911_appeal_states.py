"""appeal states: open or closed in the loop (Open311's status)

Revision ID: c3a1e5d2f911
Revises: 3a1f0c9e2b41
Create Date: 2026-12-04 19:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'c3a1e5d2f911'
down_revision = '3a1f0c9e2b41'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('appeal_states',
    sa.Column('appeal_id', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('appeal_id')
    )


def downgrade() -> None:
    op.drop_table('appeal_states')
