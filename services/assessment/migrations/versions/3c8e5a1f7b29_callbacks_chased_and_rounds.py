"""callbacks chased and follow-up rounds: link chases, the phone-callback list, rounds

Revision ID: 3c8e5a1f7b29
Revises: c7e2a9d4f610
Create Date: 2026-12-05 07:00:00
"""
import sqlalchemy as sa
from alembic import op

revision = '3c8e5a1f7b29'
down_revision = 'c7e2a9d4f610'
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "callback_chases",
        sa.Column("nonce", sa.String(32), primary_key=True),
        sa.Column("appeal_id", sa.String(64), nullable=False),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "phone_callbacks",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("appeal_id", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("round_id", sa.String(32), nullable=True),
        sa.Column("listed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.String(128), nullable=True),
    )
    waiting = sa.text("done_at IS NULL")
    op.create_index("ix_phone_callbacks_open", "phone_callbacks", ["listed_at"],
                    postgresql_where=waiting, sqlite_where=waiting)
    op.create_index("ix_phone_callbacks_appeal", "phone_callbacks", ["appeal_id"])
    op.create_table(
        "callback_rounds",
        sa.Column("round_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "round_appeals",
        sa.Column("round_id", sa.String(32), primary_key=True),
        sa.Column("appeal_id", sa.String(64), primary_key=True),
        sa.Column("unit", sa.String(64), nullable=True),
        sa.Column("nonce", sa.String(32), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("channel", sa.String(16), nullable=True),
        sa.Column("solved", sa.Boolean(), nullable=True),
        sa.Column("satisfaction", sa.String(8), nullable=True),
        sa.Column("result", sa.String(16), nullable=True),
    )
    op.create_index("ix_round_appeals_nonce", "round_appeals", ["nonce"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_round_appeals_nonce", table_name="round_appeals")
    op.drop_table("round_appeals")
    op.drop_table("callback_rounds")
    op.drop_index("ix_phone_callbacks_appeal", table_name="phone_callbacks")
    op.drop_index("ix_phone_callbacks_open", table_name="phone_callbacks")
    op.drop_table("phone_callbacks")
    op.drop_table("callback_chases")
