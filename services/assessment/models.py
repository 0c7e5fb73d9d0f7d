"""The assessment service's tables: facts learnt from events, callbacks, links, outbox, inbox.

``appeal_facts`` holds one row per appeal with the timestamps and attributes the
appeal-level rates need (each appeal counted once). The history the unit-level
measures need is kept beside it (``docs/measures.md``):

* ``dispatch_facts``: one row per dispatch to a lead unit (the response rate is per dispatch);
* ``stint_facts``: one row per stint, a unit's hold of the appeal from a dispatch (or a
  reopen back to it) until it replied, returned it, or the appeal moved on;
* ``colour_changes``: every colour the appeal took, with its time (none when no stage runs),
  so the colour as of any instant is known.

Every rate is a ``count(*) FILTER (WHERE ...)`` over these, grouped by unit, category or
district, so a report never loads appeals into Python. Each timestamp that bounds a
period has its own index.
"""
from __future__ import annotations

from sqlalchemy import (
                        JSON,
                        BigInteger,
                        Boolean,
                        Column,
                        Date,
                        DateTime,
                        Float,
                        Index,
                        Integer,
                        MetaData,
                        PrimaryKeyConstraint,
                        String,
                        Table,
                        Text,
                        UniqueConstraint,
)

from shared.outbox import messaging_tables

metadata = MetaData()

appeal_facts = Table(
    "appeal_facts", metadata,
    Column("appeal_id", String(64), primary_key=True),
    # intake: appeal_received
    Column("credit_code", String(18), nullable=True),
    Column("enterprise_name", String(200), nullable=True),
    Column("title", String(200), nullable=True),
    Column("district", String(64), nullable=True),
    Column("category", String(32), nullable=True),
    Column("contact", JSON, nullable=True),
    Column("collected_at", DateTime(timezone=True), nullable=True),
    Column("submitted_at", DateTime(timezone=True), nullable=True),
    Column("submitted_on_time", Boolean, nullable=True),  # within the profile's submit stage of collection
    # the unit of the first dispatch (首派): submitted on time is shown on its row
    Column("first_unit", String(64), nullable=True),
    # the unit whose latest reply waits for (or got) its callback; the unit whose reply closed it
    Column("replied_unit", String(64), nullable=True),
    Column("closed_unit", String(64), nullable=True),
    # dispatch: the latest dispatch counts
    Column("lead_unit", String(64), nullable=True),
    Column("difficulty", String(1), nullable=True),
    Column("dispatched_at", DateTime(timezone=True), nullable=True),
    Column("dispatch_count", Integer, nullable=False, default=0),
    Column("accepted_at", DateTime(timezone=True), nullable=True),
    Column("replied_at", DateTime(timezone=True), nullable=True),
    Column("outcome", String(16), nullable=True),  # solved / explained / long_term (the latest reply)
    # supervision: deadlines of the running dispatch, the colour of the running stage
    Column("accept_due_at", DateTime(timezone=True), nullable=True),
    Column("reply_due_at", DateTime(timezone=True), nullable=True),
    # when each was set: a late-arriving older event does not overwrite a newer one
    Column("accept_due_set_at", DateTime(timezone=True), nullable=True),
    Column("reply_due_set_at", DateTime(timezone=True), nullable=True),
    Column("colour", String(8), nullable=True),
    Column("colour_at", DateTime(timezone=True), nullable=True),
    # this service: callback and closing
    Column("status", String(16), nullable=False, default="received"),
    Column("callback_requested_at", DateTime(timezone=True), nullable=True),
    Column("callback_expires_at", DateTime(timezone=True), nullable=True),
    Column("callback_answered_at", DateTime(timezone=True), nullable=True),
    Column("reopen_count", Integer, nullable=False, default=0),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("closed_outcome", String(16), nullable=True),
    Column("closed_on_time", Boolean, nullable=True),  # the closing reply came by the reply deadline
    # days from submission to the closing reply: "solved within 7 / 60 days"
    Column("closing_reply_days", Float, nullable=True),
)
Index("ix_appeal_facts_submitted_at", appeal_facts.c.submitted_at)
Index("ix_appeal_facts_collected_at", appeal_facts.c.collected_at)
Index("ix_appeal_facts_dispatched_at", appeal_facts.c.dispatched_at)
Index("ix_appeal_facts_closed_at", appeal_facts.c.closed_at)
Index("ix_appeal_facts_callback_expires_at", appeal_facts.c.callback_expires_at,
      postgresql_where=appeal_facts.c.callback_answered_at.is_(None))
