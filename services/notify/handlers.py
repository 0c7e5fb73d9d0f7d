"""Notify's use cases: a session + input -> rows (and events in the outbox), in the caller's transaction.

A consumer only WRITES notifications (one row per event, recipient and channel,
under a unique key) in the unit of work's transaction (which keeps the inbox); the
sender (``services.notify.sender``) sends them later. So a redelivered event, or one
handled again after a restart, adds nothing.
"""
from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from services.notify import domain
from services.notify.domain import Directory, Recipient
from services.notify.models import appeals, enterprises, notifications, outbox, policy_pushes
from services.notify.templates import Renderer
from shared.consumers import NotKnownYet
from shared.db import bulk_update, insert_rows_ignoring, paged
from shared.errors import InvalidInput
from shared.events import Event, make_event
from shared.outbox import add_event

SERVICE = "notify"
ENTERPRISE_FIELDS = ("name", "district", "industry", "size", "cadre", "contact", "tags")
# events about an appeal whose parties notify must already know (from appeal_received)
NEEDS_APPEAL = frozenset({"appeal_accepted", "appeal_replied", "callback_requested", "appeal_closed",
                          "appeal_reopened", "supervision_order_issued", "appeal_escalated", "appeal_dispatched",
                          "appeal_colour_changed", "appeal_deadline_set"})
WARNING_TEMPLATE = "deadline_warning"  # templates/deadline_warning.<audience>.j2


def notification_id(event_id: str, recipient: str, channel: str) -> str:
    """Stable: the same (event, recipient, channel) always has the same message id."""
    return hashlib.sha256(f"{event_id}\x1f{recipient}\x1f{channel}".encode()).hexdigest()[:32]


# ---------------------------------------------------------------- what notify remembers
def remember_enterprise(session: Session, data: dict, now: datetime) -> None:
    values = {name: data.get(name) for name in ENTERPRISE_FIELDS}
    values["tags"] = list(values["tags"] or [])
    known = session.execute(select(enterprises.c.credit_code)
                            .where(enterprises.c.credit_code == data["credit_code"])).first()
    if known:
        session.execute(update(enterprises).where(enterprises.c.credit_code == data["credit_code"])
                        .values(**values, updated_at=now))
    else:
        session.execute(insert(enterprises).values(credit_code=data["credit_code"], **values, updated_at=now))


# ---------------------------------------------------------------- notifications
def plan_rows(recipients: Iterable[Recipient], *, event_id: str, event_type: str, appeal_id: str | None,
              texts: dict[str, tuple[str, str]], now: datetime, urgent: bool) -> list[dict]:
    rows = []
    for recipient in recipients:
        subject, body = texts[recipient.key]
        for channel in recipient.channels():
            inbox_only = channel == "inbox"
            rows.append({
                "id": notification_id(event_id, recipient.key, channel), "event_id": event_id,
                "event_type": event_type, "appeal_id": appeal_id, "recipient": recipient.key,
                "recipient_name": recipient.name, "channel": channel, "address": recipient.address(channel),
                "webhook_kind": recipient.contact.get("webhook_kind") if channel == "webhook" else None,
                "subject": subject[:300], "body": body, "urgent": urgent,
                "quiet_hours": recipient.contact.get("quiet_hours"),
                # the in-app inbox is delivered by being written
                "status": "sent" if inbox_only else "pending", "attempts": 0, "created_at": now,
                "next_attempt_at": None if inbox_only else now, "sent_at": now if inbox_only else None,
                "last_error": None,
            })
    return rows


def notify_event(session: Session | Connection, event: Event, directory: Directory,
                 renderer: Renderer) -> list[dict]:
    """Handle one (new) event: remember what it tells, write its notifications (the rows planned)."""
    return notify_events(session, [event], directory, renderer)


IDS = bindparam("ids", expanding=True)
APPEALS_OF = select(appeals).where(appeals.c.appeal_id.in_(IDS))
REGISTERED = select(enterprises).where(enterprises.c.credit_code.in_(bindparam("codes", expanding=True)))


