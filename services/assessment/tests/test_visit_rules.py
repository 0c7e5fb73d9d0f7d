"""The visit rule, visits per cadre and unit, the not-visited list and pairing coverage (issue 15).

Expected figures are counted by hand from the definitions in visit_rules' docstring."""
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from services.assessment import visit_rules
from services.assessment.profile import AssessmentPart
from services.assessment.visit_rules import VisitRule
from shared.profile import ProfileError, load_part

END = datetime(2026, 11, 30, 16, 0, tzinfo=timezone.utc)  # 2026-12-01 00:00 in Shanghai
BEFORE = datetime(2026, 10, 1, tzinfo=timezone.utc)
MONTHLY = VisitRule("month", 1, ("enterprise",))


def subject(subject_id: str, cadre_id: str | None = "c1", subject_type: str = "enterprise",
            registered_at: datetime = BEFORE) -> dict:
    return {"subject_type": subject_type, "subject_id": subject_id, "name": f"{subject_id}公司", "district": "汉台区",
            "cadre_id": cadre_id, "cadre": cadre_id, "cadre_unit": "tax", "registered_at": registered_at}


def visit(subject_id: str, cadre_id: str = "c1", unit: str | None = "tax", no_problem: bool = False,
          appeals: int = 0, subject_type: str = "enterprise") -> dict:
    return {"subject_type": subject_type, "subject_id": subject_id, "cadre_id": cadre_id, "cadre": f"干部{cadre_id}",
            "unit": unit, "visited_on": date(2026, 11, 10), "no_problem": no_problem, "appeals_raised": appeals}


VISITS = [visit("A"), visit("A", no_problem=True), visit("B", appeals=2), visit("C", "c2", "hrss", no_problem=True),
          visit("H1", "c3", None, subject_type="household")]


def test_visits_per_cadre_count_visits_subjects_and_what_they_found():
    rows = visit_rules.per_cadre(VISITS)
    # c1: A, A, B -> 3 visits, 2 subjects, 1 without a problem, 2 appeals; c2: 1 visit; c3: 1 visit
    assert [(r["cadre_id"], r["visits"], r["subjects"], r["no_problem"], r["appeals_raised"]) for r in rows] == [
        ("c1", 3, 2, 1, 2), ("c2", 1, 1, 1, 0), ("c3", 1, 1, 0, 0)]


def test_visits_per_unit_count_the_unit_of_the_visiting_cadre():
    rows = visit_rules.per_unit(VISITS)
    assert [(r["unit"], r["visits"], r["cadres"], r["subjects"]) for r in rows] == [
        ("tax", 3, 1, 2), (None, 1, 1, 1), ("hrss", 1, 1, 1)]


def test_the_monthly_rule_lists_the_enterprises_with_fewer_visits_than_it_asks():
    subjects = [subject("A"), subject("B"), subject("C"), subject("D"), subject("H1", subject_type="household")]
    # D had no visit; the household is outside the rule's types
    assert [(s["subject_id"], s["visits"]) for s in visit_rules.not_visited(subjects, VISITS, MONTHLY, END)] == \
        [("D", 0)]


def test_a_rule_of_two_visits_a_month_lists_those_visited_once():
    subjects = [subject("A"), subject("B"), subject("C")]
    rule = VisitRule("month", 2, ("enterprise",))
    assert [(s["subject_id"], s["visits"]) for s in visit_rules.not_visited(subjects, VISITS, rule, END)] == \
        [("B", 1), ("C", 1)]


def test_a_subject_registered_after_the_period_is_not_due():
    late = subject("E", registered_at=datetime(2026, 12, 2, tzinfo=timezone.utc))
    assert visit_rules.not_visited([late], [], MONTHLY, END) == []


def test_without_a_rule_nobody_is_listed():
    assert visit_rules.not_visited([subject("D")], [], VisitRule(), END) == []


def test_pairing_coverage_counts_the_subjects_with_a_cadre():
    subjects = [subject("A"), subject("B", None), subject("C"), subject("H1", None, "household"),
                subject("late", None, registered_at=datetime(2026, 12, 2, tzinfo=timezone.utc))]
    coverage = visit_rules.pairing_coverage(subjects, END)
    # registered by the end: A, B, C, H1 -> 4; with a cadre: A, C -> 2; 2 / 4
    assert coverage["overall"] == {"registered": 4, "paired": 2, "without_cadre": 2, "rate": 0.5}
    assert coverage["by_type"]["enterprise"] == {"registered": 3, "paired": 2, "without_cadre": 1, "rate": 2 / 3}
    assert [s["subject_id"] for s in coverage["unpaired"]] == ["B", "H1"]


def test_coverage_of_an_empty_registry_has_no_rate():
    assert visit_rules.pairing_coverage([], END)["overall"]["rate"] is None


def test_the_rule_reads_in_the_campaigns_words():
    assert VisitRule("month", 1, ("enterprise", "household")).describe() == "每个企业、困难家庭每月至少走访1次"
    assert VisitRule().describe() == "未规定走访频次"


def test_hanzhong_states_a_monthly_visit_to_every_enterprise():
    part = load_part("deploy/profiles/hanzhong", "assessment", AssessmentPart)
    assert VisitRule.of(part["visits"]) == VisitRule("month", 1, ("enterprise",),
                                                     "包抓领导和干部每月到企业服务或联系不少于1次")


@pytest.mark.parametrize("campaign", ["wuhan", "baoding", "hangzhou", "huainan"])
def test_the_other_campaigns_state_no_frequency(campaign):
    assert not VisitRule.of(load_part(f"deploy/profiles/{campaign}", "assessment", AssessmentPart)["visits"]).applies


def test_a_wrong_rule_is_named_with_its_file_and_line(tmp_path):
    text = Path("deploy/profiles/hanzhong/assessment.yaml").read_text(encoding="utf-8")
    (tmp_path / "assessment.yaml").write_text(text.replace("  every: month", "  every: fortnight"), encoding="utf-8")
    line = text.splitlines().index("  every: month") + 1
    with pytest.raises(ProfileError, match=rf"assessment.yaml:{line}: visits.every: Must be one of"):
        load_part(tmp_path, "assessment", AssessmentPart)
