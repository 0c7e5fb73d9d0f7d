"""outbox notify trigger: NOTIFY suqiu_outbox when a commit wrote outbox rows

The outbox relay LISTENs for it and publishes right after the commit, instead of polling
an outbox that is mostly empty (shared.outbox.create_notify_trigger; nothing on SQLite).

Revision ID: 7c2d4e6f8a13
Revises: 77b8ea7f38f3
Create Date: 2026-12-04 18:30:00
"""
from alembic import op

from shared.outbox import create_notify_trigger, drop_notify_trigger

revision = '7c2d4e6f8a13'
down_revision = '77b8ea7f38f3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_notify_trigger(op)


def downgrade() -> None:
    drop_notify_trigger(op)
