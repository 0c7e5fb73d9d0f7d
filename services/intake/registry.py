"""The registry's use cases: people (cadres, leaders), households and projects, and the pairing
(包联: a subject's cadre, leader and lead department) every subject type shares.

An enterprise lives in ``enterprises`` (its credit code is its key); a household or a project in
``subjects``. :func:`find_subject` reads any of the three in one shape, so appeals and visits
need not care which. Every change publishes ``subject_updated`` (a household's personal data
masked), which is how other services learn pairing coverage without reading these tables.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.orm import Session

from services.intake import domain
from services.intake.models import enterprises, outbox, people, subjects
from services.intake.sheets import RowReport, filled, import_sheet
from shared.db import paged
from shared.errors import Conflict, InvalidInput, NotFound
from shared.events import make_event
from shared.outbox import add_event

SERVICE = "intake"
PAIRING = ("cadre_id", "leader_id", "lead_department")


# ---------------------------------------------------------------- people
def upsert_person(session: Session, data: dict, *, now: datetime) -> bool:
    """Register or change a cadre or leader; the names the registry's subjects show follow. True when new."""
    values = {**data, "updated_at": now}
    known = session.execute(select(people.c.id).where(people.c.id == data["id"])).first()
    if known:
        session.execute(update(people).where(people.c.id == data["id"]).values(**values))
        column = "cadre" if data["role"] == "cadre" else "leader"
        session.execute(update(enterprises).where(enterprises.c[f"{column}_id"] == data["id"])
                        .values({column: data["name"]}))
    else:
        session.execute(insert(people).values(**values))
    return known is None


def get_person(session: Session, person_id: str) -> dict:
    row = session.execute(select(people).where(people.c.id == person_id)).first()
    if row is None:
        raise NotFound(f"no person {person_id}")
    return dict(row._mapping)


def list_people(session: Session, role: str | None, unit: str | None, page: int,
                page_size: int) -> tuple[list[dict], int]:
    conditions = [people.c[name] == value for name, value in (("role", role), ("unit", unit)) if value]
    rows, total = paged(session, people, conditions, (people.c.id,), page, page_size)
    return [dict(r._mapping) for r in rows], total


def people_named(session, ids: Iterable[str | None]) -> dict[str, dict]:
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    return {row.id: dict(row._mapping) for row in session.execute(select(people).where(people.c.id.in_(wanted)))}


def check_pairing(session, data: dict, units: set[str] | None) -> dict[str, dict]:
    """The people a pairing names, checked: the cadre is a cadre, the leader a leader, the lead
    department a unit of the directory. An unknown unit is ``InvalidInput`` (the document lists the
    units); people the registry does not hold (as that role) are ``Conflict``, a message per field."""
    if data.get("lead_department") and units is not None and data["lead_department"] not in units:
        raise InvalidInput("unknown unit", {"lead_department": [f"no unit {data['lead_department']} in units.yaml"]})
    known = people_named(session, (data.get("cadre_id"), data.get("leader_id")))
    errors = {}
    for field, role in (("cadre_id", "cadre"), ("leader_id", "leader")):
        person_id = data.get(field)
        if person_id and person_id not in known:
            errors[field] = [f"no person {person_id} in the registry"]
        elif person_id and known[person_id]["role"] != role:
            errors[field] = [f"{person_id} is a {known[person_id]['role']}, not a {role}"]
    if errors:  # well formed, but the registry does not hold these people (yet): register them first
        raise Conflict("the pairing names people the registry does not hold as such", errors)
    return known


# ---------------------------------------------------------------- subjects
def subject_view(row: dict, subject_type: str, names: dict[str, dict]) -> dict:
    """Any subject in one shape: type, id, name, district, the pairing and its people's names."""
    cadre, leader = names.get(row.get("cadre_id") or ""), names.get(row.get("leader_id") or "")
    if subject_type == "enterprise":
        view = {**row, "subject_type": "enterprise", "subject_id": row["credit_code"]}
        view["cadre"] = cadre["name"] if cadre else row.get("cadre")  # a name typed before people existed
        view["leader"] = leader["name"] if leader else row.get("leader")
    else:
        view = {**row, "cadre": cadre["name"] if cadre else None, "leader": leader["name"] if leader else None}
    view["cadre_unit"] = cadre["unit"] if cadre else None
    return view


