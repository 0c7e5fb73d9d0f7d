"""Callbacks that are chased, the office's phone-callback list, follow-up rounds and the reopen
of a closed appeal: use cases in the caller's transaction (state change + events in the outbox).

The rules are pure, in :mod:`services.assessment.chasing`; time is a parameter (the chase
runs from a timer that reads the service's Clock, or at a time given by the office).
"""
from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.orm import Session

from services.assessment import chasing, domain, handlers
from services.assessment.handlers import SERVICE, Settings
from services.assessment.models import (
    appeal_facts,
    callback_chases,
    callback_links,
    callback_rounds,
    outbox,
    phone_callbacks,
    round_appeals,
)
from shared.db import dialect_name
from shared.errors import Conflict, NotFound
from shared.events import make_event
from shared.outbox import add_event

ROUND_MAX = 1000  # appeals in one round


@dataclass
class ChaseReport:
    reminded: list[str] = field(default_factory=list)
    listed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"reminded": len(self.reminded), "phone_listed": len(self.listed)}


def _link(settings: Settings, appeal_id: str, expires_at: datetime, nonce: str) -> str:
    token = domain.sign_link(settings.secret, appeal_id, expires_at, nonce)
    return f"{settings.link_base_url.rstrip('/')}/{token}"


def _list_for_phone(session: Session, appeal_id: str, reason: str, at: datetime, round_id: str | None = None) -> bool:
    """Put the appeal on the phone-callback list, unless it is there already (one open entry)."""
    waiting = session.execute(select(phone_callbacks.c.id).where(
        phone_callbacks.c.appeal_id == appeal_id, phone_callbacks.c.done_at.is_(None))).first()
    if waiting is not None:
        return False
    session.execute(insert(phone_callbacks).values(appeal_id=appeal_id, reason=reason, round_id=round_id,
                                                   listed_at=at))
    add_event(session, outbox, make_event("callback_phone_listed", {
        "appeal_id": appeal_id, "reason": reason, "round_id": round_id}, producer=SERVICE, now=at,
        correlation_id=appeal_id))
    return True


# ---------------------------------------------------------------- the chase
def chase(session: Session, settings: Settings, now: datetime, limit: int = 200) -> ChaseReport:
    """Remind the unanswered links that are due (once), and list the expired ones for a phone
    callback. Links are claimed ``FOR UPDATE SKIP LOCKED``: replicas never chase one twice."""
    share = settings.part["callback"].get("remind_at_share")
    report = ChaseReport()
    query = (select(callback_links, callback_chases.c.reminded_at, callback_chases.c.expired_at)
             .select_from(callback_links.outerjoin(callback_chases,
                                                   callback_chases.c.nonce == callback_links.c.nonce))
             .where(callback_links.c.used_at.is_(None), callback_links.c.superseded.is_(False),
                    callback_chases.c.expired_at.is_(None), callback_links.c.created_at <= now,
                    or_(callback_links.c.expires_at <= now, callback_chases.c.reminded_at.is_(None)))
             .order_by(callback_links.c.expires_at).limit(limit))
    if dialect_name(session) == "postgresql":
        query = query.with_for_update(of=callback_links, skip_locked=True)
    rounds = {}
    for row in session.execute(query).fetchall():
        state = chasing.LinkState(created_at=row.created_at, expires_at=row.expires_at, answered=False,
                                  reminded_at=row.reminded_at, expired_at=row.expired_at)
        step = chasing.chase_step(state, now, share)
        if step is None:
            continue
        known = row.reminded_at is not None
        values = {"reminded_at": now} if step == "remind" else {"expired_at": row.expires_at}
        if known:
            session.execute(update(callback_chases).where(callback_chases.c.nonce == row.nonce).values(**values))
        else:
            session.execute(insert(callback_chases).values(nonce=row.nonce, appeal_id=row.appeal_id, **values))
        facts = session.execute(select(appeal_facts.c.credit_code).where(
            appeal_facts.c.appeal_id == row.appeal_id)).first()
        if step == "remind":
            add_event(session, outbox, make_event("callback_requested", {
                "appeal_id": row.appeal_id, "credit_code": facts.credit_code if facts else None,
                "link": _link(settings, row.appeal_id, row.expires_at, row.nonce), "expires_at": row.expires_at,
                "reminder": True}, producer=SERVICE, now=now, correlation_id=row.appeal_id))
            report.reminded.append(row.appeal_id)
            continue
        if row.nonce not in rounds:
            rounds[row.nonce] = session.execute(select(round_appeals.c.round_id).where(
                round_appeals.c.nonce == row.nonce)).scalar()
        # a round's appeal is on the phone list from the start; an expired reply link puts it there now
        if rounds[row.nonce] is None and _list_for_phone(session, row.appeal_id, "expired", row.expires_at):
            report.listed.append(row.appeal_id)
    return report


