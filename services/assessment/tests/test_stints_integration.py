"""Who is measured (docs/measures.md) on PostgreSQL, through the handlers the consumers run.

Every expected figure is worked out by hand in :mod:`stints` and in the comments here.
"""
import pytest
from sqlalchemy import select

from services.assessment import domain, measures, reports
from services.assessment.models import dispatch_facts
from services.assessment.tests import stints
from services.assessment.tests.conftest import apply_event, play
from services.assessment.tests.dataset import t

pytestmark = pytest.mark.integration

W47, W48 = domain.week_period("2026-W47"), domain.week_period("2026-W48")


def play_at_w48(session, settings, steps) -> None:
    play(session, settings, steps, stints.W48_NOW)


def weekly(session, settings, period, now):
    previous = domain.previous_weeks(period, 2)[0]
    return reports.build(session, "weekly", period, previous, settings.part, settings.units, now,
                         office=settings.office)


# ---------------------------------------------------------------- late at tax, solved at the office
@pytest.fixture
def escalated(sessions, settings):
    with sessions() as session:
        play_at_w48(session, settings, stints.ESCALATED_TO_THE_OFFICE)
        yield weekly(session, settings, W48, stints.W48_NOW)


def unit_row(report, code):
    return next(u for u in report["units"] if u["unit"] == code)


def test_the_unit_keeps_its_late_acceptance_after_the_appeal_climbed(escalated):
    tax = unit_row(escalated, "tax")["counts"]
    # tax's dispatch (23 10:00) was never accepted and taken away by escalation: counted, not responded
    assert (tax["dispatched"], tax["response_counted"], tax["responded"], tax["not_responded"]) == (1, 1, 0, 1)
    assert unit_row(escalated, "tax")["rates"]["response"] == 0.0


def test_the_unit_keeps_its_overdue_and_its_escalation_deductions(escalated):
    tax = unit_row(escalated, "tax")
    # its acceptance deadline (24 10:00) passed while it held E1 (until 25 10:00); both escalations
    # were overdue ones made against tax
    assert (tax["counts"]["overdue"], tax["counts"]["overdue_escalations"]) == (1, 2)
    # Hanzhong: 0.6 resolution (0 / 1) + 0.4 satisfaction (no callback on tax's reply: left out,
    # the weight rescaled) -> 0; minus 2 points per overdue escalation x 2 -> -4
    assert tax["score"] == pytest.approx(-4.0)


def test_the_appeal_escalated_away_stays_unsolved_in_the_units_resolution_rate(escalated):
    tax = unit_row(escalated, "tax")
    assert (tax["counts"]["received"], tax["counts"]["solved"], tax["rates"]["resolution"]) == (1, 0, 0.0)


def test_the_office_is_reported_apart_and_never_ranked(escalated):
    assert "office" not in {u["unit"] for u in escalated["units"]}
    assert "office" not in {e["unit"] for e in escalated["ranking"]}
    office = next(u for u in escalated["coordination"] if u["unit"] == "office")
    # the office: its dispatch accepted 25 11:00 (due 26 10:00), E1 solved by its reply (26 15:00,
    # due 27 18:00), the callback on its reply 满意
    assert office["rates"] == pytest.approx({"submitted_on_time": None, "response": 1.0, "resolution": 1.0,
                                             "on_time": 1.0, "satisfaction": 1.0, "solved_7d": 1.0,
                                             "solved_60d": 1.0})


def test_overall_the_appeal_counts_once(escalated):
    overall = escalated["overall"]
    # one appeal received and solved (in tax's and the office's denominators, once overall);
    # two dispatches (tax: not responded, office: responded)
    assert (overall["counts"]["received"], overall["counts"]["solved"]) == (1, 1)
    assert overall["rates"]["resolution"] == 1.0
    assert overall["rates"]["response"] == pytest.approx(1 / 2)