def notify_events(connection: Session | Connection, events: list[Event], directory: Directory,
                  renderer: Renderer) -> list[dict]:
    """A consumer's call (events of one type, about different appeals), set-based: what notify
    knows of their appeals and enterprises is read with one statement each, new appeals and
    the notifications are written with one each (a repeat of a notification is ignored by its
    unique key); the rows planned."""
    if events[0].type == "enterprise_updated":
        for event in events:
            remember_enterprise(connection, event.data, event.time)
        return []
    ids = sorted({event.data["appeal_id"] for event in events if event.data.get("appeal_id")})
    known = {row.appeal_id: dict(row._mapping) for row in connection.execute(APPEALS_OF, {"ids": ids})} if ids else {}
    if events[0].type == "appeal_received":
        new = []
        for event in events:
            data = event.data
            if data["appeal_id"] not in known:
                row = {"appeal_id": data["appeal_id"], "credit_code": data.get("credit_code"),
                       "enterprise_name": data.get("enterprise_name") or data["subject_name"], "title": data["title"],
                       "contact": data.get("contact"), "cadre": data.get("cadre"), "co_units": [],
                       "lead_unit": None, "updated_at": event.time}
                known[data["appeal_id"]] = row
                new.append(row)
        if new:
            insert_rows_ignoring(connection, appeals, new)
    if events[0].type == "weekly_digest_ready":
        events = [_with_titles(connection, event) for event in events]
    codes = sorted({appeal["credit_code"] for appeal in known.values() if appeal["credit_code"]})
    registry = {row.credit_code: row for row in connection.execute(REGISTERED, {"codes": codes})} if codes else {}
    rows: list[dict] = []
    units: list[dict] = []
    colours: list[dict] = []
    for event in events:
        data, appeal_id = event.data, event.data.get("appeal_id")
        appeal = dict(known[appeal_id]) if appeal_id in known else None
        if appeal is not None and appeal["credit_code"] in registry:
            registered = registry[appeal["credit_code"]]
            appeal["contact"] = appeal["contact"] or registered.contact
            appeal["cadre"] = appeal["cadre"] or registered.cadre
        if event.type in NEEDS_APPEAL and appeal is None:
            raise NotKnownYet(f"appeal {appeal_id} is not known to notify yet (no appeal_received)")
        if event.type == "appeal_dispatched":
            units.append({"appeal_id": appeal_id, "lead_unit": data.get("lead_unit"),
                          "co_units": list(data.get("co_units") or []), "updated_at": event.time})
        elif event.type == "appeal_escalated" and data.get("to_unit"):
            co = [c for c in (appeal.get("co_units") or []) if c != data["to_unit"]]
            previous = data.get("unit") or appeal.get("lead_unit")
            units.append({"appeal_id": appeal_id, "lead_unit": data["to_unit"],
                          "co_units": co + ([previous] if previous else []), "updated_at": event.time})
        if event.type in domain.COLOUR_EVENTS:
            recipients, texts = _warning(event, appeal, directory, renderer, colours)
        else:
            recipients = domain.recipients_for(event.type, data, appeal, directory)
            texts = {r.key: renderer.render(event.type, r, data, appeal=appeal, event_time=event.time,
                                            unit_name=directory.unit_name) for r in recipients}
        rows += plan_rows(recipients, event_id=event.id, event_type=event.type, appeal_id=appeal_id, texts=texts,
                          now=event.time, urgent=event.type in domain.URGENT_EVENTS)
    bulk_update(connection, appeals, "appeal_id", units)
    bulk_update(connection, appeals, "appeal_id", colours)
    if rows:
        insert_rows_ignoring(connection, notifications, rows)
    return rows


def _with_titles(connection: Session | Connection, event: Event) -> Event:
    """A weekly digest's items carry no title (supervision keeps none): notify adds those it knows."""
    items = event.data.get("items") or []
    ids = sorted({item.get("appeal_id") for item in items if item.get("appeal_id")})
    if not ids:
        return event
    titles = {row.appeal_id: row.title for row in connection.execute(APPEALS_OF, {"ids": ids})}
    data = {**event.data, "items": [{**item, "title": item.get("title") or titles.get(item.get("appeal_id"), "")}
                                    for item in items]}
    return replace(event, data=data)


