"""subject and visit facts: pairing coverage and visits in the monthly bulletin (issue 15)

Revision ID: e15d3c0a6e54
Revises: c8e2a4f6b1d3
Create Date: 2026-12-05 07:20:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'e15d3c0a6e54'
down_revision = 'c8e2a4f6b1d3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('subject_facts',
    sa.Column('subject_type', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('district', sa.String(length=64), nullable=True),
    sa.Column('cadre_id', sa.String(length=64), nullable=True),
    sa.Column('cadre', sa.String(length=64), nullable=True),
    sa.Column('cadre_unit', sa.String(length=64), nullable=True),
    sa.Column('leader_id', sa.String(length=64), nullable=True),
    sa.Column('lead_department', sa.String(length=64), nullable=True),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('subject_type', 'subject_id')
    )
    op.create_table('visit_facts',
    sa.Column('visit_id', sa.String(length=32), nullable=False),
    sa.Column('subject_type', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('subject_name', sa.String(length=200), nullable=False),
    sa.Column('cadre_id', sa.String(length=64), nullable=False),
    sa.Column('cadre', sa.String(length=64), nullable=False),
    sa.Column('unit', sa.String(length=64), nullable=True),
    sa.Column('visited_on', sa.Date(), nullable=False),
    sa.Column('no_problem', sa.Boolean(), nullable=False),
    sa.Column('appeals_raised', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('visit_id')
    )
    op.create_index('ix_visit_facts_visited_on', 'visit_facts', ['visited_on'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_visit_facts_visited_on', table_name='visit_facts')
    op.drop_table('visit_facts')
    op.drop_table('subject_facts')
