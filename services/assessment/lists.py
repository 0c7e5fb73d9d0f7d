"""Baoding's weekly lists (seed 004): 问题清单 (the problems new in the period) and 问题解决情况清单
(the problems resolved in it), beside the overdue list.

New: appeals received (submitted) in the period. Resolved: appeals closed as solved in the
period (the report's ``resolved`` count), with whether within a week of submission and within
the reply deadline. Both as of the report's generation, at most ``limit`` rows each (the
totals say how many there are).
"""
from __future__ import annotations

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from services.assessment.domain import Period
from services.assessment.models import appeal_facts as f


def _within(column, period: Period):
    return and_(column >= period.start, column < period.end)


def _page(session: Session, where, order, limit: int, *extra) -> tuple[list[dict], int]:
    total = session.execute(select(func.count()).select_from(f).where(where)).scalar_one()
    rows = session.execute(
        select(f.c.appeal_id, f.c.enterprise_name, f.c.title, f.c.category, f.c.district, f.c.lead_unit,
               f.c.submitted_at, *extra).where(where).order_by(*order, f.c.appeal_id).limit(limit)).all()
    return [dict(row._mapping) for row in rows], int(total)


def new_problems(session: Session, period: Period, limit: int) -> tuple[list[dict], int]:
    return _page(session, _within(f.c.submitted_at, period), (f.c.submitted_at,), limit, f.c.status)


def resolved_problems(session: Session, period: Period, limit: int) -> tuple[list[dict], int]:
    items, total = _page(session, and_(_within(f.c.closed_at, period), f.c.closed_outcome == "solved"),
                         (f.c.closed_at,), limit, f.c.closed_at, f.c.closed_on_time, f.c.closing_reply_days)
    for item in items:
        days = item.pop("closing_reply_days")
        item["within_week"] = days is not None and days <= 7
        item["within_deadline"] = bool(item.pop("closed_on_time"))
    return items, total
