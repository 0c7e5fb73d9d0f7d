"""The measures of ``docs/measures.md`` by SQL aggregation: ``count(*) FILTER (WHERE ...)`` per group.

Nothing here loads appeals into Python: each function returns a few rows per
unit, category, district or week. Periods are ``[start, end)``; the ``WHERE``
clause takes only the rows that touch the period through one of its indexed
timestamps, so a week of a million-appeal table reads that week's rows.

Who is measured (``docs/measures.md``, "who is measured"):

* per dispatch (``dispatch_facts``): the response rate and its parts, each dispatch in the
  period it was made, against the unit it was made to (:func:`domain.dispatch_response` is
  the same rule in Python);
* per appeal the unit held as lead (a dispatch to it not ended by a return): appeals received,
  solved by the unit's own reply, solved within 7 / 60 days;
* per closing reply (``appeal_facts.closed_unit``): closed, on time, explained, long-term;
  per reply called back (``callbacks.unit``, ``replied_unit``): satisfaction, unanswered;
* per stint: deadlines that passed while the unit held the appeal (``overdue``); returns and
  escalations stay with the unit that held it.

Overall, by category and by district, every appeal counts once (the response rate: every
dispatch once). States (colour, open, overdue) are taken as of the period's end (or now, for
a period not over yet), from the colour history.

Public API (for reports and later measures, e.g. the annual score): :func:`counts_by`,
:func:`open_by_colour`, :func:`overdue_list`, :func:`weekly_trend`, :func:`colour_at`.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, case, func, literal, null, or_, select
from sqlalchemy.orm import Session

from services.assessment import domain
from services.assessment.domain import COUNTS, Period
from services.assessment.models import appeal_facts as f
from services.assessment.models import callbacks as cb
from services.assessment.models import colour_changes as cc
from services.assessment.models import dispatch_facts as d
from services.assessment.models import escalations as esc
from services.assessment.models import returns as ret
from services.assessment.models import stint_facts as s

APPEAL_GROUPS = {"category": f.c.category, "district": f.c.district}
GROUPS = ("unit", "category", "district")
OVERALL = "__overall__"
ACTIVITY = ("resolved", "resolved_within_week", "resolved_within_deadline")
ALL_COUNTS = COUNTS + ACTIVITY
UNKNOWN = "未分类"


def _within(column, period: Period):
    return and_(column >= period.start, column < period.end)


def _count(condition):
    return func.count().filter(condition)


def _merge(result: dict, rows) -> None:
    for row in rows:
        mapping = dict(row._mapping)
        key = mapping.pop("key") or UNKNOWN
        bucket = result.setdefault(key, {})
        for name, value in mapping.items():
            bucket[name] = bucket.get(name, 0) + int(value or 0)


def _select(key, expressions: dict, group: str | None):
    """``SELECT key, count(*) FILTER (...) AS name ...`` grouped by ``key`` (none: one overall row)."""
    query = select((key if group else literal(OVERALL)).label("key"),
                   *(e.label(n) for n, e in expressions.items()))
    return query.group_by(key) if group else query


# ---------------------------------------------------------------- per dispatch: the response rate
def _dispatch_expressions(now: datetime) -> dict:
    """The SQL of :func:`domain.dispatch_response` (the same order of the rules)."""
    due = d.c.accept_due_at
    returned_in_time = and_(d.c.returned_at.isnot(None), or_(due.is_(None), d.c.returned_at <= due))
    responded = and_(~returned_in_time, d.c.accepted_at.isnot(None), or_(due.is_(None), d.c.accepted_at <= due))
    pending = and_(~returned_in_time, d.c.accepted_at.is_(None), d.c.end_kind.is_(None),
                   or_(due.is_(None), due > now))
    withdrawn = and_(~returned_in_time, d.c.accepted_at.is_(None), d.c.end_kind == domain.MOVED,
                     d.c.ended_at.isnot(None), or_(due.is_(None), d.c.ended_at <= due))
    not_responded = and_(~returned_in_time, ~responded, ~pending, ~withdrawn)
    return {"dispatched": func.count(), "pending": _count(pending), "returned_in_time": _count(returned_in_time),
            "withdrawn": _count(withdrawn), "responded": _count(responded),
            "not_responded": _count(not_responded),
            "response_counted": _count(or_(responded, not_responded))}


def _dispatch_counts(period: Period, group: str | None, now: datetime):
    key = d.c.unit if group == "unit" else APPEAL_GROUPS.get(group, d.c.unit)
    query = _select(key, _dispatch_expressions(now), group).where(_within(d.c.made_at, period))
    if group in APPEAL_GROUPS:
        query = query.select_from(d.join(f, f.c.appeal_id == d.c.appeal_id))
    return query


# ---------------------------------------------------------------- per appeal
def _appeal_expressions(period: Period, now: datetime, *, received: bool = True, closing: bool = True,
                        collected: bool = True, unanswered: bool = True) -> dict:
    """Counts over ``appeal_facts`` rows; outcomes as of the report's generation (a solving reply
    or callback after the period still counts for an appeal received in it)."""
    cutoff = min(period.end, now)
    in_received = _within(f.c.submitted_at, period)
    solved = and_(in_received, f.c.closed_outcome == "solved")
    closed = _within(f.c.closed_at, period)
    resolved = and_(closed, f.c.closed_outcome == "solved")
    out: dict = {}
    if collected:
        in_collected = _within(f.c.collected_at, period)
        out.update(collected=_count(and_(in_collected, f.c.submitted_on_time.isnot(None))),
                   submitted_on_time=_count(and_(in_collected, f.c.submitted_on_time.is_(True))))
    if received:
        out.update(received=_count(in_received), solved=_count(solved),
                   solved_7d=_count(and_(solved, f.c.closing_reply_days <= 7)),
                   solved_60d=_count(and_(solved, f.c.closing_reply_days <= 60)))
    if closing:
        out.update(closed=_count(closed), closed_on_time=_count(and_(closed, f.c.closed_on_time.is_(True))),
                   closed_explained=_count(and_(closed, f.c.closed_outcome == "explained")),
                   closed_long_term=_count(and_(closed, f.c.closed_outcome == "long_term")),
                   resolved=_count(resolved),
                   resolved_within_week=_count(and_(resolved, f.c.closing_reply_days <= 7)),
                   resolved_within_deadline=_count(and_(resolved, f.c.closed_on_time.is_(True))))
    if unanswered:
        out.update(unanswered=_count(and_(f.c.callback_answered_at.is_(None),
                                          f.c.callback_expires_at >= period.start,
                                          f.c.callback_expires_at < cutoff)))
    return out


def _touches(period: Period):
    return or_(_within(f.c.collected_at, period), _within(f.c.submitted_at, period),
               _within(f.c.closed_at, period),
               and_(f.c.callback_answered_at.is_(None), _within(f.c.callback_expires_at, period)))


def _appeal_counts_by_unit(period: Period, now: datetime) -> list:
    """A unit's appeal counts, each from the stint it is measured on."""
    appeals = func.count(f.c.appeal_id.distinct())  # an appeal the unit held twice counts once
    solved_by_it = and_(f.c.closed_outcome == "solved", f.c.closed_unit == d.c.unit)
    received = (select(d.c.unit.label("key"), appeals.label("received"),
                       appeals.filter(solved_by_it).label("solved"),
                       appeals.filter(and_(solved_by_it, f.c.closing_reply_days <= 7)).label("solved_7d"),
                       appeals.filter(and_(solved_by_it, f.c.closing_reply_days <= 60)).label("solved_60d"))
                .select_from(d.join(f, f.c.appeal_id == d.c.appeal_id))
                .where(_within(f.c.submitted_at, period),
                       or_(d.c.end_kind.is_(None), d.c.end_kind != domain.RETURNED))  # held as lead
                .group_by(d.c.unit))
    collected = (_select(f.c.first_unit, _appeal_expressions(period, now, received=False, closing=False,
                                                             unanswered=False), "unit")
                 .where(_within(f.c.collected_at, period)))
    closing = (_select(f.c.closed_unit, _appeal_expressions(period, now, received=False, collected=False,
                                                            unanswered=False), "unit")
               .where(_within(f.c.closed_at, period)))
    unanswered = (_select(f.c.replied_unit, _appeal_expressions(period, now, received=False, collected=False,
                                                                closing=False), "unit")
                  .where(f.c.callback_answered_at.is_(None), _within(f.c.callback_expires_at, period)))
    return [received, collected, closing, unanswered]


