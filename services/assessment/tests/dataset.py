"""A small hand-made campaign around week 2026-W47 (Mon 16 to Sun 22 Nov 2026, Shanghai).

The expected numbers in :data:`EXPECTED_W47` are worked out by hand from the
definitions in ``docs/measures.md``, with the arithmetic in the
comments; they are not copied from the code's output.

Appeals (all times Asia/Shanghai):

* A1 税费 汉台区: collected Mon 16 09:00, submitted 16 10:00 (on time); dispatched to tax 16 11:00,
  accept due 17 11:00, accepted 16 15:00 (on time); reply due 20 18:00, replied *solved* 18 10:00;
  callback 19 10:00 solved 满意 -> closed, on time, 2 days after submission.
* A2 税费 汉台区: collected Mon 16 09:00, submitted Thu 19 09:00 (late: the 2nd working day was Wed 18);
  dispatched to tax 19 10:00, accept due 20 10:00, accepted 20 12:00 (late); reply due 26;
  replied *explained* 20 15:00; callback 21 10:00 not solved 基本满意 -> closed as explained, on time.
* A3 用地 汉台区: collected Tue 17 09:00, submitted 17 09:30 (on time); dispatched to district-a
  17 10:00, accept due 18 10:00, accepted 17 12:00 (on time); reply due 19 10:00; replied solved
  20 09:00 (late); callback 20 15:00 solved 不满意 -> reopened (1); replied again 21 09:00;
  callback 21 15:00 solved 满意 -> closed, late, 3.98 days after submission.
* A4 用工 汉台区: collected Wed 18 09:00, submitted 18 10:00 (on time); dispatched to hrss 18 11:00
  (accept due 19 11:00), returned by hrss 19 09:00; dispatched again (2) to district-a 19 10:00,
  accept due 20 10:00, accepted 19 14:00 (on time); reply due 25; colour yellow 21 09:00. Open.
* A5 融资 南郑区: collected Thu 19 09:00, submitted 19 09:00 (on time); dispatched to nanzheng
  19 10:00, accept due 20 10:00, never accepted; colour red 20 10:00; escalated (overdue, to the
  unit's leader) 20 11:00. Open and overdue.
* A6 税费 汉台区 (week 46): collected Tue 10 09:00, submitted 10 10:00; dispatched to tax 10 11:00,
  accepted 10 14:00; replied solved Thu 12 10:00; callback Mon 16 10:00 not solved 不满意 -> reopened.
* A7 用工 南郑区 (week 45): collected Mon 2 09:00, submitted 2 10:00; dispatched to hrss 2 11:00,
  accepted 2 12:00; replied solved Mon 9 10:00; the link (168 h) expires Mon 16 10:00, unanswered.
"""
from __future__ import annotations

from datetime import datetime

from shared.events import Event, make_event, read_event
from shared.workdays import SHANGHAI

CODE = "91350100M000100Y43"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)  # when the report is asked for
PRODUCERS = {"appeal_received": "intake", "appeal_deadline_set": "supervision",
             "appeal_colour_changed": "supervision", "appeal_escalated": "supervision"}


