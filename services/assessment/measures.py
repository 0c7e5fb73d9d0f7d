"""The measures by SQL aggregation: one ``GROUP BY`` with ``count(*) FILTER (WHERE ...)`` per query.

Nothing here loads appeals into Python: each function returns a few rows per
unit, category, district or week. Periods are ``[start, end)``; the ``WHERE``
clause takes only the rows that touch the period through one of its indexed
timestamps, so a week of a million-appeal table reads that week's rows.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, case, func, literal, or_, select, union_all
from sqlalchemy.orm import Session

from services.assessment.domain import COUNTS, Period
from services.assessment.models import appeal_facts as f
from services.assessment.models import callbacks as cb
from services.assessment.models import escalations as esc
from services.assessment.models import returns as ret

GROUPS = {"unit": f.c.lead_unit, "category": f.c.category, "district": f.c.district}
OVERALL = "__overall__"


def _within(column, period: Period):
    return and_(column >= period.start, column < period.end)


def _fact_counts(period: Period, now: datetime) -> dict:
    """The labelled ``count(*) FILTER`` expressions over ``appeal_facts`` for one period."""
    cutoff = min(period.end, now)
    collected = _within(f.c.collected_at, period)
    received = _within(f.c.submitted_at, period)
    dispatched = and_(_within(f.c.dispatched_at, period), f.c.lead_unit.isnot(None))
    closed = _within(f.c.closed_at, period)
    solved_by_end = and_(received, f.c.closed_outcome == "solved", f.c.closed_at < period.end)
    resolved_in_period = and_(closed, f.c.closed_outcome == "solved")
    count = lambda condition: func.count().filter(condition)  # noqa: E731
    return {
        "collected": count(collected),
        "submitted_on_time": count(and_(collected, f.c.submitted_on_time.is_(True))),
        "dispatched": count(dispatched),
        "responded": count(and_(dispatched, f.c.accepted_at.isnot(None), f.c.accepted_at < period.end,
                                or_(f.c.accept_due_at.is_(None), f.c.accepted_at <= f.c.accept_due_at))),
        "received": count(received),
        "solved": count(solved_by_end),
        "closed": count(closed),
        "closed_on_time": count(and_(closed, f.c.closed_on_time.is_(True))),
        "closed_explained": count(and_(closed, f.c.closed_outcome == "explained")),
        "closed_long_term": count(and_(closed, f.c.closed_outcome == "long_term")),
        "unanswered": count(and_(f.c.callback_answered_at.is_(None), f.c.callback_expires_at >= period.start,
                                 f.c.callback_expires_at < cutoff)),
        "solved_7d": count(and_(solved_by_end, f.c.closing_reply_days <= 7)),
        "solved_60d": count(and_(solved_by_end, f.c.closing_reply_days <= 60)),
        # activity in the period (the weekly report's "resolved: total, within a week, within the deadline")
        "resolved": count(resolved_in_period),
        "resolved_within_week": count(and_(resolved_in_period, f.c.closing_reply_days <= 7)),
        "resolved_within_deadline": count(and_(resolved_in_period, f.c.closed_on_time.is_(True))),
    }


def _touches(period: Period):
    return or_(_within(f.c.collected_at, period), _within(f.c.submitted_at, period),
               _within(f.c.dispatched_at, period), _within(f.c.closed_at, period),
               and_(f.c.callback_answered_at.is_(None), _within(f.c.callback_expires_at, period)))


ACTIVITY = ("resolved", "resolved_within_week", "resolved_within_deadline")
ALL_COUNTS = COUNTS + ACTIVITY


def counts_by(session: Session, period: Period, group: str | None, now: datetime) -> dict[str, dict[str, int]]:
    """Every count of :data:`ALL_COUNTS` per ``group`` (unit / category / district) or overall."""
    key = GROUPS[group].label("key") if group else literal(OVERALL).label("key")
    expressions = _fact_counts(period, now)
    query = select(key, *(e.label(n) for n, e in expressions.items())).where(_touches(period))
    if group:
        query = query.group_by(GROUPS[group])
    result: dict[str, dict[str, int]] = {}
    for row in session.execute(query):
        mapping = dict(row._mapping)
        group_key = mapping.pop("key") or "未分类"
        result[group_key] = {n: int(v or 0) for n, v in mapping.items()}

    # callbacks answered in the period, by the unit whose reply was rated (or the appeal's group)
    satisfied = func.count().filter(cb.c.satisfaction.in_(("满意", "基本满意")))
    if group == "unit":
        cb_key = cb.c.unit
        cb_query = select(cb_key.label("key"), func.count().label("answered"), satisfied.label("satisfied"))
    elif group:
        cb_key = GROUPS[group]
        cb_query = (select(cb_key.label("key"), func.count().label("answered"), satisfied.label("satisfied"))
                    .select_from(cb.join(f, f.c.appeal_id == cb.c.appeal_id)))
    else:
        cb_key = None
        cb_query = select(literal(OVERALL).label("key"), func.count().label("answered"),
                          satisfied.label("satisfied"))
    cb_query = cb_query.where(_within(cb.c.called_at, period))
    if cb_key is not None:
        cb_query = cb_query.group_by(cb_key)
    for row in session.execute(cb_query):
        bucket = result.setdefault(row.key or "未分类", {n: 0 for n in ALL_COUNTS})
        bucket["answered"], bucket["satisfied"] = int(row.answered), int(row.satisfied or 0)

    if group in ("unit", None):  # deductions belong to units
        unit_key = (lambda column: column) if group else (lambda column: literal(OVERALL))
        for name, query in (
            ("returns", select(unit_key(ret.c.unit).label("key"), func.count().label("n"))
             .where(_within(ret.c.returned_at, period))),
            ("overdue_escalations", select(unit_key(esc.c.unit).label("key"), func.count().label("n"))
             .where(_within(esc.c.escalated_at, period), esc.c.reason == "overdue")),
        ):
            if group:
                query = query.group_by(query.selected_columns.key)
            for row in session.execute(query):
                result.setdefault(row.key or "未分类", {n: 0 for n in ALL_COUNTS})[name] = int(row.n)
    for bucket in result.values():
        for name in ALL_COUNTS:
            bucket.setdefault(name, 0)
    return result


def _open_at_end(period: Period, *columns):
    """The given columns of the appeals open at the end of the period, as a subquery.

    Two halves joined by ``UNION ALL`` so each uses its index: those never closed
    (the partial index ``ix_appeal_facts_open``) and those closed after the period.
    """
    never_closed = select(*columns).where(f.c.closed_at.is_(None), f.c.submitted_at < period.end)
    closed_later = select(*columns).where(f.c.closed_at >= period.end, f.c.submitted_at < period.end)
    return union_all(never_closed, closed_later).subquery("open_appeals")


def overall(by_group: dict[str, dict[str, int]]) -> dict[str, int]:
    """The overall counts: a GROUP BY partitions the rows, so the groups' counts add up to them."""
    return {name: sum(bucket.get(name, 0) for bucket in by_group.values()) for name in ALL_COUNTS}