# ---------------------------------------------------------------- per stint: deadlines passed while held
def _overdue_counts(period: Period, group: str | None, now: datetime) -> list:
    """Deadlines that fell due in the period (and before now) unmet while the unit still held the
    appeal: an acceptance deadline of a dispatch, a reply deadline of a stint."""
    accept_due, reply_due = d.c.accept_due_at, s.c.reply_due_at
    accept_missed = and_(_within(accept_due, period), accept_due < now,
                         or_(d.c.accepted_at.is_(None), d.c.accepted_at > accept_due),
                         or_(d.c.ended_at.is_(None), d.c.ended_at > accept_due))
    reply_missed = and_(_within(reply_due, period), reply_due < now,
                        or_(s.c.ended_at.is_(None), s.c.ended_at > reply_due))
    queries = []
    for table, condition in ((d, accept_missed), (s, reply_missed)):
        key = table.c.unit if group == "unit" else APPEAL_GROUPS.get(group, table.c.unit)
        query = _select(key, {"overdue": func.count()}, group).where(condition)
        if group in APPEAL_GROUPS:
            query = query.select_from(table.join(f, f.c.appeal_id == table.c.appeal_id))
        queries.append(query)
    return queries


def counts_by(session: Session, period: Period, group: str | None, now: datetime) -> dict[str, dict[str, int]]:
    """Every count of :data:`ALL_COUNTS` per ``group`` (unit / category / district), or overall
    (``group`` None: the key :data:`OVERALL`, every appeal once). ``now``: when the report is
    generated (pending dispatches and the outcomes known are those of that moment)."""
    if group is not None and group not in GROUPS:
        raise ValueError(f"unknown group {group!r}")
    result: dict[str, dict[str, int]] = {}
    queries = [_dispatch_counts(period, group, now), *_overdue_counts(period, group, now)]
    if group == "unit":
        queries += _appeal_counts_by_unit(period, now)
    else:
        key = APPEAL_GROUPS.get(group, f.c.appeal_id)
        queries.append(_select(key, _appeal_expressions(period, now), group).where(_touches(period)))
    for query in queries:
        _merge(result, session.execute(query))

    # callbacks answered in the period, by the unit whose reply was rated (or the appeal's group)
    satisfied = _count(cb.c.satisfaction.in_(domain.SATISFIED))
    cb_key = cb.c.unit if group == "unit" else APPEAL_GROUPS.get(group, cb.c.unit)
    cb_query = _select(cb_key, {"answered": func.count(), "satisfied": satisfied}, group) \
        .where(_within(cb.c.called_at, period))
    if group in APPEAL_GROUPS:
        cb_query = cb_query.select_from(cb.join(f, f.c.appeal_id == cb.c.appeal_id))
    _merge(result, session.execute(cb_query))

    # returns and escalations stay with the unit that held the appeal
    for name, table, at, extra in (("returns", ret, ret.c.returned_at, ()),
                                   ("overdue_escalations", esc, esc.c.escalated_at, (esc.c.reason == "overdue",))):
        key = table.c.unit if group == "unit" else APPEAL_GROUPS.get(group, table.c.unit)
        query = _select(key, {name: func.count()}, group).where(_within(at, period), *extra)
        if group in APPEAL_GROUPS:
            query = query.select_from(table.join(f, f.c.appeal_id == table.c.appeal_id))
        _merge(result, session.execute(query))
    for bucket in result.values():
        for name in ALL_COUNTS:
            bucket.setdefault(name, 0)
    if group is None:
        result.setdefault(OVERALL, {name: 0 for name in ALL_COUNTS})
    return result


