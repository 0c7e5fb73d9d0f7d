"""Issue 16 on PostgreSQL: the year's score with manual adjustments, the rectification orders
followed up, natures and common problems, the weekly lists, the targets per unit.

The facts go through the handlers the consumers run; the expected figures are worked out by
hand from DOMAIN.md's definitions (``year_dataset``), never read from the code.
"""
from datetime import datetime
from io import BytesIO

import pytest
from openpyxl import load_workbook

from services.assessment import annual, domain, rectification, reports
from services.assessment.tests import year_dataset as data
from services.assessment.tests.conftest import play

pytestmark = pytest.mark.integration


def apply(session, settings, steps) -> None:
    play(session, settings, steps, data.NOW)


@pytest.fixture
def year(sessions, settings):
    with sessions() as session:
        apply(session, settings, data.OCTOBER + data.NOVEMBER)
        yield session


def monthly(session, settings, label: str) -> dict:
    period = domain.month_period(label)
    return reports.build(session, "monthly", period, domain.previous_month(period), settings.part, settings.units,
                         data.NOW)


def publish_orders(session, report: dict, label: str) -> list[dict]:
    """What publishing the monthly report stores (the service's _record_publication)."""
    stored = rectification.issue(session, "monthly", label, report["rectification"], now=data.NOW,
                                 actor="office:t-office", working_days=10)
    session.commit()
    return stored


# ---------------------------------------------------------------- 限期整改, followed up
def test_a_unit_under_the_threshold_gets_an_order_with_a_deadline_and_its_leader(year, settings):
    report = monthly(year, settings, "2026-10")
    # tax: callbacks answered in October T1 满意, T2 不满意 -> 1/2 = 50% < 80%; hrss: H1 满意 -> 100%
    assert [(e["unit"], e["satisfaction_rate"], e["consecutive"], e["escalated"], e["responsible"])
            for e in report["rectification"]] == [("tax", 0.5, 1, False, "赵局长")]
    [order] = publish_orders(year, report, "2026-10")
    # published Tue 1 Dec 2026; the 10th working day after it is Tue 15 Dec: due by its end (16 Dec 00:00)
    assert order["deadline"] == datetime(2026, 12, 16, 0, 0, tzinfo=data.SHANGHAI)


def test_the_next_month_shows_whether_the_unit_came_back_and_twice_in_a_row_escalates(year, settings):
    publish_orders(year, monthly(year, settings, "2026-10"), "2026-10")
    report = monthly(year, settings, "2026-11")
    # November: tax T3 不满意 -> 0/1 = 0%, on the list again (2nd month: escalated); hrss H2 不满意 -> 0%, first time
    assert [(e["unit"], e["satisfaction_rate"], e["consecutive"], e["escalated"]) for e in report["rectification"]] \
        == [("hrss", 0.0, 1, False), ("tax", 0.0, 2, True)]
    assert [(f["unit"], f["satisfaction_before"], f["satisfaction_now"], f["back_above"])
            for f in report["rectification_follow_up"]] == [("tax", 0.5, 0.0, False)]


def test_the_escalated_orders_are_the_leaders_list(year, settings):
    publish_orders(year, monthly(year, settings, "2026-10"), "2026-10")
    publish_orders(year, monthly(year, settings, "2026-11"), "2026-11")
    assert [(o["unit"], o["period"]) for o in rectification.listing(year, escalated=True)] == [("tax", "2026-11")]


def test_baodings_targets_show_the_gap_per_unit(year, settings):
    report = monthly(year, settings, "2026-10")
    hrss = next(r for r in report["targets_by_unit"] if r["unit"] == "hrss")
    tax = next(r for r in report["targets_by_unit"] if r["unit"] == "tax")
    # targets 100% each. tax in October: received T1, T2 (2), solved T1 (1) -> 50%, gap 0.5;
    # satisfaction 1/2 -> gap 0.5. hrss: H1 received and solved -> 100%, satisfaction 1/1 -> met
    assert {t["rate"]: (t["gap"], t["met"]) for t in tax["targets"] if t["rate"] != "submitted_on_time"} == {
        "resolution": (0.5, False), "satisfaction": (0.5, False)}
    assert {t["rate"]: t["met"] for t in hrss["targets"] if t["rate"] != "submitted_on_time"} == {
        "resolution": True, "satisfaction": True}


# ---------------------------------------------------------------- natures, common problems, the weekly lists
def test_the_report_counts_the_three_natures_and_lists_the_common_problem_with_its_members(year, settings):
    report = monthly(year, settings, "2026-11")
    # received in November: T3 共性, H2 共性, T4 体制机制性
    assert report["natures"] == [{"nature": "个性", "count": 0}, {"nature": "共性", "count": 2},
                                 {"nature": "体制机制性", "count": 1}]
    [problem] = report["common_problems"]
    assert (problem["id"], problem["title"], [m["appeal_id"] for m in problem["members"]], problem["lead_units"]) == (
        "CP1", "社保补缴", ["H2", "T3"], ["hrss", "tax"])


def test_october_has_only_individual_appeals_and_no_common_problem(year, settings):
    report = monthly(year, settings, "2026-10")
    assert (report["natures"][0], report["common_problems"]) == ({"nature": "个性", "count": 3}, [])


