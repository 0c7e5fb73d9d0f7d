"""outbox notify trigger: NOTIFY suqiu_outbox when a commit wrote outbox rows

The outbox relay LISTENs for it and publishes right after the commit, instead of polling
an outbox that is mostly empty (shared.outbox.create_notify_trigger; nothing on SQLite).

Revision ID: d2f4a6c8e0b5
Revises: 7a1c2e9d4b10
Create Date: 2026-12-04 18:30:00
"""
from alembic import op

from shared.outbox import create_notify_trigger, drop_notify_trigger

revision = 'd2f4a6c8e0b5'
down_revision = '7a1c2e9d4b10'
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_notify_trigger(op)


def downgrade() -> None:
    drop_notify_trigger(op)
