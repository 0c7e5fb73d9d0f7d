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