def open_by_colour(session: Session, period: Period) -> dict[str, int]:
    """Appeals open at the end of the period, by their colour as last known (none: no colour yet)."""
    open_appeals = _open_at_end(period, f.c.colour)
    rows = session.execute(select(open_appeals.c.colour, func.count()).group_by(open_appeals.c.colour))
    out = {"green": 0, "yellow": 0, "red": 0, "none": 0}
    for colour, n in rows:
        out[colour or "none"] = int(n)
    return out


def overdue_list(session: Session, period: Period, now: datetime, limit: int) -> tuple[list[dict], int]:
    """Open appeals past a deadline at the end of the period (red, or a due time passed unmet).

    An appeal waiting for its callback (``replied``) is not overdue: the unit has answered.
    """
    cutoff = min(period.end, now)
    due = func.coalesce(case((f.c.accepted_at.is_(None), f.c.accept_due_at), else_=f.c.reply_due_at),
                        f.c.reply_due_at).label("due_at")
    overdue = and_(f.c.status != "replied",
                   or_(f.c.colour == "red", f.c.reply_due_at < cutoff,
                       and_(f.c.accepted_at.is_(None), f.c.accept_due_at < cutoff)))
    never_closed = select(f.c.appeal_id, due).where(f.c.closed_at.is_(None), f.c.submitted_at < period.end, overdue)
    closed_later = select(f.c.appeal_id, due).where(f.c.closed_at >= period.end, f.c.submitted_at < period.end,
                                                    overdue)
    candidates = union_all(never_closed, closed_later).subquery("overdue_appeals")
    total = session.execute(select(func.count()).select_from(candidates)).scalar_one()
    first = (select(candidates.c.appeal_id, candidates.c.due_at)
             .order_by(candidates.c.due_at.asc().nulls_last(), candidates.c.appeal_id).limit(limit).subquery())
    rows = session.execute(
        select(f.c.appeal_id, f.c.title, f.c.enterprise_name, f.c.lead_unit, f.c.category, f.c.district,
               f.c.status, f.c.colour, f.c.submitted_at, first.c.due_at)
        .join(first, first.c.appeal_id == f.c.appeal_id)
        .order_by(first.c.due_at.asc().nulls_last(), f.c.appeal_id)).fetchall()
    return [dict(r._mapping) for r in rows], int(total)


def weekly_trend(session: Session, weeks: list[Period]) -> list[dict]:
    """New and resolved (closed as solved) appeals per week, in one pass."""
    span = Period("range", "trend", weeks[0].start, weeks[-1].end)
    columns = []
    for index, week in enumerate(weeks):
        columns.append(func.count().filter(_within(f.c.submitted_at, week)).label(f"new_{index}"))
        columns.append(func.count().filter(and_(_within(f.c.closed_at, week), f.c.closed_outcome == "solved"))
                       .label(f"resolved_{index}"))
    row = session.execute(select(*columns).where(or_(_within(f.c.submitted_at, span),
                                                     _within(f.c.closed_at, span)))).one()
    return [{"week": week.label, "new": int(getattr(row, f"new_{i}")), "resolved": int(getattr(row, f"resolved_{i}"))}
            for i, week in enumerate(weeks)]