def overall(session: Session, period: Period, now: datetime) -> dict[str, int]:
    """The overall counts: every appeal once (a unit's figures overlap: an appeal escalated from a
    unit to the office is in both their resolution denominators, once overall)."""
    return counts_by(session, period, None, now)[OVERALL]


# ---------------------------------------------------------------- states as of an instant
def colour_at(instant: datetime):
    """Each appeal's colour just before ``instant``, from the colour history, as a subquery
    (``appeal_id``, ``colour``; none when no stage ran then)."""
    ranked = (select(cc.c.appeal_id, cc.c.colour,
                     func.row_number().over(partition_by=cc.c.appeal_id,
                                            order_by=(cc.c.changed_at.desc(), cc.c.id.desc())).label("n"))
              .where(cc.c.changed_at < instant).subquery("ranked_colours"))
    return select(ranked.c.appeal_id, ranked.c.colour).where(ranked.c.n == 1).subquery("colour_at")


def _instant(period: Period, now: datetime) -> datetime:
    """A period's end, or now for a period not over yet: the moment its states are taken at."""
    return min(period.end, now)


def _open_at(instant: datetime):
    return and_(f.c.submitted_at < instant, or_(f.c.closed_at.is_(None), f.c.closed_at >= instant))


def open_by_colour(session: Session, period: Period, now: datetime) -> dict[str, int]:
    """Appeals open at the end of the period, by their colour then (none: no stage ran)."""
    instant = _instant(period, now)
    colours = colour_at(instant)
    rows = session.execute(select(colours.c.colour, func.count())
                           .select_from(f.outerjoin(colours, colours.c.appeal_id == f.c.appeal_id))
                           .where(_open_at(instant)).group_by(colours.c.colour))
    out = {"green": 0, "yellow": 0, "red": 0, "none": 0}
    for colour, n in rows:
        out[colour or "none"] += int(n)
    return out


