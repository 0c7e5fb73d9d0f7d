"""Dispatch's use cases: a session + input -> the appeal's new state, its history and its events.

Each use case locks the appeal's row (``FOR UPDATE``), lets :mod:`domain` decide,
and writes the row, the holders (the desk's index), one history line per change
and the events into the outbox, all in the caller's transaction. Consumers are
idempotent through the inbox.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from services.dispatch import domain
from services.dispatch.models import appeals, history, holders, inbox, outbox
from shared.events import Event, make_event
from shared.outbox import add_event, first_delivery
from shared.errors import NotFound

SERVICE = "dispatch"


class AppealNotYetKnown(Exception):
    """An event about an appeal whose ``appeal_received`` has not been handled yet: retried later."""


# ---------------------------------------------------------------- loading and storing
def _to_domain(row) -> domain.Appeal:
    return domain.Appeal(
        id=row.id, status=row.status, category=row.category, difficulty=row.difficulty, nature=row.nature,
        category_source=row.category_source, district=row.district, lead_unit=row.lead_unit,
        co_units=list(row.co_units or []),
        candidates=[domain.Candidate.from_dict(c) for c in row.candidates or []],
        returned_by=list(row.returned_by or []), return_count=row.return_count,
        dispatch_count=row.dispatch_count, reopen_count=row.reopen_count, outcome=row.outcome,
        reply_text=row.reply_text, colour=row.colour, colour_stage=row.colour_stage)


def _state(appeal: domain.Appeal) -> dict:
    return {
        "status": appeal.status, "category": appeal.category, "category_source": appeal.category_source,
        "difficulty": appeal.difficulty, "nature": appeal.nature, "lead_unit": appeal.lead_unit,
        "co_units": list(appeal.co_units), "candidates": [c.to_dict() for c in appeal.candidates],
        "returned_by": list(appeal.returned_by), "return_count": appeal.return_count,
        "dispatch_count": appeal.dispatch_count, "reopen_count": appeal.reopen_count,
        "outcome": appeal.outcome, "reply_text": appeal.reply_text, "colour": appeal.colour,
        "colour_stage": appeal.colour_stage,
    }


def _load(session: Session, appeal_id: str, *, missing: Callable[[str], Exception]):
    row = session.execute(select(appeals).where(appeals.c.id == appeal_id).with_for_update()).first()
    if row is None:
        raise missing(appeal_id)
    return row, _to_domain(row)


def _not_found(appeal_id: str) -> Exception:
    return NotFound(f"没有诉求 {appeal_id}")


def _not_yet(appeal_id: str) -> Exception:
    return AppealNotYetKnown(f"appeal {appeal_id} has not been received by dispatch yet")


def _store(session: Session, appeal: domain.Appeal, *, at: datetime, actor: str | None,
           correlation_id: str | None) -> None:
    """Write what the domain decided: state, holders, history, events (the outbox)."""
    values = {**_state(appeal), "updated_at": at}
    if any(kind == "appeal_dispatched" for kind, _ in appeal.events):
        values["dispatched_at"] = at
    session.execute(update(appeals).where(appeals.c.id == appeal.id).values(**values))
    session.execute(delete(holders).where(holders.c.appeal_id == appeal.id))
    rows = ([{"appeal_id": appeal.id, "unit": appeal.lead_unit, "role": "lead"}] if appeal.lead_unit else [])
    rows += [{"appeal_id": appeal.id, "unit": unit, "role": "co"} for unit in appeal.co_units]
    if rows:
        session.execute(insert(holders), rows)
    for change in appeal.changes:
        session.execute(insert(history).values(
            appeal_id=appeal.id, at=at, action=change.action, actor=actor, unit=change.unit,
            status_from=change.status_from, status_to=change.status_to, note=change.note,
            details=change.details))
    for event_type, data in appeal.events:
        add_event(session, outbox, make_event(event_type, data, producer=SERVICE, now=at,
                                              correlation_id=correlation_id or appeal.id))


# ---------------------------------------------------------------- consumers
def receive_appeal(session: Session, event: Event, rules: domain.Rules, *, now: datetime,
                   consumer: str) -> domain.Appeal | None:
    """``appeal_received``: classify, route, publish ``appeal_dispatched``. None when already handled."""
    if not first_delivery(session, inbox, event.id, consumer, now):
        return None
    data = event.data
    if session.execute(select(appeals.c.id).where(appeals.c.id == data["appeal_id"])).first() is not None:
        return None  # the same appeal under another event id: it is routed already
    appeal = domain.new_appeal(rules, data)
    session.execute(insert(appeals).values(
        id=appeal.id, credit_code=data["credit_code"], enterprise_name=data["enterprise_name"],
        title=data["title"], description=data["description"], district=data.get("district"),
        channel=data.get("channel"), industry=data.get("industry"), cadre=data.get("cadre"),
        leader=data.get("leader"), submitted_category=data.get("category"), received_at=event.time,
        correlation_id=event.correlationid, **_state(appeal), updated_at=event.time))
    _store(session, appeal, at=event.time, actor=f"event:{event.type}", correlation_id=event.correlationid)
    return appeal


def on_event(session: Session, event: Event, *, now: datetime, consumer: str,
             change: Callable[[domain.Appeal], object]) -> domain.Appeal | None:
    """Another service's fact about an appeal: apply ``change`` once; None when already handled."""
    if not first_delivery(session, inbox, event.id, consumer, now):
        return None
    row, appeal = _load(session, event.data["appeal_id"], missing=_not_yet)
    change(appeal)
    _store(session, appeal, at=event.time, actor=f"event:{event.type}",
           correlation_id=event.correlationid or row.correlation_id)
    return appeal


