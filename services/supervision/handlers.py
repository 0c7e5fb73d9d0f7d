"""Supervision's use cases: a session + input -> state change + events in the outbox.

Every change of an appeal's row and the events it causes are written in the
caller's transaction (the consumers': the unit of work's, which keeps the inbox).
Rows are locked (``FOR UPDATE``) before they change, so an event handler and a
tick never overwrite each other; the tick claims due rows ``FOR UPDATE SKIP
LOCKED``, so two replicas never raise the same event twice.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from services.supervision import domain
from services.supervision.models import appeals, clock_pauses, digests, escalations, orders, outbox, pause_requests
from shared import workdays
from shared.auth import Principal
from shared.consumers import Batch, NotKnownYet
from shared.db import bulk_update, dialect_name, insert_ignoring, paged
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.events import Event, make_event, starts_acceptance
from shared.outbox import add_event, add_events

log = logging.getLogger(__name__)

SERVICE = "supervision"
DIGEST_ITEMS_MAX = 1000


@dataclass
class Effects:
    """What a use case did, for the service's metrics (counted after the commit)."""

    escalations: list[domain.Escalation] = field(default_factory=list)
    colour_changes: int = 0
    checked: int = 0
    digests: int = 0


# ---------------------------------------------------------------- rows and watches
def watch_of(row) -> domain.Watch:
    return domain.Watch(stage=row.stage, measure=row.measure, difficulty=row.difficulty,
                        started_at=row.stage_started_at, due_at=row.due_at, yellow_at=row.yellow_at,
                        colour=row.colour, paused_at=row.paused_at, paused_seconds=row.paused_seconds or 0.0,
                        level=row.level)


def watch_values(watch: domain.Watch, policy: domain.Policy) -> dict[str, Any]:
    return {"stage": watch.stage, "measure": watch.measure, "difficulty": watch.difficulty,
            "stage_started_at": watch.started_at, "due_at": watch.due_at, "yellow_at": watch.yellow_at,
            "colour": watch.colour, "paused_at": watch.paused_at, "paused_seconds": watch.paused_seconds,
            "level": watch.level, "next_check_at": domain.next_check(watch, policy)}


def _locked(session: Session, appeal_id: str):
    return session.execute(select(appeals).where(appeals.c.appeal_id == appeal_id).with_for_update()).first()


def _known(session: Session, appeal_id: str, event: Event):
    row = _locked(session, appeal_id)
    if row is None:
        raise NotKnownYet(f"{event.type} for appeal {appeal_id}, which supervision has not seen dispatched")
    return row


def _emit(session: Session, event_type: str, data: dict, now: datetime, correlation_id: str | None) -> None:
    add_event(session, outbox, make_event(event_type, data, producer=SERVICE, now=now,
                                          correlation_id=correlation_id))


def _deadline_set(session: Session, appeal_id: str, watch: domain.Watch, unit: str | None, now: datetime,
                  correlation_id: str | None, working_days: float | None = None) -> None:
    """The stage's deadline and the colour the appeal has from now on (no separate colour event)."""
    _emit(session, "appeal_deadline_set", {"appeal_id": appeal_id, "stage": watch.stage, "due_at": watch.due_at,
                                           "working_days": working_days, "unit": unit, "colour": watch.colour},
          now, correlation_id)


def _recoloured(before: str | None, after: str | None, effects: Effects) -> None:
    """A colour change carried by ``appeal_deadline_set`` (the starting colour is none)."""
    if before is not None and after is not None and after != before:
        effects.colour_changes += 1


def _colour(session: Session, appeal_id: str, before: str | None, after: str | None, unit: str | None,
            stage: str | None, now: datetime, correlation_id: str | None, effects: Effects) -> None:
    if after is None or after == before:
        return
    effects.colour_changes += 1
    _emit(session, "appeal_colour_changed", {"appeal_id": appeal_id, "colour": after, "previous": before,
                                             "unit": unit, "stage": stage}, now, correlation_id)


