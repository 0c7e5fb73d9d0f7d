"""Supervision's consumers: an event about an appeal -> its row and watch change, with the events
that causes, in the unit of work's transaction (``shared.consumers``, which keeps the inbox)."""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from services.supervision import domain
from services.supervision.models import appeals, orders
from services.supervision.rows import (
    SERVICE,
    Effects,
    close_pause,
    count_recoloured,
    emit_colour,
    emit_deadline_set,
    escalate_once,
    known_row,
    locked_row,
    policy_of,
    run_stage,
    watch_of,
    watch_values,
)
from shared.consumers import Batch
from shared.db import insert_rows
from shared.errors import InvalidInput
from shared.events import Event, make_event, starts_acceptance

log = logging.getLogger(__name__)

KNOWN_APPEALS = select(appeals.c.appeal_id).where(appeals.c.appeal_id.in_(bindparam("ids", expanding=True)))


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
        insert_rows(connection, appeals, rows)
    return effects


def on_dispatched(session: Session, policy: domain.Policy, event: Event) -> Effects:
    effects = Effects()
    d, at = event.data, event.time
    row = locked_row(session, d["appeal_id"])
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
        row = locked_row(session, d["appeal_id"])
    if row.paused_at is not None:
        close_pause(session, row.appeal_id, at, "dispatch")
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
    run_stage(session, policy.for_appeal(d.get("district"), d.get("urgency")), row, "accept", at, effects,
              {**fields_, "status": domain.DISPATCHED, "dispatched_at": at},
              difficulty=d["difficulty"], unit=d["lead_unit"])
    return effects


def on_accepted(session: Session, policy: domain.Policy, event: Event) -> Effects:
    effects = Effects()
    row = known_row(session, event.data["appeal_id"], event)
    if row.status == domain.REOPENED:  # the reply stage restarted on the reopen keeps running
        session.execute(update(appeals).where(appeals.c.appeal_id == row.appeal_id)
                        .values(status=domain.ACCEPTED, accepted_at=event.time, updated_at=event.time))
        return effects
    if row.status != domain.DISPATCHED:
        log.info("appeal_accepted for %s in status %s ignored", row.appeal_id, row.status)
        return effects
    if row.paused_at is not None:
        close_pause(session, row.appeal_id, event.time, "dispatch")
    own = policy_of(policy, row)
    run_stage(session, own, row, own.after_acceptance(), event.time, effects,
              {"status": domain.ACCEPTED, "accepted_at": event.time}, dispatched_at=row.dispatched_at)
    return effects


def on_plan_submitted(session: Session, policy: domain.Policy, event: Event) -> Effects:
    """解决方案: the plan ends the plan stage and starts the reply stage (counted from the plan, or
    from the dispatch where the district counts so); elsewhere it is only recorded."""
    effects = Effects()
    row = known_row(session, event.data["appeal_id"], event)
    if row.stage != "plan":
        session.execute(update(appeals).where(appeals.c.appeal_id == row.appeal_id)
                        .values(plan_submitted_at=event.time, updated_at=event.time))
        return effects
    if row.paused_at is not None:
        close_pause(session, row.appeal_id, event.time, "dispatch")
    run_stage(session, policy_of(policy, row), row, "reply", event.time, effects,
              {"plan_submitted_at": event.time}, dispatched_at=row.dispatched_at)
    return effects


def _stop(session: Session, policy: domain.Policy, row, status: str, at: datetime, stamp: str) -> None:
    if row.paused_at is not None:
        close_pause(session, row.appeal_id, at, "dispatch")
    # a supervision order is met by the reply (or the closing) before its due time
    session.execute(update(orders).where(orders.c.appeal_id == row.appeal_id, orders.c.status == domain.ORDER_OPEN,
                                         orders.c.due_at > at)
                    .values(status=domain.ORDER_MET, settled_at=at, next_check_at=None))
    session.execute(update(appeals).where(appeals.c.appeal_id == row.appeal_id).values(
        **watch_values(domain.Watch(level=row.level, difficulty=row.difficulty), policy),
        status=status, **{stamp: at}, updated_at=at))


def on_replied(session: Session, policy: domain.Policy, event: Event) -> Effects:
    """The reply stops the clock: the appeal waits for the callback."""
    row = known_row(session, event.data["appeal_id"], event)
    if row.status != domain.CLOSED:
        _stop(session, policy, row, domain.REPLIED, event.time, "replied_at")
    return Effects()


def on_closed(session: Session, policy: domain.Policy, event: Event) -> Effects:
    row = known_row(session, event.data["appeal_id"], event)
    _stop(session, policy, row, domain.CLOSED, event.time, "closed_at")
    return Effects()


def on_escalation_requested(session: Session, policy: domain.Policy, event: Event) -> Effects:
    effects = Effects()
    reason = event.data.get("reason") or "requested"
    if reason not in ("requested", "returns"):
        raise InvalidInput(f"appeal_escalation_requested with reason {reason!r}; expected requested or returns")
    row = known_row(session, event.data["appeal_id"], event)
    if row.status != domain.CLOSED:
        escalate_once(session, policy, row, reason, event.time, effects)
    return effects


def on_reclassified(session: Session, policy: domain.Policy, event: Event) -> Effects:
    """A new difficulty recomputes the running stage's deadline from its start."""
    effects = Effects()
    d = event.data
    row = known_row(session, d["appeal_id"], event)
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
        emit_deadline_set(session, row.appeal_id, after, row.lead_unit, event.time, row.correlation_id,
                      duration.working_days if duration else None)
        count_recoloured(before.colour, after.colour, effects)
    else:
        emit_colour(session, row.appeal_id, before.colour, after.colour, row.lead_unit, after.stage, event.time,
                row.correlation_id, effects)
    return effects


def on_reopened(session: Session, policy: domain.Policy, event: Event) -> Effects:
    """Reopened (重办): the reply stage restarts; enough reopens climb a rung (unsatisfied)."""
    effects = Effects()
    d = event.data
    row = known_row(session, d["appeal_id"], event)
    reopen_count = max(d["reopen_count"], row.reopen_count)
    run_stage(session, policy_of(policy, row), row, "reply", event.time, effects,
              {"status": domain.REOPENED, "reopen_count": reopen_count, "closed_at": None})
    if domain.reopen_escalates(policy, d["reopen_count"]):
        escalate_once(session, policy, locked_row(session, row.appeal_id), "unsatisfied", event.time, effects)
    return effects


def on_phone_listed(session: Session, policy: domain.Policy, event: Event) -> Effects:
    """On the office's phone-callback list (the ledger's filter ``phone_callback``)."""
    row = known_row(session, event.data["appeal_id"], event)
    session.execute(update(appeals).where(appeals.c.appeal_id == row.appeal_id)
                    .values(phone_listed_at=event.time))
    return Effects()


def on_callback_recorded(session: Session, policy: domain.Policy, event: Event) -> Effects:
    """A callback recorded takes the appeal off the phone-callback list."""
    row = known_row(session, event.data["appeal_id"], event)
    if row.phone_listed_at is not None and row.phone_listed_at <= event.time:
        session.execute(update(appeals).where(appeals.c.appeal_id == row.appeal_id).values(phone_listed_at=None))
    return Effects()
