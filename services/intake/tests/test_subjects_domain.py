"""Intake's pure rules for households, projects, people and visits (issue 15)."""
from datetime import date, datetime, timezone

import pytest
from marshmallow import ValidationError

from services.intake import domain
from services.intake.profile import IntakePart
from shared.profile import ProfileError, load_part

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
TODAY = date(2026, 11, 23)
APPEAL = {"title": "水管改造费用", "description": "老人担心交不起入户水表的安装费", "district": "武昌区",
          "channel": "visit", "collected_at": "2026-11-20T10:00:00"}


@pytest.mark.parametrize("name, masked", [("张三华", "张*华"), ("谭银珠", "谭*珠"), ("李萍", "李*"),
                                          ("欧阳小明", "欧**明"), ("王", "王*")])
def test_a_name_is_masked_to_its_first_and_last_character(name, masked):
    assert domain.mask_name(name) == masked


@pytest.mark.parametrize("phone, masked", [("13812345678", "138****5678"), ("138-1234-5678", "138****5678"),
                                           ("027-8888 6666", "027****6666")])
def test_a_phone_keeps_its_first_three_and_last_four_digits(phone, masked):
    assert domain.mask_phone(phone) == masked


@pytest.mark.parametrize("role, person, unmasked", [
    ("office", None, True), ("cadre", "yanghy", True), ("cadre", "someone-else", False), ("unit", "yanghy", False),
    ("cadre", None, False), ("platform", None, False)])
def test_only_the_office_and_the_paired_cadre_see_a_household_unmasked(role, person, unmasked):
    assert domain.may_see_personal_data(role, person, "yanghy") is unmasked


def test_an_enterprise_or_project_name_is_never_masked():
    assert [domain.shown_name(t, "保定市建筑设计院", unmasked=False) for t in ("enterprise", "project")] == \
        ["保定市建筑设计院", "保定市建筑设计院"]


def test_a_household_appeal_names_its_registry_entry_not_a_credit_code():
    data = domain.validate_appeal({**APPEAL, "subject_type": "household", "subject_id": "WC-0001"}, NOW)
    assert (data["subject_type"], data["subject_id"], data["credit_code"]) == ("household", "WC-0001", None)


def test_a_household_appeal_without_its_id_is_refused():
    with pytest.raises(ValidationError) as caught:
        domain.validate_appeal({**APPEAL, "subject_type": "household"}, NOW)
    assert set(caught.value.messages) == {"subject_id"}


def test_an_enterprise_appeal_still_needs_its_credit_code_and_name():
    with pytest.raises(ValidationError) as caught:
        domain.validate_appeal(APPEAL, NOW)
    assert set(caught.value.messages) == {"credit_code", "enterprise_name"}


def test_an_unknown_subject_type_is_refused():
    with pytest.raises(ValidationError) as caught:
        domain.validate_appeal({**APPEAL, "subject_type": "village", "subject_id": "V1"}, NOW)
    assert set(caught.value.messages) == {"subject_type"}


def test_a_household_needs_its_community():
    with pytest.raises(ValidationError) as caught:
        domain.validate_subject({"subject_type": "household", "subject_id": "WC-0001", "name": "谭银珠"})
    assert set(caught.value.messages) == {"community"}


def test_a_project_needs_no_community():
    data = domain.validate_subject({"subject_type": "project", "subject_id": "BD-2018-017", "name": "涿州新上项目"})
    assert (data["subject_id"], data["community"]) == ("BD-2018-017", None)


def test_a_person_is_a_cadre_or_a_leader():
    with pytest.raises(ValidationError) as caught:
        domain.validate_person({"id": "hou", "name": "侯晓平", "role": "mayor"})
    assert set(caught.value.messages) == {"role"}


VISIT = {"subject_type": "household", "subject_id": "WC-0001", "visited_on": "2026-11-20"}


def test_a_visit_that_found_nothing_says_so():
    data = domain.validate_visit({**VISIT, "no_problem": True}, TODAY)
    assert (data["no_problem"], data["appeal_ids"], data["visited_on"]) == (True, [], date(2026, 11, 20))


def test_a_visit_that_says_nothing_is_refused():
    with pytest.raises(ValidationError) as caught:
        domain.validate_visit(VISIT, TODAY)
    assert "no_problem" in caught.value.messages


def test_a_visit_that_found_no_problem_raises_no_appeal():
    with pytest.raises(ValidationError, match="raised no appeal"):
        domain.validate_visit({**VISIT, "no_problem": True, "appeal_ids": ["SQ1"]}, TODAY)


def test_a_visit_tomorrow_is_refused():
    with pytest.raises(ValidationError) as caught:
        domain.validate_visit({**VISIT, "visited_on": "2026-11-24", "findings": "缺呼吸机"}, TODAY)
    assert set(caught.value.messages) == {"visited_on"}


def test_a_visit_to_an_enterprise_compacts_its_credit_code():
    data = domain.validate_visit({**VISIT, "subject_type": "enterprise", "subject_id": "91350100m000100y43",
                                  "no_problem": True}, TODAY)
    assert data["subject_id"] == "91350100M000100Y43"
    other = domain.validate_visit({**VISIT, "subject_type": "enterprise", "subject_id": "9135", "no_problem": True},
                                  TODAY)
    assert other["subject_id"] == "9135"  # no enterprise of the registry: the registry says so (409)


def test_the_city_date_of_an_instant_is_shanghais():
    assert domain.city_date(datetime(2026, 11, 22, 17, 0, tzinfo=timezone.utc)) == date(2026, 11, 23)


def test_the_intake_part_must_list_enterprises(tmp_path):
    (tmp_path / "intake.yaml").write_text("# a campaign\nsubject_types: [household]\n", encoding="utf-8")
    with pytest.raises(ProfileError, match=r"intake.yaml:2: subject_types: every campaign hears enterprises"):
        load_part(tmp_path, "intake", IntakePart)


def test_the_intake_part_names_a_wrong_subject_type_with_its_line(tmp_path):
    (tmp_path / "intake.yaml").write_text("subject_types:\n  - enterprise\n  - village\n", encoding="utf-8")
    with pytest.raises(ProfileError, match=r"intake.yaml:3: subject_types\[1\]: Must be one of"):
        load_part(tmp_path, "intake", IntakePart)


@pytest.mark.parametrize("campaign, types", [("wuhan", ["enterprise", "household"]),
                                             ("baoding", ["enterprise", "project"]),
                                             ("hanzhong", ["enterprise"])])
def test_each_campaign_has_the_subjects_its_seed_names(campaign, types):
    assert load_part(f"deploy/profiles/{campaign}", "intake", IntakePart)["subject_types"] == types
