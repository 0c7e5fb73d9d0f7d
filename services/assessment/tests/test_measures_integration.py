"""Every rate, score, ranking and list of the weekly report on PostgreSQL, against hand-computed numbers.

The facts go through the same handlers the event consumers run (no broker here:
the service test does that); the numbers are in ``dataset.EXPECTED_W47``.
"""
import pytest

from services.assessment import domain, measures, reports
from services.assessment.tests import dataset
from services.assessment.tests.conftest import apply_callback, apply_event, play

pytestmark = pytest.mark.integration


@pytest.fixture
def week47(sessions, settings):
    with sessions() as session:
        for phase in dataset.PHASES:
            play(session, settings, phase, dataset.NOW)
        yield session, reports.build(session, "weekly", domain.week_period("2026-W47"),
                                     domain.week_period("2026-W46"), settings.part, settings.units,
                                     dataset.NOW)


def test_the_overall_rates_are_the_hand_computed_ones(week47):
    _session, report = week47
    assert report["overall"]["rates"] == pytest.approx(dataset.EXPECTED_W47["overall_rates"])


def test_the_summary_is_the_hand_computed_one(week47):
    _session, report = week47
    assert report["summary"] == dataset.EXPECTED_W47["summary"]


def approx_or_none(expected: dict) -> dict:
    """Expected numbers compared approximately; None (nothing to count) compared exactly."""
    return {k: None if v is None else pytest.approx(v) for k, v in expected.items()}


@pytest.mark.parametrize("unit", ["tax", "district-a", "nanzheng", "hrss"])
def test_each_units_rates_are_the_hand_computed_ones(week47, unit):
    _session, report = week47
    row = next(u for u in report["units"] if u["unit"] == unit)
    assert row["rates"] == approx_or_none(dataset.EXPECTED_W47["unit_rates"][unit])


def test_returns_escalations_and_unanswered_callbacks_are_counted_per_unit(week47):
    _session, report = week47
    rows = {u["unit"]: u["counts"] for u in report["units"]}
    for unit, counts in dataset.EXPECTED_W47["unit_counts"].items():
        assert {k: rows[unit][k] for k in counts} == counts


def test_the_scores_follow_the_hanzhong_scheme(week47):
    _session, report = week47
    scores = {u["unit"]: u["score"] for u in report["units"] if u["unit"] in dataset.EXPECTED_W47["scores"]}
    assert scores == approx_or_none(dataset.EXPECTED_W47["scores"])


def test_the_ranking_is_per_group_with_the_change_from_the_week_before(week47):
    _session, report = week47
    ranking = {e["unit"]: (e["rank"], e["previous_rank"], e["change"]) for e in report["ranking"]}
    assert {u: ranking[u] for u in dataset.EXPECTED_W47["ranking"]} == dataset.EXPECTED_W47["ranking"]


def test_units_under_80_percent_satisfaction_are_on_the_rectification_list(week47):
    _session, report = week47
    assert [(e["unit"], pytest.approx(e["satisfaction_rate"])) for e in report["rectification"]] == \
        dataset.EXPECTED_W47["rectification"]


def test_the_three_100_percent_targets_are_shown_against_the_actual_rates(week47):
    _session, report = week47
    assert [(t["rate"], t["met"]) for t in report["targets"]] == [
        ("submitted_on_time", False), ("resolution", False), ("satisfaction", False)]
    assert [t["actual"] for t in report["targets"]] == pytest.approx([4 / 5, 2 / 5, 3 / 5])


def test_the_counts_by_category_and_district(week47):
    _session, report = week47
    assert {g["key"]: g["counts"]["received"] for g in report["by_category"] if g["counts"]["received"]} == \
        dataset.EXPECTED_W47["by_category_received"]
    assert {g["key"]: g["counts"]["received"] for g in report["by_district"] if g["counts"]["received"]} == \
        dataset.EXPECTED_W47["by_district_received"]


def test_the_weekly_trend(week47):
    _session, report = week47
    trend = {w["week"]: (w["new"], w["resolved"]) for w in report["trend"]}
    assert [trend["2026-W45"], trend["2026-W46"], trend["2026-W47"]] == dataset.EXPECTED_W47["trend_w45_w46_w47"]
    assert sum(n for n, _ in trend.values()) == 7


def test_the_overdue_list_names_the_overdue_appeal(week47):
    _session, report = week47
    assert [o["appeal_id"] for o in report["overdue"]] == ["A5"]


def test_the_beijing_scheme_scores_the_same_facts_on_three_rates(week47, settings):
    from pathlib import Path

    from services.assessment.profile import AssessmentPart
    from shared.profile import load_part

    beijing = load_part(Path(__file__).parent / "profiles" / "beijing", "assessment", AssessmentPart)
    session, _report = week47
    counts = measures.counts_by(session, domain.week_period("2026-W47"), "unit", dataset.NOW)
    score = domain.score(domain.rates(counts["tax"]), counts["tax"], beijing["scoring"])
    # tax: 100 * (0.2 * 1/2 response + 0.4 * 1/2 resolution + 0.4 * 2/3 satisfaction) = 10 + 20 + 26.667
    assert score == pytest.approx(56.67)
    nanzheng = domain.score(domain.rates(counts["nanzheng"]), counts["nanzheng"], beijing["scoring"])
    # nanzheng: response 0, resolution 0, no satisfaction -> 0; minus 1 per overdue escalation
    assert nanzheng == pytest.approx(-1.0)


def test_a_reopen_dispatch_keeps_the_response_already_measured(sessions, settings):
    from sqlalchemy import select

    from services.assessment.models import appeal_facts

    t = dataset.t
    with sessions() as session:
        for event in (dataset.received("R1", t(16, 9), t(16, 10), "汉台区", "税费"),
                      dataset.dispatched("R1", t(16, 11), "tax", "税费"),
                      dataset.accepted("R1", t(16, 12), "tax"),
                      dataset.replied("R1", t(17, 10), "tax")):
            apply_event(session, settings, event)
        apply_callback(session, "R1", {"solved": False, "satisfaction": "不满意",
                                       "called_at": t(18, 10).isoformat()}, dataset.NOW)
        reopen = dataset.ev("appeal_dispatched", t(18, 10, 1), appeal_id="R1", lead_unit="tax", category="税费",
                            difficulty="B", level="city", dispatch_count=2, reason="reopened")
        apply_event(session, settings, reopen)
        session.commit()
        row = session.execute(select(appeal_facts).where(appeal_facts.c.appeal_id == "R1")).one()
    assert (row.status, row.dispatch_count, row.dispatched_at, row.accepted_at) == \
        ("reopened", 2, t(16, 11), t(16, 12))
