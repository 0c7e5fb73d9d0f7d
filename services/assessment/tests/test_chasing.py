"""The rules of chased callbacks and follow-up rounds, in milliseconds."""
import random
from datetime import datetime, timedelta

import pytest

from services.assessment import chasing
from shared.workdays import SHANGHAI as SH

SENT = datetime(2026, 11, 16, 10, 0, tzinfo=SH)
EXPIRES = SENT + timedelta(hours=168)  # a week's validity


def link(**changes) -> chasing.LinkState:
    return chasing.LinkState(**{"created_at": SENT, "expires_at": EXPIRES, "answered": False, **changes})


def test_the_reminder_falls_at_the_profiles_share_of_the_validity():
    assert chasing.reminder_at(SENT, EXPIRES, 0.5) == SENT + timedelta(hours=84)
    assert chasing.reminder_at(SENT, EXPIRES, None) is None


@pytest.mark.parametrize("state, now, step", [
    (link(), SENT + timedelta(hours=83), None),                                   # not yet half-way
    (link(), SENT + timedelta(hours=84), "remind"),                               # half-way: reminded
    (link(reminded_at=SENT + timedelta(hours=84)), SENT + timedelta(hours=100), None),  # reminded once only
    (link(reminded_at=SENT + timedelta(hours=84)), EXPIRES, "expire"),            # expired: the phone list
    (link(), EXPIRES + timedelta(days=3), "expire"),                              # never reminded: listed, no reminder
    (link(answered=True), EXPIRES + timedelta(days=3), None),                     # answered: left alone
    (link(expired_at=EXPIRES), EXPIRES + timedelta(days=3), None),                # listed once
])
def test_a_link_is_reminded_once_then_listed_for_a_phone_call_at_its_expiry(state, now, step):
    assert chasing.chase_step(state, now, 0.5) == step


def test_without_a_reminder_share_an_unanswered_link_is_only_listed_at_expiry():
    assert chasing.chase_step(link(), EXPIRES - timedelta(minutes=1), None) is None
    assert chasing.chase_step(link(), EXPIRES, None) == "expire"


def test_a_sample_is_the_same_for_the_same_seed_and_candidates_in_any_order():
    ids = [f"SQ-{n:03d}" for n in range(40)]
    shuffled = list(reversed(ids))
    first = chasing.select_sample(ids, 5, seed=20261205)
    assert first == chasing.select_sample(shuffled, 5, seed=20261205)
    # what Python's Mersenne Twister draws from the sorted candidates with that seed
    assert first == sorted(random.Random(20261205).sample(sorted(ids), 5))
    assert len(set(first)) == 5 and set(first) <= set(ids)
    assert chasing.select_sample(ids, 5, seed=1) != first


def test_no_sample_size_or_one_as_large_as_the_candidates_takes_them_all():
    assert chasing.select_sample(["b", "a", "a"], None, None) == ["a", "b"]
    assert chasing.select_sample(["b", "a"], 5, seed=3) == ["a", "b"]


def test_a_sample_needs_a_seed():
    with pytest.raises(ValueError):
        chasing.select_sample(["a", "b", "c"], 2, None)


@pytest.mark.parametrize("solved, satisfaction, result", [
    (True, "满意", "confirmed"), (True, "基本满意", "confirmed"),
    (True, "不满意", "reopened"), (False, "满意", "reopened"), (False, "不满意", "reopened"),
])
def test_not_really_solved_reopens_a_closed_appeal(solved, satisfaction, result):
    assert chasing.followup_result(solved, satisfaction) == result


def test_a_rounds_figures_count_answers_by_hand():
    answered = lambda solved, satisfaction, result: {  # noqa: E731
        "answered_at": SENT, "solved": solved, "satisfaction": satisfaction, "result": result}
    entries = [answered(True, "满意", "confirmed"), answered(True, "基本满意", "confirmed"),
               answered(False, "满意", "reopened"), answered(True, "不满意", "reopened"),
               {"answered_at": None}, {"answered_at": None}]
    # 6 selected, 4 answered, 2 unanswered; satisfied: 满意 + 基本满意 = 3; not solved: 1; reopened: 2
    assert chasing.round_status(entries) == {"selected": 6, "answered": 4, "unanswered": 2, "satisfied": 3,
                                             "not_solved": 1, "reopened": 2}
