"""The intake service's tables: enterprises, appeals, idempotency keys, outbox, inbox."""
from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Index, MetaData, String, Table, Text, UniqueConstraint

from shared.outbox import messaging_tables

metadata = MetaData()

enterprises = Table(
    "enterprises", metadata,
    Column("credit_code", String(18), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("district", String(64), nullable=False),
    Column("industry", String(64), nullable=True),
    Column("size", String(16), nullable=True),
    Column("cadre", String(64), nullable=True),
    Column("leader", String(64), nullable=True),
    Column("contact", JSON, nullable=True),
    Column("tags", JSON, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
Index("ix_enterprises_district", enterprises.c.district)

appeals = Table(
    "appeals", metadata,
    Column("id", String(32), primary_key=True),
    Column("credit_code", String(18), nullable=False),
    Column("enterprise_name", String(200), nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("category", String(32), nullable=True),
    Column("district", String(64), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("external_id", String(128), nullable=True),
    Column("collected_at", DateTime(timezone=True), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("contact", JSON, nullable=True),
    Column("industry", String(64), nullable=True),
    Column("size", String(16), nullable=True),
    Column("cadre", String(64), nullable=True),
    Column("leader", String(64), nullable=True),
    Column("submitted_by", String(128), nullable=False),
    Column("correlation_id", String(64), nullable=True),
    Column("urgency", String(8), nullable=False, server_default="一般"),  # 一般 / 紧急 / 特急
    UniqueConstraint("channel", "external_id", name="uq_appeals_channel_external_id"),
)
Index("ix_appeals_submitted_at", appeals.c.submitted_at)
Index("ix_appeals_credit_code", appeals.c.credit_code)
Index("ix_appeals_district_category", appeals.c.district, appeals.c.category)

# where each appeal stands in the loop, from assessment's appeal_closed / appeal_reopened (Open311's status)
appeal_states = Table(
    "appeal_states", metadata,
    Column("appeal_id", String(32), primary_key=True),
    Column("status", String(16), nullable=False),  # open / closed
    Column("outcome", String(16), nullable=True),  # solved / explained / long_term, when closed
    Column("changed_at", DateTime(timezone=True), nullable=False),  # the event's time
)

idempotency_keys = Table(
    "idempotency_keys", metadata,
    Column("key", String(128), primary_key=True),
    Column("principal", String(128), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("appeal_id", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

outbox, inbox = messaging_tables(metadata)
