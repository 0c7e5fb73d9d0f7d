"""Colour rules, the ladder, pauses and the profile part, in milliseconds."""
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from services.supervision import domain
from services.supervision.profile import SupervisionPart
from shared.profile import ProfileError, load_part, load_units
from shared.workdays import SHANGHAI as SH

DEMO = Path(__file__).resolve().parents[3] / "deploy" / "profiles" / "demo"


def at(y, m, d, hh=0, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def policy(**overrides) -> domain.Policy:
    part = {
        "stages": {"accept": {d: {"hours": 24} for d in "ABCD"},
                   "reply": {"A": {"working_days": 3}, "B": {"working_days": 10}, "C": {"working_days": 10},
                             "D": {"days": 60}}},
        "yellow": {"share_used": 0.6},
        "ladder": [{"rung": "unit_leader", "to_unit": None, "deadline": {"working_days": 3}},
                   {"rung": "office", "to_unit": "office", "deadline": {"working_days": 5}},
                   {"rung": "city", "to_unit": "city", "meeting_agenda": True},
                   {"rung": "province", "to_unit": "province"}],
        "escalate_after_reopens": 2,
    }
    part.update(overrides)
    return domain.Policy.from_profile(part)


MONDAY = at(2026, 11, 23, 10)  # ten working days: 24-27 Nov, 30 Nov-4 Dec, 7 Dec


def reply_stage(p=None) -> domain.Watch:
    return domain.start_stage(p or policy(), "reply", "B", MONDAY, level=0)


def test_a_stage_of_working_days_is_due_at_the_end_of_the_last_one():
    assert reply_stage().due_at == at(2026, 12, 8)


def test_an_hours_stage_is_due_in_clock_hours():
    watch = domain.start_stage(policy(), "accept", "A", at(2026, 11, 27, 18), level=0)  # a Friday evening
    assert watch.due_at == at(2026, 11, 28, 18)


def test_sixty_days_are_calendar_days():
    watch = domain.start_stage(policy(), "reply", "D", MONDAY, level=0)
    assert watch.due_at == MONDAY + timedelta(days=60)


def test_yellow_comes_when_the_share_of_working_time_is_used():
    # 254 working hours (14 h of Monday + 10 days); 60% = 152.4 h -> Tuesday 1 Dec 18:24
    assert reply_stage().yellow_at == at(2026, 12, 1, 18, 24)


def test_yellow_can_be_a_number_of_working_days_left():
    p = policy(yellow={"working_days_left": 2})
    assert reply_stage(p).yellow_at == at(2026, 12, 4)  # 4 and 7 Dec are the last two


@pytest.mark.parametrize("moment, colour", [
    (at(2026, 11, 30, 9), "green"),
    (at(2026, 12, 1, 18, 24), "yellow"),
    (at(2026, 12, 7, 23, 59), "yellow"),
    (at(2026, 12, 8), "red"),
])
def test_the_colour_follows_the_clock(moment, colour):
    assert domain.colour_at(reply_stage(), moment) == colour


def test_a_green_stage_is_next_checked_at_its_yellow_time_then_at_its_due_time():
    watch = reply_stage()
    assert domain.next_check(watch, policy()) == watch.yellow_at
    yellow = domain.advance(policy(), watch, at(2026, 12, 2)).watch
    assert domain.next_check(yellow, policy()) == watch.due_at


def test_advancing_past_the_yellow_time_changes_the_colour_once_and_escalates_nothing():
    step = domain.advance(policy(), reply_stage(), at(2026, 12, 2))
    assert (step.colour_change, step.escalations) == (("green", "yellow"), [])


def test_overdue_turns_red_and_climbs_to_the_unit_leader():
    step = domain.advance(policy(), reply_stage(), at(2026, 12, 8, 9))
    assert step.colour_change == ("green", "red")
    assert step.escalations == [domain.Escalation("unit_leader", 1, "overdue", None)]


def test_after_an_overdue_escalation_the_rung_deadline_runs_from_the_missed_due_time():
    step = domain.advance(policy(), reply_stage(), at(2026, 12, 8, 9))
    assert step.new_due == at(2026, 12, 11)  # 3 working days after 7 Dec: 8, 9, 10 Dec
    assert domain.next_check(step.watch, policy()) == at(2026, 12, 11)


def test_each_missed_rung_deadline_climbs_one_more_rung():
    step = domain.advance(policy(), reply_stage(), at(2026, 12, 8, 9))
    step = domain.advance(policy(), step.watch, at(2026, 12, 11, 1))
    assert step.colour_change is None  # still red
    assert [e.rung for e in step.escalations] == ["office"]
    assert step.escalations[0].to_unit == "office"


def test_at_the_top_of_the_ladder_nothing_is_checked_any_more():
    watch = domain.advance(policy(), reply_stage(), at(2027, 6, 1)).watch
    assert watch.level == 4
    assert domain.next_check(watch, policy()) is None
    assert domain.advance(policy(), watch, at(2027, 12, 1)).escalations == []


def test_escalation_requests_climb_one_rung_and_stop_at_the_top():
    p = policy()
    assert domain.escalate(p, 0, "requested") == domain.Escalation("unit_leader", 1, "requested", None)
    assert domain.escalate(p, 2, "returns") == domain.Escalation("city", 3, "returns", "city")
    assert domain.escalate(p, 4, "requested") is None


def test_the_second_reopen_escalates_by_default():
    assert [domain.reopen_escalates(policy(), n) for n in (1, 2, 3)] == [False, True, True]


def test_a_pause_moves_the_deadline_by_the_paused_working_time():
    paused = domain.pause(reply_stage(), at(2026, 11, 26, 12))  # Thursday noon
    resumed, seconds = domain.resume(paused, at(2026, 11, 30, 12))  # Monday noon: Thu, Fri half + Mon half
    assert seconds == 2 * 24 * 3600
    assert resumed.due_at == at(2026, 12, 10)
    assert resumed.yellow_at == at(2026, 12, 3, 18, 24)


def test_a_paused_clock_is_not_checked():
    paused = domain.pause(reply_stage(), at(2026, 11, 26, 12))
    assert domain.next_check(paused, policy()) is None
    assert domain.advance(policy(), paused, at(2026, 12, 31)).escalations == []


def test_a_unit_may_ask_for_a_pause_while_its_clock_runs():
    domain.may_request_pause(reply_stage(), pending=False)  # no error


@pytest.mark.parametrize("watch, pending, refused", [
    (domain.Watch(level=0), False, "no running deadline"),
    (domain.pause(domain.start_stage(policy(), "reply", "B", MONDAY, 0), at(2026, 11, 24)), False, "already paused"),
    (domain.start_stage(policy(), "reply", "B", MONDAY, 0), True, "already waiting"),
])
def test_a_pause_request_is_refused_without_a_running_clock_or_with_one_pending(watch, pending, refused):
    with pytest.raises(domain.RuleError, match=refused):
        domain.may_request_pause(watch, pending)


def test_a_pause_request_is_decided_once():
    domain.may_decide_pause("pending")
    for status in ("approved", "refused"):
        with pytest.raises(domain.RuleError, match=status):
            domain.may_decide_pause(status)


def test_an_approved_pause_ends_after_its_working_days():
    # approved Friday 27 Nov at 15:00, three working days: Mon 30 Nov, Tue 1, Wed 2 Dec -> 24:00 Wednesday
    assert domain.pause_resumes_at(at(2026, 11, 27, 15), 3) == at(2026, 12, 3)
    # over National Day 2026 (1-7 Oct off, Sat 10 Oct a working day): from Wed 30 Sep, two working days
    # are Thursday 8 and Friday 9 Oct
    assert domain.pause_resumes_at(at(2026, 9, 30, 10), 2) == at(2026, 10, 10)


def test_pausing_twice_or_resuming_a_running_clock_is_refused():
    paused = domain.pause(reply_stage(), at(2026, 11, 26, 12))
    with pytest.raises(domain.RuleError):
        domain.pause(paused, at(2026, 11, 26, 13))
    with pytest.raises(domain.RuleError):
        domain.resume(reply_stage(), at(2026, 11, 26, 13))


def test_a_harder_difficulty_recomputes_the_running_deadline_from_the_start():
    watch = domain.reclassify(policy(), reply_stage(), "D", at(2026, 11, 24))
    assert watch.due_at == MONDAY + timedelta(days=60)
    assert watch.colour == "green"


def test_weekly_and_monthly_digest_times_are_in_shanghai_time():
    period, due = domain.weekly_period(at(2026, 11, 25, 12), policy())
    assert (period, due) == ("2026-W48", at(2026, 11, 23, 9))
    assert domain.monthly_period(at(2026, 12, 3), policy()) == ("2026-12", at(2026, 12, 1, 9))


def test_a_month_is_bounded_in_shanghai_time():
    assert domain.month_bounds("2026-12") == (at(2026, 12, 1), at(2027, 1, 1))
    with pytest.raises(ValueError):
        domain.month_bounds("December")


def test_the_demo_profile_part_loads_and_names_known_units():
    part = load_part(DEMO, "supervision", SupervisionPart)
    assert SupervisionPart.cross_check(part, load_units(DEMO)) == []
    assert [r.rung for r in domain.Policy.from_profile(part).ladder] == ["unit_leader", "office", "city", "province"]


def test_a_ladder_that_goes_down_is_refused(tmp_path):
    text = (DEMO / "supervision.yaml").read_text(encoding="utf-8")
    text = text.replace("rung: unit_leader", "rung: TMP").replace("rung: office", "rung: unit_leader") \
        .replace("rung: TMP", "rung: office")
    (tmp_path / "supervision.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError, match="ladder"):
        load_part(tmp_path, "supervision", SupervisionPart)


def test_a_duration_with_two_units_is_refused(tmp_path):
    text = (DEMO / "supervision.yaml").read_text(encoding="utf-8").replace(
        "A: {hours: 24}", "A: {hours: 24, working_days: 1}")
    (tmp_path / "supervision.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError, match="exactly one"):
        load_part(tmp_path, "supervision", SupervisionPart)


def test_a_rung_naming_an_unknown_unit_is_reported():
    part = load_part(DEMO, "supervision", SupervisionPart)
    part["ladder"][1]["to_unit"] = "nowhere"
    assert SupervisionPart.cross_check(part, load_units(DEMO)) == ["ladder[1].to_unit: unknown unit 'nowhere'"]
