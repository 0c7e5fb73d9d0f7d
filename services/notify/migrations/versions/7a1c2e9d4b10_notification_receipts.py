"""notification receipts: the sender records each send the moment a channel took it

Revision ID: 7a1c2e9d4b10
Revises: 1d8e040a1c39
Create Date: 2026-12-04 18:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = '7a1c2e9d4b10'
down_revision = '1d8e040a1c39'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notification_receipts',
    sa.Column('notification_id', sa.String(length=32), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('notification_id')
    )


def downgrade() -> None:
    op.drop_table('notification_receipts')
