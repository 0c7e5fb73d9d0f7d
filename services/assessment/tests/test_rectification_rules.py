"""The rules of 限期整改, pure: who is named, the deadline, in a row, escalation, the follow-up."""
from datetime import datetime

from services.assessment import rectification
from shared.workdays import SHANGHAI

UNITS = {"tax": {"name": "市税务局", "leader": {"name": "赵局长"}},
         "x": {"name": "某局", "contact": {"name": "李科长"}},
         "y": {"name": "某街道"}}


def test_the_named_person_is_the_leader_else_the_contact_else_the_head_by_title():
    assert [rectification.responsible(UNITS[u]) for u in ("tax", "x", "y")] == ["赵局长", "李科长", "某街道主要负责人"]


def test_the_deadline_is_the_end_of_the_nth_working_day_after_issue_skipping_the_holiday():
    # issued Wed 30 Sep 2026; 1 Oct to 7 Oct is the National Day holiday (10 Oct, a Saturday, is worked):
    # working days after it: Thu 8 (1), Fri 9 (2), Sat 10 (3, 调休) -> due by the end of 10 Oct
    issued = datetime(2026, 9, 30, 17, 0, tzinfo=SHANGHAI)
    assert rectification.deadline(issued, 3) == datetime(2026, 10, 11, 0, 0, tzinfo=SHANGHAI)


def test_a_unit_on_the_previous_list_is_there_twice_in_a_row_and_escalated():
    listed = rectification.entries([("tax", 0.5), ("x", 0.7)], {"tax": {"consecutive": 1}}, UNITS, 0.8, 2)
    assert [(e["unit"], e["consecutive"], e["escalated"]) for e in listed] == [("tax", 2, True), ("x", 1, False)]


def test_the_follow_up_says_back_above_not_back_or_nothing_to_judge():
    before = {u: {"id": f"monthly:2026-10:{u}", "period": "2026-10", "satisfaction_rate": 0.5, "deadline": None,
                  "responsible": "某人"} for u in ("tax", "x", "y")}
    follow = rectification.follow_up(before, {"tax": {"satisfaction": 0.8}, "x": {"satisfaction": 0.79},
                                              "y": {"satisfaction": None}}, 0.8)
    assert [(f["unit"], f["back_above"]) for f in follow] == [("tax", True), ("x", False), ("y", None)]
