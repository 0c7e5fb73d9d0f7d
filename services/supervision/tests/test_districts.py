"""Issue 15 in supervision: stages and deadlines per district and urgency (the city's as default),
the solution-plan stage, meeting kinds, the minutes. Pure rules and profile validation."""
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from services.supervision import domain, meetings
from services.supervision.profile import SupervisionPart
from shared.profile import ROOT, ProfileError, load_part, load_units
from shared.workdays import SHANGHAI as SH

PROFILES = ROOT / "deploy" / "profiles"
FRIDAY = datetime(2026, 11, 13, 10, tzinfo=SH)  # no holiday around it
MONDAY = datetime(2026, 11, 9, 9, tzinfo=SH)


def policy_of(campaign: str) -> domain.Policy:
    directory = PROFILES / campaign
    part = load_part(directory, "supervision", SupervisionPart)
    assert SupervisionPart.cross_check(part, load_units(directory)) == []
    return domain.Policy.from_profile(part)


@pytest.fixture(scope="module")
def hangzhou() -> domain.Policy:
    return policy_of("hangzhou")


# ---------------------------------------------------------------- 萧山: 24 hours, the city: 1 working day
def test_xiaoshan_signs_within_24_clock_hours_even_over_a_weekend(hangzhou):
    watch = domain.start_stage(hangzhou.for_appeal("萧山区", "一般"), "accept", "B", FRIDAY, 0)
    assert watch.due_at == FRIDAY + timedelta(hours=24)  # Saturday 10:00


def test_another_district_has_the_citys_working_day(hangzhou):
    watch = domain.start_stage(hangzhou.for_appeal("上城区", "一般"), "accept", "B", FRIDAY, 0)
    assert watch.due_at == datetime(2026, 11, 17, tzinfo=SH)  # the end of the next working day, Monday


def test_xiaoshan_keeps_the_citys_reply_deadlines(hangzhou):
    own = hangzhou.for_appeal("萧山区", "一般")
    assert own.duration("reply", "D") == hangzhou.duration("reply", "D") == domain.Duration("days", 60)


# ---------------------------------------------------------------- 建德 1+3+6+10, counted from the dispatch
def test_jiande_has_a_plan_stage_and_the_city_has_none(hangzhou):
    assert (hangzhou.for_appeal("建德市", "一般").after_acceptance(), hangzhou.after_acceptance()) == ("plan", "reply")


def test_jiande_signs_within_a_day_of_the_dispatch(hangzhou):
    watch = domain.start_stage(hangzhou.for_appeal("建德市", None), "accept", "C", MONDAY, 0)
    assert watch.due_at == MONDAY + timedelta(days=1)


def test_jiandes_plan_is_due_three_days_after_the_dispatch_whenever_it_was_signed(hangzhou):
    signed = MONDAY + timedelta(hours=30)
    watch = domain.start_stage(hangzhou.for_appeal("建德市", None), "plan", "B", signed, 0, dispatched_at=MONDAY)
    assert (watch.stage, watch.started_at, watch.due_at) == ("plan", signed, MONDAY + timedelta(days=3))


def test_jiandes_feedback_is_due_six_days_after_the_dispatch(hangzhou):
    planned = MONDAY + timedelta(days=2)
    watch = domain.start_stage(hangzhou.for_appeal("建德市", None), "reply", "A", planned, 0, dispatched_at=MONDAY)
    assert watch.due_at == MONDAY + timedelta(days=6)


def test_elsewhere_the_reply_counts_from_its_own_fact(hangzhou):
    accepted = MONDAY + timedelta(days=1)
    watch = domain.start_stage(hangzhou.for_appeal("上城区", None), "reply", "C", accepted, 0, dispatched_at=MONDAY)
    assert watch.due_at == accepted + timedelta(days=30)


def test_a_stage_counted_from_a_dispatch_long_past_is_due_at_once_not_before_it_starts(hangzhou):
    late = MONDAY + timedelta(days=10)
    watch = domain.start_stage(hangzhou.for_appeal("建德市", None), "reply", "B", late, 0, dispatched_at=MONDAY)
    assert watch.due_at == late


# ---------------------------------------------------------------- 富阳: by urgency
def test_fuyang_an_urgent_appeal_gets_the_urgencys_deadline(hangzhou):
    own = hangzhou.for_appeal("富阳区", "特急")
    assert (own.duration("accept", "B"), own.duration("reply", "D")) == (
        domain.Duration("hours", 4), domain.Duration("working_days", 2))


def test_fuyang_an_ordinary_appeal_keeps_the_citys_deadlines(hangzhou):
    assert hangzhou.for_appeal("富阳区", "一般").stages == hangzhou.stages


def test_the_order_of_precedence_district_urgency_district_city_urgency_city():
    def d(n):
        return {"days": n}

    part = SupervisionPart().load({
        "stages": {"accept": {k: d(1) for k in "ABCD"}, "reply": {k: d(10) for k in "ABCD"}},
        "ladder": [{"rung": "office", "to_unit": None}],
        "urgency": {"特急": {"accept": d(2), "reply": d(3)}},
        "districts": {"甲区": {"stages": {"reply": d(4)}, "urgency": {"特急": {"accept": d(5)}}}}})
    policy = domain.Policy.from_profile(part)
    found = lambda district, urgency: (policy.for_appeal(district, urgency).duration("accept", "B").amount,  # noqa
                                       policy.for_appeal(district, urgency).duration("reply", "B").amount)
    assert {"甲区 特急": found("甲区", "特急"), "甲区 一般": found("甲区", "一般"),
            "乙区 特急": found("乙区", "特急"), "乙区 一般": found("乙区", "一般")} == {
        "甲区 特急": (5, 4), "甲区 一般": (1, 4), "乙区 特急": (2, 3), "乙区 一般": (1, 10)}


