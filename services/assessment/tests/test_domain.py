"""Assessment's pure rules, in milliseconds: working days, periods, links, callbacks, rates, scores."""
from datetime import date, datetime, timedelta, timezone

import pytest
from marshmallow import ValidationError

from services.assessment import domain
from services.assessment.domain import SHANGHAI
from shared import workdays

HANZHONG = {"name": "汉中", "scale": 100, "weights": {"resolution": 0.6, "satisfaction": 0.4},
            "deductions": {"overdue_escalation": 2, "return": 1}}
BEIJING = {"name": "三率", "scale": 100, "weights": {"response": 0.2, "resolution": 0.4, "satisfaction": 0.4},
           "deductions": {"overdue_escalation": 1}}


def cst(*args) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


# ---------------------------------------------------------------- working days
def test_submitted_on_the_second_working_day_after_collection_is_on_time():
    # collected Mon 16 Nov 2026; working days after: Tue 17 (1), Wed 18 (2)
    assert domain.submitted_on_time(cst(2026, 11, 16, 9), cst(2026, 11, 18, 23, 59))


def test_submitted_on_the_third_working_day_is_late():
    assert not domain.submitted_on_time(cst(2026, 11, 16, 9), cst(2026, 11, 19, 9))


def test_the_weekend_does_not_count_as_working_days():
    # collected Fri 20 Nov; Mon 23 (1), Tue 24 (2)
    assert domain.submitted_on_time(cst(2026, 11, 20, 17), cst(2026, 11, 24, 17))


def test_the_national_day_holiday_and_its_adjusted_saturday_are_respected():
    # 2026: 1-7 Oct off; collected Wed 30 Sep -> Thu 8 Oct (1), Fri 9 Oct (2)
    assert domain.submitted_on_time(cst(2026, 9, 30, 10), cst(2026, 10, 9, 18))
    # Sat 10 Oct 2026 is a working day (调休): it is the third, so late
    assert not domain.submitted_on_time(cst(2026, 9, 30, 10), cst(2026, 10, 10, 9))


def test_working_days_are_counted_in_shanghai_time():
    # 23:30 UTC on Sun 15 Nov is 07:30 Mon 16 Nov in Shanghai: the 2nd working day after is Wed 18
    collected = datetime(2026, 11, 15, 23, 30, tzinfo=timezone.utc)
    assert domain.submitted_on_time(collected, cst(2026, 11, 18, 12))


def test_years_beyond_the_calendar_fall_back_to_monday_to_friday():
    assert workdays.is_workday(date(2030, 1, 7)) and not workdays.is_workday(date(2030, 1, 5))


# ---------------------------------------------------------------- periods
def test_an_iso_week_runs_monday_to_monday_in_shanghai():
    week = domain.week_period("2026-W47")
    assert week.start == cst(2026, 11, 16).astimezone(timezone.utc)
    assert week.end == cst(2026, 11, 23).astimezone(timezone.utc)
    assert week.title == "2026年第47周（11月16日—11月22日）"


def test_a_month_runs_from_its_first_day_to_the_next_month():
    month = domain.month_period("2026-12")
    assert (month.start, month.end) == (cst(2026, 12, 1).astimezone(timezone.utc),
                                        cst(2027, 1, 1).astimezone(timezone.utc))


@pytest.mark.parametrize("text", ["2026-47", "2026-W54", "W47", ""])
def test_a_bad_week_is_refused(text):
    with pytest.raises(ValueError):
        domain.week_period(text)


@pytest.mark.parametrize("text", ["2026-13", "2026/11", "26-11"])
def test_a_bad_month_is_refused(text):
    with pytest.raises(ValueError):
        domain.month_period(text)


def test_the_previous_month_of_january_is_december():
    assert domain.previous_month(domain.month_period("2027-01")).label == "2026-12"


def test_the_trend_weeks_end_with_the_reported_week():
    assert [w.label for w in domain.previous_weeks(domain.week_period("2026-W02"), 3)] == \
        ["2025-W52", "2026-W01", "2026-W02"]


# ---------------------------------------------------------------- links
NOW = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)


def test_a_signed_link_reads_back_its_appeal_and_nonce():
    token = domain.sign_link("s3cret", "SQ1", NOW + timedelta(days=7), "n1")
    claim = domain.read_link("s3cret", token, NOW)
    assert (claim.appeal_id, claim.nonce) == ("SQ1", "n1")


def test_a_link_signed_with_another_key_is_forged():
    token = domain.sign_link("other", "SQ1", NOW + timedelta(days=7), "n1")
    with pytest.raises(domain.LinkRefused) as refused:
        domain.read_link("s3cret", token, NOW)
    assert refused.value.reason == "forged"


