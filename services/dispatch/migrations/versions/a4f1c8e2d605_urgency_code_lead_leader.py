"""an appeal's urgency, its code given at dispatch (赋码) and its lead leader (牵头领导)

Revision ID: a4f1c8e2d605
Revises: 3f9a1c2b7d45
Create Date: 2026-12-05 07:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'a4f1c8e2d605'
down_revision = '3f9a1c2b7d45'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('appeals', sa.Column('urgency', sa.String(length=8), server_default='一般', nullable=False))
    op.add_column('appeals', sa.Column('code', sa.String(length=8), nullable=True))
    op.add_column('appeals', sa.Column('lead_leader', sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column('appeals', 'lead_leader')
    op.drop_column('appeals', 'code')
    op.drop_column('appeals', 'urgency')