def find_subject(session, subject_type: str, subject_id: str) -> dict | None:
    if subject_type == "enterprise":
        row = session.execute(select(enterprises).where(enterprises.c.credit_code == subject_id)).first()
    else:
        row = session.execute(select(subjects).where(subjects.c.subject_type == subject_type,
                                                     subjects.c.subject_id == subject_id)).first()
    if row is None:
        return None
    row = dict(row._mapping)
    return subject_view(row, subject_type, people_named(session, (row.get("cadre_id"), row.get("leader_id"))))


def get_subject(session: Session, subject_type: str, subject_id: str) -> dict:
    subject = find_subject(session, subject_type, subject_id)
    if subject is None:
        raise NotFound(f"no {subject_type} {subject_id}")
    return subject


def subject_updated(subject: dict, now: datetime) -> Any:
    """The registry's fact for other services: pairing and name, a household's masked."""
    return make_event("subject_updated", {
        "subject_type": subject["subject_type"], "subject_id": subject["subject_id"],
        "name": domain.shown_name(subject["subject_type"], subject["name"], unmasked=False),
        "district": subject.get("district"), "cadre_id": subject.get("cadre_id"), "cadre": subject.get("cadre"),
        "leader_id": subject.get("leader_id"), "leader": subject.get("leader"),
        "lead_department": subject.get("lead_department"), "cadre_unit": subject.get("cadre_unit"),
    }, producer=SERVICE, now=now)


def upsert_subject(session: Session, data: dict, *, now: datetime, units: set[str] | None) -> bool:
    """Register or change a household or project with its pairing; True when new."""
    check_pairing(session, data, units)
    values = {**data, "updated_at": now}
    key = (subjects.c.subject_type == data["subject_type"], subjects.c.subject_id == data["subject_id"])
    known = session.execute(select(subjects.c.subject_id).where(*key)).first()
    if known:
        session.execute(update(subjects).where(*key).values(**values))
    else:
        session.execute(insert(subjects).values(**values))
    add_event(session, outbox, subject_updated(get_subject(session, data["subject_type"], data["subject_id"]), now))
    return known is None


def list_subjects(session: Session, subject_type: str, filters: dict, page: int,
                  page_size: int) -> tuple[list[dict], int]:
    """Households or projects, by district and by paired cadre (a cadre's "my households")."""
    conditions = [subjects.c.subject_type == subject_type]
    for name in ("district", "cadre_id", "community"):
        if filters.get(name):
            conditions.append(subjects.c[name] == filters[name])
    where = and_(*conditions)
    total = session.execute(select(func.count()).select_from(subjects).where(where)).scalar_one()
    rows = [dict(r._mapping) for r in session.execute(
        select(subjects).where(where).order_by(subjects.c.subject_id)
        .limit(page_size).offset((page - 1) * page_size)).fetchall()]
    names = people_named(session, [r["cadre_id"] for r in rows] + [r["leader_id"] for r in rows])
    return [subject_view(r, subject_type, names) for r in rows], total


def shown_subject(subject: dict, *, role: str, person: str | None) -> dict:
    """A household as the caller may see it: masked unless the office or its paired cadre."""
    if subject["subject_type"] != "household" or domain.may_see_personal_data(role, person, subject.get("cadre_id")):
        return subject
    return {**subject, "name": domain.mask_name(subject["name"]), "phone": domain.mask_phone(subject.get("phone"))}


def load_subjects(session: Session, subject_type: str, rows: Iterable[dict[str, Any]], *, now: datetime,
                  units: set[str] | None, first_row: int = 2) -> list[RowReport]:
    """Import households or projects from a sheet: new, or an update of one already registered."""
    def read(raw: dict[str, Any]) -> dict[str, Any] | None:
        raw = {key: str(int(v)) if isinstance(v, float) and v.is_integer() else v for key, v in filled(raw).items()}
        return domain.validate_subject({**raw, "subject_type": subject_type}) if raw else None

    def apply(data: dict[str, Any]) -> tuple[str, str | None]:
        return ("accepted" if upsert_subject(session, data, now=now, units=units) else "updated"), None

    return import_sheet(session, rows, read, apply, first_row)


__all__ = ["upsert_person", "get_person", "list_people", "check_pairing", "find_subject", "get_subject",
           "upsert_subject", "list_subjects", "shown_subject", "load_subjects", "subject_updated", "PAIRING"]