# ---------------------------------------------------------------- the desk and the office
def act(session: Session, appeal_id: str, *, now: datetime, actor: str,
        change: Callable[[domain.Appeal], object]) -> domain.Appeal:
    """An HTTP action on one appeal: the domain refuses (403/409/400) before anything is written."""
    row, appeal = _load(session, appeal_id, missing=_not_found)
    change(appeal)
    _store(session, appeal, at=now, actor=actor, correlation_id=row.correlation_id)
    return appeal


def appeal_view(session: Session, appeal_id: str, with_history: bool = True) -> dict:
    row = session.execute(select(appeals).where(appeals.c.id == appeal_id)).first()
    if row is None:
        raise _not_found(appeal_id)
    view = dict(row._mapping)
    if with_history:
        lines = session.execute(select(history).where(history.c.appeal_id == appeal_id)
                                .order_by(history.c.id)).fetchall()
        view["history"] = [dict(line._mapping) for line in lines]
    return view


def readable(session: Session, appeal_id: str, unit: str) -> dict:
    view = appeal_view(session, appeal_id)
    _to_domain_view(view).require_readable(unit)
    return view


def _to_domain_view(view: dict) -> domain.Appeal:
    return domain.Appeal(id=view["id"], status=view["status"], category=view["category"],
                         difficulty=view["difficulty"], nature=view["nature"], lead_unit=view["lead_unit"],
                         co_units=list(view["co_units"] or []))


def list_appeals(session: Session, filters: dict, page: int, page_size: int,
                 unit: str | None = None) -> tuple[list[dict], int]:
    """A desk (``unit``: appeals it leads or co-handles) or the office's view, filtered and paged."""
    conditions = []
    holder = unit or filters.get("unit")
    if holder:
        conditions.append(exists().where(holders.c.appeal_id == appeals.c.id, holders.c.unit == holder))
    for name in ("status", "colour", "category", "difficulty", "nature", "district", "credit_code", "cadre"):
        if filters.get(name):
            conditions.append(appeals.c[name] == filters[name])
    if filters.get("overdue") is True:
        conditions.append(appeals.c.colour == "red")
    elif filters.get("overdue") is False:
        conditions.append(or_(appeals.c.colour.is_(None), appeals.c.colour != "red"))
    where = and_(True, *conditions)
    total = session.execute(select(func.count()).select_from(appeals).where(where)).scalar_one()
    rows = session.execute(select(appeals).where(where)
                           .order_by(appeals.c.received_at.desc(), appeals.c.id)
                           .limit(page_size).offset((page - 1) * page_size)).fetchall()
    return [dict(r._mapping) for r in rows], total
