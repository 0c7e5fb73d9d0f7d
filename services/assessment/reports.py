"""The weekly report (周报) and the monthly bulletin (月度通报) as one JSON-ready document.

The numbers come from :mod:`measures` (SQL aggregation); the rates, scores,
ranking, rectification list and targets from the pure rules of :mod:`domain`.
The renderings (HTML, XLSX, CSV) read only this document, so all four formats
carry the same numbers.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from services.assessment import domain, measures, visits
from services.assessment.domain import Period

GROUP_NAMES = {"department": "部门", "locality": "属地"}
REPORT_NAMES = {"weekly": "周报", "monthly": "月度通报"}


def rate_label(part: dict, key: str) -> str:
    return (part["scoring"].get("labels") or {}).get(key) or domain.RATES[key][2]


def unit_scores(session: Session, period: Period, part: dict, now: datetime) -> tuple[dict, dict]:
    """Counts per unit and each unit's score in the period."""
    counts = measures.counts_by(session, period, "unit", now)
    scores = {unit: domain.score(domain.rates(c), c, part["scoring"]) for unit, c in counts.items()}
    return counts, scores


def build(session: Session, kind: str, period: Period, previous: Period, part: dict, units: dict,
          now: datetime) -> dict:
    scoring = part["scoring"]
    groups = {code: u["type"] for code, u in units.items() if u["type"] in GROUP_NAMES}
    counts, scores = unit_scores(session, period, part, now)
    _before_counts, before_scores = unit_scores(session, previous, part, now)
    overall_counts = measures.overall(counts)
    overall_rates = domain.rates(overall_counts)

    unit_rows = []
    for code in sorted(set(groups) | {c for c in counts if c != "未分类"}):
        c = counts.get(code) or {n: 0 for n in measures.ALL_COUNTS}
        unit = units.get(code, {})
        unit_rows.append({"unit": code, "name": unit.get("name", code),
                          "group": GROUP_NAMES.get(unit.get("type"), "其他"),
                          "counts": c, "rates": domain.rates(c), "score": scores.get(code)})
    ranking = [{"unit": r.unit, "name": units.get(r.unit, {}).get("name", r.unit), "group": GROUP_NAMES[r.group],
                "score": r.score, "rank": r.rank, "previous_rank": r.previous_rank, "change": r.change}
               for r in domain.rank({c: scores.get(c) for c in groups}, groups,
                                    {c: before_scores.get(c) for c in groups})]
    threshold = scoring["satisfaction_threshold"]
    rectification = [{"unit": code, "name": units.get(code, {}).get("name", code), "satisfaction_rate": rate,
                      "threshold": threshold}
                     for code, rate in domain.flagged({r["unit"]: r["rates"] for r in unit_rows}, threshold)]

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
            "resolved": overall_counts["resolved"],
            "resolved_within_week": overall_counts["resolved_within_week"],
            "resolved_within_deadline": overall_counts["resolved_within_deadline"],
            "closed": overall_counts["closed"],
            "closed_explained": overall_counts["closed_explained"],
            "closed_long_term": overall_counts["closed_long_term"],
            "callbacks_answered": overall_counts["answered"],
            "callbacks_unanswered": overall_counts["unanswered"],
            "open_by_colour": measures.open_by_colour(session, period),
            "overdue": overdue_total,
        },
        "overall": {"counts": overall_counts, "rates": overall_rates},
        "units": unit_rows,
        "ranking": ranking,
        "rectification": rectification,
        "targets": domain.against_targets(overall_rates, part.get("targets") or {}),
        "by_category": grouped("category"),
        "by_district": grouped("district"),
        "overdue": overdue,
        "trend": trend,
        # the monthly bulletin's visits (走访) and pairing coverage (包联覆盖)
        "visits": visits.section(session, period, part, units) if kind == "monthly" else None,
    }
