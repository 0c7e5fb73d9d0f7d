"""Common problems (共性问题) on the real broker and PostgreSQL: suggested, confirmed, replied to all."""
import pytest
import requests

from services.dispatch.models import appeals, common_problem_members
from services.dispatch.tests.test_dispatch_integration import LABOUR, auth, dispatch, events_of, post, received, tap  # noqa: F401
from shared.testing import count_rows as count

pytestmark = pytest.mark.integration

SHORT_HANDED = [  # seed 001: production lines short of workers, three firms of 汉台区
    ("一线操作工招不到", "旺季订单增加，缺少一线操作工80人，招工困难", "91610700000000001A"),
    ("普工短缺", "生产线缺普通操作工50名左右，希望帮助对接劳务资源", "91610700000000002B"),
    ("招工难", "企业急需招聘一线生产工人，多次招聘会效果不佳", "91610700000000003C"),
]
BACK_PAY = ("社保补缴政策咨询", "公司有员工历史欠缴社保，想申请补缴，不清楚办理流程", "91610700000000004D")


def labour(index: int, title: str, description: str, code: str, district: str = "汉台区") -> dict:
    return {**LABOUR, "appeal_id": f"SQ20261123-00000001{index:02d}", "credit_code": code,
            "enterprise_name": f"企业{index}", "title": title, "description": description, "district": district}


@pytest.fixture
def four(dispatch, amqp_uri, tap):
    data = [labour(i, *row) for i, row in enumerate([*SHORT_HANDED, BACK_PAY])]
    for item in data:
        received(amqp_uri, tap, item)
    return [item["appeal_id"] for item in data]


def confirm(base: str, ids: list[str], lead: str = "district-a") -> requests.Response:
    return post(base, "/api/v1/office/common-problems", "t-office",
                {"title": "一线操作工短缺", "lead_unit": lead, "appeal_ids": ids})


def test_the_three_short_handed_firms_are_suggested_as_one_group_without_the_back_pay(dispatch, four):
    answer = requests.get(f"{dispatch}/api/v1/office/common-problems/candidates", headers=auth("t-office"))
    assert answer.status_code == 200, answer.text
    assert [([m["id"] for m in g["members"]], g["category"], g["district"], g["enterprises"])
            for g in answer.json()["items"]] == [(four[:3], "用工", "汉台区", 3)]


def test_a_confirmed_group_is_led_by_one_unit_and_its_members_become_common(dispatch, four, tap, db, amqp_uri):
    answer = confirm(dispatch, four[:3])
    assert answer.status_code == 201, answer.text
    problem = answer.json()
    reclassified = events_of(tap, "appeal_reclassified", 3)
    moved = [e for e in events_of(tap, "appeal_dispatched", 7) if e["data"]["reason"] == "assigned"]
    assert sorted(m["id"] for m in problem["members"]) == four[:3]
    assert {(e["data"]["nature"], e["data"]["common_problem_id"]) for e in reclassified} == {("共性", problem["id"])}
    assert sorted((e["subject"], e["data"]["lead_unit"]) for e in moved) == [(i, "district-a") for i in four[:3]]
    assert count(db, appeals, appeals.c.nature == "共性") == 3


def test_the_lead_replies_once_and_every_member_gets_its_own_reply(dispatch, four, tap, db, amqp_uri):
    problem = confirm(dispatch, four[:3]).json()
    answer = post(dispatch, f"/api/v1/desk/common-problems/{problem['id']}/reply", "t-unit-district-a",
                  {"outcome": "solved", "reply_text": "已组织专场招聘会，三家企业共招到操作工150人"})
    assert answer.status_code == 200, answer.text
    replies = events_of(tap, "appeal_replied", 3)
    assert sorted(e["subject"] for e in replies) == four[:3]
    assert {(e["data"]["unit"], e["data"]["outcome"]) for e in replies} == {("district-a", "solved")}
    assert (answer.json()["replied"], answer.json()["problem"]["status"]) == (four[:3], "replied")
    assert count(db, appeals, appeals.c.status == "replied") == 3


def test_another_unit_may_not_reply_and_a_second_reply_is_a_409(dispatch, four, tap):
    problem = confirm(dispatch, four[:3]).json()
    path = f"/api/v1/desk/common-problems/{problem['id']}/reply"
    body = {"outcome": "solved", "reply_text": "已解决"}
    assert post(dispatch, path, "t-unit-hrss", body).status_code == 403
    assert post(dispatch, path, "t-unit-district-a", body).status_code == 200
    assert post(dispatch, path, "t-unit-district-a", body).status_code == 409


@pytest.mark.parametrize("pick, status", [
    (lambda ids: ids[:1] * 2, 400),  # one appeal named twice
    (lambda ids: ids[:1], 400),  # fewer than two appeals
    (lambda ids: [ids[0], "SQ-NONE"], 404),
])
def test_a_group_the_office_may_not_confirm_changes_nothing(dispatch, four, db, pick, status):
    assert confirm(dispatch, pick(four)).status_code == status
    assert count(db, common_problem_members) == 0


def test_an_appeal_already_in_a_group_cannot_join_another(dispatch, four, db):
    assert confirm(dispatch, four[:2]).status_code == 201
    assert confirm(dispatch, four[1:3]).status_code == 409
    assert count(db, common_problem_members) == 2
