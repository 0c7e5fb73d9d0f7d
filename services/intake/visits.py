"""Visits (走访): a cadre or leader at a subject on a day, what was found, the appeals raised in it.

Each visit is stored once and published as ``visit_recorded`` in the same transaction, so the
monthly bulletin (assessment) counts visits without reading intake's tables.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, insert, select
from sqlalchemy.orm import Session

from services.intake import domain, registry
from services.intake.models import appeals, outbox, visits
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.events import make_event
from shared.outbox import add_event

SERVICE = "intake"


def visiting_person(data: dict, *, role: str, person: str | None) -> str:
    """Whose visit it is: a cadre records their own; the office names the visitor (or is one)."""
    if role == "cadre":
        if data.get("cadre_id") and data["cadre_id"] != person:
            raise Forbidden("a cadre records only their own visits")
        return person
    return data.get("cadre_id") or person


def record_visit(session: Session, data: dict, *, now: datetime, role: str, person: str | None,
                 actor: str, subject_types: list[str]) -> dict:
    """Store a checked visit and publish ``visit_recorded``; the stored row."""
    if data["subject_type"] not in subject_types:
        raise InvalidInput(f"this campaign has no {data['subject_type']} subjects",
                           {"subject_type": [f"one of {', '.join(subject_types)}"]})
    visitor_id = visiting_person(data, role=role, person=person)
    visitor = registry.people_named(session, [visitor_id]).get(visitor_id)
    if visitor is None:
        raise Conflict(f"no person {visitor_id} in the registry: register the visitor first",
                       {"cadre_id": [f"no person {visitor_id} in the registry"]})
    subject = registry.find_subject(session, data["subject_type"], data["subject_id"])
    if subject is None:
        raise Conflict(f"no {data['subject_type']} {data['subject_id']} in the registry: register it first",
                       {"subject_id": [f"no {data['subject_type']} {data['subject_id']} in the registry"]})
    raised = sorted(set(data["appeal_ids"]))
    if raised:
        found = {row.id: row for row in session.execute(
            select(appeals.c.id, appeals.c.subject_type, appeals.c.subject_id).where(appeals.c.id.in_(raised)))}
        wrong = [i for i in raised if i not in found or (found[i].subject_type, found[i].subject_id)
                 != (data["subject_type"], data["subject_id"])]
        if wrong:
            raise Conflict("appeals that are not this subject's",
                               {"appeal_ids": [f"not an appeal of this {data['subject_type']}: {', '.join(wrong)}"]})
    row = {"id": domain.new_visit_id(now), "subject_type": data["subject_type"], "subject_id": data["subject_id"],
           "cadre_id": visitor_id, "unit": visitor["unit"], "visited_on": data["visited_on"],
           "findings": data.get("findings"), "no_problem": data["no_problem"], "appeal_ids": raised,
           "recorded_by": actor, "recorded_at": now}
    session.execute(insert(visits).values(**row))
    add_event(session, outbox, make_event("visit_recorded", {
        "visit_id": row["id"], "subject_type": row["subject_type"], "subject_id": row["subject_id"],
        "subject_name": domain.shown_name(subject["subject_type"], subject["name"], unmasked=False),
        "cadre_id": visitor_id, "cadre": visitor["name"], "unit": visitor["unit"], "visited_on": row["visited_on"],
        "findings": row["findings"], "no_problem": row["no_problem"], "appeal_ids": raised,
    }, producer=SERVICE, now=now))
    return row


def list_visits(session: Session, filters: dict, page: int, page_size: int) -> tuple[list[dict], int]:
    conditions = []
    for name in ("subject_type", "subject_id", "cadre_id", "unit"):
        if filters.get(name):
            conditions.append(visits.c[name] == filters[name])
    if filters.get("visited_from"):
        conditions.append(visits.c.visited_on >= filters["visited_from"])
    if filters.get("visited_to"):
        conditions.append(visits.c.visited_on <= filters["visited_to"])
    where = and_(True, *conditions)
    total = session.execute(select(func.count()).select_from(visits).where(where)).scalar_one()
    rows = session.execute(select(visits).where(where).order_by(visits.c.visited_on.desc(), visits.c.id)
                           .limit(page_size).offset((page - 1) * page_size)).fetchall()
    return [dict(r._mapping) for r in rows], total


def get_visit(session: Session, visit_id: str) -> dict:
    row = session.execute(select(visits).where(visits.c.id == visit_id)).first()
    if row is None:
        raise NotFound(f"no visit {visit_id}")
    return dict(row._mapping)
