"""The intake service's tables: the registry (enterprises, households, projects, people),
appeals, visits, idempotency keys, outbox, inbox."""
from __future__ import annotations

from sqlalchemy import (
                        JSON,
                        Boolean,
                        Column,
                        Date,
                        DateTime,
                        Index,
                        MetaData,
                        PrimaryKeyConstraint,
                        String,
                        Table,
                        Text,
                        UniqueConstraint,
)

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
    # the pairing as references (四个一 / 六个一): people of ``people``, a unit code of units.yaml
    Column("cadre_id", String(64), nullable=True),
    Column("leader_id", String(64), nullable=True),
    Column("lead_department", String(64), nullable=True),
)
Index("ix_enterprises_district", enterprises.c.district)

# the cadres and leaders who are paired with subjects and visit them; ``id`` is the name they
# sign in with (a console account or a token's name), so a signed-in cadre is one of them
people = Table(
    "people", metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("role", String(16), nullable=False),  # cadre / leader
    Column("unit", String(64), nullable=True),  # a unit code of units.yaml
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# households (结对帮扶的困难家庭) and projects (包联项目): the subjects other than enterprises
subjects = Table(
    "subjects", metadata,
    Column("subject_type", String(16), nullable=False),  # household / project
    Column("subject_id", String(64), nullable=False),  # a household's registry id, a project's code
    Column("name", String(200), nullable=False),  # the head of the household, the project's name
    Column("community", String(100), nullable=True),  # a household's 社区
    Column("phone", String(20), nullable=True),
    Column("district", String(64), nullable=True),
    Column("cadre_id", String(64), nullable=True),
    Column("leader_id", String(64), nullable=True),
    Column("lead_department", String(64), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("subject_type", "subject_id"),
)
Index("ix_subjects_cadre_id", subjects.c.cadre_id)

# visits (走访): a cadre at a subject, on a day, what was found
visits = Table(
    "visits", metadata,
    Column("id", String(32), primary_key=True),
    Column("subject_type", String(16), nullable=False),
    Column("subject_id", String(64), nullable=False),
    Column("cadre_id", String(64), nullable=False),
    Column("unit", String(64), nullable=True),  # the cadre's unit on the day
    Column("visited_on", Date, nullable=False),
    Column("findings", Text, nullable=True),
    Column("no_problem", Boolean, nullable=False),
    Column("appeal_ids", JSON, nullable=False),
    Column("recorded_by", String(128), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)
Index("ix_visits_subject", visits.c.subject_type, visits.c.subject_id)
Index("ix_visits_cadre_id", visits.c.cadre_id)

appeals = Table(
    "appeals", metadata,
    Column("id", String(32), primary_key=True),
    Column("credit_code", String(18), nullable=True),  # an enterprise's; null for a household or project
    Column("enterprise_name", String(200), nullable=True),
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
    Column("subject_type", String(16), nullable=False, server_default="enterprise"),
    Column("subject_id", String(64), nullable=True),  # null only on rows older than subjects
    Column("subject_name", String(200), nullable=True),  # unmasked; masked when shown to others
    Column("cadre_id", String(64), nullable=True),
    Column("leader_id", String(64), nullable=True),
    Column("lead_department", String(64), nullable=True),
    Column("cadre_unit", String(64), nullable=True),  # the paired cadre's unit when submitted
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