def test_the_weekly_report_lists_the_new_problems_and_the_resolved_ones(year, settings):
    period = domain.week_period("2026-W42")  # Mon 12 to Sun 18 Oct
    report = reports.build(year, "weekly", period, domain.week_period("2026-W41"), settings.part, settings.units,
                           data.NOW)
    # new: T1, T2 (12 Oct), H1 (13 Oct); resolved (closed as solved in the week): T1 (15 Oct), H1 (16 Oct),
    # each replied 2 days and 1 day 5 hours after submission: within a week
    assert [p["appeal_id"] for p in report["new_problems"]] == ["T1", "T2", "H1"]
    assert [(p["appeal_id"], p["within_week"]) for p in report["resolved_problems"]] == [("T1", True), ("H1", True)]
    assert (report["new_problems_total"], report["resolved_problems_total"]) == (3, 2)


# ---------------------------------------------------------------- 年度考核
def test_the_years_score_is_the_scheme_plus_the_offices_adjustments_and_ranks_the_units(year, settings):
    annual.add_adjustment(year, 2026, {"unit": "tax", "points": 5, "reason": "牵头解决社保补缴共性问题"},
                          actor="office:t-office", now=data.NOW)
    annual.add_adjustment(year, 2026, {"unit": "tax", "points": -1.5, "reason": "年度考核材料报送超时"},
                          actor="office:t-office", now=data.NOW)
    annual.add_adjustment(year, 2026, {"unit": "hrss", "points": -10, "reason": "群众投诉查实一次"},
                          actor="office:t-office", now=data.NOW)
    year.commit()
    table = annual.build(year, 2026, settings.part, settings.units, data.NOW)
    rows = {r["unit"]: r for r in table["units"]}
    # tax: received T1-T4 = 4, solved T1 = 1 -> 25%; answered T1, T2, T3 = 3, satisfied 1 -> 1/3;
    # one overdue escalation: -2. 100 * (0.6 * 0.25 + 0.4 * 1/3) - 2 = 28.333 - 2 = 26.33; +5 -1.5 = 29.83
    # hrss: received H1, H2 = 2, solved H1 -> 50%; answered 2, satisfied 1 -> 50%: 100 * (0.3 + 0.2) = 50; -10 = 40
    assert (rows["tax"]["base_score"], rows["tax"]["automatic_deductions"], rows["tax"]["manual_adjustments"],
            rows["tax"]["final_score"]) == (26.33, 2.0, 3.5, 29.83)
    assert (rows["hrss"]["base_score"], rows["hrss"]["final_score"]) == (50.0, 40.0)
    assert (rows["hrss"]["rank"], rows["tax"]["rank"], rows["nrp"]["rank"]) == (1, 2, None)


def test_a_unit_sees_its_own_row_with_the_reasons_who_entered_them_and_when(year, settings):
    annual.add_adjustment(year, 2026, {"unit": "tax", "points": 5, "reason": "牵头解决社保补缴共性问题"},
                          actor="office:t-office", now=data.NOW)
    year.commit()
    mine = annual.for_unit(annual.build(year, 2026, settings.part, settings.units, data.NOW), "tax")
    [row] = mine["units"]
    assert [(a["points"], a["reason"], a["entered_by"], a["entered_at"]) for a in row["adjustments"]] == [
        (5.0, "牵头解决社保补缴共性问题", "office:t-office", data.NOW)]


def test_the_xlsx_is_the_assessment_offices_table(year, settings):
    annual.add_adjustment(year, 2026, {"unit": "hrss", "points": -10, "reason": "群众投诉查实一次"},
                          actor="office:t-office", now=data.NOW)
    year.commit()
    book = load_workbook(BytesIO(annual.to_xlsx(annual.build(year, 2026, settings.part, settings.units, data.NOW))))
    sheet, trail = book["年度考核汇总表"], book["加减分明细"]
    headings = [c.value for c in sheet[3]]
    first = dict(zip(headings, [c.value for c in sheet[4]], strict=True))
    assert (sheet["A1"].value, first["单位"], first["最终得分"], first["名次"], first["人工加减分"]) == (
        "2026年度企业诉求办理考核", "市人社局", 40.0, 1, -10.0)
    assert [c.value for c in trail[2]][1:5] == ["市人社局", -10.0, "群众投诉查实一次", "office:t-office"]


@pytest.mark.parametrize("body, field", [
    ({"unit": "nowhere", "points": 5, "reason": "x"}, "unit"),
    ({"unit": "office", "points": 5, "reason": "x"}, "unit"),  # the office is not ranked
    ({"unit": "tax", "points": 0, "reason": "x"}, "points"),
])
def test_an_adjustment_the_office_may_not_enter_is_refused(settings, body, field):
    from shared.errors import InvalidInput

    ranked = {code for code, u in settings.units.items() if u["type"] in annual.GROUP_NAMES}
    with pytest.raises(InvalidInput) as refused:
        annual.check_adjustment(body, ranked)
    assert list(refused.value.fields) == [field]


def test_the_html_and_xlsx_of_the_report_carry_the_lists_the_natures_and_the_follow_up(year, settings):
    from services.assessment import render

    publish_orders(year, monthly(year, settings, "2026-10"), "2026-10")
    report = monthly(year, settings, "2026-11")
    html = render.to_html(report).decode("utf-8")
    assert all(text in html for text in ("问题清单（本期新增，共 3 件）", "问题解决情况清单", "共性问题：社保补缴",
                                         "整改跟踪", "连续 2 期，已提请领导督办"))
    book = load_workbook(BytesIO(render.to_xlsx(report)))
    follow = [[c.value for c in row] for row in book["整改跟踪"].iter_rows(min_row=2)]
    assert [(r[0], r[1], r[2], r[6]) for r in follow] == [("tax", 0.5, 0.0, "否")]
    assert [r[0].value for r in book["问题清单"].iter_rows(min_row=2)] == ["T3", "H2", "T4"]
