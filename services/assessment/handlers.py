"""Assessment's use cases: facts from events, callbacks and their links, closing and reopening.

Each event handler records the fact it carries in ``appeal_facts`` (or a row of
``returns`` / ``escalations``) in the unit of work's transaction (which keeps the
inbox), taking the time of the fact from ``event.time``. A callback records its answer and the
``callback_recorded`` + ``appeal_closed`` / ``appeal_reopened`` events in the
outbox in one transaction.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from services.assessment import domain
from services.assessment.models import appeal_facts, callback_links, callbacks, escalations, outbox, returns
from shared.db import bulk_update, dialect_name, insert_ignoring
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.events import DispatchReason, Event, make_event
from shared.outbox import add_event

SERVICE = "assessment"


@dataclass(frozen=True)
class Settings:
    """What the use cases need from the configuration and the profile."""

    secret: str
    link_base_url: str
    link_valid: timedelta
    part: dict
    units: dict  # code -> unit of units.yaml
    office: str


# ---------------------------------------------------------------- facts
def _facts(session: Session, appeal_id: str, *, lock: bool = False):
    """The appeal's row, created empty when an event about it arrives before ``appeal_received``."""
    session.execute(insert_ignoring(session, appeal_facts).values(
        appeal_id=appeal_id, status="received", dispatch_count=0, reopen_count=0))
    query = select(appeal_facts).where(appeal_facts.c.appeal_id == appeal_id)
    if lock and dialect_name(session) == "postgresql":
        query = query.with_for_update()
    return session.execute(query).one()


def _set(session: Session, appeal_id: str, **values: Any) -> None:
    session.execute(update(appeal_facts).where(appeal_facts.c.appeal_id == appeal_id).values(**values))


def received_facts(row, event: Event) -> dict[str, Any]:
    data = event.data
    return {"credit_code": data["credit_code"], "enterprise_name": data["enterprise_name"], "title": data["title"],
            "district": data["district"], "category": row.category or data.get("category"),
            "contact": data.get("contact"), "collected_at": data["collected_at"],
            "submitted_at": data["submitted_at"],
            "submitted_on_time": domain.submitted_on_time(data["collected_at"], data["submitted_at"])}


def dispatched_facts(row, event: Event) -> dict[str, Any]:
    """The latest dispatch counts: its lead unit is the one measured; its acceptance starts afresh."""
    data = event.data
    if data["dispatch_count"] < row.dispatch_count:
        return {}  # an older dispatch arriving late changes nothing
    values: dict[str, Any] = {"lead_unit": data["lead_unit"], "category": data["category"],
                              "difficulty": data["difficulty"], "dispatch_count": data["dispatch_count"]}
    reason = data.get("reason")
    keeps_stage = reason == DispatchReason.REOPENED or (
        reason in (DispatchReason.ESCALATED, DispatchReason.ASSIGNED) and row.status in ("replied", "reopened"))
    if keeps_stage:
        # a reopen (重办) or a change of lead after the reply starts no new acceptance
        # (supervision restarts the reply stage): the response already measured stands
        return values
    if data["lead_unit"] is not None:
        values["dispatched_at"] = event.time
        if row.accepted_at is not None and row.accepted_at < event.time:
            values["accepted_at"] = None
    if row.status not in ("closed", "replied"):
        values["status"] = "dispatched" if data["lead_unit"] else "queued"
    if data.get("district") and not row.district:
        values["district"] = data["district"]
    return values


def deadline_facts(row, event: Event) -> dict[str, Any]:
    """The acceptance and reply deadlines measure the response rate and the on-time rate; the
    deadline carries the colour its stage starts with."""
    columns = {"accept": ("accept_due_at", "accept_due_set_at"),
               "reply": ("reply_due_at", "reply_due_set_at")}.get(event.data["stage"])
    if columns is None:  # a supervision order's deadline does not enter the rates
        return {}
    due, set_at = columns
    values: dict[str, Any] = {}
    if getattr(row, set_at) is None or event.time >= getattr(row, set_at):
        values.update({due: event.data["due_at"], set_at: event.time})
    colour = event.data.get("colour")
    if colour and (row.colour_at is None or event.time >= row.colour_at):
        values.update(colour=colour, colour_at=event.time)
    return values


