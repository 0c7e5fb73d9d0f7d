"""urgency and code (赋码) of an appeal, the plan stage's time, meetings (交办会, 调度会) as records

Revision ID: e5b7d9f1a3c2
Revises: 5a9c3e7b1d42
Create Date: 2026-12-05 07:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'e5b7d9f1a3c2'
down_revision = '5a9c3e7b1d42'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('appeals', sa.Column('urgency', sa.String(length=8), server_default='一般', nullable=False))
    op.add_column('appeals', sa.Column('code', sa.String(length=8), nullable=True))
    op.add_column('appeals', sa.Column('plan_submitted_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('meetings',
    sa.Column('meeting_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('held_on', sa.Date(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=True),
    sa.Column('chair', sa.String(length=64), nullable=False),
    sa.Column('attendees', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('meeting_id')
    )
    op.create_index('ix_meetings_held_on', 'meetings', ['held_on'], unique=False)
    op.create_table('meeting_items',
    sa.Column('meeting_id', sa.String(length=32), nullable=False),
    sa.Column('appeal_id', sa.String(length=64), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('lead_unit_before', sa.String(length=64), nullable=True),
    sa.Column('status_before', sa.String(length=16), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lead_unit', sa.String(length=64), nullable=True),
    sa.Column('co_units', sa.JSON(), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lead_leader', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('order_id', sa.String(length=32), nullable=True),
    sa.PrimaryKeyConstraint('meeting_id', 'appeal_id')
    )
    op.create_index('ix_meeting_items_appeal', 'meeting_items', ['appeal_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_meeting_items_appeal', table_name='meeting_items')
    op.drop_table('meeting_items')
    op.drop_index('ix_meetings_held_on', table_name='meetings')
    op.drop_table('meetings')
    op.drop_column('appeals', 'plan_submitted_at')
    op.drop_column('appeals', 'code')
    op.drop_column('appeals', 'urgency')
