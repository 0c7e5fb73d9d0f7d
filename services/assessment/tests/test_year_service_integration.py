"""Issue 16 through the assessment service: events by the broker, publication and the year by HTTP."""
from io import BytesIO

import pytest
import requests
from openpyxl import load_workbook

from services.assessment.models import inbox
from services.assessment.tests import year_dataset as data
from services.assessment.tests.test_assessment_integration import assessment, auth, config, publish, tap  # noqa: F401
from shared.testing import count_rows as count
from shared.testing import wait_for

pytestmark = pytest.mark.integration

NOW = {"X-Suqiu-Now": data.NOW.isoformat()}


@pytest.fixture
def year(assessment, amqp_uri, db):
    """October and November through the broker; the callbacks by the office over HTTP."""
    for step in data.OCTOBER + data.NOVEMBER:
        if isinstance(step, tuple):
            _kind, appeal_id, body = step
            wait_for(lambda appeal_id=appeal_id, body=body: requests.post(
                         f"{assessment}/api/v1/appeals/{appeal_id}/callback",
                         headers={**auth(), **NOW}, json=body).status_code == 201,
                     20, message=f"the callback of {appeal_id}")
        else:
            before = count(db, inbox)
            publish(amqp_uri, step)
            wait_for(lambda before=before: count(db, inbox) > before, 20, message=f"{step.type} handled")
    return assessment


def test_twice_in_a_row_under_the_threshold_is_escalated_in_unit_flagged_and_on_the_leaders_list(year, tap):
    for month in ("2026-10", "2026-11"):
        answer = requests.post(f"{year}/api/v1/reports/monthly/publish", params={"month": month},
                               headers={**auth(), **NOW})
        assert answer.status_code == 201, answer.text
    wait_for(lambda: len(tap.of_type("unit_flagged")) == 3, 15, message="three unit_flagged")
    flagged = [(e["data"]["period"], e["data"]["unit"], e["data"]["consecutive"], e["data"]["escalated"],
                e["data"]["responsible"]) for e in tap.of_type("unit_flagged")]
    # October: tax 1/2 = 50%; November: hrss 0/1 (first time), tax 0/1 (second month in a row)
    assert sorted(flagged) == [("2026-10", "tax", 1, False, "赵局长"), ("2026-11", "hrss", 1, False, "钱局长"),
                               ("2026-11", "tax", 2, True, "赵局长")]
    leaders = requests.get(f"{year}/api/v1/rectifications", params={"escalated": "true"}, headers=auth())
    assert [(o["unit"], o["period"]) for o in leaders.json()["items"]] == [("tax", "2026-11")]
    mine = requests.get(f"{year}/api/v1/rectifications", headers=auth("t-unit-hrss"))
    assert [o["unit"] for o in mine.json()["items"]] == ["hrss"]


def test_the_november_bulletin_counts_natures_and_lists_the_common_problem(year):
    report = requests.get(f"{year}/api/v1/reports/monthly", params={"month": "2026-11"}, headers={**auth(), **NOW})
    assert [n["count"] for n in report.json()["natures"]] == [0, 2, 1]  # 个性, 共性 (T3, H2), 体制机制性 (T4)
    assert [(p["id"], p["member_count"]) for p in report.json()["common_problems"]] == [("CP1", 2)]


def test_the_office_enters_an_adjustment_and_the_unit_sees_it_in_its_year(year):
    entered = requests.post(f"{year}/api/v1/annual/adjustments", headers={**auth(), **NOW},
                            json={"year": 2026, "unit": "hrss", "points": -10, "reason": "群众投诉查实一次"})
    assert entered.status_code == 201, entered.text
    assert (entered.json()["entered_by"], entered.json()["points"]) == ("office:t-office", -10.0)
    mine = requests.get(f"{year}/api/v1/annual", params={"year": 2026}, headers={**auth("t-unit-hrss"), **NOW})
    [row] = mine.json()["units"]
    # hrss: 100 * (0.6 * 1/2 + 0.4 * 1/2) = 50, then -10
    assert (row["unit"], row["base_score"], row["final_score"], [a["reason"] for a in row["adjustments"]]) == (
        "hrss", 50.0, 40.0, ["群众投诉查实一次"])
    sheet = requests.get(f"{year}/api/v1/annual", params={"year": 2026, "format": "xlsx"}, headers={**auth(), **NOW})
    assert load_workbook(BytesIO(sheet.content))["年度考核汇总表"]["A1"].value == "2026年度企业诉求办理考核"


@pytest.mark.parametrize("token, body, status", [
    ("t-unit-hrss", {"year": 2026, "unit": "hrss", "points": 5, "reason": "自评加分"}, 403),
    ("t-office", {"year": 2026, "unit": "hrss", "points": 5}, 400),
    ("t-office", {"year": 2026, "unit": "hrss", "points": 500, "reason": "x"}, 400),
    ("t-office", {"year": "2026", "unit": "hrss", "points": 5, "reason": "x"}, 400),
])
def test_an_adjustment_refused_records_nothing(assessment, token, body, status):
    answer = requests.post(f"{assessment}/api/v1/annual/adjustments", headers=auth(token), json=body)
    assert answer.status_code == status, answer.text
    listed = requests.get(f"{assessment}/api/v1/annual/adjustments", params={"year": 2026}, headers=auth())
    assert listed.json()["items"] == []