def _running_stints(instant: datetime):
    """The stint running at ``instant`` of each appeal (the latest started, when several)."""
    ranked = (select(s.c.appeal_id, s.c.unit, s.c.reply_due_at, s.c.dispatch_id,
                     func.row_number().over(partition_by=s.c.appeal_id,
                                            order_by=(s.c.started_at.desc(), s.c.id.desc())).label("n"))
              .where(s.c.started_at < instant, or_(s.c.ended_at.is_(None), s.c.ended_at >= instant))
              .subquery("ranked_stints"))
    return select(ranked).where(ranked.c.n == 1).subquery("running")


def overdue_list(session: Session, period: Period, now: datetime, limit: int) -> tuple[list[dict], int]:
    """Appeals overdue at the end of the period: open then, and red then or with the running
    stage's deadline passed then (acceptance not signed by it, or no reply by it).

    An appeal waiting for its callback has no running stint: the unit has answered.
    """
    instant = _instant(period, now)
    colours, running = colour_at(instant), _running_stints(instant)
    accepting = or_(d.c.accepted_at.is_(None), d.c.accepted_at >= instant)
    due = case((and_(running.c.appeal_id.isnot(None), accepting), d.c.accept_due_at),
               else_=running.c.reply_due_at)
    deadline_passed = and_(running.c.appeal_id.isnot(None), due < instant)
    candidates = (select(f.c.appeal_id, f.c.title, f.c.enterprise_name,
                         func.coalesce(running.c.unit, f.c.lead_unit).label("lead_unit"), f.c.category,
                         f.c.district, case((running.c.appeal_id.is_(None), null()),
                                            (accepting, literal("accept")), else_=literal("reply")).label("stage"),
                         colours.c.colour, f.c.submitted_at, due.label("due_at"))
                  .select_from(f.outerjoin(colours, colours.c.appeal_id == f.c.appeal_id)
                               .outerjoin(running, running.c.appeal_id == f.c.appeal_id)
                               .outerjoin(d, d.c.id == running.c.dispatch_id))
                  .where(_open_at(instant), or_(colours.c.colour == "red", deadline_passed))
                  .subquery("overdue_appeals"))
    total = session.execute(select(func.count()).select_from(candidates)).scalar_one()
    rows = session.execute(select(candidates)
                           .order_by(candidates.c.due_at.asc().nulls_last(), candidates.c.appeal_id)
                           .limit(limit)).fetchall()
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