IDS = bindparam("ids", expanding=True)
LOCK_FACTS = (select(appeal_facts).where(appeal_facts.c.appeal_id.in_(IDS))
              .order_by(appeal_facts.c.appeal_id).with_for_update())


def record_facts(connection: Connection, events: list[Event],
                 facts: Callable[[Any, Event], dict[str, Any]]) -> None:
    """Events about different appeals (a consumer's call), set-based: their rows are created
    empty where missing (one statement), locked (one), and changed by ``facts(row, event)``
    (one UPDATE per set of columns)."""
    ids = [event.data["appeal_id"] for event in events]
    connection.execute(insert_ignoring(connection, appeal_facts), [
        {"appeal_id": appeal_id, "status": "received", "dispatch_count": 0, "reopen_count": 0} for appeal_id in ids])
    rows = {row.appeal_id: row for row in connection.execute(LOCK_FACTS, {"ids": ids})}
    changes: dict[tuple[str, ...], list[dict]] = {}
    for event in events:
        values = facts(rows[event.data["appeal_id"]], event)
        if values:
            changes.setdefault(tuple(sorted(values)), []).append({"appeal_id": event.data["appeal_id"], **values})
    for rows_ in changes.values():
        bulk_update(connection, appeal_facts, "appeal_id", rows_)


def on_accepted(session: Session, event: Event) -> bool:
    row = _facts(session, event.data["appeal_id"], lock=True)
    # the first acceptance of the current dispatch is the one measured: signing again after a
    # reopen (重办), which starts no new acceptance, does not move it past its deadline
    values: dict[str, Any] = {} if row.accepted_at is not None else {"accepted_at": event.time}
    if row.status in ("received", "queued", "dispatched", "reopened"):
        values["status"] = "accepted"
    _set(session, row.appeal_id, **values)
    return True


def on_replied(session: Session, event: Event, settings: Settings) -> bool:
    """The reply is recorded and the enterprise is sent a fresh single-use callback link."""
    data = event.data
    row = _facts(session, data["appeal_id"], lock=True)
    if row.status == "closed":
        return True
    expires_at = event.time + settings.link_valid
    nonce = domain.new_nonce()
    session.execute(update(callback_links).where(callback_links.c.appeal_id == row.appeal_id,
                                                 callback_links.c.used_at.is_(None))
                    .values(superseded=True))
    session.execute(insert(callback_links).values(nonce=nonce, appeal_id=row.appeal_id, expires_at=expires_at,
                                                  created_at=event.time, used_at=None, superseded=False))
    _set(session, row.appeal_id, replied_at=event.time, outcome=data["outcome"], status="replied",
         lead_unit=row.lead_unit or data["unit"], callback_requested_at=event.time,
         callback_expires_at=expires_at, callback_answered_at=None)
    token = domain.sign_link(settings.secret, row.appeal_id, expires_at, nonce)
    add_event(session, outbox, make_event("callback_requested", {
        "appeal_id": row.appeal_id, "credit_code": row.credit_code,
        "link": f"{settings.link_base_url.rstrip('/')}/{token}", "expires_at": expires_at,
    }, producer=SERVICE, now=event.time, correlation_id=event.correlationid))
    return True


def on_returned(session: Session, event: Event) -> bool:
    _facts(session, event.data["appeal_id"])
    session.execute(insert(returns).values(event_id=event.id, appeal_id=event.data["appeal_id"],
                                           unit=event.data["unit"], returned_at=event.time))
    return True


def on_reclassified(session: Session, event: Event) -> bool:
    row = _facts(session, event.data["appeal_id"], lock=True)
    _set(session, row.appeal_id, category=event.data["category"], difficulty=event.data["difficulty"])
    return True


