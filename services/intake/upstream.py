"""Intake's use case for the answer going back upstream: outbox rows to the platforms' exchanges.

The rows go into intake's own outbox in the unit of work's transaction, with the platform's
exchange and routing key instead of ``intake.events``: the relay publishes them like every
other event (publisher confirms, ``mandatory``: a platform whose exchange routes to no
queue keeps its messages waiting, retried with back-off, until it binds one).
"""
from __future__ import annotations

import json

from sqlalchemy import select

from services.intake import feedback
from services.intake.models import appeals, outbox
from shared.consumers import Batch
from shared.db import insert_rows


def publish_feedback(batch: Batch, platforms: list[dict]) -> int:
    """For each event about an appeal a platform sent: its feedback row. The number written.

    An appeal intake never received (another deployment's) came from none of its platforms.
    """
    events = [e for e in batch.events if e.type in feedback.STAGE_OF]
    if not platforms or not events:
        return 0
    ids = [e.data["appeal_id"] for e in events]
    known = {row.id: dict(row._mapping) for row in batch.connection.execute(
        select(appeals.c.id, appeals.c.external_id, appeals.c.submitted_by, appeals.c.channel,
               appeals.c.correlation_id).where(appeals.c.id.in_(ids)))}
    rows = []
    for event in events:
        appeal = known.get(event.data["appeal_id"])
        platform = feedback.platform_of(appeal, platforms) if appeal else None
        if platform is None:
            continue
        out = feedback.feedback(appeal, platform, event.type, event.id, event.data, event.time)
        rows.append({"event_id": out["message_id"], "event_type": feedback.FEEDBACK_TYPE,
                     "exchange": out["exchange"], "routing_key": out["routing_key"],
                     "body": json.dumps(out["envelope"], ensure_ascii=False), "created_at": batch.now,
                     "available_at": batch.now, "attempts": 0})
    if rows:
        insert_rows(batch.connection, outbox, rows)
    return len(rows)