def test_a_link_whose_appeal_was_changed_is_forged():
    token = domain.sign_link("s3cret", "SQ1", NOW + timedelta(days=7), "n1")
    payload, signature = token.split(".")
    other = domain._b64(domain._unb64(payload).replace(b"SQ1", b"SQ2"))
    with pytest.raises(domain.LinkRefused):
        domain.read_link("s3cret", f"{other}.{signature}", NOW)


def test_an_expired_link_is_refused_as_expired():
    token = domain.sign_link("s3cret", "SQ1", NOW, "n1")
    with pytest.raises(domain.LinkRefused) as refused:
        domain.read_link("s3cret", token, NOW)
    assert refused.value.reason == "expired"


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "."])
def test_rubbish_is_a_forged_link(token):
    with pytest.raises(domain.LinkRefused):
        domain.read_link("s3cret", token, NOW)


# ---------------------------------------------------------------- callbacks
@pytest.mark.parametrize("outcome, solved, satisfaction, result", [
    ("solved", True, "满意", "closed"),
    ("solved", True, "基本满意", "closed"),
    ("solved", True, "不满意", "reopened"),
    ("solved", False, "满意", "reopened"),
    ("explained", False, "基本满意", "closed"),
    ("explained", False, "不满意", "reopened"),
    ("long_term", False, "满意", "closed"),
])
def test_the_callback_decides_closing_or_reopening(outcome, solved, satisfaction, result):
    assert domain.callback_result(outcome, solved, satisfaction) == result


def test_a_callback_answer_needs_solved_and_a_known_satisfaction():
    with pytest.raises(ValidationError) as caught:
        domain.validate_callback({"satisfaction": "还行"}, NOW)
    assert set(caught.value.messages) == {"solved", "satisfaction"}


def test_a_callback_in_the_future_is_refused():
    with pytest.raises(ValidationError) as caught:
        domain.validate_callback({"solved": True, "satisfaction": "满意",
                                  "called_at": (NOW + timedelta(days=1)).isoformat()}, NOW)
    assert "called_at" in caught.value.messages


def test_a_callback_without_a_time_happens_now():
    assert domain.validate_callback({"solved": True, "satisfaction": "满意"}, NOW)["called_at"] == NOW


# ---------------------------------------------------------------- rates
# A hand-made unit: 10 collected, 9 on time; 10 dispatched: 1 pending and 1 returned within the
# acceptance deadline (out of both sides), 8 counted, 6 accepted by the deadline;
# 10 received, 7 solved (5 within 7 days, 7 within 60); 8 closed, 6 by the deadline;
# 12 callbacks answered, 7 满意 + 3 基本满意; 1 return, 2 overdue escalations.
COUNTS = {"collected": 10, "submitted_on_time": 9, "dispatched": 10, "pending": 1, "returned_in_time": 1,
          "response_counted": 8, "responded": 6, "received": 10, "solved": 7,
          "closed": 8, "closed_on_time": 6, "answered": 12, "satisfied": 10, "solved_7d": 5, "solved_60d": 7,
          "returns": 1, "overdue_escalations": 2}


def test_every_rate_is_its_fraction_of_the_definition():
    assert domain.rates(COUNTS) == pytest.approx({
        "submitted_on_time": 9 / 10,  # 0.9
        "response": 6 / 8,  # 0.75
        "resolution": 7 / 10,  # 0.7
        "on_time": 6 / 8,  # 0.75
        "satisfaction": 10 / 12,  # 0.8333
        "solved_7d": 5 / 10,  # 0.5
        "solved_60d": 7 / 10,  # 0.7
    })


def test_a_rate_with_nothing_to_count_is_none_not_zero():
    assert domain.rates({"received": 0, "solved": 0})["resolution"] is None


def test_the_hanzhong_score_weighs_resolution_and_satisfaction_minus_deductions():
    # 100 * (0.6 * 0.7 + 0.4 * 10/12) = 42 + 33.333 = 75.333; minus 2 * 2 (escalations) + 1 * 1 (return) = 70.33
    assert domain.score(domain.rates(COUNTS), COUNTS, HANZHONG) == pytest.approx(70.33)


def test_the_beijing_score_weighs_the_three_rates():
    # 100 * (0.2 * 0.75 + 0.4 * 0.7 + 0.4 * 10/12) = 15 + 28 + 33.333 = 76.333; minus 1 * 2 escalations = 74.33
    assert domain.score(domain.rates(COUNTS), COUNTS, BEIJING) == pytest.approx(74.33)


def test_a_rate_without_data_is_left_out_and_the_other_weights_rescaled():
    counts = {"received": 4, "solved": 3, "answered": 0, "satisfied": 0}
    # only resolution: 100 * 0.6 * 0.75 / 0.6 = 75
    assert domain.score(domain.rates(counts), counts, HANZHONG) == pytest.approx(75.0)


