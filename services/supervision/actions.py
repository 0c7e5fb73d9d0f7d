"""What people do through supervision's API: pause and resume an appeal's clock, ask for a pause
and decide on it (the office), issue a supervision order (督办单)."""
from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import datetime, timezone

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from services.supervision import domain
from services.supervision.ledger import get_appeal
from services.supervision.models import appeals, clock_pauses, orders, pause_requests
from services.supervision.rows import (
    SERVICE,
    Effects,
    count_recoloured,
    emit,
    emit_deadline_set,
    end_approved_pause,
    escalate_once,
    locked_row,
    visible_row,
    watch_of,
    watch_values,
)
from shared import workdays
from shared.auth import Principal
from shared.db import dialect_name, paged
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound

log = logging.getLogger(__name__)

def _may_act(principal: Principal, row) -> None:
    if principal.role != "office" and principal.unit != row.lead_unit:
        raise Forbidden("only the office or the appeal's lead unit may do this")


def pause_clock(session: Session, policy: domain.Policy, appeal_id: str, principal: Principal, now: datetime,
                reason: str | None) -> dict:
    """The office pauses a clock on its own word; a unit asks with :func:`request_pause`."""
    if principal.role != "office":
        raise Forbidden("a unit asks for a clock pause (POST .../pause-requests); the office approves it")
    row = visible_row(session, appeal_id, principal, lock=True)
    _pause(session, policy, row, now, reason, principal.actor)
    return get_appeal(session, appeal_id)


def _pause(session: Session, policy: domain.Policy, row, now: datetime, reason: str | None, actor: str,
           requested_by: str | None = None, resume_at: datetime | None = None) -> None:
    try:
        watch = domain.pause(watch_of(row), now)
    except domain.RuleError as exc:
        raise Conflict(str(exc)) from None
    session.execute(update(appeals).where(appeals.c.appeal_id == row.appeal_id)
                    .values(**watch_values(watch, policy), updated_at=now))
    session.execute(insert(clock_pauses).values(appeal_id=row.appeal_id, stage=row.stage, paused_at=now,
                                                reason=reason, paused_by=actor))
    emit(session, "appeal_clock_paused", {"appeal_id": row.appeal_id, "stage": row.stage, "unit": row.lead_unit,
                                           "reason": reason, "actor": actor, "paused_at": now,
                                           "requested_by": requested_by, "resume_at": resume_at},
          now, row.correlation_id)


# ---------------------------------------------------------------- pause requests
def _pending_request(session: Session, appeal_id: str):
    return session.execute(select(pause_requests.c.request_id).where(
        pause_requests.c.appeal_id == appeal_id, pause_requests.c.status == domain.PAUSE_PENDING)).first()


def request_pause(session: Session, appeal_id: str, principal: Principal, now: datetime, reason: str,
                  days: int) -> dict:
    """The lead unit asks for a clock pause (reason, working days); the office decides."""
    if principal.role != "unit":
        raise Forbidden("the lead unit asks for a clock pause; the office pauses directly")
    row = visible_row(session, appeal_id, principal, lock=True)
    try:
        domain.may_request_pause(watch_of(row), _pending_request(session, appeal_id) is not None)
    except domain.RuleError as exc:
        raise Conflict(str(exc)) from None
    request = {"request_id": uuid.uuid4().hex, "appeal_id": appeal_id, "stage": row.stage, "unit": row.lead_unit,
               "reason": reason, "days": days, "status": domain.PAUSE_PENDING, "requested_by": principal.actor,
               "requested_at": now}
    session.execute(insert(pause_requests).values(**request))
    return get_pause_request(session, request["request_id"])


def get_pause_request(session: Session, request_id: str, principal: Principal | None = None) -> dict:
    row = session.execute(select(pause_requests).where(pause_requests.c.request_id == request_id)).first()
    if row is None or (principal is not None and principal.role == "unit" and principal.unit != row.unit):
        raise NotFound(f"no pause request {request_id}")
    return dict(row._mapping)


def list_pause_requests(session: Session, status: str | None, page: int, page_size: int,
                        unit: str | None = None) -> tuple[list[dict], int]:
    conditions = []
    if status:
        conditions.append(pause_requests.c.status == status)
    if unit:
        conditions.append(pause_requests.c.unit == unit)
    rows, total = paged(session, pause_requests, conditions,
                        (pause_requests.c.requested_at, pause_requests.c.request_id), page, page_size)
    return [dict(r._mapping) for r in rows], total