def _escalate(session: Session, row, step: domain.Escalation, now: datetime, effects: Effects) -> None:
    session.execute(insert(escalations).values(
        appeal_id=row.appeal_id, level=step.level, rung=step.rung, reason=step.reason, unit=row.lead_unit,
        to_unit=step.to_unit, escalated_at=now))
    _emit(session, "appeal_escalated", {"appeal_id": row.appeal_id, "rung": step.rung, "level": step.level,
                                        "reason": step.reason, "unit": row.lead_unit, "to_unit": step.to_unit},
          now, row.correlation_id)
    effects.escalations.append(step)


def _escalate_once(session: Session, policy: domain.Policy, row, reason: str, now: datetime,
                   effects: Effects) -> None:
    step = domain.escalate(policy, row.level, reason)
    if step is None:
        log.info("appeal %s is at the top of the ladder; %s escalation recorded nowhere higher", row.appeal_id,
                 reason)
        return
    change = {"level": step.level, "rung": step.rung, "updated_at": now}
    if row.stage is not None and row.colour == "red":
        # the level moved: the next overdue check follows the new rung
        change["next_check_at"] = domain.next_check(
            replace(watch_of(row), level=step.level), policy)
    session.execute(update(appeals).where(appeals.c.appeal_id == row.appeal_id).values(**change))
    _escalate(session, row, step, now, effects)


def _close_pause(session: Session, appeal_id: str, now: datetime, actor: str) -> None:
    session.execute(update(clock_pauses).where(clock_pauses.c.appeal_id == appeal_id,
                                               clock_pauses.c.resumed_at.is_(None))
                    .values(resumed_at=now, resumed_by=actor))
    _end_approved_pause(session, appeal_id, now)


def _end_approved_pause(session: Session, appeal_id: str, now: datetime) -> None:
    """The approved request whose pause this was has nothing left for the tick to resume."""
    session.execute(update(pause_requests).where(pause_requests.c.appeal_id == appeal_id,
                                                 pause_requests.c.status == "approved",
                                                 pause_requests.c.ended_at.is_(None))
                    .values(ended_at=now))


def policy_of(policy: domain.Policy, row) -> domain.Policy:
    """The appeal's own policy: its district's and its urgency's stages over the city's."""
    return policy.for_appeal(row.district, getattr(row, "urgency", None))


def _start(session: Session, policy: domain.Policy, row_id: str, stage: str, difficulty: str | None,
           start: datetime, level: int, before_colour: str | None, unit: str | None, correlation_id: str | None,
           extra: dict, effects: Effects, dispatched_at: datetime | None = None) -> None:
    watch = domain.start_stage(policy, stage, difficulty, start, level, dispatched_at)
    session.execute(update(appeals).where(appeals.c.appeal_id == row_id)
                    .values(**watch_values(watch, policy), **extra, updated_at=start))
    if watch.running:
        duration = policy.duration(stage, difficulty)
        _deadline_set(session, row_id, watch, unit, start, correlation_id, duration.working_days)
        _recoloured(before_colour, watch.colour, effects)
    else:
        _colour(session, row_id, before_colour, watch.colour, unit, stage, start, correlation_id, effects)


# ---------------------------------------------------------------- consumers
KNOWN_APPEALS = select(appeals.c.appeal_id).where(appeals.c.appeal_id.in_(bindparam("ids", expanding=True)))
INSERT_APPEALS = insert(appeals)


