"""The tick: due rows claimed ``FOR UPDATE SKIP LOCKED`` (so two replicas never raise the same
event twice) are recoloured, escalated or resumed; and the digests of what is open."""
from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from services.supervision import domain
from services.supervision.actions import resume_due_pauses
from services.supervision.models import appeals, digests, escalations, orders, outbox
from services.supervision.rows import (
    SERVICE,
    Effects,
    emit,
    escalate_once,
    locked_row,
    policy_of,
    watch_of,
    watch_values,
)
from shared.db import bulk_update, dialect_name, insert_ignoring
from shared.events import make_event
from shared.outbox import add_events

log = logging.getLogger(__name__)
DIGEST_ITEMS_MAX = 1000

def tick_batch(session: Session, policy: domain.Policy, now: datetime, limit: int = 200) -> Effects:
    """Advance up to ``limit`` due appeals (``next_check_at <= now``), claimed SKIP LOCKED.

    The batch's changes, escalations and events are written with one statement each
    (a round trip per appeal would dominate the tick).
    """
    effects = Effects()
    query = (select(appeals).where(appeals.c.next_check_at <= now)
             .order_by(appeals.c.next_check_at).limit(limit))
    if dialect_name(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    changes, raised, events = [], [], []
    for row in session.execute(query).fetchall():
        effects.checked += 1
        step = domain.advance(policy_of(policy, row), watch_of(row), now)
        change = {"appeal_id": row.appeal_id, **watch_values(step.watch, policy), "rung": row.rung,
                  "overdue_count": row.overdue_count, "updated_at": now}
        if step.escalations:
            change.update(rung=step.escalations[-1].rung, overdue_count=row.overdue_count + 1)
        changes.append(change)

        def event(event_type: str, data: dict, row=row) -> None:
            events.append(make_event(event_type, {"appeal_id": row.appeal_id, **data}, producer=SERVICE, now=now,
                                     correlation_id=row.correlation_id))

        if step.colour_change:
            effects.colour_changes += 1
            event("appeal_colour_changed", {"colour": step.colour_change[1], "previous": step.colour_change[0],
                                            "unit": row.lead_unit, "stage": step.watch.stage})
        for escalation in step.escalations:
            raised.append({"appeal_id": row.appeal_id, "level": escalation.level, "rung": escalation.rung,
                           "reason": escalation.reason, "unit": row.lead_unit, "to_unit": escalation.to_unit,
                           "escalated_at": now})
            event("appeal_escalated", {"rung": escalation.rung, "level": escalation.level,
                                       "reason": escalation.reason, "unit": row.lead_unit,
                                       "to_unit": escalation.to_unit})
            effects.escalations.append(escalation)
        if step.new_due is not None:
            # stage "escalation": the rung's deadline; the stage's own deadline (what assessment
            # measures response and on-time rates against) stays the one published at its start
            event("appeal_deadline_set", {"stage": "escalation", "due_at": step.new_due, "working_days": None,
                                          "unit": row.lead_unit})
    bulk_update(session, appeals, "appeal_id", changes)
    if raised:
        session.execute(insert(escalations), raised)
    add_events(session, outbox, events)
    return effects


def order_batch(session: Session, policy: domain.Policy, now: datetime, limit: int = 200) -> Effects:
    """Supervision orders past their due time with the appeal neither replied nor closed:
    the order is overdue and the appeal climbs one rung (reason ``order``). Orders are
    claimed SKIP LOCKED like appeals; the appeal row is then locked in the same order
    as every other use case (one row), so replicas and handlers cannot deadlock."""
    effects = Effects()
    query = (select(orders).where(orders.c.next_check_at <= now).order_by(orders.c.next_check_at).limit(limit))
    if dialect_name(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    for order in session.execute(query).fetchall():
        effects.checked += 1
        row = locked_row(session, order.appeal_id)
        # still open at the tick: not met in time (a reply before the due time settled it as met)
        session.execute(update(orders).where(orders.c.order_id == order.order_id).values(
            status=domain.ORDER_OVERDUE, settled_at=now, next_check_at=None))
        if row is not None and row.status in domain.AWAITING_UNIT:
            escalate_once(session, policy, row, "order", now, effects)
    return effects


def run_tick(transaction: Callable[[], AbstractContextManager[Session]], policy: domain.Policy, now: datetime,
             office: str, batch: int = 200) -> Effects:
    """One tick: due appeals, then due orders, in batches (a transaction each), then the digests."""
    total = Effects()
    for step in (resume_due_pauses, tick_batch, order_batch):
        while True:
            with transaction() as session:
                effects = step(session, policy, now, batch)
            total.checked += effects.checked
            total.colour_changes += effects.colour_changes
            total.escalations += effects.escalations
            if effects.checked < batch:
                break
    with transaction() as session:
        total.digests = send_digests(session, policy, now, office).digests
    return total


def _claim_digest(session: Session, kind: str, period: str, recipient: str, count: int, now: datetime) -> bool:
    """True for the one transaction that records this digest first (the others wait, then find it)."""
    statement = (insert_ignoring(session, digests).values(kind=kind, period=period, recipient=recipient,
                                                          item_count=count, sent_at=now)
                 .returning(digests.c.kind))
    return session.execute(statement).first() is not None


def _item(row) -> dict:
    return {"appeal_id": row.appeal_id, "status": row.status, "stage": row.stage, "colour": row.colour,
            "due_at": row.due_at.isoformat() if row.due_at else None, "level": row.level, "rung": row.rung,
            "lead_unit": row.lead_unit, "unit": row.lead_unit, "category": row.category}


def send_digests(session: Session, policy: domain.Policy, now: datetime, office: str) -> Effects:
    """The weekly digests (周提醒, per unit) and the monthly list (月督办, office), once per period.

    A sentinel row ``(kind, period, '*')`` is claimed first, so a tick after the
    digest went out costs one insert that does nothing.
    """
    effects = Effects()
    open_ = appeals.c.status.in_(domain.OPEN_STATUSES)
    period, due = domain.weekly_period(now, policy)
    if now >= due and _claim_digest(session, "weekly", period, "*", 0, now):
        units = session.execute(select(appeals.c.lead_unit).distinct()
                                .where(open_, appeals.c.lead_unit.isnot(None))).scalars().all()
        for unit in sorted(units):
            rows = session.execute(select(appeals).where(open_, appeals.c.lead_unit == unit)
                                   .order_by(appeals.c.due_at.nulls_last(), appeals.c.appeal_id)
                                   .limit(DIGEST_ITEMS_MAX)).fetchall()
            if _claim_digest(session, "weekly", period, unit, len(rows), now):
                emit(session, "weekly_digest_ready", {"recipient": unit, "period": period,
                                                       "items": [_item(r) for r in rows]}, now, None)
                effects.digests += 1
    period, due = domain.monthly_period(now, policy)
    if now >= due and _claim_digest(session, "monthly", period, "*", 0, now):
        rows = session.execute(select(appeals).where(open_, (appeals.c.colour == "red") | (appeals.c.level > 0))
                               .order_by(appeals.c.level.desc(), appeals.c.due_at, appeals.c.appeal_id)
                               .limit(DIGEST_ITEMS_MAX)).fetchall()
        _claim_digest(session, "monthly", period, office, len(rows), now)
        emit(session, "monthly_supervision_list", {"recipient": office, "period": period,
                                                    "items": [_item(r) for r in rows]}, now, None)
        effects.digests += 1
    return effects


def open_counts(session: Session) -> list[tuple[str | None, str | None, int]]:
    """(colour, unit, count) of the open appeals, for the gauge."""
    return [tuple(r) for r in session.execute(
        select(appeals.c.colour, appeals.c.lead_unit, func.count())
        .where(appeals.c.status.in_(domain.OPEN_STATUSES))
        .group_by(appeals.c.colour, appeals.c.lead_unit)).all()]