def decide_pause(session: Session, policy: domain.Policy, request_id: str, principal: Principal, now: datetime,
                 approve: bool, note: str | None) -> dict:
    """The office approves (the clock pauses now, until the days asked for have passed) or
    refuses a pending request; the decision and its person are recorded."""
    if principal.role != "office":
        raise Forbidden("only the office decides pause requests")
    request = session.execute(select(pause_requests).where(pause_requests.c.request_id == request_id)
                              .with_for_update()).first()
    if request is None:
        raise NotFound(f"no pause request {request_id}")
    try:
        domain.may_decide_pause(request.status)
    except domain.RuleError as exc:
        raise Conflict(str(exc)) from None
    decision = {"status": domain.PAUSE_APPROVED if approve else domain.PAUSE_REFUSED, "decided_by": principal.actor,
                "decided_at": now, "decision_note": note}
    if approve:
        row = locked_row(session, request.appeal_id)
        if row is None:
            raise NotFound(f"no appeal {request.appeal_id} under supervision")
        decision["resume_at"] = domain.pause_resumes_at(now, request.days)
        _pause(session, policy, row, now, request.reason, principal.actor, requested_by=request.requested_by,
               resume_at=decision["resume_at"])
    session.execute(update(pause_requests).where(pause_requests.c.request_id == request_id).values(**decision))
    return get_pause_request(session, request_id)


def resume_due_pauses(session: Session, policy: domain.Policy, now: datetime, limit: int = 200) -> Effects:
    """The tick resumes the clocks whose approved pause has run its days (actor: supervision)."""
    effects = Effects()
    query = (select(pause_requests).where(pause_requests.c.ended_at.is_(None), pause_requests.c.resume_at <= now)
             .order_by(pause_requests.c.resume_at).limit(limit))
    if dialect_name(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    for request in session.execute(query).fetchall():
        effects.checked += 1
        row = locked_row(session, request.appeal_id)
        if row is not None and row.paused_at is not None:
            effects.colour_changes += _resume(session, policy, row, request.resume_at, SERVICE).colour_changes
        session.execute(update(pause_requests).where(pause_requests.c.request_id == request.request_id)
                        .values(ended_at=request.resume_at))
    return effects


def resume_clock(session: Session, policy: domain.Policy, appeal_id: str, principal: Principal,
                 now: datetime) -> tuple[dict, Effects]:
    row = visible_row(session, appeal_id, principal, lock=True)
    _may_act(principal, row)
    effects = _resume(session, policy, row, now, principal.actor)
    return get_appeal(session, appeal_id), effects


def _resume(session: Session, policy: domain.Policy, row, now: datetime, actor: str) -> Effects:
    effects = Effects()
    appeal_id = row.appeal_id
    try:
        watch, paused = domain.resume(watch_of(row), now)
    except domain.RuleError as exc:
        raise Conflict(str(exc)) from None
    if watch.colour != "red":
        watch = replace(watch, colour=domain.colour_at(watch, now))
        if watch.colour == "red":  # cannot be: the clock stood still; kept for safety
            watch = replace(watch, colour=row.colour)
    session.execute(update(appeals).where(appeals.c.appeal_id == appeal_id)
                    .values(**watch_values(watch, policy), updated_at=now))
    session.execute(update(clock_pauses).where(clock_pauses.c.appeal_id == appeal_id,
                                               clock_pauses.c.resumed_at.is_(None))
                    .values(resumed_at=now, resumed_by=actor, paused_seconds=paused))
    end_approved_pause(session, appeal_id, now)
    emit(session, "appeal_clock_resumed", {"appeal_id": appeal_id, "stage": row.stage, "unit": row.lead_unit,
                                            "actor": actor, "paused_at": row.paused_at,
                                            "paused_seconds": paused, "due_at": watch.due_at},
          now, row.correlation_id)
    emit_deadline_set(session, appeal_id, watch, row.lead_unit, now, row.correlation_id)
    count_recoloured(row.colour, watch.colour, effects)
    return effects


def issue_order(session: Session, policy: domain.Policy, appeal_id: str, data: dict, principal: Principal,
                now: datetime) -> tuple[dict, Effects]:
    """A supervision order (督办单) with its own deadline; optionally one rung up (reason order)."""
    effects = Effects()
    row = visible_row(session, appeal_id, principal, lock=True)
    if row.status == domain.CLOSED:
        raise Conflict(f"appeal {appeal_id} is closed")
    due = data.get("due_at") or workdays.add_working_days(now, data["working_days"])
    if due <= now:
        raise InvalidInput("the order's deadline must be later than now", {"due_at": ["must be in the future"]})
    order = {"order_id": uuid.uuid4().hex, "appeal_id": appeal_id, "unit": row.lead_unit, "text": data["text"],
             "due_at": due.astimezone(timezone.utc), "issued_at": now, "issued_by": principal.actor,
             "status": domain.ORDER_OPEN}
    session.execute(insert(orders).values(**order, next_check_at=order["due_at"]))
    emit(session, "supervision_order_issued", {k: order[k] for k in ("appeal_id", "order_id", "unit", "due_at",
                                                                      "text")}, now, row.correlation_id)
    emit(session, "appeal_deadline_set", {"appeal_id": appeal_id, "stage": "order", "due_at": order["due_at"],
                                           "working_days": data.get("working_days"), "unit": row.lead_unit},
          now, row.correlation_id)
    if data.get("escalate"):
        escalate_once(session, policy, row, "order", now, effects)
    return order, effects
