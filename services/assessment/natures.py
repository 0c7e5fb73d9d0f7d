"""Natures (个性/共性/体制机制性) and common problems (共性问题) as assessment knows them.

Dispatch says an appeal's nature in ``appeal_dispatched`` and ``appeal_reclassified``; the
latter names the common problem the office confirmed it in (``common_problem_id``). The
reports list the three natures with counts (appeals received in the period, by their nature
as known when the report is generated) and the common problems with their members (those
with a member received in the period or open at its end).
"""
from __future__ import annotations

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from services.assessment.domain import Period
from services.assessment.models import appeal_facts as f
from services.assessment.models import appeal_natures as n
from shared.db import bulk_update, insert_rows
from shared.events import NATURES, Event

UNKNOWN = "未分类"


def record(connection: Connection, events: list[Event]) -> None:
    """``appeal_dispatched`` / ``appeal_reclassified``: the nature, and the common problem when named.

    The later fact wins, by the event's time; a fact that names no common problem keeps the one known.
    The batch is folded per appeal first, then written with one INSERT and one UPDATE.
    """
    ids = [e.data["appeal_id"] for e in events]
    known = {row.appeal_id: dict(row._mapping) for row in connection.execute(
        select(n).where(n.c.appeal_id.in_(ids)).with_for_update())}
    new: dict[str, dict] = {}
    changed: dict[str, dict] = {}
    for event in events:
        data, appeal_id = event.data, event.data["appeal_id"]
        row = new.get(appeal_id) or changed.get(appeal_id) or known.get(appeal_id)
        if row is not None and row["changed_at"] > event.time:
            continue
        values = {"appeal_id": appeal_id, "nature": data.get("nature") or "个性", "changed_at": event.time,
                  "common_problem_id": row["common_problem_id"] if row else None,
                  "common_problem_title": row["common_problem_title"] if row else None}
        if data.get("common_problem_id"):
            values.update(common_problem_id=data["common_problem_id"],
                          common_problem_title=data.get("common_problem_title"))
        (changed if appeal_id in known else new)[appeal_id] = values
    insert_rows(connection, n, list(new.values()))
    bulk_update(connection, n, "appeal_id", list(changed.values()))


def _received(period: Period):
    return and_(f.c.submitted_at >= period.start, f.c.submitted_at < period.end)


def nature_counts(session: Session, period: Period) -> list[dict]:
    """The three natures (and those not known yet) of the appeals received in the period."""
    rows = session.execute(select(func.coalesce(n.c.nature, UNKNOWN), func.count())
                           .select_from(f.outerjoin(n, n.c.appeal_id == f.c.appeal_id))
                           .where(_received(period)).group_by(func.coalesce(n.c.nature, UNKNOWN))).all()
    counts = {nature: int(count) for nature, count in rows}
    out = [{"nature": nature, "count": counts.get(nature, 0)} for nature in NATURES]
    if counts.get(UNKNOWN):
        out.append({"nature": UNKNOWN, "count": counts[UNKNOWN]})
    return out


def common_problems(session: Session, period: Period) -> list[dict]:
    """The common problems with a member received in the period or open at its end, with their members."""
    touching = (select(n.c.common_problem_id).join(f, f.c.appeal_id == n.c.appeal_id)
                .where(n.c.common_problem_id.isnot(None), f.c.submitted_at < period.end,
                       or_(_received(period), f.c.closed_at.is_(None), f.c.closed_at >= period.end))
                .distinct())
    rows = session.execute(
        select(n.c.common_problem_id, n.c.common_problem_title, f.c.appeal_id, f.c.credit_code, f.c.enterprise_name,
               f.c.title, f.c.lead_unit, f.c.closed_at, f.c.closed_outcome)
        .join(f, f.c.appeal_id == n.c.appeal_id).where(n.c.common_problem_id.in_(touching))
        .order_by(n.c.common_problem_id, f.c.appeal_id)).all()
    problems: dict[str, dict] = {}
    for row in rows:
        problem = problems.setdefault(row.common_problem_id, {
            "id": row.common_problem_id, "title": row.common_problem_title, "members": []})
        closed = row.closed_at is not None and row.closed_at < period.end
        problem["members"].append({"appeal_id": row.appeal_id, "enterprise_name": row.enterprise_name,
                                   "title": row.title, "lead_unit": row.lead_unit,
                                   "closed_outcome": row.closed_outcome if closed else None})
    for problem in problems.values():
        problem["member_count"] = len(problem["members"])
        problem["enterprises"] = len({m["enterprise_name"] for m in problem["members"]})
        problem["lead_units"] = sorted({m["lead_unit"] for m in problem["members"] if m["lead_unit"]})
    return sorted(problems.values(), key=lambda p: (-p["member_count"], p["id"]))