def on_dispatched_batch(batch: Batch, policy: domain.Policy) -> list[Effects]:
    """``appeal_dispatched`` for a batch: an appeal's first dispatch (the loop's hot path) is
    written with one INSERT for the batch, its accept stage started and its deadline published;
    a re-dispatch of an appeal supervision already watches goes through :func:`on_dispatched`."""
    connection = batch.connection
    known = set(connection.execute(KNOWN_APPEALS, {"ids": [e.data["appeal_id"] for e in batch.events]}).scalars())
    rows, effects = [], []
    for event in batch.events:
        d, at = event.data, event.time
        if d["appeal_id"] in known:
            effects.append(on_dispatched(connection, policy, event))
            continue
        correlation_id = event.correlationid or d["appeal_id"]
        row = {"appeal_id": d["appeal_id"], "lead_unit": d["lead_unit"], "co_units": d.get("co_units") or [],
               "category": d["category"], "nature": d.get("nature"), "unit_level": d.get("level"),
               "district": d.get("district"), "dispatch_count": d["dispatch_count"], "correlation_id": correlation_id,
               "urgency": d.get("urgency") or "一般", "code": d.get("code"), "updated_at": at,
               "dispatched_at": None}
        own = policy.for_appeal(d.get("district"), d.get("urgency"))
        if d["lead_unit"] is None:  # the office's manual queue: no deadline runs
            watch = domain.Watch(level=0, difficulty=d["difficulty"])
            row.update(watch_values(watch, policy), status=domain.QUEUED)
        else:
            watch = domain.start_stage(own, "accept", d["difficulty"], at, 0)
            row.update(watch_values(watch, policy), status=domain.DISPATCHED, dispatched_at=at)
            if watch.running:
                duration = own.duration("accept", d["difficulty"])
                batch.publish(make_event("appeal_deadline_set", {
                    "appeal_id": d["appeal_id"], "stage": watch.stage, "due_at": watch.due_at,
                    "working_days": duration.working_days, "unit": d["lead_unit"], "colour": watch.colour},
                    producer=SERVICE, now=at, correlation_id=correlation_id))
            elif watch.colour is not None:
                batch.publish(make_event("appeal_colour_changed", {
                    "appeal_id": d["appeal_id"], "colour": watch.colour, "previous": None, "unit": d["lead_unit"],
                    "stage": watch.stage}, producer=SERVICE, now=at, correlation_id=correlation_id))
        known.add(d["appeal_id"])
        rows.append(row)
        effects.append(Effects())
    if rows:
        connection.execute(INSERT_APPEALS, rows)
    return effects


def on_dispatched(session: Session, policy: domain.Policy, event: Event) -> Effects:
    effects = Effects()
    d, at = event.data, event.time
    row = _locked(session, d["appeal_id"])
    if row is not None and (d["dispatch_count"] < row.dispatch_count or row.status == domain.CLOSED):
        log.info("stale appeal_dispatched %s for %s ignored", d["dispatch_count"], d["appeal_id"])
        return effects
    fields_ = {"lead_unit": d["lead_unit"], "co_units": d.get("co_units") or [], "category": d["category"],
               "nature": d.get("nature"), "unit_level": d.get("level"), "district": d.get("district"),
               "dispatch_count": d["dispatch_count"], "urgency": d.get("urgency") or "一般", "code": d.get("code")}
    if row is None:
        session.execute(insert(appeals).values(
            appeal_id=d["appeal_id"], status=domain.QUEUED, difficulty=d["difficulty"], level=0,
            correlation_id=event.correlationid or d["appeal_id"], updated_at=at, **fields_))
        row = _locked(session, d["appeal_id"])
    if row.paused_at is not None:
        _close_pause(session, row.appeal_id, at, "dispatch")
    if d["lead_unit"] is None:  # the office's manual queue: no deadline runs
        session.execute(update(appeals).where(appeals.c.appeal_id == row.appeal_id).values(
            **watch_values(domain.Watch(level=row.level, difficulty=d["difficulty"]), policy),
            **fields_, status=domain.QUEUED, updated_at=at))
        return effects
    if not starts_acceptance(d, row.status):
        # appeal_reopened (re)starts the reply stage; units added beside the lead, or a new lead
        # for a replied or reopened appeal, change who handles it, not the stage that runs
        session.execute(update(appeals).where(appeals.c.appeal_id == row.appeal_id).values(**fields_, updated_at=at))
        return effects
    _start(session, policy.for_appeal(d.get("district"), d.get("urgency")), row.appeal_id, "accept",
           d["difficulty"], at, row.level, row.colour, d["lead_unit"], row.correlation_id,
           {**fields_, "status": domain.DISPATCHED, "dispatched_at": at}, effects)
    return effects


