"""Routing to a subject's own units (issue 15): ``lead_department`` (四个一 / 六个一) and ``cadre_unit``
(结对干部所在单位), as appeal_received carries them from intake's registry. Pure rules, three campaigns."""
import pytest

from services.dispatch import domain
from services.dispatch.profile import DispatchPart
from shared.profile import ProfileError, load_part, load_units


def rules_of(campaign: str) -> domain.Rules:
    directory = f"deploy/profiles/{campaign}"
    return domain.Rules(load_part(directory, "dispatch", DispatchPart), load_units(directory))


def received(**overrides) -> dict:
    return {"appeal_id": "SQ1", "title": "项目开工审批", "description": "新上项目开工手续办理慢", "category": None,
            "district": "汉台区", "channel": "visit", "cadre": None, "leader": None,
            "subject_type": "enterprise", **overrides}


def test_hanzhong_sends_a_project_approval_to_the_enterprises_own_lead_department():
    appeal = domain.new_appeal(rules_of("hanzhong"), received(category="项目建设", lead_department="fgw"))
    assert (appeal.lead_unit, appeal.co_units) == ("fgw", ["hantai"])


def test_hanzhong_without_a_lead_department_the_next_rule_decides():
    appeal = domain.new_appeal(rules_of("hanzhong"), received(category="项目建设"))
    assert appeal.lead_unit == "hantai"


def test_a_lead_department_outside_the_unit_directory_is_passed_over():
    appeal = domain.new_appeal(rules_of("hanzhong"), received(category="项目建设", lead_department="nowhere"))
    assert appeal.lead_unit == "hantai"


def test_baoding_sends_a_projects_appeal_to_its_responsible_department():
    appeal = domain.new_appeal(rules_of("baoding"), received(
        subject_type="project", category="资金保障", district=None, lead_department="fgw"))
    assert appeal.lead_unit == "fgw"


def test_baoding_a_subject_without_a_responsible_department_goes_by_category():
    appeal = domain.new_appeal(rules_of("baoding"), received(
        subject_type="project", category="资金保障", title="技术创新资金", district=None))
    assert appeal.lead_unit == "st"


def test_wuhan_the_paired_cadres_unit_co_handles_a_households_hardship():
    appeal = domain.new_appeal(rules_of("wuhan"), received(
        subject_type="household", category="生活困难", district="江岸区", cadre_unit="ee"))
    assert (appeal.lead_unit, appeal.co_units) == ("jiangan", ["ee", "civil"])


def test_a_rule_matches_on_the_subject_type():
    rules = rules_of("baoding")
    enterprise = domain.Facts(category="资金保障", subject_type="enterprise", lead_department="fgw")
    household = domain.Facts(category="资金保障", subject_type="household", lead_department="fgw")
    assert rules.candidates(enterprise)[0].lead == "fgw"
    assert rules.candidates(household)[0].lead != "fgw"


def test_an_unknown_subject_type_in_a_rule_is_named_with_its_line(tmp_path):
    (tmp_path / "dispatch.yaml").write_text(
        "categories:\n  - code: 其他\nrouting:\n  - name: x\n    match: {subject_types: [village]}\n"
        "    lead: lead_department\n", encoding="utf-8")
    with pytest.raises(ProfileError, match=r"dispatch.yaml:5: routing\[0\].match.subject_types\[0\]"):
        load_part(tmp_path, "dispatch", DispatchPart)


def test_the_paired_keywords_pass_the_cross_check():
    part = load_part("deploy/profiles/baoding", "dispatch", DispatchPart)
    assert DispatchPart.cross_check(part, load_units("deploy/profiles/baoding")) == []
