"""outbox notify trigger: only for rows available at once, not those held for the writer's relay

The consumer's unit of work writes its events held (available_at after created_at) and hands
them to the relay of its own process, which publishes them without a pass; a NOTIFY for them
would only wake every relay for a pass that finds nothing (shared.outbox.notify_when_available:
a row trigger whose WHEN the executor checks; nothing on SQLite).

Revision ID: 917bd20b0a85
Revises: 5c3e8a1f0d27
Create Date: 2026-12-06 08:00:00
"""
from alembic import op

from shared.outbox import create_notify_trigger, notify_when_available

revision = '917bd20b0a85'
down_revision = '5c3e8a1f0d27'
branch_labels = None
depends_on = None


def upgrade() -> None:
    notify_when_available(op)


def downgrade() -> None:
    create_notify_trigger(op)