def on_accepted(session: Session, policy: domain.Policy, event: Event) -> Effects:
    effects = Effects()
    row = _known(session, event.data["appeal_id"], event)
    if row.status == domain.REOPENED:  # the reply stage restarted on the reopen keeps running
        session.execute(update(appeals).where(appeals.c.appeal_id == row.appeal_id)
                        .values(status=domain.ACCEPTED, accepted_at=event.time, updated_at=event.time))
        return effects
    if row.status != domain.DISPATCHED:
        log.info("appeal_accepted for %s in status %s ignored", row.appeal_id, row.status)
        return effects
    if row.paused_at is not None:
        _close_pause(session, row.appeal_id, event.time, "dispatch")
    own = policy_of(policy, row)
    _start(session, own, row.appeal_id, own.after_acceptance(), row.difficulty, event.time, row.level, row.colour,
           row.lead_unit, row.correlation_id, {"status": domain.ACCEPTED, "accepted_at": event.time}, effects,
           dispatched_at=row.dispatched_at)
    return effects


def on_plan_submitted(session: Session, policy: domain.Policy, event: Event) -> Effects:
    """解决方案: the plan ends the plan stage and starts the reply stage (counted from the plan, or
    from the dispatch where the district counts so); elsewhere it is only recorded."""
    effects = Effects()
    row = _known(session, event.data["appeal_id"], event)
    if row.stage != "plan":
        session.execute(update(appeals).where(appeals.c.appeal_id == row.appeal_id)
                        .values(plan_submitted_at=event.time, updated_at=event.time))
        return effects
    if row.paused_at is not None:
        _close_pause(session, row.appeal_id, event.time, "dispatch")
    _start(session, policy_of(policy, row), row.appeal_id, "reply", row.difficulty, event.time, row.level,
           row.colour, row.lead_unit, row.correlation_id, {"plan_submitted_at": event.time}, effects,
           dispatched_at=row.dispatched_at)
    return effects


def _stop(session: Session, policy: domain.Policy, row, status: str, at: datetime, stamp: str) -> None:
    if row.paused_at is not None:
        _close_pause(session, row.appeal_id, at, "dispatch")
    # a supervision order is met by the reply (or the closing) before its due time
    session.execute(update(orders).where(orders.c.appeal_id == row.appeal_id, orders.c.status == domain.ORDER_OPEN,
                                         orders.c.due_at > at)
                    .values(status=domain.ORDER_MET, settled_at=at, next_check_at=None))
    session.execute(update(appeals).where(appeals.c.appeal_id == row.appeal_id).values(
        **watch_values(domain.Watch(level=row.level, difficulty=row.difficulty), policy),
        status=status, **{stamp: at}, updated_at=at))


def on_replied(session: Session, policy: domain.Policy, event: Event) -> Effects:
    """The reply stops the clock: the appeal waits for the callback."""
    row = _known(session, event.data["appeal_id"], event)
    if row.status != domain.CLOSED:
        _stop(session, policy, row, domain.REPLIED, event.time, "replied_at")
    return Effects()


def on_closed(session: Session, policy: domain.Policy, event: Event) -> Effects:
    row = _known(session, event.data["appeal_id"], event)
    _stop(session, policy, row, domain.CLOSED, event.time, "closed_at")
    return Effects()


def on_escalation_requested(session: Session, policy: domain.Policy, event: Event) -> Effects:
    effects = Effects()
    reason = event.data.get("reason") or "requested"
    if reason not in ("requested", "returns"):
        raise InvalidInput(f"appeal_escalation_requested with reason {reason!r}; expected requested or returns")
    row = _known(session, event.data["appeal_id"], event)
    if row.status != domain.CLOSED:
        _escalate_once(session, policy, row, reason, event.time, effects)
    return effects


