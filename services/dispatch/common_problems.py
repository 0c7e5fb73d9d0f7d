"""Dispatch's use cases for common problems (共性问题): suggest, confirm, reply to all members.

The rules are in :mod:`services.dispatch.commons` (which appeals may form a group, the
similarity) and on :class:`services.dispatch.domain.Appeal` (what joining a group and the
group's reply do to one appeal); this module reads and writes the tables, all in the
caller's transaction, the events into the outbox (:func:`handlers._store`).
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from services.dispatch import commons, domain, handlers
from services.dispatch.models import appeals, outbox
from services.dispatch.models import common_problem_members as members
from services.dispatch.models import common_problems as problems
from shared.errors import Conflict, Forbidden, NotFound
from shared.outbox import add_event


def _not_found(problem_id: str) -> NotFound:
    return NotFound(f"没有共性问题 {problem_id}")


def candidates(session: Session, category: str | None = None, district: str | None = None) -> list[dict]:
    """Suggested groups among the open appeals that are in no common problem yet."""
    query = (select(appeals.c.id, appeals.c.credit_code, appeals.c.enterprise_name, appeals.c.category,
                    appeals.c.district, appeals.c.title, appeals.c.description, appeals.c.lead_unit)
             .where(appeals.c.status.in_(commons.OPEN_STATES),
                    ~appeals.c.id.in_(select(members.c.appeal_id)))
             .order_by(appeals.c.received_at, appeals.c.id))
    if category:
        query = query.where(appeals.c.category == category)
    if district:
        query = query.where(appeals.c.district == district)
    rows = {row.id: row for row in session.execute(query)}
    found = commons.suggest([commons.OpenAppeal(row.id, row.credit_code, row.category, row.district,
                                                f"{row.title}。{row.description}") for row in rows.values()])
    return [{"category": s.category, "district": s.district, "enterprises": s.enterprises,
             "similarity": s.similarity,
             "members": [{"id": rows[i].id, "credit_code": rows[i].credit_code,
                          "enterprise_name": rows[i].enterprise_name, "title": rows[i].title,
                          "lead_unit": rows[i].lead_unit} for i in s.members]} for s in found]


def confirm(session: Session, rules: domain.Rules, body: dict, *, now: datetime, actor: str) -> str:
    """The office confirms a group: every member becomes 共性 and is led by the one lead unit."""
    connection = session.connection()
    requested = body["appeal_ids"]
    rows = {row.id: row for row in connection.execute(handlers.LOCK_APPEALS, {"ids": requested})}
    grouped = set(connection.execute(select(members.c.appeal_id).where(members.c.appeal_id.in_(requested)))
                  .scalars())
    commons.check_group([{"id": r.id, "credit_code": r.credit_code, "category": r.category, "status": r.status}
                         for r in rows.values()], requested, grouped, body["lead_unit"],
                        rules.knows(body["lead_unit"]))
    problem_id = f"CP{now:%Y%m%d}-{uuid.uuid4().hex[:8]}"
    first = rows[requested[0]]
    districts = {row.district for row in rows.values()}
    connection.execute(insert(problems).values(
        id=problem_id, title=body["title"], category=first.category,
        district=first.district if len(districts) == 1 else None, lead_unit=body["lead_unit"], status="open",
        confirmed_at=now, confirmed_by=actor))
    connection.execute(insert(members), [{"appeal_id": appeal_id, "problem_id": problem_id}
                                         for appeal_id in requested])
    stored = []
    for appeal_id in sorted(requested):
        row = rows[appeal_id]
        appeal = handlers._to_domain(row)
        appeal.join_common_problem(rules, problem_id, body["title"], body["lead_unit"])
        stored.append(handlers.Stored(row, appeal, now, actor, row.correlation_id))
    handlers._store(connection, stored, lambda event: add_event(connection, outbox, event))
    return problem_id


def reply(session: Session, problem_id: str, body: dict, *, unit: str, now: datetime, actor: str) -> dict:
    """The lead unit answers the common problem once; each open member gets its own reply
    (``appeal_replied``), so each enterprise is called back on its own."""
    connection = session.connection()
    problem = connection.execute(select(problems).where(problems.c.id == problem_id).with_for_update()).first()
    if problem is None:
        raise _not_found(problem_id)
    if problem.lead_unit != unit:
        raise Forbidden(f"只有牵头单位（{problem.lead_unit}）才能答复共性问题 {problem_id}")
    if problem.status != "open":
        raise Conflict(f"共性问题 {problem_id} 已答复", {"status": [problem.status]})
    ids = list(connection.execute(select(members.c.appeal_id).where(members.c.problem_id == problem_id)).scalars())
    stored, skipped = [], []
    for row in connection.execute(handlers.LOCK_APPEALS, {"ids": ids}):
        appeal = handlers._to_domain(row)
        if appeal.reply_as_member(unit, body["outcome"], body["reply_text"], actor):
            stored.append(handlers.Stored(row, appeal, now, actor, row.correlation_id))
        else:
            skipped.append(row.id)
    handlers._store(connection, stored, lambda event: add_event(connection, outbox, event))
    connection.execute(update(problems).where(problems.c.id == problem_id).values(
        status="replied", outcome=body["outcome"], reply_text=body["reply_text"], replied_at=now, replied_by=actor))
    return {"replied": sorted(item.appeal.id for item in stored), "skipped": sorted(skipped)}


def view(session: Session, problem_id: str, unit: str | None = None) -> dict:
    """One common problem with its members; a unit reads only those it leads."""
    problem = session.execute(select(problems).where(problems.c.id == problem_id)).first()
    if problem is None:
        raise _not_found(problem_id)
    if unit is not None and problem.lead_unit != unit:
        raise Forbidden(f"共性问题 {problem_id} 不是本单位（{unit}）牵头的")
    rows = session.execute(
        select(appeals.c.id, appeals.c.credit_code, appeals.c.enterprise_name, appeals.c.title, appeals.c.status,
               appeals.c.lead_unit)
        .join(members, members.c.appeal_id == appeals.c.id).where(members.c.problem_id == problem_id)
        .order_by(appeals.c.id)).fetchall()
    return {**dict(problem._mapping), "members": [dict(r._mapping) for r in rows]}


def listing(session: Session, page: int, page_size: int, unit: str | None = None) -> tuple[list[dict], int]:
    where = problems.c.lead_unit == unit if unit else True
    total = session.execute(select(func.count()).select_from(problems).where(where)).scalar_one()
    ids = session.execute(select(problems.c.id).where(where).order_by(problems.c.confirmed_at.desc(), problems.c.id)
                          .limit(page_size).offset((page - 1) * page_size)).scalars()
    return [view(session, problem_id) for problem_id in ids], total
