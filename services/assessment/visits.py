"""Visits and pairing in assessment (issue 15): the facts intake publishes (``subject_updated``,
``visit_recorded``) kept in assessment's own tables, and the bulletin's section built from them.

The rules are in :mod:`services.assessment.visit_rules`; this module reads and writes tables and
lays the section out for CSV and XLSX (through :mod:`shared.exports`).
"""
from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from services.assessment import visit_rules
from services.assessment.domain import Period
from services.assessment.models import subject_facts, visit_facts
from shared.db import insert_rows_ignoring
from shared.events import Event
from shared.exports import csv_bytes, xlsx_bytes
from shared.workdays import SHANGHAI

SUBJECT_FIELDS = ("name", "district", "cadre_id", "cadre", "cadre_unit", "leader_id", "lead_department")


def record_subjects(connection: Connection, events: list[Event]) -> None:
    """``subject_updated``: the latest fact (by its time) wins; the first one dates the registration."""
    for event in events:
        data = event.data
        key = (subject_facts.c.subject_type == data["subject_type"], subject_facts.c.subject_id == data["subject_id"])
        known = connection.execute(select(subject_facts.c.registered_at, subject_facts.c.updated_at)
                                   .where(*key).with_for_update()).first()
        values = {name: data.get(name) for name in SUBJECT_FIELDS}
        if known is None:
            connection.execute(insert(subject_facts).values(
                subject_type=data["subject_type"], subject_id=data["subject_id"], registered_at=event.time,
                updated_at=event.time, **values))
        else:
            changes = {"registered_at": min(known.registered_at, event.time)}
            if event.time >= known.updated_at:
                changes.update(values, updated_at=event.time)
            connection.execute(update(subject_facts).where(*key).values(**changes))


def record_visits(connection: Connection, events: list[Event]) -> None:
    """``visit_recorded``: one row per visit (a repeat changes nothing)."""
    insert_rows_ignoring(connection, visit_facts, [{
        "visit_id": e.data["visit_id"], "subject_type": e.data["subject_type"], "subject_id": e.data["subject_id"],
        "subject_name": e.data["subject_name"], "cadre_id": e.data["cadre_id"], "cadre": e.data["cadre"],
        "unit": e.data.get("unit"), "visited_on": e.data["visited_on"], "no_problem": e.data["no_problem"],
        "appeals_raised": len(e.data.get("appeal_ids") or [])} for e in events])


def section(session: Session, period: Period, part: dict, units: dict) -> dict:
    """The bulletin's visits and pairing section for ``period`` (days in the city's time)."""
    rule = visit_rules.VisitRule.of(part.get("visits"))
    first_day = period.start.astimezone(SHANGHAI).date()
    after_last = period.end.astimezone(SHANGHAI).date()  # the period ends at a midnight of the city
    visits = [dict(r._mapping) for r in session.execute(select(visit_facts).where(
        visit_facts.c.visited_on >= first_day, visit_facts.c.visited_on < after_last))]
    subjects = [dict(r._mapping) for r in session.execute(select(subject_facts))]
    name = lambda code: units.get(code, {}).get("name", code) if code else "（无单位）"  # noqa: E731
    return {
        "rule": {"every": rule.every, "at_least": rule.at_least, "subject_types": list(rule.subject_types),
                 "text": rule.describe()},
        "total": len(visits),
        "per_cadre": [{**row, "unit_name": name(row["unit"])} for row in visit_rules.per_cadre(visits)],
        "per_unit": [{**row, "name": name(row["unit"])} for row in visit_rules.per_unit(visits)],
        "not_visited": [{"subject_type": s["subject_type"], "subject_id": s["subject_id"], "name": s["name"],
                         "district": s["district"], "cadre": s["cadre"], "cadre_unit": s["cadre_unit"],
                         "visits": s["visits"]}
                        for s in visit_rules.not_visited(subjects, visits, rule, period.end)],
        "pairing": visit_rules.pairing_coverage(subjects, period.end),
    }


def _percent(rate) -> str:
    return "" if rate is None else f"{rate * 100:.1f}%"


def tables(visits: dict) -> list[tuple[str, list[str], list[list]]]:
    """The section as titled tables, the same for CSV and XLSX."""
    types = visit_rules.SUBJECT_NAMES
    pairing = visits["pairing"]
    return [
        ("走访规则", ["规则", "本期走访次数"], [[visits["rule"]["text"], visits["total"]]]),
        ("走访·按干部", ["干部编号", "干部", "单位", "走访次数", "走访对象数", "未发现问题", "提出诉求"],
         [[r["cadre_id"], r["cadre"], r["unit_name"], r["visits"], r["subjects"], r["no_problem"],
           r["appeals_raised"]] for r in visits["per_cadre"]]),
        ("走访·按单位", ["单位代码", "单位", "走访次数", "干部数", "走访对象数", "未发现问题", "提出诉求"],
         [[r["unit"], r["name"], r["visits"], r["cadres"], r["subjects"], r["no_problem"], r["appeals_raised"]]
          for r in visits["per_unit"]]),
        ("未按规定走访", ["类型", "编号", "名称", "区县", "包联干部", "干部单位", "本期走访次数"],
         [[types[s["subject_type"]], s["subject_id"], s["name"], s["district"], s["cadre"], s["cadre_unit"],
           s["visits"]] for s in visits["not_visited"]]),
        ("包联覆盖", ["类型", "登记数", "已配干部", "未配干部", "覆盖率"],
         [["合计", pairing["overall"]["registered"], pairing["overall"]["paired"],
           pairing["overall"]["without_cadre"], _percent(pairing["overall"]["rate"])]]
         + [[types[t], c["registered"], c["paired"], c["without_cadre"], _percent(c["rate"])]
            for t, c in pairing["by_type"].items()]),
        ("未配包联干部", ["类型", "编号", "名称", "区县"],
         [[types[s["subject_type"]], s["subject_id"], s["name"], s["district"]] for s in pairing["unpaired"]]),
    ]


def to_csv(visits: dict) -> bytes:
    return csv_bytes(tables(visits))


def to_xlsx(visits: dict) -> bytes:
    return xlsx_bytes(tables(visits))
