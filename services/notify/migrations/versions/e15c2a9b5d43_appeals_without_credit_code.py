"""appeals about households and projects have no credit code (issue 15)

Revision ID: e15c2a9b5d43
Revises: d2f4a6c8e0b5
Create Date: 2026-12-05 07:15:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'e15c2a9b5d43'
down_revision = 'd2f4a6c8e0b5'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('appeals') as batch:
        batch.alter_column('credit_code', existing_type=sa.String(length=18), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('appeals') as batch:
        batch.alter_column('credit_code', existing_type=sa.String(length=18), nullable=False)