# ---------------------------------------------------------------- meeting kinds
def test_huainan_holds_assignment_meetings_with_chosen_appeals():
    assert policy_of("huainan").meeting_kind("交办会") == domain.MeetingKind("交办会", "chosen")


def test_hanzhongs_monthly_dispatch_meeting_takes_the_ladders_agenda():
    assert policy_of("hanzhong").meeting_kind("调度会") == domain.MeetingKind("调度会", "ladder")


def test_a_campaign_without_the_kind_has_none():
    assert policy_of("baoding").meeting_kind("交办会") is None


# ---------------------------------------------------------------- the profile validator
def write(tmp_path: Path, extra: str) -> Path:
    base = PROFILES / "demo" / "supervision.yaml"
    (tmp_path / "supervision.yaml").write_text(base.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return tmp_path


def lines_of(tmp_path: Path) -> int:
    return len((PROFILES / "demo" / "supervision.yaml").read_text(encoding="utf-8").splitlines())


def test_a_district_typo_is_reported_with_its_line(tmp_path):
    n = lines_of(tmp_path)
    with pytest.raises(ProfileError, match=rf"supervision.yaml:{n + 3}: districts.甲区.value.counted_form: "
                                           r"Unknown field"):
        load_part(write(tmp_path, "districts:\n  甲区:\n    counted_form: dispatch\n"), "supervision",
                  SupervisionPart)


def test_a_stage_missing_a_difficulty_is_reported_with_its_line(tmp_path):
    n = lines_of(tmp_path)
    text = "districts:\n  甲区:\n    stages:\n      reply: {A: {days: 1}, B: {days: 2}}\n"
    with pytest.raises(ProfileError, match=rf"supervision.yaml:{n + 3}: .*reply: no duration for difficulty C, D"):
        load_part(write(tmp_path, text), "supervision", SupervisionPart)


def test_an_unknown_urgency_is_reported(tmp_path):
    with pytest.raises(ProfileError, match="urgency"):
        load_part(write(tmp_path, "urgency:\n  很急: {accept: {hours: 2}}\n"), "supervision", SupervisionPart)


def test_a_meeting_kind_twice_is_refused(tmp_path):
    with pytest.raises(ProfileError, match="a meeting kind appears twice"):
        load_part(write(tmp_path, "  - {kind: 调度会}\n"), "supervision", SupervisionPart)


def test_a_district_no_locality_has_is_reported(tmp_path):
    part = load_part(write(tmp_path, "districts:\n  无此区: {stages: {accept: {hours: 24}}}\n"), "supervision",
                     SupervisionPart)
    assert SupervisionPart.cross_check(part, load_units(PROFILES / "demo")) == [
        "districts.无此区: no locality unit of units.yaml has this district"]


# ---------------------------------------------------------------- the minutes
MEETING = {
    "meeting_id": "m1", "kind": "交办会", "held_on": date(2026, 11, 10), "title": "第一次集中交办会",
    "chair": "省工作组组长", "attendees": ["市四送一服办", "田家庵区"],
    "items": [
        {"position": 1, "appeal_id": "SQ-1", "category": "用地", "difficulty": "C", "urgency": "紧急",
         "lead_unit_before": "nrp", "lead_unit": "city", "co_units": ["nrp"], "status": "dispatched",
         "due_at": datetime(2026, 11, 20, 18, tzinfo=SH), "lead_leader": "分管副市长", "note": "土地指标|协调",
         "decided_at": datetime(2026, 11, 10, 11, tzinfo=SH)},
        {"position": 2, "appeal_id": "SQ-2", "category": "用工", "difficulty": "B", "urgency": "一般",
         "lead_unit_before": "hrss", "lead_unit": None, "co_units": [], "status": "accepted", "due_at": None,
         "lead_leader": None, "note": None, "decided_at": None}]}
NAMES = {"city": "淮南市人民政府", "nrp": "市自然资源和规划局", "hrss": "市人社局"}


def test_the_minutes_list_each_appeal_with_the_decision_in_chinese():
    assert meetings.minutes_rows(MEETING, NAMES) == [
        [1, "SQ-1", "用地", "C", "紧急", "市自然资源和规划局", "淮南市人民政府", "市自然资源和规划局",
         "2026-11-20 18:00", "分管副市长", "土地指标|协调", "已派单"],
        [2, "SQ-2", "用工", "B", "一般", "市人社局", "（未决定）", "", "", "", "", "已签收"]]


def test_the_minutes_csv_starts_with_the_meeting_and_a_bom():
    text = meetings.minutes_csv(MEETING, NAMES).decode("utf-8")
    assert text.startswith("\ufeff会议,第一次集中交办会\r\n类别,交办会\r\n日期,2026-11-10\r\n主持,省工作组组长\r\n")


def test_the_minutes_markdown_escapes_the_table_separator():
    lines = meetings.minutes_markdown(MEETING, NAMES).splitlines()
    assert lines[0] == "# 第一次集中交办会纪要"
    assert "土地指标\\|协调" in lines[-2]