def on_colour_changed(session: Session, event: Event) -> bool:
    row = _facts(session, event.data["appeal_id"], lock=True)
    if row.colour_at is None or event.time >= row.colour_at:
        _set(session, row.appeal_id, colour=event.data["colour"], colour_at=event.time)
    return True


def on_escalated(session: Session, event: Event) -> bool:
    row = _facts(session, event.data["appeal_id"])
    session.execute(insert(escalations).values(
        event_id=event.id, appeal_id=row.appeal_id, unit=event.data.get("unit") or row.lead_unit,
        reason=event.data["reason"], level=event.data["level"], escalated_at=event.time))
    return True


# ---------------------------------------------------------------- callbacks
@dataclass
class CallbackResult:
    appeal_id: str
    result: str  # closed / reopened
    outcome: str
    satisfaction: str
    reopen_count: int


def record_callback(session: Session, appeal_id: str, answer: dict, *, channel: str, caller: str | None,
                    now: datetime) -> CallbackResult:
    """Record a callback answer on a replied appeal; close it or reopen it (重办)."""
    row = session.execute(select(appeal_facts).where(appeal_facts.c.appeal_id == appeal_id)
                          .with_for_update()).first()
    if row is None:
        raise NotFound(f"no appeal {appeal_id} known to assessment")
    if row.status != "replied":
        raise Conflict(f"诉求 {appeal_id} 当前状态为 {row.status}，只有已办结反馈（replied）的诉求才能回访")
    called_at = answer["called_at"]
    if row.replied_at is not None and called_at < row.replied_at:
        raise InvalidInput("the callback cannot come before the reply",
                           {"called_at": [f"before the reply at {row.replied_at.isoformat()}"]})
    result = domain.callback_result(row.outcome, answer["solved"], answer["satisfaction"])
    session.execute(insert(callbacks).values(
        appeal_id=appeal_id, unit=row.lead_unit, outcome=row.outcome, solved=answer["solved"],
        satisfaction=answer["satisfaction"], comment=answer.get("comment"), caller=caller, channel=channel,
        called_at=called_at, result=result))
    session.execute(update(callback_links).where(callback_links.c.appeal_id == appeal_id,
                                                 callback_links.c.used_at.is_(None))
                    .values(superseded=True))
    correlation = appeal_id
    add_event(session, outbox, make_event("callback_recorded", {
        "appeal_id": appeal_id, "solved": answer["solved"], "satisfaction": answer["satisfaction"],
        "comment": answer.get("comment"), "caller": caller}, producer=SERVICE, now=now, correlation_id=correlation))
    reopen_count = row.reopen_count
    if result == "closed":
        on_time = row.reply_due_at is None or row.replied_at is None or row.replied_at <= row.reply_due_at
        reply_days = None
        if row.replied_at is not None and row.submitted_at is not None:
            reply_days = (row.replied_at - row.submitted_at).total_seconds() / 86400
        _set(session, appeal_id, status="closed", closed_at=called_at, closed_outcome=row.outcome,
             closed_on_time=on_time, closing_reply_days=reply_days, callback_answered_at=called_at)
        add_event(session, outbox, make_event("appeal_closed", {
            "appeal_id": appeal_id, "outcome": row.outcome, "satisfaction": answer["satisfaction"],
            "unit": row.lead_unit}, producer=SERVICE, now=now, correlation_id=correlation))
    else:
        reopen_count += 1
        _set(session, appeal_id, status="reopened", reopen_count=reopen_count, callback_answered_at=called_at)
        add_event(session, outbox, make_event("appeal_reopened", {
            "appeal_id": appeal_id, "reason": domain.reopen_reason(answer["solved"], answer["satisfaction"]),
            "reopen_count": reopen_count, "unit": row.lead_unit}, producer=SERVICE, now=now,
            correlation_id=correlation))
    return CallbackResult(appeal_id, result, row.outcome, answer["satisfaction"], reopen_count)


