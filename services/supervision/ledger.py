"""The ledger (台账) and the monthly meeting's agenda: reads of supervision's rows."""
from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.supervision import domain
from services.supervision.models import appeals, clock_pauses, escalations, orders, pause_requests
from services.supervision.rows import visible_row
from shared.auth import Principal
from shared.db import paged
from shared.errors import NotFound

log = logging.getLogger(__name__)

def _ledger_conditions(filters: dict, unit: str | None) -> list:
    conditions = []
    if unit:
        conditions.append(appeals.c.lead_unit == unit)
    if filters.get("unit"):
        conditions.append(appeals.c.lead_unit == filters["unit"])
    for name in ("status", "colour", "category", "difficulty", "urgency", "code"):
        if filters.get(name):
            conditions.append(appeals.c[name] == filters[name])
    if filters.get("level") is not None:
        conditions.append(appeals.c.level == filters["level"])
    if filters.get("phone_callback") is True:
        conditions.append(appeals.c.phone_listed_at.isnot(None))
    elif filters.get("phone_callback") is False:
        conditions.append(appeals.c.phone_listed_at.is_(None))
    if filters.get("overdue") is True:
        conditions.append(appeals.c.colour == "red")
    elif filters.get("overdue") is False:
        conditions.append(func.coalesce(appeals.c.colour, "") != "red")
    return conditions


def list_ledger(session: Session, filters: dict, page: int | None, page_size: int | None,
                unit: str | None = None) -> tuple[list[dict], int]:
    rows, total = paged(session, appeals, _ledger_conditions(filters, unit),
                        (appeals.c.due_at.nulls_last(), appeals.c.appeal_id), page, page_size)
    return [dict(r._mapping) for r in rows], total


def get_appeal(session: Session, appeal_id: str, principal: Principal | None = None) -> dict:
    if principal is not None:
        row = visible_row(session, appeal_id, principal)
    else:
        row = session.execute(select(appeals).where(appeals.c.appeal_id == appeal_id)).first()
        if row is None:
            raise NotFound(f"no appeal {appeal_id} under supervision")
    appeal = dict(row._mapping)
    appeal["escalations"] = [dict(r._mapping) for r in session.execute(
        select(escalations).where(escalations.c.appeal_id == appeal_id).order_by(escalations.c.id)).fetchall()]
    appeal["orders"] = [dict(r._mapping) for r in session.execute(
        select(orders).where(orders.c.appeal_id == appeal_id).order_by(orders.c.issued_at)).fetchall()]
    appeal["pauses"] = [dict(r._mapping) for r in session.execute(
        select(clock_pauses).where(clock_pauses.c.appeal_id == appeal_id).order_by(clock_pauses.c.id)).fetchall()]
    appeal["pause_requests"] = [dict(r._mapping) for r in session.execute(
        select(pause_requests).where(pause_requests.c.appeal_id == appeal_id)
        .order_by(pause_requests.c.requested_at, pause_requests.c.request_id)).fetchall()]
    return appeal


def meeting_agenda(session: Session, policy: domain.Policy, month: str) -> list[dict]:
    """The monthly coordination meeting's agenda (调度会): appeals that reached an agenda rung
    (``meeting_agenda: true``, default the city rung) in that month, still open or not."""
    start, end = domain.month_bounds(month)
    rows = session.execute(
        select(escalations, appeals.c.status, appeals.c.category, appeals.c.difficulty, appeals.c.lead_unit,
               appeals.c.colour)
        .join(appeals, appeals.c.appeal_id == escalations.c.appeal_id)
        .where(escalations.c.rung.in_(policy.agenda_rungs()), escalations.c.escalated_at >= start,
               escalations.c.escalated_at < end)
        .order_by(escalations.c.escalated_at, escalations.c.id)).fetchall()
    seen, items = set(), []
    for r in rows:
        if r.appeal_id in seen:
            continue
        seen.add(r.appeal_id)
        items.append({"appeal_id": r.appeal_id, "rung": r.rung, "level": r.level, "reason": r.reason,
                      "escalated_at": r.escalated_at, "from_unit": r.unit, "lead_unit": r.lead_unit,
                      "status": r.status, "category": r.category, "difficulty": r.difficulty, "colour": r.colour})
    return items