def test_a_unit_with_no_rated_work_has_no_score():
    assert domain.score(domain.rates({"returns": 3}), {"returns": 3}, HANZHONG) is None


# ---------------------------------------------------------------- ranking, rectification, targets
GROUPS = {"tax": "department", "hrss": "department", "nrp": "department", "a": "locality", "b": "locality"}


def test_units_are_ranked_within_their_group_with_the_change_from_last_month():
    ranked = domain.rank({"tax": 80, "hrss": 90, "nrp": 70, "a": 60, "b": 65},
                         GROUPS, {"tax": 95, "hrss": 85, "nrp": 60, "a": 70})
    table = {r.unit: (r.rank, r.change) for r in ranked}
    # departments now: hrss 1, tax 2, nrp 3; before: tax 1, hrss 2, nrp 3
    # localities now: b 1, a 2; before: a alone, 1 (b had no score: no change to show)
    assert table == {"hrss": (1, 1), "tax": (2, -1), "nrp": (3, 0), "b": (1, None), "a": (2, -1)}


def test_tied_scores_share_a_rank():
    ranked = domain.rank({"tax": 80, "hrss": 80, "nrp": 70}, GROUPS)
    assert [(r.unit, r.rank) for r in ranked] == [("hrss", 1), ("tax", 1), ("nrp", 3)]


def test_a_unit_without_a_score_is_not_ranked():
    ranked = domain.rank({"tax": None, "hrss": 50}, GROUPS)
    assert {r.unit: r.rank for r in ranked} == {"hrss": 1, "tax": None}


def test_units_under_the_satisfaction_threshold_are_flagged_worst_first():
    rates = {"tax": {"satisfaction": 0.79}, "hrss": {"satisfaction": 0.8}, "a": {"satisfaction": 0.5},
             "b": {"satisfaction": None}}
    assert domain.flagged(rates, 0.8) == [("a", 0.5), ("tax", 0.79)]


def test_the_three_100_percent_targets_show_the_gap():
    rows = domain.against_targets({"submitted_on_time": 1.0, "resolution": 0.9, "satisfaction": None},
                                  {"submitted_on_time": 1.0, "resolution": 1.0, "satisfaction": 1.0})
    assert [(r["rate"], r["met"], r["gap"]) for r in rows] == [
        ("submitted_on_time", True, 0.0), ("resolution", False, 0.1), ("satisfaction", False, None)]


# ---------------------------------------------------------------- submitted on time: the profile's own stage
def test_baodings_seven_calendar_days_run_from_the_moment_of_collection():
    collected = cst(2026, 9, 30, 10)  # Wed; 7 days (clock time), the holiday counts: Wed 7 Oct 10:00
    assert domain.submit_due(collected, {"days": 7}) == cst(2026, 10, 7, 10)
    assert domain.submitted_on_time(collected, cst(2026, 10, 7, 9, 59), {"days": 7})
    assert not domain.submitted_on_time(collected, cst(2026, 10, 7, 10), {"days": 7})


def test_hangzhous_one_working_day_skips_the_national_day_holiday():
    # collected Wed 30 Sep; 1-7 Oct are holidays, Thu 8 Oct is the first working day after it
    collected = cst(2026, 9, 30, 10)
    assert domain.submit_due(collected, {"working_days": 1}) == cst(2026, 10, 9, 0)
    assert domain.submitted_on_time(collected, cst(2026, 10, 8, 23, 59), {"working_days": 1})
    assert not domain.submitted_on_time(collected, cst(2026, 10, 9, 0), {"working_days": 1})


def test_hanzhongs_two_working_days_count_the_adjusted_saturday():
    # collected Thu 8 Oct; Fri 9 (1), Sat 10 (2: an adjusted working day, 调休)
    assert domain.submit_due(cst(2026, 10, 8, 9), {"working_days": 2}) == cst(2026, 10, 11, 0)


def test_the_submit_stage_of_an_unclassified_appeal_is_the_one_all_difficulties_share():
    same = {d: {"working_days": 2} for d in "ABCD"}
    assert domain.submit_stage(same, None) == {"working_days": 2}
    differing = {**same, "D": {"working_days": 5}}
    assert domain.submit_stage(differing, None) is None
    assert domain.submit_stage(differing, "D") == {"working_days": 5}
    assert domain.submit_stage({}, "A") is None


@pytest.mark.parametrize("profile, stage", [
    ("baoding", {"days": 7}), ("hangzhou", {"working_days": 1}), ("hanzhong", {"working_days": 2}),
    ("demo", {"working_days": 2}), ("wuhan", None), ("huainan", None)])
