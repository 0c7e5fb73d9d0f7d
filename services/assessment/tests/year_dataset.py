"""A small year (2026) for the annual score, the rectification follow-up, natures and the weekly lists.

Every expected figure in the tests is worked out by hand from ``/work/shared/DOMAIN.md``
("Measures") and the demo profile's scheme (resolution 0.6, satisfaction 0.4, scale 100,
2 points per overdue escalation, 1 per return, threshold 80%); the arithmetic is in the tests.

Appeals (Asia/Shanghai), each dispatched once to one unit (no return, no hand-over):

* T1 tax: received Mon 12 Oct 10:00, accepted, replied solved Wed 14 10:00; callback Thu 15 10:00
  solved 满意 -> closed as solved.
* T2 tax: received 12 Oct 10:00, replied solved 14 Oct 11:00; callback 15 Oct 11:00 not solved 不满意
  -> reopened.
* H1 hrss: received Tue 13 Oct 10:00, replied solved 14 Oct 15:00; callback Fri 16 Oct 10:00 solved
  满意 -> closed as solved.
* T3 tax: received Mon 2 Nov 10:00, replied solved Wed 4 Nov 10:00; callback Thu 5 Nov 10:00 solved
  不满意 -> reopened. The office made it 共性, common problem CP1 社保补缴 (3 Nov).
* H2 hrss: received 2 Nov 11:00, replied solved 4 Nov 11:00; callback 5 Nov 11:00 solved 不满意 ->
  reopened. In CP1 too.
* T4 tax: received Tue 3 Nov 10:00, never accepted; escalated for an overdue stage (the unit's leader,
  the lead stays) Thu 5 Nov 10:00. The office made it 体制机制性.
"""
from __future__ import annotations

from datetime import datetime

from services.assessment.tests.dataset import SHANGHAI, accepted, callback, dispatched, ev, received, replied

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI)


def t(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def _handled(appeal: str, unit: str, category: str, got: datetime, reply: datetime) -> list:
    return [received(appeal, got, got, "汉台区", category), dispatched(appeal, got.replace(minute=30), unit, category),
            accepted(appeal, got.replace(hour=got.hour + 1), unit), replied(appeal, reply, unit)]


def _common(appeal: str, when: datetime, nature: str, problem: str | None = None, title: str | None = None):
    return ev("appeal_reclassified", when, appeal_id=appeal, category="用工", difficulty="B", nature=nature,
              common_problem_id=problem, common_problem_title=title)


OCTOBER = [
    *_handled("T1", "tax", "政策", t(10, 12, 10), t(10, 14, 10)),
    *_handled("T2", "tax", "政策", t(10, 12, 10), t(10, 14, 11)),
    *_handled("H1", "hrss", "用工", t(10, 13, 10), t(10, 14, 15)),
    callback("T1", t(10, 15, 10), True, "满意"),
    callback("T2", t(10, 15, 11), False, "不满意"),
    callback("H1", t(10, 16, 10), True, "满意"),
]
NOVEMBER = [
    *_handled("T3", "tax", "用工", t(11, 2, 10), t(11, 4, 10)),
    *_handled("H2", "hrss", "用工", t(11, 2, 11), t(11, 4, 11)),
    received("T4", t(11, 3, 10), t(11, 3, 10), "汉台区", "用工"),
    dispatched("T4", t(11, 3, 10, 30), "tax", "用工"),
    _common("T3", t(11, 3, 12), "共性", "CP1", "社保补缴"),
    _common("H2", t(11, 3, 12), "共性", "CP1", "社保补缴"),
    _common("T4", t(11, 3, 12), "体制机制性"),
    ev("appeal_escalated", t(11, 5, 10), appeal_id="T4", rung="unit_leader", level=1, reason="overdue",
       unit="tax", to_unit=None),
    callback("T3", t(11, 5, 10), True, "不满意"),
    callback("H2", t(11, 5, 11), True, "不满意"),
]
