"""an appeal's urgency (一般 / 紧急 / 特急), carried in appeal_received

Revision ID: d7e2a4c6b815
Revises: c3a1e5d2f911
Create Date: 2026-12-05 07:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'd7e2a4c6b815'
down_revision = 'c3a1e5d2f911'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('appeals', sa.Column('urgency', sa.String(length=8), server_default='一般', nullable=False))


def downgrade() -> None:
    op.drop_column('appeals', 'urgency')