# ---------------------------------------------------------------- the phone-callback list
def phone_list(session: Session, page: int, page_size: int, reason: str | None = None,
               unit: str | None = None) -> tuple[list[dict], int]:
    """The appeals the office is to call (oldest first), with what assessment knows of them."""
    conditions = [phone_callbacks.c.done_at.is_(None)]
    if reason:
        conditions.append(phone_callbacks.c.reason == reason)
    if unit:
        conditions.append(appeal_facts.c.lead_unit == unit)
    joined = phone_callbacks.join(appeal_facts, appeal_facts.c.appeal_id == phone_callbacks.c.appeal_id)
    where = and_(*conditions)
    total = session.execute(select(func.count()).select_from(joined).where(where)).scalar_one()
    rows = session.execute(
        select(phone_callbacks.c.appeal_id, phone_callbacks.c.reason, phone_callbacks.c.round_id,
               phone_callbacks.c.listed_at, appeal_facts.c.title, appeal_facts.c.enterprise_name,
               appeal_facts.c.credit_code, appeal_facts.c.contact, appeal_facts.c.lead_unit,
               appeal_facts.c.outcome, appeal_facts.c.status, appeal_facts.c.replied_at,
               appeal_facts.c.callback_expires_at)
        .select_from(joined).where(where)
        .order_by(phone_callbacks.c.listed_at, phone_callbacks.c.appeal_id)
        .limit(page_size).offset((page - 1) * page_size)).fetchall()
    return [dict(r._mapping) for r in rows], total


def phone_listed_ids(session: Session) -> list[str]:
    return list(session.execute(select(phone_callbacks.c.appeal_id).where(phone_callbacks.c.done_at.is_(None))
                                .order_by(phone_callbacks.c.appeal_id)).scalars())


def _done(session: Session, appeal_id: str, at: datetime, by: str | None) -> None:
    session.execute(update(phone_callbacks).where(phone_callbacks.c.appeal_id == appeal_id,
                                                  phone_callbacks.c.done_at.is_(None))
                    .values(done_at=at, done_by=by))


def callback_recorded(session: Session, appeal_id: str, at: datetime, by: str | None) -> None:
    """A callback of the reply (by phone or link) takes the appeal off the phone-callback list."""
    _done(session, appeal_id, at, by)


# ---------------------------------------------------------------- follow-up rounds
def start_round(session: Session, settings: Settings, criteria: dict, actor: str, now: datetime) -> dict:
    """A follow-up round over the appeals closed in ``[closed_from, closed_to)``, of a unit, of a
    category, all of them or a random sample of ``sample`` (seeded: ``seed`` given or drawn, and
    recorded). Each selected appeal gets a callback link (``callback_requested``) and an entry
    on the phone-callback list."""
    conditions = [appeal_facts.c.status == "closed", appeal_facts.c.closed_at >= criteria["closed_from"],
                  appeal_facts.c.closed_at < criteria["closed_to"]]
    if criteria.get("unit"):
        conditions.append(appeal_facts.c.lead_unit == criteria["unit"])
    if criteria.get("category"):
        conditions.append(appeal_facts.c.category == criteria["category"])
    candidates = {r.appeal_id: r for r in session.execute(select(appeal_facts).where(*conditions)).fetchall()}
    sample = criteria.get("sample")
    seed = criteria.get("seed")
    if sample is not None and seed is None:
        seed = chasing.draw_seed(secrets.randbits(63))
    chosen = chasing.select_sample(candidates, sample, seed)
    if not chosen:
        raise Conflict("所选范围内没有已办结的诉求", {"closed_from": ["no closed appeal matches"]})
    if len(chosen) > ROUND_MAX:
        raise Conflict(f"一轮回访最多 {ROUND_MAX} 件，请缩小范围或抽样", {"sample": [f"at most {ROUND_MAX}"]})
    round_id = uuid.uuid4().hex
    stored = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in criteria.items()
              if k not in ("name", "seed") and v is not None}
    session.execute(insert(callback_rounds).values(round_id=round_id, name=criteria["name"], criteria=stored,
                                                   seed=seed if sample is not None else None, created_by=actor,
                                                   created_at=now))
    expires_at = now + settings.link_valid
    for appeal_id in chosen:
        facts = candidates[appeal_id]
        nonce = domain.new_nonce()
        session.execute(insert(callback_links).values(nonce=nonce, appeal_id=appeal_id, expires_at=expires_at,
                                                      created_at=now, used_at=None, superseded=False))
        session.execute(insert(round_appeals).values(round_id=round_id, appeal_id=appeal_id, unit=facts.lead_unit,
                                                     nonce=nonce))
        _list_for_phone(session, appeal_id, "round", now, round_id)
        add_event(session, outbox, make_event("callback_requested", {
            "appeal_id": appeal_id, "credit_code": facts.credit_code,
            "link": _link(settings, appeal_id, expires_at, nonce), "expires_at": expires_at, "followup": True},
            producer=SERVICE, now=now, correlation_id=appeal_id))
    return round_detail(session, round_id)


