"""an appeal's urgency (一般 / 紧急 / 特急), carried in appeal_received

Revision ID: d7e2a4c6b815
Revises: e15a0c7d3b21
Create Date: 2026-12-05 07:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'd7e2a4c6b815'
down_revision = 'e15a0c7d3b21'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('appeals', sa.Column('urgency', sa.String(length=8), server_default='一般', nullable=False))


def downgrade() -> None:
    op.drop_column('appeals', 'urgency')