# the open appeals (colour counts, the overdue list): an index-only scan of the rows not closed
Index("ix_appeal_facts_open", appeal_facts.c.submitted_at, appeal_facts.c.colour, appeal_facts.c.status,
      appeal_facts.c.accepted_at, appeal_facts.c.accept_due_at, appeal_facts.c.reply_due_at,
      postgresql_where=appeal_facts.c.closed_at.is_(None))

callbacks = Table(
    "callbacks", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("appeal_id", String(64), nullable=False),
    Column("unit", String(64), nullable=True),  # the lead unit whose reply was rated
    Column("outcome", String(16), nullable=True),  # the reply's outcome
    Column("solved", Boolean, nullable=False),
    Column("satisfaction", String(8), nullable=False),
    Column("comment", Text, nullable=True),
    Column("caller", String(128), nullable=True),
    Column("channel", String(16), nullable=False),  # office (phone) / link (the enterprise itself)
    Column("called_at", DateTime(timezone=True), nullable=False),
    Column("result", String(16), nullable=False),  # closed / reopened
)
Index("ix_callbacks_called_at", callbacks.c.called_at)
Index("ix_callbacks_appeal_id", callbacks.c.appeal_id)

callback_links = Table(
    "callback_links", metadata,
    Column("nonce", String(32), primary_key=True),
    Column("appeal_id", String(64), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    Column("superseded", Boolean, nullable=False, default=False),
)
Index("ix_callback_links_appeal_id", callback_links.c.appeal_id)

returns = Table(
    "returns", metadata,
    Column("event_id", String(64), primary_key=True),
    Column("appeal_id", String(64), nullable=False),
    Column("unit", String(64), nullable=False),
    Column("returned_at", DateTime(timezone=True), nullable=False),
)
Index("ix_returns_returned_at", returns.c.returned_at)

escalations = Table(
    "escalations", metadata,
    Column("event_id", String(64), primary_key=True),
    Column("appeal_id", String(64), nullable=False),
    Column("unit", String(64), nullable=True),
    Column("reason", String(32), nullable=False),
    Column("level", Integer, nullable=False),
    Column("escalated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_escalations_escalated_at", escalations.c.escalated_at)

dispatch_facts = Table(
    "dispatch_facts", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("appeal_id", String(64), nullable=False),
    Column("seq", Integer, nullable=False),  # appeal_dispatched.dispatch_count of the dispatch that made it
    Column("unit", String(64), nullable=False),
    Column("reason", String(16), nullable=False),  # rule / returned / assigned / escalated / reopened
    Column("made_at", DateTime(timezone=True), nullable=False),
    Column("accept_due_at", DateTime(timezone=True), nullable=True),
    Column("accept_due_set_at", DateTime(timezone=True), nullable=True),
    Column("accepted_at", DateTime(timezone=True), nullable=True),
    Column("returned_at", DateTime(timezone=True), nullable=True),
    # how the unit's hold ended: returned / escalated (taken by a rung) / moved (the office
    # reassigned it); null while the unit holds it (or it was closed in its hands)
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("end_kind", String(16), nullable=True),
    UniqueConstraint("appeal_id", "seq", name="uq_dispatch_facts_appeal_seq"),
)
Index("ix_dispatch_facts_made_at", dispatch_facts.c.made_at)
Index("ix_dispatch_facts_accept_due_at", dispatch_facts.c.accept_due_at)
Index("ix_dispatch_facts_unit_appeal", dispatch_facts.c.unit, dispatch_facts.c.appeal_id)

stint_facts = Table(
    "stint_facts", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("appeal_id", String(64), nullable=False),
    Column("dispatch_id", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("unit", String(64), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("reopened", Boolean, nullable=False, default=False),  # a reopen (重办) back to the same unit
    Column("reply_due_at", DateTime(timezone=True), nullable=True),
    Column("reply_due_set_at", DateTime(timezone=True), nullable=True),
    Column("replied_at", DateTime(timezone=True), nullable=True),
    Column("outcome", String(16), nullable=True),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("end_kind", String(16), nullable=True),  # replied / returned / escalated / moved
)
Index("ix_stint_facts_appeal_id", stint_facts.c.appeal_id, stint_facts.c.started_at)
Index("ix_stint_facts_reply_due_at", stint_facts.c.reply_due_at)

colour_changes = Table(
    "colour_changes", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("appeal_id", String(64), nullable=False),
    Column("colour", String(8), nullable=True),  # null: no stage runs any more (replied, closed)
    Column("changed_at", DateTime(timezone=True), nullable=False),
)
Index("ix_colour_changes_appeal_at", colour_changes.c.appeal_id, colour_changes.c.changed_at)

published_reports = Table(
    "published_reports", metadata,
    Column("event_id", String(64), primary_key=True),
    Column("report", String(16), nullable=False),
    Column("period", String(16), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False),
    Column("published_by", String(128), nullable=False),
    # the figures as published (the report document, JSON): what a later GET answers, frozen
    Column("document", JSON, nullable=True),
    UniqueConstraint("report", "period", name="uq_published_reports_report_period"),
)

# the registry as intake's subject_updated tells it: the subjects due a visit and their pairing
subject_facts = Table(
    "subject_facts", metadata,
    Column("subject_type", String(16), nullable=False),
    Column("subject_id", String(64), nullable=False),
    Column("name", String(200), nullable=False),  # a household's masked
    Column("district", String(64), nullable=True),
    Column("cadre_id", String(64), nullable=True),
    Column("cadre", String(64), nullable=True),
    Column("cadre_unit", String(64), nullable=True),
    Column("leader_id", String(64), nullable=True),
    Column("lead_department", String(64), nullable=True),
    Column("registered_at", DateTime(timezone=True), nullable=False),  # the first subject_updated's time
    Column("updated_at", DateTime(timezone=True), nullable=False),  # the latest applied event's time
    PrimaryKeyConstraint("subject_type", "subject_id"),
)

# visits (走访) as intake's visit_recorded tells them
visit_facts = Table(
    "visit_facts", metadata,
    Column("visit_id", String(32), primary_key=True),
    Column("subject_type", String(16), nullable=False),
    Column("subject_id", String(64), nullable=False),
    Column("subject_name", String(200), nullable=False),
    Column("cadre_id", String(64), nullable=False),
    Column("cadre", String(64), nullable=False),
    Column("unit", String(64), nullable=True),
    Column("visited_on", Date, nullable=False),
    Column("no_problem", Boolean, nullable=False),
    Column("appeals_raised", Integer, nullable=False),
)
Index("ix_visit_facts_visited_on", visit_facts.c.visited_on)

# ---- issue 16: natures and common problems, rectification orders, the year's manual adjustments

# each appeal's nature (个性/共性/体制机制性) and common problem (共性问题), from dispatch's events
appeal_natures = Table(
    "appeal_natures", metadata,
    Column("appeal_id", String(64), primary_key=True),
    Column("nature", String(16), nullable=False),
    Column("common_problem_id", String(32), nullable=True),
    Column("common_problem_title", String(200), nullable=True),
    Column("changed_at", DateTime(timezone=True), nullable=False),  # the event's time: the later wins
)
Index("ix_appeal_natures_common_problem", appeal_natures.c.common_problem_id)

# 限期整改: a unit under the satisfaction threshold in a published report, with a deadline and a
# named person; followed up in the next period's report; on the list twice in a row: escalated
rectification_orders = Table(
    "rectification_orders", metadata,
    Column("id", String(40), primary_key=True),  # <report>:<period>:<unit>
    Column("report", String(16), nullable=False),  # weekly / monthly
    Column("period", String(16), nullable=False),
    Column("unit", String(64), nullable=False),
    Column("satisfaction_rate", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("deadline", DateTime(timezone=True), nullable=False),
    Column("responsible", String(64), nullable=False),
    Column("consecutive", Integer, nullable=False),  # periods in a row on the list, this one included
    Column("escalated", Boolean, nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("issued_by", String(128), nullable=False),
    UniqueConstraint("report", "period", "unit", name="uq_rectification_orders_report_period_unit"),
)
Index("ix_rectification_orders_unit", rectification_orders.c.unit)

# 年度考核: deductions (negative) and bonuses (positive) the office enters by hand; never changed
# or deleted (an audit trail): a correction is another entry
score_adjustments = Table(
    "score_adjustments", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("year", Integer, nullable=False),
    Column("unit", String(64), nullable=False),
    Column("points", Float, nullable=False),
    Column("reason", Text, nullable=False),
    Column("entered_by", String(128), nullable=False),
    Column("entered_at", DateTime(timezone=True), nullable=False),
)
Index("ix_score_adjustments_year_unit", score_adjustments.c.year, score_adjustments.c.unit)

outbox, inbox = messaging_tables(metadata)

# ---------------------------------------------------------------- callbacks chased (callbacks.py)
# A link's chase: reminded once (at the profile's share of its validity), and at its expiry,
# unanswered, the appeal goes onto the office's phone-callback list. One row per link chased.
callback_chases = Table(
    "callback_chases", metadata,
    Column("nonce", String(32), primary_key=True),  # the link (callback_links.nonce)
    Column("appeal_id", String(64), nullable=False),
    Column("reminded_at", DateTime(timezone=True), nullable=True),
    Column("expired_at", DateTime(timezone=True), nullable=True),
)

# The office's phone-callback list (电话回访): an entry per appeal to call, from an expired link
# (reason expired) or a follow-up round (reason round); done when a callback is recorded.
phone_callbacks = Table(
    "phone_callbacks", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("appeal_id", String(64), nullable=False),
    Column("reason", String(16), nullable=False),  # expired / round
    Column("round_id", String(32), nullable=True),
    Column("listed_at", DateTime(timezone=True), nullable=False),
    Column("done_at", DateTime(timezone=True), nullable=True),
    Column("done_by", String(128), nullable=True),
)
Index("ix_phone_callbacks_open", phone_callbacks.c.listed_at,
      postgresql_where=phone_callbacks.c.done_at.is_(None), sqlite_where=phone_callbacks.c.done_at.is_(None))
Index("ix_phone_callbacks_appeal", phone_callbacks.c.appeal_id)

# A follow-up callback round (回访抽查: FixMyStreet's "fixed?" weeks later) over closed appeals.
callback_rounds = Table(
    "callback_rounds", metadata,
    Column("round_id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("criteria", JSON, nullable=False),  # closed_from, closed_to, unit, category, sample
    Column("seed", BigInteger, nullable=True),  # the random sample's seed, recorded: the draw is reproducible
    Column("created_by", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

round_appeals = Table(
    "round_appeals", metadata,
    Column("round_id", String(32), primary_key=True),
    Column("appeal_id", String(64), primary_key=True),
    Column("unit", String(64), nullable=True),  # the unit whose reply closed it
    Column("nonce", String(32), nullable=False),  # the round's link (callback_links.nonce)
    Column("answered_at", DateTime(timezone=True), nullable=True),
    Column("channel", String(16), nullable=True),  # link / phone
    Column("solved", Boolean, nullable=True),
    Column("satisfaction", String(8), nullable=True),
    Column("result", String(16), nullable=True),  # confirmed / reopened
)
Index("ix_round_appeals_nonce", round_appeals.c.nonce, unique=True)
