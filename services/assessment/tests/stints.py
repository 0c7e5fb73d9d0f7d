"""Hand-made appeals for the "who is measured" rules (docs/measures.md), with their expected figures.

Worked out by hand from the definitions; the arithmetic is in the comments, not taken from
the code. Times are Asia/Shanghai; week 2026-W47 is Mon 16 - Sun 22 Nov, W48 Mon 23 - Sun 29.

* E1, late at tax and solved at the office: received Mon 23 09:30; dispatched to tax 23 10:00,
  accept due Tue 24 10:00, never accepted; red 24 10:00; escalated (overdue) to tax's leader
  24 10:05 and (overdue) to the office 25 10:00, which dispatch hands over (dispatch 2, reason
  escalated); the office accepts 25 11:00 (due 26 10:00), reply due 27 18:00, replies solved
  26 15:00; callback Fri 27 10:00 solved 满意 -> closed.
* R1, returned by hrss inside its acceptance deadline and accepted on time by tax: received
  Fri 20 10:00 (W47); dispatched to hrss Fri 20 16:00 (W47), accept due Mon 23 16:00; returned
  Mon 23 09:00 (W48); dispatched to tax 23 10:00 (W48), accept due Tue 24 10:00, accepted 23 14:00.
* S1, a Sunday evening dispatch: received Sun 22 19:30; dispatched to nrp Sun 22 20:00, accept
  due Tue 24 00:00 (the end of Monday, one working day); the weekly report of W47 is generated
  Mon 23 09:00, before any acceptance; nrp accepts Mon 23 11:00. S2: received Wed 18 09:30,
  dispatched to nrp Wed 18 10:00, accept due Thu 19 10:00, accepted Wed 18 15:00.
"""
from __future__ import annotations

from services.assessment.tests.dataset import ev, received, t  # noqa: F401 (ev, received: for the tests)


def dispatched(appeal: str, when, unit: str, count: int = 1, reason: str = "rule"):
    return ev("appeal_dispatched", when, appeal_id=appeal, lead_unit=unit, category="税费", difficulty="B",
              level="city", dispatch_count=count, reason=reason)


def deadline(appeal: str, when, stage: str, due, unit: str, colour: str | None = "green"):
    return ev("appeal_deadline_set", when, appeal_id=appeal, stage=stage, due_at=due, unit=unit, colour=colour)


def accepted(appeal: str, when, unit: str):
    return ev("appeal_accepted", when, appeal_id=appeal, unit=unit)


def callback(appeal: str, when, solved: bool = True, satisfaction: str = "满意") -> tuple:
    return ("callback", appeal, {"solved": solved, "satisfaction": satisfaction, "caller": "回访员",
                                 "called_at": when.isoformat()})


ESCALATED_TO_THE_OFFICE = [
    received("E1", t(23, 9), t(23, 9, 30), "汉台区", "税费"),
    dispatched("E1", t(23, 10), "tax"),
    deadline("E1", t(23, 10), "accept", t(24, 10), "tax"),
    ev("appeal_colour_changed", t(23, 20), appeal_id="E1", colour="yellow", previous="green", unit="tax"),
    ev("appeal_colour_changed", t(24, 10), appeal_id="E1", colour="red", previous="yellow", unit="tax"),
    ev("appeal_escalated", t(24, 10, 5), appeal_id="E1", rung="unit_leader", level=1, reason="overdue",
       unit="tax", to_unit=None),
    ev("appeal_escalated", t(25, 10), appeal_id="E1", rung="office", level=2, reason="overdue",
       unit="tax", to_unit="office"),
    dispatched("E1", t(25, 10), "office", count=2, reason="escalated"),
    deadline("E1", t(25, 10), "accept", t(26, 10), "office"),
    accepted("E1", t(25, 11), "office"),
    deadline("E1", t(25, 11), "reply", t(27, 18), "office"),
    ev("appeal_replied", t(26, 15), appeal_id="E1", unit="office", outcome="solved", reply_text="已协调解决"),
    callback("E1", t(27, 10)),
]
W48_NOW = t(30, 10)  # Mon 30 Nov 10:00: the W48 report is generated

RETURNED_THEN_ACCEPTED = [
    received("R1", t(20, 9), t(20, 10), "汉台区", "税费"),
    dispatched("R1", t(20, 16), "hrss"),
    deadline("R1", t(20, 16), "accept", t(23, 16), "hrss"),
    ev("appeal_returned", t(23, 9), appeal_id="R1", unit="hrss", reason="不属于本单位职责", return_count=1),
    dispatched("R1", t(23, 10), "tax", count=2, reason="returned"),
    deadline("R1", t(23, 10), "accept", t(24, 10), "tax"),
    accepted("R1", t(23, 14), "tax"),
]

SUNDAY_EVENING = [
    received("S2", t(18, 9), t(18, 9, 30), "汉台区", "税费"),
    dispatched("S2", t(18, 10), "nrp"),
    deadline("S2", t(18, 10), "accept", t(19, 10), "nrp"),
    accepted("S2", t(18, 15), "nrp"),
    received("S1", t(22, 19), t(22, 19, 30), "汉台区", "税费"),
    dispatched("S1", t(22, 20), "nrp"),
    deadline("S1", t(22, 20), "accept", t(24, 0), "nrp"),
]
MONDAY_MORNING = t(23, 9)
S1_ACCEPTED = accepted("S1", t(23, 11), "nrp")
