"""Suggesting common problems: same category, same district, several enterprises, alike texts."""
from __future__ import annotations

from services.dispatch.commons import OpenAppeal, suggest

TITLE = ["厂房不动产权证办不下来。企业2015年建成的厂房至今未取得不动产权证书，影响抵押贷款",
         "新建厂房无法办理产权证。厂房竣工多年，因历史遗留问题一直办不了房产证，银行不给贷款",
         "申请协助办理厂房不动产登记。厂区两栋厂房没有产权证，无法用于融资抵押"]
QUOTA = "扩产项目缺少用地指标。企业计划扩建二期生产线，需新增工业用地30亩，缺少用地指标"


def _appeal(id_, firm, text, category="用地", district="汉台区"):
    return OpenAppeal(id=id_, credit_code=firm, category=category, district=district, text=text)


def test_three_firms_land_titles_in_one_district_are_one_suggestion_and_the_land_quota_is_not_in_it():
    found = suggest([_appeal("a1", "F1", TITLE[0]), _appeal("a2", "F2", TITLE[1]), _appeal("a3", "F3", TITLE[2]),
                     _appeal("a4", "F4", QUOTA)])
    assert [(s.members, s.enterprises) for s in found] == [(("a1", "a2", "a3"), 3)]


def test_another_district_or_category_is_never_grouped_with_them():
    found = suggest([_appeal("a1", "F1", TITLE[0]), _appeal("a2", "F2", TITLE[1], district="南郑区"),
                     _appeal("a3", "F3", TITLE[2], category="审批")])
    assert found == []


def test_one_enterprise_saying_it_twice_is_not_a_common_problem():
    assert suggest([_appeal("a1", "F1", TITLE[0]), _appeal("a2", "F1", TITLE[1])]) == []


# ---------------------------------------------------------------- what confirming and answering do to one appeal
import pytest  # noqa: E402

from services.dispatch import commons, domain  # noqa: E402
from services.dispatch.profile import DispatchPart  # noqa: E402
from shared.errors import Conflict, InvalidInput, NotFound  # noqa: E402
from shared.profile import DEFAULT_PROFILE, load_part, load_units  # noqa: E402


@pytest.fixture(scope="module")
def rules() -> domain.Rules:
    return domain.Rules(load_part(DEFAULT_PROFILE, "dispatch", DispatchPart), load_units(DEFAULT_PROFILE))


def member(rules, status: str) -> domain.Appeal:
    appeal = domain.new_appeal(rules, {"appeal_id": "SQ1", "title": "招工难", "description": "缺工人",
                                       "category": "用工", "district": "汉台区", "channel": "visit"})
    appeal.status = status
    appeal.events.clear()
    appeal.changes.clear()
    return appeal


def test_joining_a_group_makes_the_appeal_common_and_hands_it_to_the_groups_lead(rules):
    appeal = member(rules, domain.ACCEPTED)  # hrss signed for it; the group is led by district-a
    appeal.join_common_problem(rules, "CP1", "一线操作工短缺", "district-a")
    assert [kind for kind, _ in appeal.events] == ["appeal_reclassified", "appeal_dispatched"]
    assert (appeal.nature, appeal.lead_unit, appeal.status, appeal.events[0][1]["common_problem_id"]) == (
        "共性", "district-a", domain.DISPATCHED, "CP1")


def test_joining_a_group_its_lead_already_leads_moves_nothing(rules):
    appeal = member(rules, domain.ACCEPTED)
    appeal.join_common_problem(rules, "CP1", "一线操作工短缺", "hrss")
    assert ([kind for kind, _ in appeal.events], appeal.status) == (["appeal_reclassified"], domain.ACCEPTED)


def test_a_replied_appeal_cannot_join_a_group(rules):
    with pytest.raises(domain.IllegalTransition):
        member(rules, domain.REPLIED).join_common_problem(rules, "CP1", "x", "hrss")


def test_the_groups_reply_signs_for_a_member_not_yet_signed_then_replies(rules):
    appeal = member(rules, domain.DISPATCHED)
    assert appeal.reply_as_member("hrss", "solved", "已组织专场招聘会") is True
    assert [kind for kind, _ in appeal.events] == ["appeal_accepted", "appeal_replied"]


@pytest.mark.parametrize("status, unit", [(domain.REPLIED, "hrss"), (domain.CLOSED, "hrss"),
                                          (domain.ACCEPTED, "district-a")])
def test_the_groups_reply_skips_a_member_answered_or_led_by_another_unit(rules, status, unit):
    appeal = member(rules, status)
    assert (appeal.reply_as_member(unit, "solved", "x"), appeal.events) == (False, [])


def _found(*rows):
    return [{"id": i, "credit_code": c, "category": k, "status": s} for i, c, k, s in rows]


@pytest.mark.parametrize("found, requested, grouped, error", [
    (_found(("a", "F1", "用工", "accepted"), ("b", "F1", "用工", "accepted")), ["a", "b"], set(), InvalidInput),
    (_found(("a", "F1", "用工", "accepted"), ("b", "F2", "用地", "accepted")), ["a", "b"], set(), InvalidInput),
    (_found(("a", "F1", "用工", "accepted")), ["a", "b"], set(), NotFound),
    (_found(("a", "F1", "用工", "replied"), ("b", "F2", "用工", "accepted")), ["a", "b"], set(), Conflict),
    (_found(("a", "F1", "用工", "accepted"), ("b", "F2", "用工", "accepted")), ["a", "b"], {"b"}, Conflict),
])
def test_what_the_office_may_not_confirm(found, requested, grouped, error):
    with pytest.raises(error):
        commons.check_group(found, requested, grouped, "hrss", True)


def test_two_open_appeals_of_two_enterprises_of_one_category_may_be_confirmed():
    commons.check_group(_found(("a", "F1", "用工", "accepted"), ("b", "F2", "用工", "queued")), ["a", "b"], set(),
                        "hrss", True)
