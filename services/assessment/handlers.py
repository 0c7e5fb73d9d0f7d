"""Assessment's use cases: facts from events, callbacks and their links, closing and reopening.

Each event handler records the fact it carries in ``appeal_facts`` (or a row of
``returns`` / ``escalations``), and the history the measures need (a row per dispatch in
``dispatch_facts``, per stint in ``stint_facts``, per colour in ``colour_changes``: see
``docs/measures.md``) in the unit of work's transaction (which keeps the inbox), taking
the time of the fact from ``event.time``. A callback records its answer and the
``callback_recorded`` + ``appeal_closed`` / ``appeal_reopened`` events in the
outbox in one transaction.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from services.assessment import domain, natures, visits
from services.assessment.models import (
    appeal_facts,
    callback_links,
    callbacks,
    colour_changes,
    dispatch_facts,
    escalations,
    outbox,
    returns,
    stint_facts,
)
from shared.consumers import NotKnownYet
from shared.db import bulk_update, dialect_name, insert_ignoring, insert_rows, insert_rows_ignoring
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.events import Event, make_event, starts_acceptance
from shared.outbox import add_event

SERVICE = "assessment"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    """What the use cases need from the configuration and the profile."""

    secret: str
    link_base_url: str
    link_valid: timedelta
    part: dict
    units: dict  # code -> unit of units.yaml
    office: str
    # the profile's submit stage per difficulty (supervision.yaml ``stages.submit``): empty, none set
    submit_stages: dict = field(default_factory=dict)


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


def _on_time(collected_at, submitted_at, difficulty: str | None, submit_stages: dict) -> bool | None:
    """Submitted on time by the profile's own submit stage; None: not measurable (no stage set,
    or it differs by difficulty and the appeal is not classified yet)."""
    within = domain.submit_stage(submit_stages, difficulty)
    if within is None or collected_at is None or submitted_at is None:
        return None
    # SQLite hands back instants without their zone; they are stored in UTC
    collected_at, submitted_at = (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
                                  for moment in (collected_at, submitted_at))
    return domain.submitted_on_time(collected_at, submitted_at, within)


def received_facts(row, event: Event, submit_stages: dict | None = None) -> dict[str, Any]:
    data = event.data
    return {"credit_code": data.get("credit_code"),
            "enterprise_name": data.get("enterprise_name") or data["subject_name"],
            "title": data["title"],
            "district": data["district"], "category": row.category or data.get("category"),
            "contact": data.get("contact"), "collected_at": data["collected_at"],
            "submitted_at": data["submitted_at"],
            "submitted_on_time": _on_time(data["collected_at"], data["submitted_at"], row.difficulty,
                                          submit_stages or {})}


def dispatched_facts(row, event: Event, submit_stages: dict | None = None) -> dict[str, Any]:
    """The appeal's row follows its latest dispatch (the desk-like view: lead unit, status, the
    running deadlines); the measures read the dispatch and stint history instead."""
    data = event.data
    if data["dispatch_count"] < row.dispatch_count:
        return {}  # an older dispatch arriving late changes nothing
    values: dict[str, Any] = {"lead_unit": data["lead_unit"], "category": data["category"],
                              "difficulty": data["difficulty"], "dispatch_count": data["dispatch_count"]}
    if row.first_unit is None and data["lead_unit"] is not None:
        values["first_unit"] = data["lead_unit"]
    if data["difficulty"] != row.difficulty and row.collected_at is not None:
        values["submitted_on_time"] = _on_time(row.collected_at, row.submitted_at, data["difficulty"],
                                               submit_stages or {})
    if data["lead_unit"] is not None and not starts_acceptance(data, row.status):
        # a reopen (重办), units added beside the lead or a change of lead after the reply start
        # no new acceptance (supervision's rule too): the response already measured stands
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
                 facts: Callable[..., dict[str, Any]], *args: Any) -> None:
    """Events about different appeals (a consumer's call), set-based: their rows are created
    empty where missing (one statement), locked (one), and changed by ``facts(row, event)``
    (one UPDATE per set of columns). Rows are created and locked in the order of their ids, so
    two replicas writing the same appeals wait for each other instead of deadlocking."""
    ids = sorted({event.data["appeal_id"] for event in events})
    insert_rows_ignoring(connection, appeal_facts, [
        {"appeal_id": appeal_id, "status": "received", "dispatch_count": 0, "reopen_count": 0} for appeal_id in ids])
    rows = {row.appeal_id: row for row in connection.execute(LOCK_FACTS, {"ids": ids})}
    changes: dict[tuple[str, ...], list[dict]] = {}
    for event in events:
        values = facts(rows[event.data["appeal_id"]], event, *args)
        if values:
            changes.setdefault(tuple(sorted(values)), []).append({"appeal_id": event.data["appeal_id"], **values})
    for rows_ in changes.values():
        bulk_update(connection, appeal_facts, "appeal_id", rows_)


# ---------------------------------------------------------------- the history: dispatches, stints, colours
def _holding(connection, appeal_id: str):
    """The dispatch whose unit holds the appeal now (not ended), or None."""
    return connection.execute(
        select(dispatch_facts).where(dispatch_facts.c.appeal_id == appeal_id, dispatch_facts.c.end_kind.is_(None))
        .order_by(dispatch_facts.c.seq.desc()).limit(1)).first()


def _open_stint(connection, appeal_id: str, unit: str | None = None):
    query = select(stint_facts).where(stint_facts.c.appeal_id == appeal_id, stint_facts.c.ended_at.is_(None))
    if unit is not None:
        query = query.where(stint_facts.c.unit == unit)
    return connection.execute(query.order_by(stint_facts.c.started_at.desc(), stint_facts.c.id.desc())
                              .limit(1)).first()


def _end_hold(connection, dispatch, at: datetime, kind: str) -> None:
    connection.execute(update(dispatch_facts).where(dispatch_facts.c.id == dispatch.id)
                       .values(ended_at=at, end_kind=kind))
    connection.execute(update(stint_facts).where(stint_facts.c.dispatch_id == dispatch.id,
                                                 stint_facts.c.ended_at.is_(None))
                       .values(ended_at=at, end_kind=kind))


def _start_stint(connection, dispatch, at: datetime, *, reopened: bool) -> None:
    """A reopen's stint keeps the reply deadline the unit had until supervision sets a new one."""
    previous = connection.execute(
        select(stint_facts.c.reply_due_at, stint_facts.c.reply_due_set_at)
        .where(stint_facts.c.dispatch_id == dispatch.id)
        .order_by(stint_facts.c.started_at.desc(), stint_facts.c.id.desc()).limit(1)).first()
    connection.execute(insert(stint_facts).values(
        appeal_id=dispatch.appeal_id, dispatch_id=dispatch.id, unit=dispatch.unit, started_at=at, reopened=reopened,
        reply_due_at=previous.reply_due_at if previous else None,
        reply_due_set_at=previous.reply_due_set_at if previous else None))


def _colour(connection, appeal_id: str, colour: str | None, at: datetime) -> None:
    connection.execute(insert(colour_changes).values(appeal_id=appeal_id, colour=colour, changed_at=at))


def record_received(connection: Connection, events: list[Event], submit_stages: dict | None = None) -> None:
    """The consumer of ``appeal_received``: the facts, set-based."""
    record_facts(connection, events, received_facts, submit_stages)


DISPATCHES_OF = select(dispatch_facts.c.id, dispatch_facts.c.appeal_id, dispatch_facts.c.seq, dispatch_facts.c.unit,
                       dispatch_facts.c.accept_due_set_at).where(dispatch_facts.c.appeal_id.in_(IDS))
STINTS_OF = select(stint_facts.c.id, stint_facts.c.appeal_id, stint_facts.c.unit, stint_facts.c.started_at,
                   stint_facts.c.reply_due_set_at).where(stint_facts.c.appeal_id.in_(IDS))


def record_dispatched(connection: Connection, events: list[Event], submit_stages: dict | None = None) -> None:
    """The consumer of ``appeal_dispatched``: the facts set-based, then the history (a row per
    dispatch and per stint). An appeal's first dispatch to a unit (most of them) starts its
    dispatch and stint rows set-based; the others go through :func:`record_dispatch` one by one."""
    record_facts(connection, events, dispatched_facts, submit_stages)
    ids = [event.data["appeal_id"] for event in events]
    known = {row.appeal_id for row in connection.execute(DISPATCHES_OF, {"ids": ids})}
    first = []
    for event in events:
        if event.data["appeal_id"] in known or event.data["lead_unit"] is None:
            record_dispatch(connection, event)
        else:
            first.append(event)
    if not first:
        return
    made = {row.appeal_id: row.id for row in insert_rows(connection, dispatch_facts, [
        {"appeal_id": event.data["appeal_id"], "seq": event.data["dispatch_count"], "unit": event.data["lead_unit"],
         "reason": event.data.get("reason") or "rule", "made_at": event.time} for event in first],
        returning=(dispatch_facts.c.id, dispatch_facts.c.appeal_id))}
    insert_rows(connection, stint_facts, [
        {"appeal_id": event.data["appeal_id"], "dispatch_id": made[event.data["appeal_id"]],
         "unit": event.data["lead_unit"], "started_at": event.time, "reopened": False} for event in first])


def record_deadlines(connection: Connection, events: list[Event]) -> None:
    """The consumer of ``appeal_deadline_set``, set-based: the facts; the colour a stage starts
    with, into the colour history; an accept deadline onto the latest dispatch it measures (of
    its unit, when it names one), a reply deadline onto the latest stint, unless a later one is
    already there. A deadline for an appeal with no dispatch known yet is retried
    (:class:`NotKnownYet`); one naming a unit that holds no dispatch of it is not measured."""
    record_facts(connection, events, deadline_facts)
    colours = [{"appeal_id": event.data["appeal_id"], "colour": event.data["colour"], "changed_at": event.time}
               for event in events if event.data.get("colour")]
    if colours:
        insert_rows(connection, colour_changes, colours)
    stages = (("accept", dispatch_facts, DISPATCHES_OF, "accept_due_at", "accept_due_set_at",
               lambda row: row.seq),
              ("reply", stint_facts, STINTS_OF, "reply_due_at", "reply_due_set_at",
               lambda row: (row.started_at, row.id)))
    for stage, table, rows_of, due, set_at, latest in stages:
        measured = [event for event in events if event.data["stage"] == stage]
        if not measured:
            continue  # a supervision order's or a rung's deadline does not enter the rates
        rows: dict[str, list[Any]] = {}
        for row in connection.execute(rows_of, {"ids": [event.data["appeal_id"] for event in measured]}):
            rows.setdefault(row.appeal_id, []).append(row)
        changes = []
        for event in measured:
            data = event.data
            if data["appeal_id"] not in rows:
                raise NotKnownYet(f"{stage} deadline of appeal {data['appeal_id']}: its dispatch is not known yet")
            candidates = [row for row in rows[data["appeal_id"]] if not data.get("unit") or row.unit == data["unit"]]
            if not candidates:
                log.warning("%s deadline of appeal %s names unit %s, which holds no dispatch of it: not measured",
                            stage, data["appeal_id"], data.get("unit"))
                continue
            target = max(candidates, key=latest)
            if getattr(target, set_at) is None or event.time >= getattr(target, set_at):
                changes.append({"id": target.id, due: data["due_at"], set_at: event.time})
        bulk_update(connection, table, "id", changes)


def record_dispatch(connection, event: Event) -> None:
    """A dispatch that counts starts a dispatch row and a stint, ending the previous unit's hold
    (returned / escalated / moved); a reopen (重办) back to the holding unit is no new dispatch:
    it continues the unit's dispatch with a new stint (when the callback did not start it)."""
    data, at = event.data, event.time
    known = connection.execute(select(dispatch_facts.c.id).where(
        dispatch_facts.c.appeal_id == data["appeal_id"], dispatch_facts.c.seq >= data["dispatch_count"])).first()
    if known is not None:
        return  # this dispatch or a later one is known: an older one arriving late changes nothing
    holding = _holding(connection, data["appeal_id"])
    unit = data["lead_unit"]
    if not domain.is_new_dispatch(unit, holding.unit if holding else None, starts_acceptance(data, None)):
        if unit is not None and _open_stint(connection, data["appeal_id"], unit) is None:
            _start_stint(connection, holding, at, reopened=True)
        return
    if holding is not None:
        _end_hold(connection, holding, at, domain.end_of_hold(data.get("reason")))
    if unit is None:
        return
    dispatch_id = connection.execute(insert(dispatch_facts).values(
        appeal_id=data["appeal_id"], seq=data["dispatch_count"], unit=unit, reason=data.get("reason") or "rule",
        made_at=at).returning(dispatch_facts.c.id)).scalar_one()
    connection.execute(insert(stint_facts).values(appeal_id=data["appeal_id"], dispatch_id=dispatch_id, unit=unit,
                                                  started_at=at, reopened=False))






def on_accepted(session: Session, event: Event) -> bool:
    row = _facts(session, event.data["appeal_id"], lock=True)
    # the first acceptance of the current dispatch is the one measured: signing again after a
    # reopen (重办), which starts no new acceptance, does not move it past its deadline
    values: dict[str, Any] = {} if row.accepted_at is not None else {"accepted_at": event.time}
    if row.status in ("received", "queued", "dispatched", "reopened"):
        values["status"] = "accepted"
    _set(session, row.appeal_id, **values)
    dispatch = session.execute(
        select(dispatch_facts.c.id).where(dispatch_facts.c.appeal_id == row.appeal_id,
                                          dispatch_facts.c.unit == event.data["unit"],
                                          dispatch_facts.c.end_kind.is_(None))
        .order_by(dispatch_facts.c.seq.desc()).limit(1)).first()
    if dispatch is not None:
        session.execute(update(dispatch_facts).where(dispatch_facts.c.id == dispatch.id,
                                                     dispatch_facts.c.accepted_at.is_(None))
                        .values(accepted_at=event.time))
    return True


def on_replied(session: Session, event: Event, settings: Settings) -> bool:
    """The reply is recorded (it ends the unit's stint and the stage: no colour from then on) and
    the enterprise is sent a fresh single-use callback link."""
    data = event.data
    row = _facts(session, data["appeal_id"], lock=True)
    if row.status == "closed":
        return True
    stint = _open_stint(session, row.appeal_id, data["unit"])
    if stint is not None:
        session.execute(update(stint_facts).where(stint_facts.c.id == stint.id).values(
            replied_at=event.time, outcome=data["outcome"], ended_at=event.time, end_kind=domain.REPLIED))
    _colour(session, row.appeal_id, None, event.time)
    expires_at = event.time + settings.link_valid
    nonce = domain.new_nonce()
    session.execute(update(callback_links).where(callback_links.c.appeal_id == row.appeal_id,
                                                 callback_links.c.used_at.is_(None))
                    .values(superseded=True))
    session.execute(insert(callback_links).values(nonce=nonce, appeal_id=row.appeal_id, expires_at=expires_at,
                                                  created_at=event.time, used_at=None, superseded=False))
    _set(session, row.appeal_id, replied_at=event.time, outcome=data["outcome"], status="replied",
         lead_unit=row.lead_unit or data["unit"], replied_unit=data["unit"], callback_requested_at=event.time,
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
    dispatch = session.execute(
        select(dispatch_facts).where(dispatch_facts.c.appeal_id == event.data["appeal_id"],
                                     dispatch_facts.c.unit == event.data["unit"],
                                     dispatch_facts.c.end_kind.is_(None))
        .order_by(dispatch_facts.c.seq.desc()).limit(1)).first()
    if dispatch is not None:
        session.execute(update(dispatch_facts).where(dispatch_facts.c.id == dispatch.id)
                        .values(returned_at=event.time))
        _end_hold(session, dispatch, event.time, domain.RETURNED)
    return True


def on_reclassified(session: Session, event: Event, submit_stages: dict | None = None) -> bool:
    row = _facts(session, event.data["appeal_id"], lock=True)
    values = {"category": event.data["category"], "difficulty": event.data["difficulty"]}
    if event.data["difficulty"] != row.difficulty and row.collected_at is not None:
        values["submitted_on_time"] = _on_time(row.collected_at, row.submitted_at, event.data["difficulty"],
                                               submit_stages or {})
    _set(session, row.appeal_id, **values)
    return True


def on_colour_changed(session: Session, event: Event) -> bool:
    row = _facts(session, event.data["appeal_id"], lock=True)
    if row.colour_at is None or event.time >= row.colour_at:
        _set(session, row.appeal_id, colour=event.data["colour"], colour_at=event.time)
    _colour(session, row.appeal_id, event.data["colour"], event.time)
    return True


def on_escalated(session: Session, event: Event) -> bool:
    """An ``escalations`` row, kept against the unit that held the appeal (overdue ones are its
    deductions); the hand-over to the rung ends that unit's hold when dispatch re-dispatches."""
    row = _facts(session, event.data["appeal_id"])
    session.execute(insert(escalations).values(
        event_id=event.id, appeal_id=row.appeal_id, unit=event.data.get("unit") or row.lead_unit,
        reason=event.data["reason"], level=event.data["level"], escalated_at=event.time))
    return True


def apply(connection: Connection, events: list[Event], settings: Settings) -> None:
    """What the service's consumers do with a batch of events of one type, in the unit of work's
    transaction (the tests replay events through this too, so they run what the service runs)."""
    kind, stages = events[0].type, settings.submit_stages
    if kind == "appeal_received":
        record_received(connection, events, stages)
    elif kind == "subject_updated":
        visits.record_subjects(connection, events)
    elif kind == "visit_recorded":
        visits.record_visits(connection, events)
    elif kind == "appeal_dispatched":
        record_dispatched(connection, events, stages)
        natures.record(connection, events)
    elif kind == "appeal_deadline_set":
        record_deadlines(connection, events)
    else:  # one event at a time
        for event in events:
            if kind == "appeal_replied":
                on_replied(connection, event, settings)
            elif kind == "appeal_reclassified":
                on_reclassified(connection, event, stages)
            else:
                ONE_AT_A_TIME[kind](connection, event)
        if kind == "appeal_reclassified":
            natures.record(connection, events)


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
    replied_unit = row.replied_unit or row.lead_unit  # the unit whose reply is called back
    session.execute(insert(callbacks).values(
        appeal_id=appeal_id, unit=replied_unit, outcome=row.outcome, solved=answer["solved"],
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
        # on time: the closing reply came by the reply deadline of the stint that gave it
        stint = session.execute(
            select(stint_facts.c.reply_due_at, stint_facts.c.replied_at)
            .where(stint_facts.c.appeal_id == appeal_id, stint_facts.c.end_kind == domain.REPLIED)
            .order_by(stint_facts.c.replied_at.desc(), stint_facts.c.id.desc()).limit(1)).first()
        reply_due = stint.reply_due_at if stint is not None else row.reply_due_at
        on_time = reply_due is None or row.replied_at is None or row.replied_at <= reply_due
        reply_days = None
        if row.replied_at is not None and row.submitted_at is not None:
            reply_days = (row.replied_at - row.submitted_at).total_seconds() / 86400
        _set(session, appeal_id, status="closed", closed_at=called_at, closed_outcome=row.outcome,
             closed_on_time=on_time, closing_reply_days=reply_days, callback_answered_at=called_at,
             closed_unit=replied_unit)
        _colour(session, appeal_id, None, called_at)
        add_event(session, outbox, make_event("appeal_closed", {
            "appeal_id": appeal_id, "outcome": row.outcome, "satisfaction": answer["satisfaction"],
            "unit": replied_unit}, producer=SERVICE, now=now, correlation_id=correlation))
    else:
        reopen_count += 1
        _set(session, appeal_id, status="reopened", reopen_count=reopen_count, callback_answered_at=called_at)
        holding = _holding(session, appeal_id)
        if holding is not None and _open_stint(session, appeal_id, holding.unit) is None:
            _start_stint(session, holding, called_at, reopened=True)  # 重办: the same unit, a new stint
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


def status_of(session: Session, appeal_id: str) -> str | None:
    return session.execute(select(appeal_facts.c.status).where(appeal_facts.c.appeal_id == appeal_id)).scalar()


def appeal_assessment(session: Session, appeal_id: str) -> dict:
    row = session.execute(select(appeal_facts).where(appeal_facts.c.appeal_id == appeal_id)).first()
    if row is None:
        raise NotFound(f"no appeal {appeal_id} known to assessment")
    history = session.execute(select(callbacks).where(callbacks.c.appeal_id == appeal_id)
                              .order_by(callbacks.c.called_at, callbacks.c.id)).fetchall()
    facts = dict(row._mapping)
    facts["callbacks"] = [dict(r._mapping) for r in history]
    return facts


ONE_AT_A_TIME: dict[str, Callable[[Any, Event], Any]] = {
    "appeal_accepted": on_accepted, "appeal_returned": on_returned, "appeal_colour_changed": on_colour_changed,
    "appeal_escalated": on_escalated}
