"""appeals about households and projects: no credit code, the subject's type and id (issue 15)

Revision ID: e15b1d8f4c32
Revises: 9e4b1c7d2a50
Create Date: 2026-12-05 07:10:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'e15b1d8f4c32'
down_revision = '9e4b1c7d2a50'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('appeals') as batch:
        batch.alter_column('credit_code', existing_type=sa.String(length=18), nullable=True)
        batch.add_column(sa.Column('subject_type', sa.String(length=16), nullable=False,
                                   server_default='enterprise'))
        batch.add_column(sa.Column('subject_id', sa.String(length=64), nullable=True))
    op.execute("UPDATE appeals SET subject_id = credit_code WHERE subject_id IS NULL")


def downgrade() -> None:
    with op.batch_alter_table('appeals') as batch:
        batch.drop_column('subject_id')
        batch.drop_column('subject_type')
