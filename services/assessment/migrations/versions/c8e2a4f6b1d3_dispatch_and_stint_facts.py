"""dispatch and stint facts, colour history, frozen publications

A fact row per dispatch to a lead unit and per stint (a unit's hold of an appeal), the colour
changes with their times, the units that replied and closed an appeal, and the figures of a
published report (docs/measures.md).

Revision ID: c8e2a4f6b1d3
Revises: b5d7e9f1a3c6
Create Date: 2026-12-05 07:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = 'c8e2a4f6b1d3'
down_revision = 'b5d7e9f1a3c6'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("appeal_facts", sa.Column("first_unit", sa.String(64), nullable=True))
    op.add_column("appeal_facts", sa.Column("replied_unit", sa.String(64), nullable=True))
    op.add_column("appeal_facts", sa.Column("closed_unit", sa.String(64), nullable=True))
    op.add_column("published_reports", sa.Column("document", sa.JSON(), nullable=True))
    op.create_table(
        "dispatch_facts",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("appeal_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accept_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accept_due_set_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("returned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_kind", sa.String(16), nullable=True),
        sa.UniqueConstraint("appeal_id", "seq", name="uq_dispatch_facts_appeal_seq"),
    )
    op.create_index("ix_dispatch_facts_made_at", "dispatch_facts", ["made_at"])
    op.create_index("ix_dispatch_facts_accept_due_at", "dispatch_facts", ["accept_due_at"])
    op.create_index("ix_dispatch_facts_unit_appeal", "dispatch_facts", ["unit", "appeal_id"])
    op.create_table(
        "stint_facts",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("appeal_id", sa.String(64), nullable=False),
        sa.Column("dispatch_id", ID, nullable=False),
        sa.Column("unit", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reopened", sa.Boolean(), nullable=False),
        sa.Column("reply_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reply_due_set_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_kind", sa.String(16), nullable=True),
    )
    op.create_index("ix_stint_facts_appeal_id", "stint_facts", ["appeal_id", "started_at"])
    op.create_index("ix_stint_facts_reply_due_at", "stint_facts", ["reply_due_at"])
    op.create_table(
        "colour_changes",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("appeal_id", sa.String(64), nullable=False),
        sa.Column("colour", sa.String(8), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_colour_changes_appeal_at", "colour_changes", ["appeal_id", "changed_at"])
    # what the facts kept so far: the latest dispatch of each appeal, its stint and its last colour
    # (the earlier dispatches were not kept; the history is exact from this revision on)
    op.execute("""
        INSERT INTO dispatch_facts (appeal_id, seq, unit, reason, made_at, accept_due_at, accept_due_set_at,
                                    accepted_at)
        SELECT appeal_id, dispatch_count, lead_unit, 'rule', dispatched_at, accept_due_at, accept_due_set_at,
               accepted_at
        FROM appeal_facts WHERE lead_unit IS NOT NULL AND dispatched_at IS NOT NULL""")
    op.execute("""
        INSERT INTO stint_facts (appeal_id, dispatch_id, unit, started_at, reopened, reply_due_at,
                                 reply_due_set_at, replied_at, outcome, ended_at, end_kind)
        SELECT d.appeal_id, d.id, d.unit, d.made_at, false, f.reply_due_at, f.reply_due_set_at, f.replied_at,
               f.outcome, f.replied_at, CASE WHEN f.replied_at IS NULL THEN NULL ELSE 'replied' END
        FROM dispatch_facts d JOIN appeal_facts f ON f.appeal_id = d.appeal_id""")
    op.execute("""
        INSERT INTO colour_changes (appeal_id, colour, changed_at)
        SELECT appeal_id, colour, colour_at FROM appeal_facts WHERE colour IS NOT NULL AND colour_at IS NOT NULL""")
    op.execute("""
        UPDATE appeal_facts SET first_unit = lead_unit, replied_unit = CASE WHEN replied_at IS NULL THEN NULL
               ELSE lead_unit END, closed_unit = CASE WHEN closed_at IS NULL THEN NULL ELSE lead_unit END""")


def downgrade() -> None:
    op.drop_table("colour_changes")
    op.drop_table("stint_facts")
    op.drop_table("dispatch_facts")
    op.drop_column("published_reports", "document")
    op.drop_column("appeal_facts", "closed_unit")
    op.drop_column("appeal_facts", "replied_unit")
    op.drop_column("appeal_facts", "first_unit")
