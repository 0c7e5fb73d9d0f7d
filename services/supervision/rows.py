"""The appeal's row as supervision keeps it: its watch (the running stage, deadline and colour),
locked before it changes, and the events each change writes to the outbox in the same
transaction. The consumers, the tick and the office's actions all change rows through these."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from services.supervision import domain
from services.supervision.models import appeals, clock_pauses, escalations, outbox, pause_requests
from shared.auth import Principal
from shared.consumers import NotKnownYet
from shared.errors import NotFound
from shared.events import Event, make_event
from shared.outbox import add_event

log = logging.getLogger(__name__)

SERVICE = "supervision"


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


def locked_row(session: Session, appeal_id: str):
    return session.execute(select(appeals).where(appeals.c.appeal_id == appeal_id).with_for_update()).first()


def known_row(session: Session, appeal_id: str, event: Event):
    row = locked_row(session, appeal_id)
    if row is None:
        raise NotKnownYet(f"{event.type} for appeal {appeal_id}, which supervision has not seen dispatched")
    return row


def emit(session: Session, event_type: str, data: dict, now: datetime, correlation_id: str | None) -> None:
    add_event(session, outbox, make_event(event_type, data, producer=SERVICE, now=now,
                                          correlation_id=correlation_id))


def emit_deadline_set(session: Session, appeal_id: str, watch: domain.Watch, unit: str | None, now: datetime,
                  correlation_id: str | None, working_days: float | None = None) -> None:
    """The stage's deadline and the colour the appeal has from now on (no separate colour event)."""
    emit(session, "appeal_deadline_set", {"appeal_id": appeal_id, "stage": watch.stage, "due_at": watch.due_at,
                                           "working_days": working_days, "unit": unit, "colour": watch.colour},
          now, correlation_id)


def count_recoloured(before: str | None, after: str | None, effects: Effects) -> None:
    """A colour change carried by ``appeal_deadline_set`` (the starting colour is none)."""
    if before is not None and after is not None and after != before:
        effects.colour_changes += 1


def emit_colour(session: Session, appeal_id: str, before: str | None, after: str | None, unit: str | None,
            stage: str | None, now: datetime, correlation_id: str | None, effects: Effects) -> None:
    if after is None or after == before:
        return
    effects.colour_changes += 1
    emit(session, "appeal_colour_changed", {"appeal_id": appeal_id, "colour": after, "previous": before,
                                             "unit": unit, "stage": stage}, now, correlation_id)


def record_escalation(session: Session, row, step: domain.Escalation, now: datetime, effects: Effects) -> None:
    session.execute(insert(escalations).values(
        appeal_id=row.appeal_id, level=step.level, rung=step.rung, reason=step.reason, unit=row.lead_unit,
        to_unit=step.to_unit, escalated_at=now))
    emit(session, "appeal_escalated", {"appeal_id": row.appeal_id, "rung": step.rung, "level": step.level,
                                        "reason": step.reason, "unit": row.lead_unit, "to_unit": step.to_unit},
          now, row.correlation_id)
    effects.escalations.append(step)


def escalate_once(session: Session, policy: domain.Policy, row, reason: str, now: datetime,
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
    record_escalation(session, row, step, now, effects)


def close_pause(session: Session, appeal_id: str, now: datetime, actor: str) -> None:
    session.execute(update(clock_pauses).where(clock_pauses.c.appeal_id == appeal_id,
                                               clock_pauses.c.resumed_at.is_(None))
                    .values(resumed_at=now, resumed_by=actor))
    end_approved_pause(session, appeal_id, now)


def end_approved_pause(session: Session, appeal_id: str, now: datetime) -> None:
    """The approved request whose pause this was has nothing left for the tick to resume."""
    session.execute(update(pause_requests).where(pause_requests.c.appeal_id == appeal_id,
                                                 pause_requests.c.status == domain.PAUSE_APPROVED,
                                                 pause_requests.c.ended_at.is_(None))
                    .values(ended_at=now))


def policy_of(policy: domain.Policy, row) -> domain.Policy:
    """The appeal's own policy: its district's and its urgency's stages over the city's."""
    return policy.for_appeal(row.district, getattr(row, "urgency", None))


def run_stage(session: Session, policy: domain.Policy, row, stage: str, at: datetime, effects: Effects,
              changes: dict[str, Any], *, difficulty: str | None = None, unit: str | None = None,
              dispatched_at: datetime | None = None) -> None:
    """Start ``stage`` on the appeal's row at ``at`` with ``changes`` to its other columns, and write
    the deadline it sets (or the colour it takes). ``difficulty`` and ``unit`` (who is watched) are
    the row's unless a dispatch brings new ones."""
    difficulty = row.difficulty if difficulty is None else difficulty
    unit = row.lead_unit if unit is None else unit
    watch = domain.start_stage(policy, stage, difficulty, at, row.level, dispatched_at)
    session.execute(update(appeals).where(appeals.c.appeal_id == row.appeal_id)
                    .values(**watch_values(watch, policy), **changes, updated_at=at))
    if watch.running:
        duration = policy.duration(stage, difficulty)
        emit_deadline_set(session, row.appeal_id, watch, unit, at, row.correlation_id, duration.working_days)
        count_recoloured(row.colour, watch.colour, effects)
    else:
        emit_colour(session, row.appeal_id, row.colour, watch.colour, unit, stage, at, row.correlation_id, effects)


def visible_row(session: Session, appeal_id: str, principal: Principal, lock: bool = False):
    """The appeal as ``principal`` may see it (a unit: only the appeals it leads), or 404."""
    row = locked_row(session, appeal_id) if lock else session.execute(
        select(appeals).where(appeals.c.appeal_id == appeal_id)).first()
    if row is None or (principal.role == "unit" and principal.unit != row.lead_unit):
        raise NotFound(f"no appeal {appeal_id} under supervision")
    return row
