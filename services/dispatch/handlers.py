"""Dispatch's use cases: input -> the appeals' new state, their history and their events.

Each use case locks the appeals' rows (``FOR UPDATE``, in id order), lets :mod:`domain`
decide, and writes the rows, the holders (the desk's index), one history line per
change and the events into the outbox, all in the caller's transaction. The consumers
take a :class:`shared.consumers.Batch` (its events are new: the unit of work keeps the
inbox) and write each table with one statement per batch.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, exists, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from services.dispatch import domain
from services.dispatch.models import appeals, history, holders, outbox
from shared.consumers import Batch, NotKnownYet
from shared.db import bulk_update, insert_rows, paged
from shared.errors import NotFound
from shared.events import Event, make_event
from shared.outbox import add_event

SERVICE = "dispatch"

# built once: the hot path's statements
_IDS = bindparam("ids", expanding=True)
KNOWN_IDS = select(appeals.c.id).where(appeals.c.id.in_(_IDS))
LOCK_APPEALS = select(appeals).where(appeals.c.id.in_(_IDS)).order_by(appeals.c.id).with_for_update()
LOCK_APPEAL = select(appeals).where(appeals.c.id == bindparam("id")).with_for_update()
DELETE_HOLDERS = delete(holders).where(holders.c.appeal_id.in_(_IDS))


# ---------------------------------------------------------------- loading and storing
def _to_domain(row) -> domain.Appeal:
    return domain.Appeal(
        id=row.id, status=row.status, category=row.category, difficulty=row.difficulty, nature=row.nature,
        category_source=row.category_source, district=row.district, lead_unit=row.lead_unit,
        co_units=list(row.co_units or []),
        candidates=[domain.Candidate.from_dict(c) for c in row.candidates or []],
        returned_by=list(row.returned_by or []), return_count=row.return_count,
        dispatch_count=row.dispatch_count, reopen_count=row.reopen_count, outcome=row.outcome,
        reply_text=row.reply_text, colour=row.colour, colour_stage=row.colour_stage, urgency=row.urgency,
        code=row.code, lead_leader=row.lead_leader)


def _state(appeal: domain.Appeal) -> dict:
    return {
        "status": appeal.status, "category": appeal.category, "category_source": appeal.category_source,
        "difficulty": appeal.difficulty, "nature": appeal.nature, "lead_unit": appeal.lead_unit,
        "co_units": list(appeal.co_units), "candidates": [c.to_dict() for c in appeal.candidates],
        "returned_by": list(appeal.returned_by), "return_count": appeal.return_count,
        "dispatch_count": appeal.dispatch_count, "reopen_count": appeal.reopen_count,
        "outcome": appeal.outcome, "reply_text": appeal.reply_text, "colour": appeal.colour,
        "colour_stage": appeal.colour_stage, "urgency": appeal.urgency, "code": appeal.code,
        "lead_leader": appeal.lead_leader,
    }


def _not_found(appeal_id: str) -> Exception:
    return NotFound(f"没有诉求 {appeal_id}")


@dataclass
class Stored:
    """One appeal a use case changed: its row before, the domain object after, and when and who."""

    row: object
    appeal: domain.Appeal
    at: datetime
    actor: str | None
    correlation_id: str | None


def _holders(appeal: domain.Appeal) -> list[dict]:
    rows = [{"appeal_id": appeal.id, "unit": appeal.lead_unit, "role": "lead"}] if appeal.lead_unit else []
    return rows + [{"appeal_id": appeal.id, "unit": unit, "role": "co"} for unit in appeal.co_units]


def _store(connection: Connection, stored: list[Stored], emit: Callable[[Event], None]) -> None:
    """Write what the domain decided for each appeal: state, holders, history, events.

    One statement per table for all of them; the holders only of appeals whose units changed.
    """
    if not stored:
        return
    states, regrouped, lines = [], [], []
    for item in stored:
        appeal, row = item.appeal, item.row
        dispatched = any(kind == "appeal_dispatched" for kind, _ in appeal.events)
        states.append({"id": appeal.id, **_state(appeal), "updated_at": item.at,
                       "dispatched_at": item.at if dispatched else row.dispatched_at})
        if (appeal.lead_unit, list(appeal.co_units)) != (row.lead_unit, list(row.co_units or [])):
            regrouped.append(appeal)
        lines += [{"appeal_id": appeal.id, "at": item.at, "action": change.action, "actor": item.actor,
                   "unit": change.unit, "status_from": change.status_from, "status_to": change.status_to,
                   "note": change.note, "details": change.details} for change in appeal.changes]
        for event_type, data in appeal.events:
            emit(make_event(event_type, data, producer=SERVICE, now=item.at,
                            correlation_id=item.correlation_id or appeal.id))
    bulk_update(connection, appeals, "id", states)
    if regrouped:
        connection.execute(DELETE_HOLDERS, {"ids": [appeal.id for appeal in regrouped]})
        rows = [row for appeal in regrouped for row in _holders(appeal)]
        if rows:
            insert_rows(connection, holders, rows)
    if lines:
        insert_rows(connection, history, lines)


# ---------------------------------------------------------------- consumers
def receive_appeals(batch: Batch, rules: domain.Rules) -> list[domain.Appeal]:
    """``appeal_received``: classify, route, publish ``appeal_dispatched``; the appeals routed.

    An appeal dispatch already has (the same appeal under another event id) is left alone.
    """
    connection = batch.connection
    known = set(connection.execute(KNOWN_IDS, {"ids": [e.data["appeal_id"] for e in batch.events]}).scalars())
    rows, holder_rows, lines, created = [], [], [], []
    for event in batch.events:
        data = event.data
        if data["appeal_id"] in known:
            continue
        known.add(data["appeal_id"])
        appeal = domain.new_appeal(rules, data)
        dispatched = any(kind == "appeal_dispatched" for kind, _ in appeal.events)
        rows.append({
            "id": appeal.id, "credit_code": data.get("credit_code"),
            "enterprise_name": data.get("enterprise_name") or data["subject_name"],
            "subject_type": data["subject_type"], "subject_id": data["subject_id"],
            "title": data["title"], "description": data["description"], "district": data.get("district"),
            "channel": data.get("channel"), "industry": data.get("industry"), "cadre": data.get("cadre"),
            "leader": data.get("leader"), "submitted_category": data.get("category"), "received_at": event.time,
            "correlation_id": event.correlationid, **_state(appeal), "updated_at": event.time,
            "dispatched_at": event.time if dispatched else None})
        holder_rows += _holders(appeal)
        lines += [{"appeal_id": appeal.id, "at": event.time, "action": change.action,
                   "actor": f"event:{event.type}", "unit": change.unit, "status_from": change.status_from,
                   "status_to": change.status_to, "note": change.note, "details": change.details}
                  for change in appeal.changes]
        for event_type, payload in appeal.events:
            batch.publish(make_event(event_type, payload, producer=SERVICE, now=event.time,
                                     correlation_id=event.correlationid or appeal.id))
        created.append(appeal)
    if rows:
        insert_rows(connection, appeals, rows)
    if holder_rows:
        insert_rows(connection, holders, holder_rows)
    if lines:
        insert_rows(connection, history, lines)
    return created


def on_events(batch: Batch, change: Callable[[domain.Appeal, dict], object]) -> list[domain.Appeal]:
    """Other services' facts about appeals: ``change(appeal, data)`` once each; the appeals changed.

    An appeal dispatch has not received yet is :class:`NotKnownYet` (retried later).
    """
    connection = batch.connection
    rows = {row.id: row for row in connection.execute(
        LOCK_APPEALS, {"ids": [e.data["appeal_id"] for e in batch.events]})}
    stored = []
    for event in batch.events:
        row = rows.get(event.data["appeal_id"])
        if row is None:
            raise NotKnownYet(f"{event.type} for appeal {event.data['appeal_id']}, "
                              "which dispatch has not received yet")
        appeal = _to_domain(row)
        change(appeal, event.data)
        stored.append(Stored(row, appeal, event.time, f"event:{event.type}",
                             event.correlationid or row.correlation_id))
    _store(connection, stored, batch.publish)
    return [item.appeal for item in stored]


# ---------------------------------------------------------------- the desk and the office
def act(session: Session, appeal_id: str, *, now: datetime, actor: str,
        change: Callable[[domain.Appeal], object]) -> domain.Appeal:
    """An HTTP action on one appeal: the domain refuses (403/409/400) before anything is written."""
    connection = session.connection()
    row = connection.execute(LOCK_APPEAL, {"id": appeal_id}).first()
    if row is None:
        raise _not_found(appeal_id)
    appeal = _to_domain(row)
    change(appeal)
    _store(connection, [Stored(row, appeal, now, actor, row.correlation_id)],
           lambda event: add_event(connection, outbox, event))
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
    for name in ("status", "colour", "category", "difficulty", "nature", "district", "credit_code", "cadre",
                 "urgency", "code"):
        if filters.get(name):
            conditions.append(appeals.c[name] == filters[name])
    if filters.get("overdue") is True:
        conditions.append(appeals.c.colour == "red")
    elif filters.get("overdue") is False:
        conditions.append(or_(appeals.c.colour.is_(None), appeals.c.colour != "red"))
    rows, total = paged(session, appeals, conditions, (appeals.c.received_at.desc(), appeals.c.id), page, page_size)
    return [dict(r._mapping) for r in rows], total