def t(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def ev(event_type: str, when: datetime, **data) -> Event:
    """An event as a consumer receives it (through the wire format and back)."""
    event = make_event(event_type, data, producer=PRODUCERS.get(event_type, "dispatch"), now=when)
    return read_event(event.to_message())


def received(appeal: str, collected: datetime, submitted: datetime, district: str, category: str) -> Event:
    return ev("appeal_received", submitted, appeal_id=appeal, credit_code=CODE, enterprise_name=f"{appeal}公司",
              title=f"{appeal}的诉求", description="…", category=category, district=district, channel="visit",
              collected_at=collected, submitted_at=submitted, contact={"name": "王经理", "phone": "13800000000"})


def dispatched(appeal: str, when: datetime, unit: str, category: str, count: int = 1) -> Event:
    return ev("appeal_dispatched", when, appeal_id=appeal, lead_unit=unit, category=category, difficulty="B",
              level="city", dispatch_count=count, reason="rule" if count == 1 else "returned")


def deadline(appeal: str, when: datetime, stage: str, due: datetime) -> Event:
    return ev("appeal_deadline_set", when, appeal_id=appeal, stage=stage, due_at=due)


def accepted(appeal: str, when: datetime, unit: str) -> Event:
    return ev("appeal_accepted", when, appeal_id=appeal, unit=unit)


def replied(appeal: str, when: datetime, unit: str, outcome: str = "solved") -> Event:
    return ev("appeal_replied", when, appeal_id=appeal, unit=unit, outcome=outcome, reply_text="已办理")


def callback(appeal: str, when: datetime, solved: bool, satisfaction: str) -> tuple:
    return ("callback", appeal, {"solved": solved, "satisfaction": satisfaction, "comment": None,
                                 "caller": "回访员", "called_at": when.isoformat()})


# Phase 1: facts; phase 2: the first callbacks; phase 3: A3's second reply; phase 4: its callback.
PHASES: list[list] = [
    [
        received("A1", t(16, 9), t(16, 10), "汉台区", "税费"),
        dispatched("A1", t(16, 11), "tax", "税费"),
        deadline("A1", t(16, 11), "accept", t(17, 11)),
        accepted("A1", t(16, 15), "tax"),
        deadline("A1", t(16, 15), "reply", t(20, 18)),
        replied("A1", t(18, 10), "tax"),
        received("A2", t(16, 9), t(19, 9), "汉台区", "税费"),
        dispatched("A2", t(19, 10), "tax", "税费"),
        deadline("A2", t(19, 10), "accept", t(20, 10)),
        accepted("A2", t(20, 12), "tax"),
        deadline("A2", t(20, 12), "reply", t(26, 18)),
        replied("A2", t(20, 15), "tax", "explained"),
        received("A3", t(17, 9), t(17, 9, 30), "汉台区", "用地"),
        dispatched("A3", t(17, 10), "district-a", "用地"),
        deadline("A3", t(17, 10), "accept", t(18, 10)),
        accepted("A3", t(17, 12), "district-a"),
        deadline("A3", t(17, 12), "reply", t(19, 10)),
        replied("A3", t(20, 9), "district-a"),
        received("A4", t(18, 9), t(18, 10), "汉台区", "用工"),
        dispatched("A4", t(18, 11), "hrss", "用工"),
        deadline("A4", t(18, 11), "accept", t(19, 11)),
        ev("appeal_returned", t(19, 9), appeal_id="A4", unit="hrss", reason="不属于本单位职责", return_count=1),
        dispatched("A4", t(19, 10), "district-a", "用工", count=2),
        deadline("A4", t(19, 10), "accept", t(20, 10)),
        accepted("A4", t(19, 14), "district-a"),
        deadline("A4", t(19, 14), "reply", t(25, 18)),
        ev("appeal_colour_changed", t(21, 9), appeal_id="A4", colour="yellow", previous="green"),
        received("A5", t(19, 9), t(19, 9), "南郑区", "融资"),
        dispatched("A5", t(19, 10), "nanzheng", "融资"),
        deadline("A5", t(19, 10), "accept", t(20, 10)),
        ev("appeal_colour_changed", t(20, 10), appeal_id="A5", colour="red", previous="yellow"),
        ev("appeal_escalated", t(20, 11), appeal_id="A5", rung="unit_leader", level=1, reason="overdue",
           unit="nanzheng", to_unit=None),
        received("A6", t(10, 9), t(10, 10), "汉台区", "税费"),
        dispatched("A6", t(10, 11), "tax", "税费"),
        accepted("A6", t(10, 14), "tax"),
        replied("A6", t(12, 10), "tax"),
        received("A7", t(2, 9), t(2, 10), "南郑区", "用工"),
        dispatched("A7", t(2, 11), "hrss", "用工"),
        accepted("A7", t(2, 12), "hrss"),
        replied("A7", t(9, 10), "hrss"),
    ],
    [
        callback("A6", t(16, 10), False, "不满意"),
        callback("A1", t(19, 10), True, "满意"),
        callback("A3", t(20, 15), True, "不满意"),
        callback("A2", t(21, 10), False, "基本满意"),
    ],
    [replied("A3", t(21, 9), "district-a")],
    [callback("A3", t(21, 15), True, "满意")],
]

# ---------------------------------------------------------------- expected, by hand
EXPECTED_W47 = {
    "summary": {
        "new_appeals": 5,  # A1..A5 submitted in the week
        "dispatched": 6,  # A1, A2, A3, A4 to hrss, A4 again to district-a, A5: every dispatch counts
        "pending": 0,  # on Mon 23 10:00 no dispatch of the week is unaccepted inside its deadline
        "returned_in_time": 1,  # A4 at hrss: returned Thu 19 09:00, its acceptance due 19 11:00
        "resolved": 2,  # closed as solved in the week: A1 (19th), A3 (21st)
        "resolved_within_week": 2,  # A1 2.0 days, A3 3.98 days from submission to the closing reply
        "resolved_within_deadline": 1,  # A1 (18th <= 20th); A3 replied 21st after its due 19th
        "closed": 3,  # A1, A2, A3
        "closed_explained": 1,  # A2
        "closed_long_term": 0,
        "callbacks_answered": 5,  # A6, A1, A3, A2, A3 again
        "callbacks_unanswered": 1,  # A7: its link expired on the 16th unanswered
        "open_by_colour": {"green": 0, "yellow": 1, "red": 1, "none": 2},  # A4 yellow, A5 red; A6, A7 none
        "overdue": 1,  # A5 (red); A7 waits for its callback, A4 is not due until the 25th
    },
    "overall_rates": {
        "submitted_on_time": 4 / 5,  # collected 16th-19th: A1..A5; A2 late -> 0.8
        # per dispatch: 6 made in the week, A4's to hrss returned within its deadline is out of both
        # sides; of A1 A2 A3 A4(district-a) A5, accepted by the deadline A1 A3 A4 -> 3 / 5 = 0.6
        "response": 3 / 5,
        "resolution": 2 / 5,  # received 5, closed as solved A1 A3 -> 0.4
        "on_time": 2 / 3,  # closed A1 A2 A3; by the deadline A1 A2 -> 0.667
        "satisfaction": 3 / 5,  # answered 5: 满意 A1, 基本满意 A2, 满意 A3 -> 0.6
        "solved_7d": 2 / 5,  # A1, A3 within 7 days, of 5 received -> 0.4
        "solved_60d": 2 / 5,
    },
    "unit_rates": {
        "tax": {"submitted_on_time": 1 / 2, "response": 1 / 2, "resolution": 1 / 2, "on_time": 2 / 2,
                # callbacks on tax's replies: A6 不满意, A1 满意, A2 基本满意 -> 2 / 3
                "satisfaction": 2 / 3, "solved_7d": 1 / 2, "solved_60d": 1 / 2},
        # submitted on time shows on the row of the first dispatch's unit (首派): A3 (A4's went to hrss)
        "district-a": {"submitted_on_time": 1 / 1, "response": 2 / 2, "resolution": 1 / 2, "on_time": 0 / 1,
                       "satisfaction": 1 / 2, "solved_7d": 1 / 2, "solved_60d": 1 / 2},
        "nanzheng": {"submitted_on_time": 1 / 1, "response": 0 / 1, "resolution": 0 / 1, "on_time": None,
                     "satisfaction": None, "solved_7d": 0 / 1, "solved_60d": 0 / 1},
        # hrss: A4 was first dispatched to it (submitted on time: 1 / 1); its dispatch was returned
        # within the deadline (no response counted) and A4 left it by a return (no resolution)
        "hrss": {"submitted_on_time": 1 / 1, "response": None, "resolution": None, "on_time": None,
                 "satisfaction": None, "solved_7d": None, "solved_60d": None},
    },
    "unit_counts": {"hrss": {"returns": 1, "unanswered": 1}, "nanzheng": {"overdue_escalations": 1}},
    # Hanzhong: 100 * (0.6 resolution + 0.4 satisfaction) - 2 per overdue escalation - 1 per return
    "scores": {
        "tax": 56.67,  # 100 * (0.6 * 1/2 + 0.4 * 2/3) = 30 + 26.667
        "district-a": 50.0,  # 100 * (0.6 * 1/2 + 0.4 * 1/2) = 30 + 20
        "nanzheng": -2.0,  # only resolution has data: 100 * 0.6 * 0 / 0.6 = 0; minus 2 * 1 escalation
        "hrss": None,  # nothing rated in the week (its return and unanswered callback are still listed)
    },
    # week 46: tax had A6 (received, not solved; no callback): 100 * 0.6 * 0 / 0.6 = 0, rank 1 of 1
    "ranking": {"tax": (1, 1, 0), "district-a": (1, None, None), "nanzheng": (2, None, None),
                "hrss": (None, None, None)},
    "rectification": [("district-a", 1 / 2), ("tax", 2 / 3)],  # under 0.8, worst first
    "by_category_received": {"税费": 2, "用地": 1, "用工": 1, "融资": 1},
    "by_district_received": {"汉台区": 4, "南郑区": 1},
    "trend_w45_w46_w47": [(1, 0), (1, 0), (5, 2)],  # (new, resolved) per week
}
