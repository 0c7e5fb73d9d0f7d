"""Issue 15 in dispatch: routing by nature and difficulty, urgency, 赋码 per district, the solution
plan, and a meeting's decision. Pure rules and profile validation; no broker, no database."""
from pathlib import Path

import pytest

from services.dispatch import domain
from services.dispatch.domain import IllegalTransition, NotYours
from services.dispatch.profile import DispatchPart
from shared.errors import InvalidInput
from shared.profile import ROOT, ProfileError, load_part, load_units

PROFILES = ROOT / "deploy" / "profiles"


def rules_of(campaign: str) -> domain.Rules:
    directory = PROFILES / campaign
    part, units = load_part(directory, "dispatch", DispatchPart), load_units(directory)
    assert DispatchPart.cross_check(part, units) == []
    return domain.Rules(part, units)


@pytest.fixture(scope="module")
def hangzhou() -> domain.Rules:
    return rules_of("hangzhou")


@pytest.fixture(scope="module")
def hanzhong() -> domain.Rules:
    return rules_of("hanzhong")


def received(**overrides) -> dict:
    return {"appeal_id": "SQ1", "title": "招工难", "description": "春节后缺少熟练工人", "category": "用工",
            "district": "上城区", "channel": "visit", "cadre": None, "leader": None, **overrides}


def dispatched(appeal: domain.Appeal) -> dict:
    return next(data for kind, data in appeal.events if kind == "appeal_dispatched")


# ---------------------------------------------------------------- routing by nature and difficulty
def test_hangzhou_an_institutional_problem_goes_straight_to_the_city(hangzhou):
    appeal = domain.new_appeal(hangzhou, received(title="用工制度问题", description="现行用工制度与新业态不适应"))
    assert (appeal.nature, appeal.lead_unit, appeal.co_units) == ("体制机制性", "city", ["fgw"])


def test_hangzhou_a_personal_problem_still_goes_to_its_element_department(hangzhou):
    appeal = domain.new_appeal(hangzhou, received())
    assert (appeal.nature, appeal.lead_unit) == ("个性", "hrss")


def test_hanzhong_a_d_class_problem_goes_to_city_coordination_with_the_locality(hanzhong):
    appeal = domain.new_appeal(hanzhong, received(district="汉台区", title="招工涉及省级政策",
                                                  description="需省级政策支持"))
    assert (appeal.difficulty, appeal.lead_unit, appeal.co_units) == ("D", "city", ["hantai"])


def test_hanzhong_a_b_class_problem_is_led_by_the_locality(hanzhong):
    appeal = domain.new_appeal(hanzhong, received(district="汉台区"))
    assert (appeal.difficulty, appeal.lead_unit) == ("B", "hantai")


def test_a_rule_on_urgency_matches_only_that_urgency():
    part = {"routing": [{"name": "特急", "match": {"urgencies": ["特急"]}, "lead": "x", "co_units": []}]}
    rules = domain.Rules.__new__(domain.Rules)
    rules.part, rules.units, rules._locality_by_district = part, {"x": {}}, {}
    assert [c.lead for c in rules.candidates(domain.Facts("用工", urgency="特急"))] == ["x"]
    assert rules.candidates(domain.Facts("用工", urgency="一般")) == []


# ---------------------------------------------------------------- 赋码 (富阳 红黄绿 by difficulty and urgency)
# The seed: 根据难易、紧急程度实行"红黄绿"三色赋码. The profile: red for C/D or 特急, yellow for B or 紧急,
# green for the rest; written out here by hand for every pair.
EXPECTED_FUYANG = {
    ("A", "一般"): "green", ("A", "紧急"): "yellow", ("A", "特急"): "red",
    ("B", "一般"): "yellow", ("B", "紧急"): "yellow", ("B", "特急"): "red",
    ("C", "一般"): "red", ("C", "紧急"): "red", ("C", "特急"): "red",
    ("D", "一般"): "red", ("D", "紧急"): "red", ("D", "特急"): "red",
}


@pytest.mark.parametrize("difficulty,urgency", sorted(EXPECTED_FUYANG))
def test_fuyang_codes_by_difficulty_and_urgency(hangzhou, difficulty, urgency):
    assert hangzhou.code_for("富阳区", difficulty, urgency) == EXPECTED_FUYANG[difficulty, urgency]


def test_another_district_of_hangzhou_gives_no_code(hangzhou):
    assert hangzhou.code_for("上城区", "D", "特急") is None


def test_the_district_rules_come_before_the_citys():
    rules = domain.Rules.__new__(domain.Rules)
    rules.codes = [{"code": "green", "districts": [], "difficulties": [], "urgencies": []},
                   {"code": "red", "districts": ["甲区"], "difficulties": [], "urgencies": []}]
    assert (rules.code_for("甲区", "A", "一般"), rules.code_for("乙区", "A", "一般")) == ("red", "green")


def test_the_dispatch_carries_urgency_and_code(hangzhou):
    appeal = domain.new_appeal(hangzhou, received(district="富阳区", urgency="紧急"))
    assert {k: dispatched(appeal)[k] for k in ("urgency", "code")} == {"urgency": "紧急", "code": "yellow"}


def test_an_appeal_without_urgency_is_ordinary(hangzhou):
    assert dispatched(domain.new_appeal(hangzhou, received()))["urgency"] == "一般"


def test_the_office_raising_the_urgency_recodes_the_appeal(hangzhou):
    appeal = domain.new_appeal(hangzhou, received(district="富阳区", title="咨询用工政策", description="了解政策"))
    assert (appeal.difficulty, appeal.code) == ("A", "green")
    appeal.events.clear()
    appeal.reclassify(hangzhou, urgency="特急")
    assert appeal.events == [("appeal_reclassified", {"appeal_id": "SQ1", "category": "用工", "difficulty": "A",
                                                      "nature": "个性", "urgency": "特急", "code": "red"})]