def on_reclassified(session: Session, policy: domain.Policy, event: Event) -> Effects:
    """A new difficulty recomputes the running stage's deadline from its start."""
    effects = Effects()
    d = event.data
    row = _known(session, d["appeal_id"], event)
    before = watch_of(row)
    urgency = d.get("urgency") or row.urgency
    own = policy.for_appeal(row.district, urgency)
    after = domain.reclassify(own, before, d["difficulty"], event.time, row.dispatched_at)
    if after.colour == "red" and before.colour != "red":
        after = replace(after, colour=before.colour)  # the tick turns it red and escalates
    change = watch_values(after, policy)
    if after.running and after.due_at <= event.time and before.colour != "red":
        change["next_check_at"] = after.due_at
    session.execute(update(appeals).where(appeals.c.appeal_id == row.appeal_id).values(
        **change, category=d["category"], nature=d["nature"], urgency=urgency, code=d.get("code"),
        updated_at=event.time))
    if after.running and after.due_at != before.due_at:
        duration = own.duration(after.stage, after.difficulty)
        _deadline_set(session, row.appeal_id, after, row.lead_unit, event.time, row.correlation_id,
                      duration.working_days if duration else None)
        _recoloured(before.colour, after.colour, effects)
    else:
        _colour(session, row.appeal_id, before.colour, after.colour, row.lead_unit, after.stage, event.time,
                row.correlation_id, effects)
    return effects


def on_reopened(session: Session, policy: domain.Policy, event: Event) -> Effects:
    """Reopened (重办): the reply stage restarts; enough reopens climb a rung (unsatisfied)."""
    effects = Effects()
    d = event.data
    row = _known(session, d["appeal_id"], event)
    reopen_count = max(d["reopen_count"], row.reopen_count)
    _start(session, policy_of(policy, row), row.appeal_id, "reply", row.difficulty, event.time, row.level,
           row.colour, row.lead_unit, row.correlation_id,
           {"status": domain.REOPENED, "reopen_count": reopen_count, "closed_at": None}, effects)
    if domain.reopen_escalates(policy, d["reopen_count"]):
        _escalate_once(session, policy, _locked(session, row.appeal_id), "unsatisfied", event.time, effects)
    return effects


def on_phone_listed(session: Session, policy: domain.Policy, event: Event) -> Effects:
    """On the office's phone-callback list (the ledger's filter ``phone_callback``)."""
    row = _known(session, event.data["appeal_id"], event)
    session.execute(update(appeals).where(appeals.c.appeal_id == row.appeal_id)
                    .values(phone_listed_at=event.time))
    return Effects()


def on_callback_recorded(session: Session, policy: domain.Policy, event: Event) -> Effects:
    """A callback recorded takes the appeal off the phone-callback list."""
    row = _known(session, event.data["appeal_id"], event)
    if row.phone_listed_at is not None and row.phone_listed_at <= event.time:
        session.execute(update(appeals).where(appeals.c.appeal_id == row.appeal_id).values(phone_listed_at=None))
    return Effects()


