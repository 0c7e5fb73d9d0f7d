"""限期整改: rectification orders that are followed up (seed 004: a unit under 80% satisfaction
rectifies by a deadline; DOMAIN.md: "followed up in the next period").

When a report is published, each unit under the satisfaction threshold gets an order with a
deadline (``rectification.deadline_working_days`` working days after publication, the end of
that day) and a named person: the unit's leader in ``units.yaml`` (else its contact). The
next period's report shows, for each order of the period before, the unit's satisfaction now
and whether it came back to the threshold. A unit on the list ``escalate_after`` periods in a
row (default 2) is escalated to the leader: its order says so, ``unit_flagged`` carries
``escalated: true`` and the office's list of escalated orders is the leader's list.

The rules are pure functions; :func:`previous_orders`, :func:`issue` and :func:`listing`
read and write the table in the caller's transaction.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from services.assessment.models import rectification_orders as orders
from shared import workdays


# ---------------------------------------------------------------- rules
def responsible(unit: dict) -> str:
    """The named person of an order: the unit's leader, else its contact, else its head by title."""
    for key in ("leader", "contact"):
        name = ((unit or {}).get(key) or {}).get("name")
        if name:
            return name
    return f"{(unit or {}).get('name', '单位')}主要负责人"


def deadline(issued_at: datetime, working_days: int) -> datetime:
    """The end (Shanghai midnight after) of the ``working_days``-th working day after the day of issue."""
    day = workdays.nth_working_day_after(workdays.local_date(issued_at), working_days)
    return workdays.start_of_day(day + timedelta(days=1))


def entries(flagged: list[tuple[str, float]], before: dict[str, dict], units: dict, threshold: float,
            escalate_after: int) -> list[dict]:
    """This period's list: each unit under the threshold, how many periods in a row it is on it
    (the order of the period before counts), escalated from ``escalate_after`` on."""
    out = []
    for unit, rate in flagged:
        consecutive = (before[unit]["consecutive"] + 1) if unit in before else 1
        out.append({"unit": unit, "name": units.get(unit, {}).get("name", unit), "satisfaction_rate": rate,
                    "threshold": threshold, "responsible": responsible(units.get(unit, {})),
                    "consecutive": consecutive, "escalated": consecutive >= escalate_after})
    return out


def follow_up(before: dict[str, dict], unit_rates: dict[str, dict], threshold: float) -> list[dict]:
    """Each order of the period before: the unit's satisfaction in this period and whether it is back
    at the threshold (None: no callback answered in this period, nothing to judge)."""
    out = []
    for unit, order in sorted(before.items()):
        now = (unit_rates.get(unit) or {}).get("satisfaction")
        out.append({"unit": unit, "order_id": order["id"], "period": order["period"],
                    "satisfaction_before": order["satisfaction_rate"], "satisfaction_now": now,
                    "threshold": threshold, "deadline": order["deadline"], "responsible": order["responsible"],
                    "back_above": None if now is None else now >= threshold - 1e-9})
    return out


# ---------------------------------------------------------------- the table
def order_id(report: str, period: str, unit: str) -> str:
    return f"{report}:{period}:{unit}"[:40]


def previous_orders(session: Session, report: str, period: str) -> dict[str, dict]:
    """The orders issued when ``report`` of ``period`` was published, by unit."""
    rows = session.execute(select(orders).where(orders.c.report == report, orders.c.period == period))
    return {row.unit: dict(row._mapping) for row in rows}


def issue(session: Session, report: str, period: str, listed: list[dict], *, now: datetime, actor: str,
          working_days: int) -> list[dict]:
    """Store this period's orders (at publication); the orders as stored."""
    stored = [{"id": order_id(report, period, e["unit"]), "report": report, "period": period, "unit": e["unit"],
               "satisfaction_rate": e["satisfaction_rate"], "threshold": e["threshold"],
               "deadline": deadline(now, working_days), "responsible": e["responsible"],
               "consecutive": e["consecutive"], "escalated": e["escalated"], "issued_at": now, "issued_by": actor}
              for e in listed]
    if stored:
        session.execute(insert(orders), stored)
    return stored


def listing(session: Session, *, unit: str | None = None, escalated: bool | None = None) -> list[dict]:
    query = select(orders).order_by(orders.c.issued_at.desc(), orders.c.unit)
    if unit:
        query = query.where(orders.c.unit == unit)
    if escalated is not None:
        query = query.where(orders.c.escalated.is_(escalated))
    return [dict(row._mapping) for row in session.execute(query)]
