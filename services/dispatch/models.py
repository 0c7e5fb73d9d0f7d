"""The dispatch service's tables: appeals as dispatch sees them, who holds them, their history."""
from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Integer, MetaData, String, Table, Text

from shared.outbox import messaging_tables

metadata = MetaData()

appeals = Table(
    "appeals", metadata,
    Column("id", String(32), primary_key=True),
    Column("credit_code", String(18), nullable=True),  # an enterprise's; null for a household or project
    Column("enterprise_name", String(200), nullable=False),  # the subject's name as shown (a household's masked)
    Column("subject_type", String(16), nullable=False, server_default="enterprise"),
    Column("subject_id", String(64), nullable=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("district", String(64), nullable=True),
    Column("channel", String(32), nullable=True),
    Column("industry", String(64), nullable=True),
    Column("cadre", String(64), nullable=True),
    Column("leader", String(64), nullable=True),
    Column("submitted_category", String(32), nullable=True),
    Column("category", String(32), nullable=False),
    Column("category_source", String(16), nullable=False),
    Column("difficulty", String(1), nullable=False),
    Column("nature", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("lead_unit", String(64), nullable=True),
    Column("co_units", JSON, nullable=False),
    Column("candidates", JSON, nullable=False),  # the matching rules' units, in order
    Column("returned_by", JSON, nullable=False),  # units that returned it (退单)
    Column("return_count", Integer, nullable=False),
    Column("dispatch_count", Integer, nullable=False),
    Column("reopen_count", Integer, nullable=False),
    Column("outcome", String(16), nullable=True),
    Column("reply_text", Text, nullable=True),
    Column("colour", String(8), nullable=True),
    Column("colour_stage", String(16), nullable=True),
    Column("urgency", String(8), nullable=False, server_default="一般"),  # 一般 / 紧急 / 特急
    Column("code", String(8), nullable=True),  # 赋码 at dispatch (富阳 红黄绿), null: the profile gives none
    Column("lead_leader", String(64), nullable=True),  # 牵头领导, as a meeting decided
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("dispatched_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("correlation_id", String(64), nullable=True),
)
Index("ix_dispatch_appeals_status", appeals.c.status)
Index("ix_dispatch_appeals_lead_unit", appeals.c.lead_unit)

# Who holds an appeal now, one row per unit: the desk's index (lead or co-unit).
holders = Table(
    "holders", metadata,
    Column("appeal_id", String(32), primary_key=True),
    Column("unit", String(64), primary_key=True),
    Column("role", String(8), nullable=False),  # lead / co
)
Index("ix_holders_unit", holders.c.unit)

history = Table(
    "history", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("appeal_id", String(32), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("action", String(32), nullable=False),
    Column("actor", String(128), nullable=True),
    Column("unit", String(64), nullable=True),
    Column("status_from", String(16), nullable=True),
    Column("status_to", String(16), nullable=False),
    Column("note", Text, nullable=True),
    Column("details", JSON, nullable=False),
)
Index("ix_history_appeal", history.c.appeal_id, history.c.id)

# Common problems (共性问题): a group of open appeals of several enterprises that the office
# confirmed as one problem, handled by one lead unit; the reply reaches every member.
common_problems = Table(
    "common_problems", metadata,
    Column("id", String(32), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("category", String(32), nullable=False),
    Column("district", String(64), nullable=True),
    Column("lead_unit", String(64), nullable=False),
    Column("status", String(16), nullable=False),  # open / replied
    Column("confirmed_at", DateTime(timezone=True), nullable=False),
    Column("confirmed_by", String(128), nullable=False),
    Column("outcome", String(16), nullable=True),
    Column("reply_text", Text, nullable=True),
    Column("replied_at", DateTime(timezone=True), nullable=True),
    Column("replied_by", String(128), nullable=True),
)
Index("ix_common_problems_lead_unit", common_problems.c.lead_unit)

# an appeal belongs to one common problem at most
common_problem_members = Table(
    "common_problem_members", metadata,
    Column("appeal_id", String(32), primary_key=True),
    Column("problem_id", String(32), nullable=False),
)
Index("ix_common_problem_members_problem", common_problem_members.c.problem_id)

outbox, inbox = messaging_tables(metadata)