def test_an_unknown_urgency_is_refused(hangzhou):
    appeal = domain.new_appeal(hangzhou, received())
    with pytest.raises(InvalidInput):
        appeal.reclassify(hangzhou, urgency="很急")


# ---------------------------------------------------------------- the solution plan (建德 1+3+6+10)
def accepted(rules: domain.Rules) -> domain.Appeal:
    appeal = domain.new_appeal(rules, received(district="建德市"))
    appeal.accept(appeal.lead_unit)
    appeal.events.clear()
    return appeal


def test_the_lead_unit_submits_its_plan(hangzhou):
    appeal = accepted(hangzhou)
    appeal.submit_plan(appeal.lead_unit, "三天内组织专场招聘", "unit:hrss/x")
    assert appeal.events == [("appeal_plan_submitted", {"appeal_id": "SQ1", "unit": appeal.lead_unit,
                                                        "note": "三天内组织专场招聘", "actor": "unit:hrss/x"})]


def test_a_plan_before_acceptance_is_refused(hangzhou):
    appeal = domain.new_appeal(hangzhou, received(district="建德市"))
    with pytest.raises(IllegalTransition):
        appeal.submit_plan(appeal.lead_unit, "方案")


def test_a_co_unit_cannot_submit_the_plan(hangzhou):
    appeal = accepted(hangzhou)
    with pytest.raises(NotYours):
        appeal.submit_plan(appeal.co_units[0], "方案")


# ---------------------------------------------------------------- a meeting's decision
def decision(**overrides) -> dict:
    return {"meeting_id": "M1", "kind": "交办会", "held_on": "2026-11-10", "lead_unit": None, "co_units": [],
            "due_at": None, "lead_leader": None, "note": None, **overrides}


def test_a_meeting_makes_the_named_unit_lead_even_with_a_first_responder(hangzhou):
    appeal = domain.new_appeal(hangzhou, received())
    assert hangzhou.first_responder and appeal.lead_unit == "hrss"
    appeal.events.clear()
    assert appeal.apply_meeting_decision(hangzhou, decision(lead_unit="jxj", co_units=["hrss"], lead_leader="王副市长"))
    data = dispatched(appeal)
    assert (data["lead_unit"], data["co_units"], data["reason"], appeal.lead_leader) == (
        "jxj", ["hrss"], "assigned", "王副市长")


def test_a_meeting_naming_only_a_leader_moves_no_unit(hangzhou):
    appeal = domain.new_appeal(hangzhou, received())
    appeal.events.clear()
    appeal.apply_meeting_decision(hangzhou, decision(lead_leader="王副市长"))
    assert (appeal.events, appeal.lead_unit, appeal.lead_leader) == ([], "hrss", "王副市长")


def test_a_meeting_naming_only_co_units_adds_them_to_the_lead(hangzhou):
    appeal = domain.new_appeal(hangzhou, received())
    appeal.accept("hrss")
    appeal.events.clear()
    appeal.apply_meeting_decision(hangzhou, decision(co_units=["jxj"]))
    data = dispatched(appeal)
    assert (data["lead_unit"], data["co_units"], appeal.status) == ("hrss", [*received_co_units(hangzhou), "jxj"],
                                                                    domain.ACCEPTED)


def received_co_units(rules: domain.Rules) -> list[str]:
    return domain.new_appeal(rules, received()).co_units


def test_a_meeting_on_a_replied_appeal_moves_nothing_but_is_recorded(hangzhou):
    appeal = domain.new_appeal(hangzhou, received())
    appeal.status = domain.REPLIED
    appeal.events.clear()
    assert appeal.apply_meeting_decision(hangzhou, decision(lead_unit="jxj")) is False
    assert (appeal.events, appeal.lead_unit, appeal.changes[-1].action) == ([], "hrss", "meeting_decision_ignored")


def test_a_meeting_naming_an_unknown_unit_cannot_be_applied(hangzhou):
    appeal = domain.new_appeal(hangzhou, received())
    with pytest.raises(InvalidInput):
        appeal.apply_meeting_decision(hangzhou, decision(lead_unit="nobody"))


# ---------------------------------------------------------------- the profile validator
def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "dispatch.yaml").write_text(text, encoding="utf-8")
    return tmp_path


BASE = "categories:\n  - {code: 其他}\nrouting:\n"


def test_an_unknown_nature_in_a_rule_is_reported_with_its_line(tmp_path):
    text = BASE + "  - name: x\n    match: {natures: [体制性]}\n    lead: tax\n"
    with pytest.raises(ProfileError, match=r"dispatch.yaml:5: routing\[0\]\.match\.natures\[0\]: Must be one of"):
        load_part(write(tmp_path, text), "dispatch", DispatchPart)


def test_an_unknown_code_colour_is_reported_with_its_line(tmp_path):
    text = BASE + "  - name: x\n    match: {difficulties: [D]}\n    lead: tax\ncodes:\n  - {code: blue}\n"
    with pytest.raises(ProfileError, match=r"dispatch.yaml:8: codes\[0\]\.code: Must be one of"):
        load_part(write(tmp_path, text), "dispatch", DispatchPart)


def test_a_code_rule_for_a_district_no_locality_has_is_reported(tmp_path):
    text = (BASE + "  - name: x\n    match: {difficulties: [D]}\n    lead: tax\n"
            "codes:\n  - {code: red, districts: [无此区]}\n")
    part = load_part(write(tmp_path, text), "dispatch", DispatchPart)
    units = load_units(PROFILES / "demo")
    assert DispatchPart.cross_check(part, units) == ["codes[0]: no locality unit has district '无此区'"]
