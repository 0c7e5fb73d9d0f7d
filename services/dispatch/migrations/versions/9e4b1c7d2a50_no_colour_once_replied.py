"""no colour once replied or closed: the desk's overdue filter leaves a closed appeal

A reply ends the running stage and the closing ends the appeal; the colour they kept made a
closed appeal show red and overdue on the unit's desk forever (issue 13, fix 5).

Revision ID: 9e4b1c7d2a50
Revises: 7c2d4e6f8a13
Create Date: 2026-12-05 07:00:00
"""
from alembic import op

revision = '9e4b1c7d2a50'
down_revision = '7c2d4e6f8a13'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE appeals SET colour = NULL, colour_stage = NULL WHERE status IN ('replied', 'closed')")


def downgrade() -> None:
    pass  # the colours cleared were stale; nothing to restore