def _valid_link(session: Session, settings: Settings, token: str, now: datetime, *, lock: bool = False):
    try:
        claim = domain.read_link(settings.secret, token, now)
    except domain.LinkRefused as refused:
        raise Forbidden(refused.message, {"reason": [refused.reason]}) from None
    query = select(callback_links).where(callback_links.c.nonce == claim.nonce)
    if lock and dialect_name(session) == "postgresql":
        query = query.with_for_update()
    link = session.execute(query).first()
    if link is None or link.appeal_id != claim.appeal_id:
        raise Forbidden("回访链接无效（未签发）", {"reason": ["forged"]})
    if link.used_at is not None:
        raise Conflict("该回访链接已使用，感谢您的评价", {"reason": ["used"]})
    if link.superseded:
        raise Conflict("该回访链接已失效（诉求已另行回访或重新办理）", {"reason": ["superseded"]})
    return claim


def callback_form(session: Session, settings: Settings, token: str, now: datetime) -> dict:
    """What the enterprise sees behind its link: the appeal and the reply to rate."""
    claim = _valid_link(session, settings, token, now)
    row = session.execute(select(appeal_facts).where(appeal_facts.c.appeal_id == claim.appeal_id)).one()
    unit = settings.units.get(row.lead_unit or "", {})
    return {"appeal_id": row.appeal_id, "title": row.title, "enterprise_name": row.enterprise_name,
            "unit": row.lead_unit, "unit_name": unit.get("name", row.lead_unit), "outcome": row.outcome,
            "replied_at": row.replied_at, "expires_at": claim.expires_at,
            "questions": {"solved": "问题是否真正解决？",
                          "satisfaction": "您对办理结果是否满意？（满意/基本满意/不满意）"}}


def answer_by_link(session: Session, settings: Settings, token: str, answer: dict, now: datetime) -> CallbackResult:
    """The enterprise answers through its signed link: once, before it expires."""
    claim = _valid_link(session, settings, token, now, lock=True)
    session.execute(update(callback_links).where(callback_links.c.nonce == claim.nonce).values(used_at=now))
    return record_callback(session, claim.appeal_id, answer, channel="link", caller="enterprise", now=now)


def open_links(session: Session, settings: Settings, credit_code: str, now: datetime) -> list[dict]:
    """The callback links an enterprise may still answer (unused, not superseded, not expired):
    what its page in the console offers, the same single-use links it was sent."""
    rows = session.execute(
        select(callback_links.c.nonce, callback_links.c.expires_at, appeal_facts.c.appeal_id,
               appeal_facts.c.title, appeal_facts.c.outcome, appeal_facts.c.replied_at)
        .join(appeal_facts, appeal_facts.c.appeal_id == callback_links.c.appeal_id)
        .where(appeal_facts.c.credit_code == credit_code, callback_links.c.used_at.is_(None),
               callback_links.c.superseded.is_(False), callback_links.c.expires_at > now)
        .order_by(callback_links.c.expires_at)).fetchall()
    return [{"appeal_id": r.appeal_id, "title": r.title, "outcome": r.outcome, "replied_at": r.replied_at,
             "expires_at": r.expires_at, "token": domain.sign_link(settings.secret, r.appeal_id, r.expires_at,
                                                                     r.nonce)} for r in rows]


def appeal_assessment(session: Session, appeal_id: str) -> dict:
    row = session.execute(select(appeal_facts).where(appeal_facts.c.appeal_id == appeal_id)).first()
    if row is None:
        raise NotFound(f"no appeal {appeal_id} known to assessment")
    history = session.execute(select(callbacks).where(callbacks.c.appeal_id == appeal_id)
                              .order_by(callbacks.c.called_at, callbacks.c.id)).fetchall()
    facts = dict(row._mapping)
    facts["callbacks"] = [dict(r._mapping) for r in history]
    return facts