def test_each_profile_is_read_for_its_own_submit_stage(profile, stage):
    from pathlib import Path

    from services.assessment.service import submit_stages_of

    directory = Path(__file__).resolve().parents[3] / "deploy" / "profiles" / profile
    assert domain.submit_stage(submit_stages_of(directory), "B") == stage


# ---------------------------------------------------------------- who is measured
DUE = cst(2026, 11, 24, 10)
MADE = cst(2026, 11, 23, 10)


@pytest.mark.parametrize("fact, now, expected", [
    (domain.DispatchFact(MADE, DUE, accepted_at=cst(2026, 11, 23, 14)), DUE, domain.RESPONDED),
    (domain.DispatchFact(MADE, DUE, accepted_at=cst(2026, 11, 24, 11)), DUE, domain.NOT_RESPONDED),  # late
    (domain.DispatchFact(MADE, DUE), cst(2026, 11, 24, 9), domain.PENDING),  # inside its deadline
    (domain.DispatchFact(MADE, DUE), cst(2026, 11, 24, 10), domain.NOT_RESPONDED),  # the deadline passed
    (domain.DispatchFact(MADE, None), cst(2026, 12, 24, 10), domain.PENDING),  # no deadline known yet
    (domain.DispatchFact(MADE, DUE, returned_at=cst(2026, 11, 23, 12), ended_at=cst(2026, 11, 23, 12),
                         end_kind=domain.RETURNED), DUE, domain.RETURNED_IN_TIME),
    (domain.DispatchFact(MADE, DUE, returned_at=cst(2026, 11, 24, 12), ended_at=cst(2026, 11, 24, 12),
                         end_kind=domain.RETURNED), DUE, domain.NOT_RESPONDED),  # returned late
    (domain.DispatchFact(MADE, DUE, ended_at=cst(2026, 11, 23, 15), end_kind=domain.ESCALATED),
     cst(2026, 11, 23, 16), domain.NOT_RESPONDED),  # taken by escalation before acceptance
    (domain.DispatchFact(MADE, DUE, ended_at=cst(2026, 11, 23, 15), end_kind=domain.MOVED),
     cst(2026, 11, 23, 16), domain.WITHDRAWN),  # the office moved it inside the deadline
])
def test_each_dispatch_counts_in_the_response_rate_as_the_definition_says(fact, now, expected):
    assert domain.dispatch_response(fact, now) == expected


def test_a_reopen_to_the_same_unit_is_no_new_dispatch_and_to_another_unit_is():
    assert not domain.is_new_dispatch("tax", "tax", starts_acceptance=False)  # 重办 back to its unit
    assert domain.is_new_dispatch("hrss", "tax", starts_acceptance=False)  # 重办 to another unit
    assert domain.is_new_dispatch("office", "tax", starts_acceptance=True)  # a rung takes it over
    assert not domain.is_new_dispatch(None, None, starts_acceptance=False)  # the office's manual queue


def test_units_added_beside_the_lead_are_no_new_dispatch_but_a_lead_sent_back_to_accepting_is():
    assert not domain.is_new_dispatch("tax", "tax", starts_acceptance=False)
    assert domain.is_new_dispatch("tax", "tax", starts_acceptance=True)


def test_how_the_previous_hold_ends_follows_the_reason_of_the_next_dispatch():
    assert [domain.end_of_hold(r) for r in ("escalated", "returned", "assigned")] == [
        domain.ESCALATED, domain.RETURNED, domain.MOVED]


def test_an_appeal_counts_in_a_units_resolution_unless_it_left_by_a_return():
    assert domain.counts_for_resolution([domain.ESCALATED])
    assert domain.counts_for_resolution([None])
    assert not domain.counts_for_resolution([domain.RETURNED])
    assert domain.counts_for_resolution([domain.RETURNED, None])  # returned, and held again later


def test_the_office_and_the_coordination_rungs_are_the_coordination_group():
    units = {"tax": {"type": "department"}, "city": {"type": "coordination"}, "office": {"type": "office"},
             "district-a": {"type": "locality"}}
    assert [domain.is_coordination(c, units, "office") for c in ("tax", "city", "office", "district-a")] == [
        False, True, True, False]


def test_the_colour_as_of_an_instant_is_the_last_change_before_it():
    changes = [(cst(2026, 10, 8, 10), "green"), (cst(2026, 10, 9, 10), "red"), (cst(2026, 10, 12, 9), "green")]
    assert domain.colour_as_of(changes, cst(2026, 10, 12, 0)) == "red"  # the end of W41
    assert domain.colour_as_of(changes, cst(2026, 10, 13, 0)) == "green"
    assert domain.colour_as_of(changes, cst(2026, 10, 8, 10)) is None  # nothing before it