def test_the_unit_is_ranked_with_what_it_kept(escalated):
    ranking = {e["unit"]: e for e in escalated["ranking"]}
    assert ranking["tax"]["score"] == pytest.approx(-4.0) and ranking["tax"]["rank"] == 1  # the only one rated


# ---------------------------------------------------------------- returned in time, accepted on time elsewhere
@pytest.fixture
def returned(sessions, settings):
    with sessions() as session:
        play_at_w48(session, settings, stints.RETURNED_THEN_ACCEPTED)
        yield session


def test_a_dispatch_returned_within_its_deadline_is_out_of_the_units_response_rate(returned):
    hrss = measures.counts_by(returned, W47, "unit", stints.W48_NOW)["hrss"]
    # W47: hrss's dispatch (Fri 20 16:00) returned Mon 23 09:00, before its due Mon 23 16:00
    assert (hrss["dispatched"], hrss["returned_in_time"], hrss["response_counted"]) == (1, 1, 0)
    assert domain.rates(hrss)["response"] is None


def test_the_next_units_dispatch_counts_in_its_own_period(returned):
    w47 = measures.counts_by(returned, W47, "unit", stints.W48_NOW)
    w48 = measures.counts_by(returned, W48, "unit", stints.W48_NOW)
    assert w47.get("tax", {}).get("dispatched", 0) == 0  # tax's dispatch was made Mon 23 (W48)
    # W48: tax's dispatch accepted 23 14:00, due 24 10:00 -> 1 / 1
    assert (w48["tax"]["dispatched"], w48["tax"]["responded"], domain.rates(w48["tax"])["response"]) == (1, 1, 1.0)


def test_the_return_is_counted_apart_in_the_period_it_was_made(returned):
    assert measures.counts_by(returned, W48, "unit", stints.W48_NOW)["hrss"]["returns"] == 1
    assert measures.counts_by(returned, W47, "unit", stints.W48_NOW).get("hrss", {}).get("returns", 0) == 0


def test_an_appeal_that_left_by_a_return_is_in_the_next_units_resolution_rate_only(returned):
    w47 = measures.counts_by(returned, W47, "unit", stints.W48_NOW)
    # R1 received Fri 20 (W47): tax holds it as lead, hrss left it by a return
    assert (w47["tax"]["received"], w47["hrss"]["received"]) == (1, 0)


# ---------------------------------------------------------------- pending on Monday morning, and frozen
@pytest.fixture
def sunday(sessions, settings):
    with sessions() as session:
        play_at_w48(session, settings, stints.SUNDAY_EVENING)
        yield session


def test_a_sunday_evening_dispatch_is_pending_in_mondays_report_and_out_of_both_sides(sunday, settings):
    report = weekly(sunday, settings, W47, stints.MONDAY_MORNING)
    nrp = unit_row(report, "nrp")
    # S2 accepted on time; S1 (due Tue 24 00:00) not accepted at Mon 23 09:00: pending
    assert (nrp["counts"]["dispatched"], nrp["counts"]["pending"], nrp["counts"]["response_counted"],
            nrp["counts"]["responded"]) == (2, 1, 1, 1)
    assert nrp["rates"]["response"] == 1.0
    assert report["summary"]["pending"] == 1


def test_a_published_report_stays_the_same_after_later_activity(sunday, settings):
    report = weekly(sunday, settings, W47, stints.MONDAY_MORNING)
    reports.publish(sunday, "weekly", W47, report, event_id="published-w47", actor="office:office",
                    now=stints.MONDAY_MORNING)
    sunday.commit()
    apply_event(sunday, settings, stints.S1_ACCEPTED)  # Mon 23 11:00, on time
    sunday.commit()
    fresh = weekly(sunday, settings, W47, t(23, 12))
    assert (fresh["summary"]["pending"], unit_row(fresh, "nrp")["counts"]["responded"]) == (0, 2)
    frozen = reports.published(sunday, "weekly", W47)
    assert frozen["summary"]["pending"] == 1
    assert next(u for u in frozen["units"] if u["unit"] == "nrp")["counts"] == unit_row(report, "nrp")["counts"]
    assert frozen["generated_at"] == stints.MONDAY_MORNING.isoformat()


