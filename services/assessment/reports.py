"""The weekly report (周报) and the monthly bulletin (月度通报) as one JSON-ready document.

The numbers come from :mod:`measures` (SQL aggregation); the rates, scores,
ranking, rectification list and targets from the pure rules of :mod:`domain`.
The renderings (HTML, XLSX, CSV) read only this document, so all four formats
carry the same numbers. The coordination rungs (the office, city, province) have a
section of their own (``coordination``) and are never ranked. A published report is
frozen: :func:`publish` stores the document, :func:`published` reads it back, and the
service answers a published period with it whatever happened later.
"""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.assessment import domain, lists, measures, natures, visits
from services.assessment import rectification as rectifying
from services.assessment.domain import Period
from services.assessment.models import outbox, published_reports
from shared.errors import Conflict
from shared.events import Event, make_event
from shared.outbox import add_event

GROUP_NAMES = {"department": "部门", "locality": "属地"}
COORDINATION_NAME = "协调层级（不参与排名）"
REPORT_NAMES = {"weekly": "周报", "monthly": "月度通报"}


def rate_label(part: dict, key: str) -> str:
    return (part["scoring"].get("labels") or {}).get(key) or domain.RATES[key][2]


def unit_scores(session: Session, period: Period, part: dict, now: datetime) -> tuple[dict, dict]:
    """Counts per unit and each unit's score in the period."""
    counts = measures.counts_by(session, period, "unit", now)
    scores = {unit: domain.score(domain.rates(c), c, part["scoring"]) for unit, c in counts.items()}
    return counts, scores


def build(session: Session, kind: str, period: Period, previous: Period, part: dict, units: dict,
          now: datetime, office: str | None = None) -> dict:
    scoring = part["scoring"]
    groups = {code: u["type"] for code, u in units.items() if u["type"] in GROUP_NAMES}
    counts, scores = unit_scores(session, period, part, now)
    _before_counts, before_scores = unit_scores(session, previous, part, now)
    overall_counts = measures.overall(session, period, now)
    overall_rates = domain.rates(overall_counts)

    unit_rows, coordination_rows = [], []
    for code in sorted(set(groups) | {c for c in counts if c != measures.UNKNOWN}):
        c = counts.get(code) or {n: 0 for n in measures.ALL_COUNTS}
        unit = units.get(code, {})
        if domain.is_coordination(code, units, office):
            coordination_rows.append({"unit": code, "name": unit.get("name", code), "group": COORDINATION_NAME,
                                      "counts": c, "rates": domain.rates(c)})
            continue
        unit_rows.append({"unit": code, "name": unit.get("name", code),
                          "group": GROUP_NAMES.get(unit.get("type"), "其他"),
                          "counts": c, "rates": domain.rates(c), "score": scores.get(code)})
    ranking = [{"unit": r.unit, "name": units.get(r.unit, {}).get("name", r.unit), "group": GROUP_NAMES[r.group],
                "score": r.score, "rank": r.rank, "previous_rank": r.previous_rank, "change": r.change}
               for r in domain.rank({c: scores.get(c) for c in groups}, groups,
                                    {c: before_scores.get(c) for c in groups})]
    threshold = scoring["satisfaction_threshold"]
    # 限期整改, followed up: this period's list (with the named person, how many periods in a row,
    # escalated), and how the units on the previous period's list did (services/assessment/rectification.py)
    before_orders = rectifying.previous_orders(session, kind, previous.label)
    unit_rates = {r["unit"]: r["rates"] for r in unit_rows}
    rectification = rectifying.entries(domain.flagged(unit_rates, threshold), before_orders, units, threshold,
                                       part["rectification"]["escalate_after"])

    def grouped(group: str) -> list[dict]:
        rows = measures.counts_by(session, period, group, now)
        return [{"key": key, "counts": c, "rates": domain.rates(c)} for key, c in sorted(rows.items())]

    overdue, overdue_total = measures.overdue_list(session, period, now, part["reports"]["overdue_list_limit"])
    trend = measures.weekly_trend(session, domain.previous_weeks(period, part["reports"]["trend_weeks"]))
    return {
        "report": kind,
        "name": REPORT_NAMES[kind],
        "period": period.label,
        "title": f"{period.title}企业诉求办理{REPORT_NAMES[kind]}",
        "start": period.start, "end": period.end,
        "previous_period": previous.label,
        "generated_at": now,
        "scheme": scoring["name"],
        "weights": scoring["weights"], "deductions": scoring.get("deductions") or {},
        "labels": {key: rate_label(part, key) for key in domain.RATES},
        "summary": {
            "new_appeals": overall_counts["received"],
            "dispatched": overall_counts["dispatched"],
            "pending": overall_counts["pending"],
            "returned_in_time": overall_counts["returned_in_time"],
            "resolved": overall_counts["resolved"],
            "resolved_within_week": overall_counts["resolved_within_week"],
            "resolved_within_deadline": overall_counts["resolved_within_deadline"],
            "closed": overall_counts["closed"],
            "closed_explained": overall_counts["closed_explained"],
            "closed_long_term": overall_counts["closed_long_term"],
            "callbacks_answered": overall_counts["answered"],
            "callbacks_unanswered": overall_counts["unanswered"],
            "open_by_colour": measures.open_by_colour(session, period, now),
            "overdue": overdue_total,
        },
        "overall": {"counts": overall_counts, "rates": overall_rates},
        "units": unit_rows,
        "coordination": coordination_rows,
        "ranking": ranking,
        "rectification": rectification,
        "targets": domain.against_targets(overall_rates, part.get("targets") or {}),
        "by_category": grouped("category"),
        "by_district": grouped("district"),
        "overdue": overdue,
        "trend": trend,
        # the monthly bulletin's visits (走访) and pairing coverage (包联覆盖)
        "visits": visits.section(session, period, part, units) if kind == "monthly" else None,
        **_issue16(session, period, part, unit_rows, before_orders, threshold),
    }


