"""outbox notify trigger: only for rows available at once, not those held for the writer's relay

The consumer's unit of work writes its events held (available_at after created_at) and hands
them to the relay of its own process, which publishes them without a pass; a NOTIFY for them
would only wake every relay for a pass that finds nothing (shared.outbox.notify_when_available:
a row trigger whose WHEN the executor checks; nothing on SQLite).

Revision ID: e570bcb73482
Revises: e5b7d9f1a3c2
Create Date: 2026-12-06 08:00:00
"""
from alembic import op

from shared.outbox import create_notify_trigger, notify_when_available

revision = 'e570bcb73482'
down_revision = 'e5b7d9f1a3c2'
branch_labels = None
depends_on = None


def upgrade() -> None:
    notify_when_available(op)


def downgrade() -> None:
    create_notify_trigger(op)