# ---------------------------------------------------------------- the tick
def tick_batch(session: Session, policy: domain.Policy, now: datetime, limit: int = 200) -> Effects:
    """Advance up to ``limit`` due appeals (``next_check_at <= now``), claimed SKIP LOCKED.

    The batch's changes, escalations and events are written with one statement each
    (a round trip per appeal would dominate the tick).
    """
    effects = Effects()
    query = (select(appeals).where(appeals.c.next_check_at <= now)
             .order_by(appeals.c.next_check_at).limit(limit))
    if dialect_name(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    changes, raised, events = [], [], []
    for row in session.execute(query).fetchall():
        effects.checked += 1
        step = domain.advance(policy_of(policy, row), watch_of(row), now)
        change = {"appeal_id": row.appeal_id, **watch_values(step.watch, policy), "rung": row.rung,
                  "overdue_count": row.overdue_count, "updated_at": now}
        if step.escalations:
            change.update(rung=step.escalations[-1].rung, overdue_count=row.overdue_count + 1)
        changes.append(change)

        def event(event_type: str, data: dict, row=row) -> None:
            events.append(make_event(event_type, {"appeal_id": row.appeal_id, **data}, producer=SERVICE, now=now,
                                     correlation_id=row.correlation_id))

        if step.colour_change:
            effects.colour_changes += 1
            event("appeal_colour_changed", {"colour": step.colour_change[1], "previous": step.colour_change[0],
                                            "unit": row.lead_unit, "stage": step.watch.stage})
        for escalation in step.escalations:
            raised.append({"appeal_id": row.appeal_id, "level": escalation.level, "rung": escalation.rung,
                           "reason": escalation.reason, "unit": row.lead_unit, "to_unit": escalation.to_unit,
                           "escalated_at": now})
            event("appeal_escalated", {"rung": escalation.rung, "level": escalation.level,
                                       "reason": escalation.reason, "unit": row.lead_unit,
                                       "to_unit": escalation.to_unit})
            effects.escalations.append(escalation)
        if step.new_due is not None:
            # stage "escalation": the rung's deadline; the stage's own deadline (what assessment
            # measures response and on-time rates against) stays the one published at its start
            event("appeal_deadline_set", {"stage": "escalation", "due_at": step.new_due, "working_days": None,
                                          "unit": row.lead_unit})
    bulk_update(session, appeals, "appeal_id", changes)
    if raised:
        session.execute(insert(escalations), raised)
    add_events(session, outbox, events)
    return effects


def order_batch(session: Session, policy: domain.Policy, now: datetime, limit: int = 200) -> Effects:
    """Supervision orders past their due time with the appeal neither replied nor closed:
    the order is overdue and the appeal climbs one rung (reason ``order``). Orders are
    claimed SKIP LOCKED like appeals; the appeal row is then locked in the same order
    as every other use case (one row), so replicas and handlers cannot deadlock."""
    effects = Effects()
    query = (select(orders).where(orders.c.next_check_at <= now).order_by(orders.c.next_check_at).limit(limit))
    if dialect_name(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    for order in session.execute(query).fetchall():
        effects.checked += 1
        row = _locked(session, order.appeal_id)
        # still open at the tick: not met in time (a reply before the due time settled it as met)
        session.execute(update(orders).where(orders.c.order_id == order.order_id).values(
            status=domain.ORDER_OVERDUE, settled_at=now, next_check_at=None))
        if row is not None and row.status in domain.AWAITING_UNIT:
            _escalate_once(session, policy, row, "order", now, effects)
    return effects


def run_tick(transaction: Callable[[], AbstractContextManager[Session]], policy: domain.Policy, now: datetime,
             office: str, batch: int = 200) -> Effects:
    """One tick: due appeals, then due orders, in batches (a transaction each), then the digests."""
    total = Effects()
    for step in (resume_due_pauses, tick_batch, order_batch):
        while True:
            with transaction() as session:
                effects = step(session, policy, now, batch)
            total.checked += effects.checked
            total.colour_changes += effects.colour_changes
            total.escalations += effects.escalations
            if effects.checked < batch:
                break
    with transaction() as session:
        total.digests = send_digests(session, policy, now, office).digests
    return total


def _claim_digest(session: Session, kind: str, period: str, recipient: str, count: int, now: datetime) -> bool:
    """True for the one transaction that records this digest first (the others wait, then find it)."""
    statement = (insert_ignoring(session, digests).values(kind=kind, period=period, recipient=recipient,
                                                          item_count=count, sent_at=now)
                 .returning(digests.c.kind))
    return session.execute(statement).first() is not None


def _item(row) -> dict:
    return {"appeal_id": row.appeal_id, "status": row.status, "stage": row.stage, "colour": row.colour,
            "due_at": row.due_at.isoformat() if row.due_at else None, "level": row.level, "rung": row.rung,
            "lead_unit": row.lead_unit, "unit": row.lead_unit, "category": row.category}


def send_digests(session: Session, policy: domain.Policy, now: datetime, office: str) -> Effects:
    """The weekly digests (周提醒, per unit) and the monthly list (月督办, office), once per period.

    A sentinel row ``(kind, period, '*')`` is claimed first, so a tick after the
    digest went out costs one insert that does nothing.
    """
    effects = Effects()
    open_ = appeals.c.status.in_(domain.OPEN_STATUSES)
    period, due = domain.weekly_period(now, policy)
    if now >= due and _claim_digest(session, "weekly", period, "*", 0, now):
        units = session.execute(select(appeals.c.lead_unit).distinct()
                                .where(open_, appeals.c.lead_unit.isnot(None))).scalars().all()
        for unit in sorted(units):
            rows = session.execute(select(appeals).where(open_, appeals.c.lead_unit == unit)
                                   .order_by(appeals.c.due_at.nulls_last(), appeals.c.appeal_id)
                                   .limit(DIGEST_ITEMS_MAX)).fetchall()
            if _claim_digest(session, "weekly", period, unit, len(rows), now):
                _emit(session, "weekly_digest_ready", {"recipient": unit, "period": period,
                                                       "items": [_item(r) for r in rows]}, now, None)
                effects.digests += 1
    period, due = domain.monthly_period(now, policy)
    if now >= due and _claim_digest(session, "monthly", period, "*", 0, now):
        rows = session.execute(select(appeals).where(open_, (appeals.c.colour == "red") | (appeals.c.level > 0))
                               .order_by(appeals.c.level.desc(), appeals.c.due_at, appeals.c.appeal_id)
                               .limit(DIGEST_ITEMS_MAX)).fetchall()
        _claim_digest(session, "monthly", period, office, len(rows), now)
        _emit(session, "monthly_supervision_list", {"recipient": office, "period": period,
                                                    "items": [_item(r) for r in rows]}, now, None)
        effects.digests += 1
    return effects


def open_counts(session: Session) -> list[tuple[str | None, str | None, int]]:
    """(colour, unit, count) of the open appeals, for the gauge."""
    return [tuple(r) for r in session.execute(
        select(appeals.c.colour, appeals.c.lead_unit, func.count())
        .where(appeals.c.status.in_(domain.OPEN_STATUSES))
        .group_by(appeals.c.colour, appeals.c.lead_unit)).all()]


# ---------------------------------------------------------------- pause, resume, orders
def _may_act(principal: Principal, row) -> None:
    if principal.role != "office" and principal.unit != row.lead_unit:
        raise Forbidden("only the office or the appeal's lead unit may do this")


def _visible(session: Session, appeal_id: str, principal: Principal, lock: bool = False):
    row = _locked(session, appeal_id) if lock else session.execute(
        select(appeals).where(appeals.c.appeal_id == appeal_id)).first()
    if row is None or (principal.role == "unit" and principal.unit != row.lead_unit):
        raise NotFound(f"no appeal {appeal_id} under supervision")
    return row


def pause_clock(session: Session, policy: domain.Policy, appeal_id: str, principal: Principal, now: datetime,
                reason: str | None) -> dict:
    """The office pauses a clock on its own word; a unit asks with :func:`request_pause`."""
    if principal.role != "office":
        raise Forbidden("a unit asks for a clock pause (POST .../pause-requests); the office approves it")
    row = _visible(session, appeal_id, principal, lock=True)
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
    _emit(session, "appeal_clock_paused", {"appeal_id": row.appeal_id, "stage": row.stage, "unit": row.lead_unit,
                                           "reason": reason, "actor": actor, "paused_at": now,
                                           "requested_by": requested_by, "resume_at": resume_at},
          now, row.correlation_id)


# ---------------------------------------------------------------- pause requests
def _pending_request(session: Session, appeal_id: str):
    return session.execute(select(pause_requests.c.request_id).where(
        pause_requests.c.appeal_id == appeal_id, pause_requests.c.status == "pending")).first()


def request_pause(session: Session, appeal_id: str, principal: Principal, now: datetime, reason: str,
                  days: int) -> dict:
    """The lead unit asks for a clock pause (reason, working days); the office decides."""
    if principal.role != "unit":
        raise Forbidden("the lead unit asks for a clock pause; the office pauses directly")
    row = _visible(session, appeal_id, principal, lock=True)
    try:
        domain.may_request_pause(watch_of(row), _pending_request(session, appeal_id) is not None)
    except domain.RuleError as exc:
        raise Conflict(str(exc)) from None
    request = {"request_id": uuid.uuid4().hex, "appeal_id": appeal_id, "stage": row.stage, "unit": row.lead_unit,
               "reason": reason, "days": days, "status": "pending", "requested_by": principal.actor,
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
    decision = {"status": "approved" if approve else "refused", "decided_by": principal.actor, "decided_at": now,
                "decision_note": note}
    if approve:
        row = _locked(session, request.appeal_id)
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
        row = _locked(session, request.appeal_id)
        if row is not None and row.paused_at is not None:
            effects.colour_changes += _resume(session, policy, row, request.resume_at, SERVICE).colour_changes
        session.execute(update(pause_requests).where(pause_requests.c.request_id == request.request_id)
                        .values(ended_at=request.resume_at))
    return effects


def resume_clock(session: Session, policy: domain.Policy, appeal_id: str, principal: Principal,
                 now: datetime) -> tuple[dict, Effects]:
    row = _visible(session, appeal_id, principal, lock=True)
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
    _end_approved_pause(session, appeal_id, now)
    _emit(session, "appeal_clock_resumed", {"appeal_id": appeal_id, "stage": row.stage, "unit": row.lead_unit,
                                            "actor": actor, "paused_at": row.paused_at,
                                            "paused_seconds": paused, "due_at": watch.due_at},
          now, row.correlation_id)
    _deadline_set(session, appeal_id, watch, row.lead_unit, now, row.correlation_id)
    _recoloured(row.colour, watch.colour, effects)
    return effects


def issue_order(session: Session, policy: domain.Policy, appeal_id: str, data: dict, principal: Principal,
                now: datetime) -> tuple[dict, Effects]:
    """A supervision order (督办单) with its own deadline; optionally one rung up (reason order)."""
    effects = Effects()
    row = _visible(session, appeal_id, principal, lock=True)
    if row.status == domain.CLOSED:
        raise Conflict(f"appeal {appeal_id} is closed")
    due = data.get("due_at") or workdays.add_working_days(now, data["working_days"])
    if due <= now:
        raise InvalidInput("the order's deadline must be later than now", {"due_at": ["must be in the future"]})
    order = {"order_id": uuid.uuid4().hex, "appeal_id": appeal_id, "unit": row.lead_unit, "text": data["text"],
             "due_at": due.astimezone(timezone.utc), "issued_at": now, "issued_by": principal.actor,
             "status": domain.ORDER_OPEN}
    session.execute(insert(orders).values(**order, next_check_at=order["due_at"]))
    _emit(session, "supervision_order_issued", {k: order[k] for k in ("appeal_id", "order_id", "unit", "due_at",
                                                                      "text")}, now, row.correlation_id)
    _emit(session, "appeal_deadline_set", {"appeal_id": appeal_id, "stage": "order", "due_at": order["due_at"],
                                           "working_days": data.get("working_days"), "unit": row.lead_unit},
          now, row.correlation_id)
    if data.get("escalate"):
        _escalate_once(session, policy, row, "order", now, effects)
    return order, effects


# ---------------------------------------------------------------- the ledger
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
        row = _visible(session, appeal_id, principal)
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