def round_detail(session: Session, round_id: str) -> dict:
    row = session.execute(select(callback_rounds).where(callback_rounds.c.round_id == round_id)).first()
    if row is None:
        raise NotFound(f"no callback round {round_id}")
    entries = [dict(r._mapping) for r in session.execute(
        select(round_appeals, appeal_facts.c.title, appeal_facts.c.enterprise_name, appeal_facts.c.status)
        .select_from(round_appeals.join(appeal_facts, appeal_facts.c.appeal_id == round_appeals.c.appeal_id))
        .where(round_appeals.c.round_id == round_id).order_by(round_appeals.c.appeal_id)).fetchall()]
    for entry in entries:
        entry.pop("nonce", None)
    return {**dict(row._mapping), "status": chasing.round_status(entries), "appeals": entries}


def list_rounds(session: Session) -> list[dict]:
    rows = session.execute(select(callback_rounds).order_by(callback_rounds.c.created_at.desc())).fetchall()
    return [round_detail(session, r.round_id) for r in rows]


def followups_of(session: Session, appeal_id: str) -> list[dict]:
    """The appeal's follow-up round entries (the history's 回访抽查), oldest round first."""
    rows = session.execute(
        select(round_appeals.c.round_id, callback_rounds.c.name, callback_rounds.c.created_at,
               callback_rounds.c.created_by, round_appeals.c.answered_at, round_appeals.c.channel,
               round_appeals.c.solved, round_appeals.c.satisfaction, round_appeals.c.result)
        .select_from(round_appeals.join(callback_rounds, callback_rounds.c.round_id == round_appeals.c.round_id))
        .where(round_appeals.c.appeal_id == appeal_id).order_by(callback_rounds.c.created_at)).fetchall()
    return [dict(r._mapping) for r in rows]


def open_round_entry(session: Session, appeal_id: str, nonce: str | None = None):
    """The round entry a callback answers: by its link, or (the office's phone call) the
    latest unanswered entry of the appeal, when the appeal is closed."""
    query = select(round_appeals).where(round_appeals.c.answered_at.is_(None))
    query = query.where(round_appeals.c.nonce == nonce) if nonce \
        else query.where(round_appeals.c.appeal_id == appeal_id)
    return session.execute(query).first()


def record_followup(session: Session, entry, answer: dict, *, channel: str, caller: str | None, now: datetime,
                    reopen_unit: str | None = None) -> dict:
    """The answer of a follow-up callback. Really solved and satisfied: confirmed, the appeal
    stays closed. Not really solved (solved = false, or 不满意): the closed appeal is reopened
    (``appeal_reopened``), back to the unit that replied unless the office names another."""
    facts = session.execute(select(appeal_facts).where(appeal_facts.c.appeal_id == entry.appeal_id)
                            .with_for_update()).first()
    result = chasing.followup_result(answer["solved"], answer["satisfaction"])
    called_at = answer["called_at"]
    session.execute(update(round_appeals).where(round_appeals.c.round_id == entry.round_id,
                                                round_appeals.c.appeal_id == entry.appeal_id)
                    .values(answered_at=called_at, channel=channel, solved=answer["solved"],
                            satisfaction=answer["satisfaction"], result=result))
    session.execute(update(callback_links).where(callback_links.c.nonce == entry.nonce,
                                                 callback_links.c.used_at.is_(None))
                    .values(used_at=now if channel == "link" else None, superseded=channel != "link"))
    _done(session, entry.appeal_id, called_at, caller)
    add_event(session, outbox, make_event("callback_recorded", {
        "appeal_id": entry.appeal_id, "solved": answer["solved"], "satisfaction": answer["satisfaction"],
        "comment": answer.get("comment"), "caller": caller, "followup": True}, producer=SERVICE, now=now,
        correlation_id=entry.appeal_id))
    reopen_count = facts.reopen_count
    if result == "reopened" and facts.status == "closed":
        reopen_count += 1
        unit = reopen_unit or entry.unit or facts.lead_unit
        session.execute(update(appeal_facts).where(appeal_facts.c.appeal_id == entry.appeal_id)
                        .values(status="reopened", reopen_count=reopen_count))
        add_event(session, outbox, make_event("appeal_reopened", {
            "appeal_id": entry.appeal_id,
            "reason": "followup_" + domain.reopen_reason(answer["solved"], answer["satisfaction"]),
            "reopen_count": reopen_count, "unit": unit}, producer=SERVICE, now=now, correlation_id=entry.appeal_id))
    return {"appeal_id": entry.appeal_id, "round_id": entry.round_id, "result": result,
            "outcome": facts.outcome, "satisfaction": answer["satisfaction"], "reopen_count": reopen_count}


def answer_by_link(session: Session, settings: Settings, token: str, answer: dict, now: datetime):
    """The enterprise answers through its link: a follow-up round's link records the follow-up
    (a dict), a reply's link the callback (:class:`handlers.CallbackResult`)."""
    claim = handlers._valid_link(session, settings, token, now, lock=True)
    entry = open_round_entry(session, claim.appeal_id, nonce=claim.nonce)
    if entry is not None:
        return record_followup(session, entry, answer, channel="link", caller="enterprise", now=now)
    result = handlers.answer_by_link(session, settings, token, answer, now)
    callback_recorded(session, claim.appeal_id, answer["called_at"], "enterprise")
    return result