def _issue16(session: Session, period: Period, part: dict, unit_rows: list[dict], before_orders: dict,
             threshold: float) -> dict:
    """Natures and common problems, the rectification follow-up, the targets per unit, the weekly lists."""
    limit = part["reports"]["overdue_list_limit"]
    new, new_total = lists.new_problems(session, period, limit)
    resolved, resolved_total = lists.resolved_problems(session, period, limit)
    targets = part.get("targets") or {}
    return {
        "natures": natures.nature_counts(session, period),
        "common_problems": natures.common_problems(session, period),
        "rectification_follow_up": rectifying.follow_up(before_orders, {r["unit"]: r["rates"] for r in unit_rows},
                                                        threshold),
        "targets_by_unit": [{"unit": r["unit"], "name": r["name"], "group": r["group"],
                             "targets": domain.against_targets(r["rates"], targets)}
                            for r in unit_rows if targets],
        "new_problems": new, "new_problems_total": new_total,
        "resolved_problems": resolved, "resolved_problems_total": resolved_total,
    }


# ---------------------------------------------------------------- frozen publications
def _instant(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def frozen(report: dict) -> dict:
    """The document as stored: JSON (instants as ISO 8601 text), the same as the JSON format."""
    return json.loads(json.dumps(report, default=_instant, ensure_ascii=False))


def publish(session: Session, kind: str, period: Period, report: dict, *, event_id: str, actor: str,
            now: datetime) -> None:
    """Store the published figures (the caller holds the transaction and emits the events)."""
    session.execute(published_reports.insert().values(
        event_id=event_id, report=kind, period=period.label, published_at=now, published_by=actor,
        document={**frozen(report), "published_at": now.isoformat(), "published_by": actor}))


def rates(session: Session, period: Period, by: str, now: datetime, scoring: dict,
          only_unit: str | None = None) -> list[dict]:
    """The counts and rates of ``period`` per ``by`` (overall / unit / category / district), each
    unit's score with them; ``only_unit``: that unit's row alone (what a unit may see)."""
    group = None if by == "overall" else by
    counts = measures.counts_by(session, period, group, now)
    if only_unit is not None:
        counts = {key: c for key, c in counts.items() if key == only_unit}
    return [{"key": key, "counts": c, "rates": domain.rates(c),
             **({"score": domain.score(domain.rates(c), c, scoring)} if group == "unit" else {})}
            for key, c in sorted(counts.items())]


def publication_links(base_url: str, kind: str, period: Period, formats: tuple[str, ...]) -> dict[str, str]:
    """Where the published report is read, in each format (``report_published.links``)."""
    name = "week" if kind == "weekly" else "month"
    return {fmt: f"{base_url.rstrip('/')}/api/v1/reports/{kind}?{name}={period.label}&format={fmt}"
            for fmt in formats}


def record_publication(session: Session, kind: str, period: Period, report: dict, links: dict[str, str], *,
                       actor: str, now: datetime, rectification_days: int) -> Event:
    """发布: store the figures as published (frozen) and write ``report_published`` and a
    ``unit_flagged`` per unit to rectify (with its order, 限期整改) to the outbox, in the caller's
    transaction. A period is published once: Conflict if it already was."""
    known = session.execute(select(published_reports.c.event_id).where(
        published_reports.c.report == kind, published_reports.c.period == period.label)).first()
    if known is not None:
        raise Conflict(f"the {kind} report of {period.label} was already published")
    summary = {**{k: v for k, v in report["summary"].items() if k != "open_by_colour"},
               "open_by_colour": report["summary"]["open_by_colour"],
               "rates": report["overall"]["rates"], "rectification": [e["unit"] for e in report["rectification"]]}
    event = make_event("report_published", {"report": kind, "period": period.label, "links": links,
                                            "summary": summary}, producer="assessment", now=now)
    publish(session, kind, period, report, event_id=event.id, actor=actor, now=now)
    add_event(session, outbox, event)
    issued = {order["unit"]: order for order in rectifying.issue(
        session, kind, period.label, report["rectification"], now=now, actor=actor, working_days=rectification_days)}
    for entry in report["rectification"]:
        order = issued[entry["unit"]]
        add_event(session, outbox, make_event("unit_flagged", {
            "unit": entry["unit"], "period": period.label, "satisfaction_rate": entry["satisfaction_rate"],
            "threshold": entry["threshold"], "order_id": order["id"], "deadline": order["deadline"],
            "responsible": order["responsible"], "consecutive": order["consecutive"],
            "escalated": order["escalated"]}, producer="assessment", now=now, correlation_id=event.id))
    return event


def published(session: Session, kind: str, period: Period) -> dict | None:
    """The figures as published for the period (None: not published, or published before the
    figures were stored, when the report is computed afresh)."""
    row = session.execute(select(published_reports.c.document).where(
        published_reports.c.report == kind, published_reports.c.period == period.label)).first()
    return None if row is None or row.document is None else row.document