def _warning(event: Event, appeal: dict, directory: Directory, renderer: Renderer,
             colours: list[dict]) -> tuple[list[Recipient], dict[str, tuple[str, str]]]:
    """A colour learnt from supervision: remembered (with the stage's deadline), and when the
    appeal turns yellow or red, the warning's recipients and texts."""
    data = event.data
    if data.get("colour") is None:  # an order's or a rung's deadline: no colour, no warning
        return [], {}
    due_at = data.get("due_at") if event.type == "appeal_deadline_set" else appeal.get("due_at")
    colours.append({"appeal_id": appeal["appeal_id"], "colour": data["colour"], "due_at": due_at,
                    "updated_at": event.time})
    colour = domain.colour_warning(data, appeal.get("colour"))
    if colour is None:
        return [], {}
    unit = data.get("unit") or appeal.get("lead_unit")
    recipients = domain.warning_recipients(colour, unit, directory)
    values = {**data, "colour": colour, "unit": unit, "due_at": due_at}
    texts = {r.key: renderer.render(WARNING_TEMPLATE, r, values, appeal=appeal, event_time=event.time,
                                    unit_name=directory.unit_name) for r in recipients}
    return recipients, texts


# ---------------------------------------------------------------- policy pushes
def push_policy(session: Session, push: dict, directory: Directory, renderer: Renderer, *, now: datetime,
                actor: str) -> dict:
    """Reach every registered enterprise matching the targets; ``policy_pushed`` says on which channels."""
    targets = push["targets"]
    matched = [dict(row._mapping) for row in session.execute(select(enterprises).order_by(enterprises.c.credit_code))
               if domain.matches_targets(dict(row._mapping), targets)]
    push_id = uuid.uuid4().hex
    recipients = [r for r in (directory.enterprise(e["credit_code"], e["name"], e["contact"]) for e in matched) if r]
    texts = {r.key: renderer.render("policy_push", r, {"title": push["title"], "body": push["body"]}, appeal=None,
                                    event_time=now, unit_name=directory.unit_name) for r in recipients}
    rows = plan_rows(recipients, event_id=f"push-{push_id}", event_type="policy_push", appeal_id=None,
                     texts=texts, now=now, urgent=False)
    insert_rows_ignoring(session, notifications, rows)
    reached = dict(Counter(row["channel"] for row in rows))
    session.execute(insert(policy_pushes).values(id=push_id, title=push["title"], body=push["body"],
                                                 targets=targets, reached=reached, matched=len(matched),
                                                 created_by=actor, created_at=now))
    add_event(session, outbox, make_event("policy_pushed", {"push_id": push_id, "title": push["title"],
                                                            "reached": reached}, producer=SERVICE, now=now))
    return {"push_id": push_id, "matched": len(matched), "reached": reached,
            "enterprises": [e["credit_code"] for e in matched]}


# ---------------------------------------------------------------- reading
DELIVERY_FILTERS = ("recipient", "channel", "status", "event_type", "appeal_id", "event_id")


def list_notifications(session: Session, filters: dict, page: int, page_size: int,
                       recipients: list[str] | None = None) -> tuple[list[dict], int]:
    conditions = [notifications.c[name] == filters[name] for name in DELIVERY_FILTERS if filters.get(name)]
    if filters.get("since"):
        conditions.append(notifications.c.created_at >= filters["since"])
    if filters.get("until"):
        conditions.append(notifications.c.created_at < filters["until"])
    if recipients is not None:
        conditions.append(notifications.c.recipient.in_(recipients))
    rows, total = paged(session, notifications, conditions, (notifications.c.created_at.desc(), notifications.c.id),
                        page, page_size)
    return [dict(r._mapping) for r in rows], total


def inbox_recipients(role: str, unit: str | None, name: str, query: dict, office: str) -> list[str]:
    """Whose inbox the caller may read: a unit its own (and its leader's), the office any by credit code."""
    if role == "unit":
        return [f"unit:{unit}", f"leader:{unit}"]
    if role == "cadre":
        return [f"cadre:{name}"]
    if role == "office":
        if query.get("credit_code"):
            return [f"enterprise:{query['credit_code'].replace(' ', '').upper()}"]
        if query.get("recipient"):
            return [query["recipient"]]
        return [f"unit:{office}", f"leader:{office}"]
    raise InvalidInput(f"no inbox for the role {role}")
