"""Notify's tables: what it knows of enterprises and appeals, the notifications, the pushes."""
from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, DateTime, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

from shared.outbox import messaging_tables

metadata = MetaData()

# the registry, as enterprise_updated tells it
enterprises = Table(
    "enterprises", metadata,
    Column("credit_code", String(18), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("district", String(64), nullable=True),
    Column("industry", String(64), nullable=True),
    Column("size", String(16), nullable=True),
    Column("cadre", String(64), nullable=True),
    Column("contact", JSON, nullable=True),
    Column("tags", JSON, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# an appeal's parties, from appeal_received and appeal_dispatched
appeals = Table(
    "appeals", metadata,
    Column("appeal_id", String(32), primary_key=True),
    Column("credit_code", String(18), nullable=True),  # an enterprise's; null for a household or project
    Column("enterprise_name", String(200), nullable=False),  # the subject's name as shown (a household's masked)
    Column("title", String(200), nullable=False),
    Column("contact", JSON, nullable=True),
    Column("cadre", String(64), nullable=True),
    Column("lead_unit", String(64), nullable=True),
    Column("co_units", JSON, nullable=True),
    # the colour supervision last told (appeal_deadline_set / appeal_colour_changed) and the
    # running stage's deadline: a warning goes out when the colour turns yellow or red
    Column("colour", String(8), nullable=True),
    Column("due_at", DateTime(timezone=True), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# one row per (event, recipient, channel): the unique key is the exactly-once guarantee
notifications = Table(
    "notifications", metadata,
    Column("id", String(32), primary_key=True),  # the stable message id receivers dedupe on
    Column("event_id", String(64), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("appeal_id", String(32), nullable=True),
    Column("recipient", String(128), nullable=False),
    Column("recipient_name", String(200), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("address", String(500), nullable=True),
    Column("webhook_kind", String(16), nullable=True),
    Column("subject", String(300), nullable=False),
    Column("body", Text, nullable=False),
    Column("urgent", Boolean, nullable=False, default=False),
    Column("quiet_hours", String(11), nullable=True),
    Column("status", String(16), nullable=False),  # pending / sent / failed
    Column("attempts", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    UniqueConstraint("event_id", "recipient", "channel", name="uq_notifications_event_recipient_channel"),
)
# the sender claims each channel's due rows in order (services/notify/sender.py)
Index("ix_notifications_channel_due", notifications.c.channel, notifications.c.next_attempt_at, notifications.c.id,
      postgresql_where=notifications.c.status == "pending", sqlite_where=notifications.c.status == "pending")
Index("ix_notifications_recipient", notifications.c.recipient, notifications.c.created_at)

# a channel took the notification: written (and committed) the moment it did, by the sender,
# while the notification's row is still locked by the sender's claim; settled into the row at
# the end of the pass. After a crash, a receipt says "sent already": it is not sent again.
receipts = Table(
    "notification_receipts", metadata,
    Column("notification_id", String(32), primary_key=True),
    Column("sent_at", DateTime(timezone=True), nullable=False),
)

policy_pushes = Table(
    "policy_pushes", metadata,
    Column("id", String(32), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("targets", JSON, nullable=False),
    Column("reached", JSON, nullable=False),
    Column("matched", Integer, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

outbox, inbox = messaging_tables(metadata)
