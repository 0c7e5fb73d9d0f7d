"""subjects other than enterprises, people, pairing references, visits (issue 15)

Revision ID: e15a0c7d3b21
Revises: c3a1e5d2f911
Create Date: 2026-12-05 07:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'e15a0c7d3b21'
down_revision = 'c3a1e5d2f911'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('people',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('unit', sa.String(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('subjects',
    sa.Column('subject_type', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('community', sa.String(length=100), nullable=True),
    sa.Column('phone', sa.String(length=20), nullable=True),
    sa.Column('district', sa.String(length=64), nullable=True),
    sa.Column('cadre_id', sa.String(length=64), nullable=True),
    sa.Column('leader_id', sa.String(length=64), nullable=True),
    sa.Column('lead_department', sa.String(length=64), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('subject_type', 'subject_id')
    )
    op.create_index('ix_subjects_cadre_id', 'subjects', ['cadre_id'], unique=False)
    op.create_table('visits',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('subject_type', sa.String(length=16), nullable=False),
    sa.Column('subject_id', sa.String(length=64), nullable=False),
    sa.Column('cadre_id', sa.String(length=64), nullable=False),
    sa.Column('unit', sa.String(length=64), nullable=True),
    sa.Column('visited_on', sa.Date(), nullable=False),
    sa.Column('findings', sa.Text(), nullable=True),
    sa.Column('no_problem', sa.Boolean(), nullable=False),
    sa.Column('appeal_ids', sa.JSON(), nullable=False),
    sa.Column('recorded_by', sa.String(length=128), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_visits_subject', 'visits', ['subject_type', 'subject_id'], unique=False)
    op.create_index('ix_visits_cadre_id', 'visits', ['cadre_id'], unique=False)
    with op.batch_alter_table('enterprises') as batch:
        batch.add_column(sa.Column('cadre_id', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('leader_id', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('lead_department', sa.String(length=64), nullable=True))
    with op.batch_alter_table('appeals') as batch:
        batch.alter_column('credit_code', existing_type=sa.String(length=18), nullable=True)
        batch.alter_column('enterprise_name', existing_type=sa.String(length=200), nullable=True)
        batch.add_column(sa.Column('subject_type', sa.String(length=16), nullable=False,
                                   server_default='enterprise'))
        batch.add_column(sa.Column('subject_id', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('subject_name', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('cadre_id', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('leader_id', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('lead_department', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('cadre_unit', sa.String(length=64), nullable=True))
    op.execute("UPDATE appeals SET subject_id = credit_code, subject_name = enterprise_name WHERE subject_id IS NULL")


def downgrade() -> None:
    with op.batch_alter_table('appeals') as batch:
        for name in ('cadre_unit', 'lead_department', 'leader_id', 'cadre_id', 'subject_name', 'subject_id', 'subject_type'):
            batch.drop_column(name)
    with op.batch_alter_table('enterprises') as batch:
        for name in ('lead_department', 'leader_id', 'cadre_id'):
            batch.drop_column(name)
    op.drop_index('ix_visits_cadre_id', table_name='visits')
    op.drop_index('ix_visits_subject', table_name='visits')
    op.drop_table('visits')
    op.drop_index('ix_subjects_cadre_id', table_name='subjects')
    op.drop_table('subjects')
    op.drop_table('people')