# ---------------------------------------------------------------- the SQL follows the pure rule
def test_the_sql_classifies_each_dispatch_as_the_pure_rule_does(sessions, settings):
    with sessions() as session:
        play_at_w48(session, settings, stints.ESCALATED_TO_THE_OFFICE + stints.RETURNED_THEN_ACCEPTED
             + stints.SUNDAY_EVENING)
        for now in (stints.MONDAY_MORNING, t(24, 12), stints.W48_NOW):
            for period in (W47, W48):
                rows = session.execute(select(dispatch_facts).where(dispatch_facts.c.made_at >= period.start,
                                                                    dispatch_facts.c.made_at < period.end)).fetchall()
                expected = {}
                for row in rows:
                    fact = domain.DispatchFact(row.made_at, row.accept_due_at, row.accepted_at, row.returned_at,
                                               row.ended_at, row.end_kind)
                    kind = domain.dispatch_response(fact, now)
                    expected[kind] = expected.get(kind, 0) + 1
                counts = measures.counts_by(session, period, None, now)[measures.OVERALL]
                assert {k: counts[k] for k in ("responded", "not_responded", "pending", "returned_in_time",
                                               "withdrawn")} == {k: expected.get(k, 0) for k in (
                    "responded", "not_responded", "pending", "returned_in_time", "withdrawn")}


# ---------------------------------------------------------------- W41: states as of the period's end
def w41_time(day: int, hour: int, minute: int = 0):
    return t(day, hour, minute, month=10)


@pytest.fixture
def red_in_w41(sessions, settings):
    """C1 (W41 is Mon 5 - Sun 11 Oct 2026): received Thu 8 09:30, dispatched to tax 8 10:00, accept
    due Fri 9 10:00, red 9 10:00; tax accepts Mon 12 09:00 (W42), its reply stage starts green
    (due 20 Oct). The reports are generated Tue 13 10:00, when C1 is green."""
    steps = [stints.received("C1", w41_time(8, 9), w41_time(8, 9, 30), "汉台区", "税费"),
             stints.dispatched("C1", w41_time(8, 10), "tax"),
             stints.deadline("C1", w41_time(8, 10), "accept", w41_time(9, 10), "tax"),
             stints.ev("appeal_colour_changed", w41_time(9, 10), appeal_id="C1", colour="red", previous="green",
                       unit="tax", stage="accept"),
             stints.accepted("C1", w41_time(12, 9), "tax"),
             stints.deadline("C1", w41_time(12, 9), "reply", w41_time(20, 18), "tax")]
    with sessions() as session:
        play_at_w48(session, settings, steps)
        yield session


def test_a_past_week_lists_the_appeal_red_at_its_end(red_in_w41):
    w41 = domain.week_period("2026-W41")
    overdue, total = measures.overdue_list(red_in_w41, w41, w41_time(13, 10), 10)
    assert total == 1
    assert [(o["appeal_id"], o["colour"], o["lead_unit"], o["due_at"]) for o in overdue] == [
        ("C1", "red", "tax", w41_time(9, 10))]
    assert measures.open_by_colour(red_in_w41, w41, w41_time(13, 10)) == {"green": 0, "yellow": 0, "red": 1,
                                                                          "none": 0}


def test_the_week_it_turned_green_shows_it_green_and_not_overdue(red_in_w41):
    w42 = domain.week_period("2026-W42")
    assert measures.overdue_list(red_in_w41, w42, w41_time(13, 10), 10) == ([], 0)
    assert measures.open_by_colour(red_in_w41, w42, w41_time(13, 10)) == {"green": 1, "yellow": 0, "red": 0,
                                                                          "none": 0}
