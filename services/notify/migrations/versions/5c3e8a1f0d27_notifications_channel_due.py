"""notifications claimed per channel: ix_notifications_channel_due replaces ix_notifications_due

The sender reads each channel's due rows in order through (channel, next_attempt_at, id) of
the pending rows, as many as it claims; the one index on next_attempt_at made it read (and sort)
every pending row of the backlog when a channel waited for its rate.

Revision ID: 5c3e8a1f0d27
Revises: 4b7e1f2a9c30
Create Date: 2026-12-06 01:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '5c3e8a1f0d27'
down_revision = '4b7e1f2a9c30'
branch_labels = None
depends_on = None

PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.create_index('ix_notifications_channel_due', 'notifications', ['channel', 'next_attempt_at', 'id'],
                    unique=False, postgresql_where=PENDING, sqlite_where=PENDING)
    op.drop_index('ix_notifications_due', table_name='notifications', postgresql_where=PENDING,
                  sqlite_where=PENDING)


def downgrade() -> None:
    op.create_index('ix_notifications_due', 'notifications', ['next_attempt_at'], unique=False,
                    postgresql_where=PENDING, sqlite_where=PENDING)
    op.drop_index('ix_notifications_channel_due', table_name='notifications', postgresql_where=PENDING,
                  sqlite_where=PENDING)
