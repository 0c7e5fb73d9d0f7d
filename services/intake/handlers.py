"""Intake's use cases: take validated input and a session, change state, record events.

Every accepted appeal writes its row and exactly one ``appeal_received`` into the
outbox in the caller's transaction.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import bindparam, insert, select, tuple_, update
from sqlalchemy.orm import Session

from services.intake import domain, registry
from services.intake.models import appeal_states, appeals, enterprises, idempotency_keys, outbox
from services.intake.sheets import RowReport, filled, import_sheet
from shared.consumers import Batch
from shared.db import insert_rows, paged
from shared.errors import Conflict, InvalidInput, NotFound
from shared.events import Event, make_event
from shared.outbox import add_event

SERVICE = "intake"
# what an appeal copies from its subject's registry entry (the pairing as references and names)
ENTERPRISE_FIELDS = ("industry", "size", "cadre", "leader")
PAIRING_FIELDS = ("cadre_id", "leader_id", "lead_department", "cadre_unit")

# built once: the AMQP ingress's statements
BY_EXTERNAL_IDS = select(appeals).where(
    tuple_(appeals.c.channel, appeals.c.external_id).in_(bindparam("keys", expanding=True)))
PROFILES = select(enterprises).where(enterprises.c.credit_code.in_(bindparam("codes", expanding=True)))


@dataclass
class Submitted:
    appeal: dict
    created: bool


def _appeal_dict(row) -> dict:
    return dict(row._mapping)


def find_appeal(session: Session, appeal_id: str) -> dict | None:
    row = session.execute(select(appeals).where(appeals.c.id == appeal_id)).first()
    return _appeal_dict(row) if row else None


def get_appeal(session: Session, appeal_id: str) -> dict:
    appeal = find_appeal(session, appeal_id)
    if appeal is None:
        raise NotFound(f"no appeal {appeal_id}")
    return appeal


def _by_external_id(session: Session, channel: str, external_id: str | None) -> dict | None:
    if not external_id:
        return None
    row = session.execute(select(appeals).where(
        appeals.c.channel == channel, appeals.c.external_id == external_id)).first()
    return _appeal_dict(row) if row else None


def _subject_profile(connection, data: dict, enterprise_rows: dict[str, dict] | None = None,
                     names: dict[str, dict] | None = None) -> dict:
    """The registry entry an appeal is about, in one shape (``registry.find_subject``); ``{}`` for an
    enterprise not registered yet (it may still appeal). A household or project must be registered:
    its name, community and pairing come from the registry."""
    if data["subject_type"] == "enterprise":
        if enterprise_rows is not None:
            row = enterprise_rows.get(data["credit_code"])
            return registry.subject_view(row, "enterprise", names or {}) if row else {}
        return registry.find_subject(connection, "enterprise", data["credit_code"]) or {}
    subject = registry.find_subject(connection, data["subject_type"], data["subject_id"])
    if subject is None:
        raise Conflict(f"no {data['subject_type']} {data['subject_id']} in the registry: register it first",
                       {"subject_id": [f"no {data['subject_type']} {data['subject_id']} in the registry"]})
    return subject


def _appeal_row(data: dict, *, now: datetime, actor: str, correlation_id: str | None, profile: dict) -> dict:
    appeal_id = domain.new_appeal_id(now)
    enterprise = data["subject_type"] == "enterprise"
    return {
        "id": appeal_id,
        "subject_type": data["subject_type"],
        "subject_id": data["credit_code"] if enterprise else data["subject_id"],
        "subject_name": data["enterprise_name"] if enterprise else profile["name"],
        "credit_code": data.get("credit_code") if enterprise else None,
        "enterprise_name": data.get("enterprise_name") if enterprise else None,
        "title": data["title"],
        "description": data["description"],
        "category": data.get("category"),
        "district": data["district"],
        "channel": data["channel"],
        "external_id": data.get("external_id"),
        "collected_at": domain.utc(data["collected_at"]),
        "submitted_at": domain.utc(now),
        "contact": data.get("contact"),
        "urgency": data.get("urgency") or "一般",
        "submitted_by": actor,
        "correlation_id": correlation_id or appeal_id,
        **{name: profile.get(name) for name in ENTERPRISE_FIELDS + PAIRING_FIELDS},
    }


def _received(row: dict, now: datetime) -> Event:
    """``appeal_received`` (version 2): a household's name and contact masked, as every service
    but intake shows them (intake unmasks them for the office and the paired cadre)."""
    household = row["subject_type"] == "household"
    data = {**row, "appeal_id": row["id"],
            "subject_name": domain.shown_name(row["subject_type"], row["subject_name"], unmasked=False),
            "contact": domain.masked_contact(row.get("contact")) if household else row.get("contact")}
    return make_event("appeal_received", data, producer=SERVICE, now=now, correlation_id=row["correlation_id"])


def _create(session: Session, data: dict, *, now: datetime, actor: str,
            correlation_id: str | None) -> dict:
    profile = _subject_profile(session, data)
    row = _appeal_row(data, now=now, actor=actor, correlation_id=correlation_id, profile=profile)
    session.execute(insert(appeals).values(**row))
    add_event(session, outbox, _received(row, now))
    return row


def submit_appeal(session: Session, data: dict, *, now: datetime, actor: str,
                  idempotency_key: str | None = None, correlation_id: str | None = None) -> Submitted:
    """Store a validated submission once; a retry (same key or same channel+external id) gets the first."""
    if idempotency_key:
        fingerprint = domain.request_fingerprint(data)
        known = session.execute(select(idempotency_keys).where(idempotency_keys.c.key == idempotency_key)).first()
        if known is not None:
            if known.request_hash != fingerprint or known.principal != actor:
                raise Conflict("this Idempotency-Key was already used for a different request")
            return Submitted(get_appeal(session, known.appeal_id), created=False)
    existing = _by_external_id(session, data["channel"], data.get("external_id"))
    if existing is not None:
        return Submitted(existing, created=False)
    row = _create(session, data, now=now, actor=actor, correlation_id=correlation_id)
    if idempotency_key:
        session.execute(insert(idempotency_keys).values(
            key=idempotency_key, principal=actor, request_hash=fingerprint, appeal_id=row["id"], created_at=now))
    return Submitted(row, created=True)


def receive_upstream(batch: Batch) -> list[Submitted]:
    """Upstream platforms' ``appeal_submitted`` (new deliveries): one appeal per (channel,
    external id), the first; a repeat answers the appeal it already is. The time of each is
    the message's (when the platform offered it), never later than the unit of work's clock.
    """
    offered = []
    for event in batch.events:
        now = min(event.time, batch.now)
        try:
            data = domain.validate_appeal(event.data, now)
        except ValidationError as exc:
            raise InvalidInput("invalid appeal_submitted", exc.messages) from None
        offered.append((event, data, now))
    connection = batch.connection
    known = {(row.channel, row.external_id): dict(row._mapping) for row in connection.execute(
        BY_EXTERNAL_IDS, {"keys": [(data["channel"], data["external_id"]) for _, data, _ in offered]})}
    profiles = {row.credit_code: dict(row._mapping) for row in connection.execute(
        PROFILES, {"codes": sorted({data["credit_code"] for _, data, _ in offered if data.get("credit_code")})})}
    names = registry.people_named(connection,
                                  [row[key] for row in profiles.values() for key in ("cadre_id", "leader_id")])
    results, rows = [], []
    for event, data, now in offered:
        key = (data["channel"], data["external_id"])
        if key in known:
            results.append(Submitted(known[key], created=False))
            continue
        row = _appeal_row(data, now=now, actor=f"platform:{event.source or data['channel']}",
                          correlation_id=event.correlationid,
                          profile=_subject_profile(connection, data, profiles, names))
        known[key] = row
        rows.append(row)
        batch.publish(_received(row, now))
        results.append(Submitted(row, created=True))
    if rows:
        insert_rows(connection, appeals, rows)
    return results


def import_rows(session: Session, rows: Iterable[dict[str, Any]], *, now: datetime, actor: str,
                first_row: int = 2) -> list[RowReport]:
    """Import a problem sheet (企业问题办理单): accepted, or a duplicate of an appeal already in."""
    def read(raw: dict[str, Any]) -> dict[str, Any] | None:
        body = domain.sheet_row_to_input(raw)
        return None if not body or set(body) == {"channel"} else domain.validate_appeal(body, now)

    def apply(data: dict[str, Any]) -> tuple[str, str | None]:
        result = submit_appeal(session, data, now=now, actor=actor)
        return ("accepted" if result.created else "duplicate"), result.appeal["id"]

    return import_sheet(session, rows, read, apply, first_row)


def list_appeals(session: Session, filters: dict, page: int, page_size: int,
                 submitted_by: str | tuple[str, ...] | None = None) -> tuple[list[dict], int]:
    conditions = []
    for name in ("credit_code", "district", "category", "channel", "subject_type", "subject_id"):
        if filters.get(name):
            conditions.append(appeals.c[name] == filters[name])
    if filters.get("submitted_from"):
        conditions.append(appeals.c.submitted_at >= filters["submitted_from"])
    if filters.get("submitted_to"):
        conditions.append(appeals.c.submitted_at < filters["submitted_to"])
    if submitted_by:
        mine = (submitted_by,) if isinstance(submitted_by, str) else tuple(submitted_by)
        conditions.append(appeals.c.submitted_by.in_(mine))
    rows, total = paged(session, appeals, conditions, (appeals.c.submitted_at.desc(), appeals.c.id), page, page_size)
    return [_appeal_dict(r) for r in rows], total


# ---------------------------------------------------------------- the enterprise registry
def upsert_enterprise(session: Session, data: dict, *, now: datetime, units: set[str] | None = None) -> bool:
    """Register or update an enterprise; publishes ``enterprise_updated`` and ``subject_updated``.
    True when new. Paired by reference (``cadre_id``...), its ``cadre`` and ``leader`` are those
    people's names."""
    known = registry.check_pairing(session, data, units)
    values = {**data, "contact": data.get("contact"), "tags": data.get("tags") or [], "updated_at": now}
    for role in ("cadre", "leader"):
        if data.get(f"{role}_id"):
            values[role] = known[data[f"{role}_id"]]["name"]
    exists = session.execute(select(enterprises.c.credit_code)
                             .where(enterprises.c.credit_code == data["credit_code"])).first()
    if exists:
        session.execute(update(enterprises).where(enterprises.c.credit_code == data["credit_code"]).values(**values))
    else:
        session.execute(insert(enterprises).values(**values))
    event = make_event("enterprise_updated", values, producer=SERVICE, now=now)
    add_event(session, outbox, event)
    add_event(session, outbox, registry.subject_updated(
        registry.get_subject(session, "enterprise", data["credit_code"]), now))
    return exists is None


