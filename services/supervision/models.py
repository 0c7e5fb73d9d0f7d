"""Supervision's tables: the ledger of watched appeals (台账), escalations, orders,
clock pauses, digests sent, outbox, inbox."""
from __future__ import annotations

from sqlalchemy import (
                        JSON,
                        BigInteger,
                        Column,
                        Date,
                        DateTime,
                        Float,
                        Index,
                        Integer,
                        MetaData,
                        String,
                        Table,
                        Text,
                        text,
)

from shared.outbox import messaging_tables

metadata = MetaData()

_BigId = BigInteger().with_variant(Integer, "sqlite")

appeals = Table(
    "appeals", metadata,
    Column("appeal_id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("lead_unit", String(64), nullable=True),
    Column("co_units", JSON, nullable=True),
    Column("category", String(32), nullable=True),
    Column("difficulty", String(1), nullable=True),
    Column("nature", String(16), nullable=True),
    Column("unit_level", String(16), nullable=True),  # the administrative level dispatch gave
    Column("district", String(64), nullable=True),
    Column("urgency", String(8), nullable=False, server_default="一般"),  # 一般 / 紧急 / 特急
    Column("code", String(8), nullable=True),  # 赋码 at dispatch (富阳 红黄绿), as dispatch gave it
    Column("dispatch_count", Integer, nullable=False, server_default=text("0")),
    # the running stage (accept / reply); null when none runs
    Column("stage", String(16), nullable=True),
    Column("measure", String(8), nullable=True),  # working / clock
    Column("stage_started_at", DateTime(timezone=True), nullable=True),
    Column("due_at", DateTime(timezone=True), nullable=True),
    Column("yellow_at", DateTime(timezone=True), nullable=True),
    Column("colour", String(8), nullable=True),
    Column("paused_at", DateTime(timezone=True), nullable=True),
    Column("paused_seconds", Float, nullable=False, server_default=text("0")),
    # when the tick must look at it next: the earliest of yellow time and due time
    Column("next_check_at", DateTime(timezone=True), nullable=True),
    Column("level", Integer, nullable=False, server_default=text("0")),  # rungs climbed
    Column("rung", String(16), nullable=True),
    Column("overdue_count", Integer, nullable=False, server_default=text("0")),
    Column("reopen_count", Integer, nullable=False, server_default=text("0")),
    Column("dispatched_at", DateTime(timezone=True), nullable=True),
    Column("accepted_at", DateTime(timezone=True), nullable=True),
    Column("plan_submitted_at", DateTime(timezone=True), nullable=True),  # 解决方案
    Column("replied_at", DateTime(timezone=True), nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("correlation_id", String(64), nullable=True),
    # on the office's phone-callback list since (assessment's callback_phone_listed) until a
    # callback is recorded: the ledger's filter phone_callback
    Column("phone_listed_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
# Only rows with something to check are in the index: a million closed appeals cost nothing.
Index("ix_appeals_next_check", appeals.c.next_check_at,
      postgresql_where=appeals.c.next_check_at.isnot(None), sqlite_where=appeals.c.next_check_at.isnot(None))
Index("ix_appeals_lead_status", appeals.c.lead_unit, appeals.c.status)
Index("ix_appeals_status_colour", appeals.c.status, appeals.c.colour)

escalations = Table(
    "escalations", metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("appeal_id", String(64), nullable=False),
    Column("level", Integer, nullable=False),
    Column("rung", String(16), nullable=False),
    Column("reason", String(16), nullable=False),
    Column("unit", String(64), nullable=True),
    Column("to_unit", String(64), nullable=True),
    Column("escalated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_escalations_appeal", escalations.c.appeal_id)
Index("ix_escalations_rung_time", escalations.c.rung, escalations.c.escalated_at)

orders = Table(
    "orders", metadata,
    Column("order_id", String(32), primary_key=True),
    Column("appeal_id", String(64), nullable=False),
    Column("unit", String(64), nullable=True),
    Column("text", Text, nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("issued_by", String(128), nullable=False),
    # open -> met (the appeal replied or closed in time) / overdue (one rung up, reason order)
    Column("status", String(16), nullable=False, server_default=text("'open'")),
    Column("settled_at", DateTime(timezone=True), nullable=True),
    Column("next_check_at", DateTime(timezone=True), nullable=True),  # the due time while open
)
Index("ix_orders_appeal", orders.c.appeal_id)
Index("ix_orders_next_check", orders.c.next_check_at,
      postgresql_where=orders.c.next_check_at.isnot(None), sqlite_where=orders.c.next_check_at.isnot(None))

clock_pauses = Table(
    "clock_pauses", metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("appeal_id", String(64), nullable=False),
    Column("stage", String(16), nullable=False),
    Column("paused_at", DateTime(timezone=True), nullable=False),
    Column("resumed_at", DateTime(timezone=True), nullable=True),
    Column("paused_seconds", Float, nullable=True),
    Column("reason", Text, nullable=True),
    Column("paused_by", String(128), nullable=False),
    Column("resumed_by", String(128), nullable=True),
)
Index("ix_clock_pauses_appeal", clock_pauses.c.appeal_id)

# A clock pause is a request (暂停计时申请): the lead unit asks with a reason and a number of
# working days, the office approves or refuses; only an approved request pauses the clock,
# which the tick resumes at ``resume_at`` (unless the unit resumed it earlier or the stage ended).
pause_requests = Table(
    "pause_requests", metadata,
    Column("request_id", String(32), primary_key=True),
    Column("appeal_id", String(64), nullable=False),
    Column("stage", String(16), nullable=False),
    Column("unit", String(64), nullable=True),
    Column("reason", Text, nullable=False),
    Column("days", Integer, nullable=False),  # working days asked for
    Column("status", String(16), nullable=False),  # pending / approved / refused
    Column("requested_by", String(128), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("decided_by", String(128), nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("decision_note", Text, nullable=True),
    Column("resume_at", DateTime(timezone=True), nullable=True),  # approved: when the tick resumes the clock
    Column("ended_at", DateTime(timezone=True), nullable=True),  # approved: when the pause ended
)
Index("ix_pause_requests_appeal", pause_requests.c.appeal_id)
Index("ix_pause_requests_status", pause_requests.c.status, pause_requests.c.requested_at)
Index("ix_pause_requests_resume", pause_requests.c.resume_at,
      postgresql_where=pause_requests.c.ended_at.is_(None) & pause_requests.c.resume_at.isnot(None),
      sqlite_where=pause_requests.c.ended_at.is_(None) & pause_requests.c.resume_at.isnot(None))

# One row per digest sent: two replicas ticking together send it once (primary key).
digests = Table(
    "digests", metadata,
    Column("kind", String(16), primary_key=True),  # weekly / monthly
    Column("period", String(16), primary_key=True),
    Column("recipient", String(64), primary_key=True),
    Column("item_count", Integer, nullable=False),
    Column("sent_at", DateTime(timezone=True), nullable=False),
)

# Meetings as records (交办会, 调度会): when, which kind, who chaired and attended.
meetings = Table(
    "meetings", metadata,
    Column("meeting_id", String(32), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("held_on", Date, nullable=False),
    Column("title", String(200), nullable=True),
    Column("chair", String(64), nullable=False),
    Column("attendees", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(128), nullable=False),
)
Index("ix_meetings_held_on", meetings.c.held_on)

# The appeals put to a meeting, each with the meeting's decision once made.
meeting_items = Table(
    "meeting_items", metadata,
    Column("meeting_id", String(32), primary_key=True),
    Column("appeal_id", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("lead_unit_before", String(64), nullable=True),
    Column("status_before", String(16), nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("lead_unit", String(64), nullable=True),  # the unit the meeting made lead; null: the lead stays
    Column("co_units", JSON, nullable=True),
    Column("due_at", DateTime(timezone=True), nullable=True),
    Column("lead_leader", String(64), nullable=True),  # 牵头领导
    Column("note", Text, nullable=True),
    Column("order_id", String(32), nullable=True),  # the deadline, kept as a supervision order
)
Index("ix_meeting_items_appeal", meeting_items.c.appeal_id)

outbox, inbox = messaging_tables(metadata)