def get_enterprise(session: Session, credit_code: str) -> dict:
    row = session.execute(select(enterprises).where(enterprises.c.credit_code == credit_code)).first()
    if row is None:
        raise NotFound(f"no enterprise {credit_code}")
    return dict(row._mapping)


def list_enterprises(session: Session, district: str | None, page: int, page_size: int,
                     cadre: str | None = None) -> tuple[list[dict], int]:
    """The registry, by district and by paired cadre (the console's "my enterprises")."""
    conditions = [enterprises.c.district == district] if district else []
    if cadre:
        conditions.append(enterprises.c.cadre == cadre)
    rows, total = paged(session, enterprises, conditions, (enterprises.c.credit_code,), page, page_size)
    return [dict(r._mapping) for r in rows], total


def load_enterprises(session: Session, rows: Iterable[dict[str, Any]], *, now: datetime,
                     first_row: int = 2, units: set[str] | None = None) -> list[RowReport]:
    """Import an enterprise list (包联企业): new, or an update of one already registered."""
    def read(raw: dict[str, Any]) -> dict[str, Any] | None:
        raw = filled(raw)
        if isinstance(raw.get("tags"), str):
            raw["tags"] = [t for t in raw["tags"].replace("，", ",").split(",") if t.strip()]
        return domain.validate_enterprise(raw) if raw else None

    def apply(data: dict[str, Any]) -> tuple[str, str | None]:
        return ("accepted" if upsert_enterprise(session, data, now=now, units=units) else "updated"), None

    return import_sheet(session, rows, read, apply, first_row)


def record_loop_states(batch: Batch) -> None:
    """appeal_closed / appeal_reopened: where each appeal stands (Open311's closed / open).

    The later fact wins, by the event's time: a reopen delivered after a later close changes nothing.
    """
    connection = batch.connection
    for event in batch.events:
        appeal_id = event.data["appeal_id"]
        closed = event.type == "appeal_closed"
        values = {"status": "closed" if closed else "open",
                  "outcome": event.data.get("outcome") if closed else None, "changed_at": event.time}
        known = connection.execute(select(appeal_states.c.changed_at).where(appeal_states.c.appeal_id == appeal_id)
                                   .with_for_update()).first()
        if known is None:
            connection.execute(insert(appeal_states).values(appeal_id=appeal_id, **values))
        elif known.changed_at <= event.time:
            connection.execute(update(appeal_states).where(appeal_states.c.appeal_id == appeal_id).values(**values))


def loop_states(session: Session, appeal_ids: list[str]) -> dict[str, dict]:
    if not appeal_ids:
        return {}
    rows = session.execute(select(appeal_states).where(appeal_states.c.appeal_id.in_(appeal_ids))).fetchall()
    return {row.appeal_id: dict(row._mapping) for row in rows}
