"""Callbacks chased, the phone-callback list, follow-up rounds and their reopen: the assessment
service on the real broker and PostgreSQL, time given by the office's chase or the injected clock."""
from datetime import datetime, timedelta

import pytest
import requests

from services.assessment import chasing
from services.assessment.models import phone_callbacks
from services.assessment.service import AssessmentService
from services.assessment.tests import dataset
from services.assessment.tests.test_assessment_integration import (
    SECRET,
    auth,
    links,
    publish,
    replied_appeal,
    token_of,
)
from shared.testing import EventTap, wait_for
from shared.testing import count_rows as count

pytestmark = pytest.mark.integration

t = dataset.t
REPLIED = t(16, 10)  # Monday 16 Nov 10:00; the demo profile's link is valid 168 hours, reminded half-way
HALF_WAY = REPLIED + timedelta(hours=84)
EXPIRY = REPLIED + timedelta(hours=168)


@pytest.fixture
def config(service_config):
    return {**service_config, "SIMULATED_CLOCK": "true", "CALLBACK_SECRET": SECRET, "CHASE_TIMER": "false"}


@pytest.fixture
def assessment(container_factory, config):
    container_factory(AssessmentService, config).start()
    return f"http://{config['WEB_SERVER_ADDRESS']}"


@pytest.fixture
def tap(amqp_uri):
    tap = EventTap(amqp_uri, "assessment")
    yield tap
    tap.close()


def chase(url, when) -> dict:
    response = requests.post(f"{url}/api/v1/callbacks/chase", json={"now": when.isoformat()}, headers=auth())
    assert response.status_code == 200, response.text
    return response.json()


def phone_list(url, **query) -> dict:
    response = requests.get(f"{url}/api/v1/callbacks/phone-list", params=query, headers=auth())
    assert response.status_code == 200, response.text
    return response.json()


def office_callback(url, appeal_id, when, **answer):
    return requests.post(f"{url}/api/v1/appeals/{appeal_id}/callback", json={"channel": "phone", **answer},
                         headers={**auth(), "X-Suqiu-Now": when.isoformat()})


def closed_appeal(url, amqp_uri, tap, db, appeal_id, unit="tax", category="税费", day=16):
    events = [dataset.received(appeal_id, t(day, 9), t(day, 10), "汉台区", category),
              dataset.dispatched(appeal_id, t(day, 11), unit, category),
              dataset.replied(appeal_id, t(day, 15), unit)]
    publish(amqp_uri, *events)
    [link] = links(tap, appeal_id, 1)
    answer = requests.post(f"{url}/api/v1/callback/{token_of(link)}", json={"solved": True, "satisfaction": "满意"},
                           headers={"X-Suqiu-Now": t(day, 17).isoformat()})
    assert answer.status_code == 201 and answer.json()["result"] == "closed", answer.text


def test_an_unanswered_link_is_reminded_once_then_phone_listed_and_a_phone_callback_takes_it_off(
        assessment, amqp_uri, tap, db):
    replied_appeal(amqp_uri, db, "CH1", REPLIED)
    [link] = links(tap, "CH1", 1)
    early = chase(assessment, HALF_WAY - timedelta(minutes=1))
    assert (early["reminded"], early["phone_listed"]) == (0, 0)
    assert datetime.fromisoformat(early["now"]) == HALF_WAY - timedelta(minutes=1)
    assert chase(assessment, HALF_WAY)["reminded"] == 1
    assert chase(assessment, HALF_WAY + timedelta(hours=1))["reminded"] == 0  # once
    wait_for(lambda: len(tap.of_type("callback_requested")) == 2, 10, message="the reminder")
    reminder = tap.of_type("callback_requested")[-1]["data"]
    assert (reminder["reminder"], reminder["link"]) == (True, link)  # the same link, still valid
    assert phone_list(assessment)["total"] == 0
    assert chase(assessment, EXPIRY)["phone_listed"] == 1
    assert chase(assessment, EXPIRY + timedelta(days=1))["phone_listed"] == 0
    listed = phone_list(assessment)
    [entry] = listed["items"]
    assert (entry["appeal_id"], entry["reason"], entry["lead_unit"], entry["title"]) == ("CH1", "expired", "tax",
                                                                                         "CH1的诉求")
    assert datetime.fromisoformat(entry["listed_at"]) == EXPIRY  # listed as of the link's expiry
    called = office_callback(assessment, "CH1", EXPIRY + timedelta(days=1), solved=True, satisfaction="基本满意",
                             caller="回访员小李")
    assert (called.status_code, called.json()["result"]) == (201, "closed")
    assert phone_list(assessment)["total"] == 0
    assert requests.get(f"{assessment}/api/v1/callbacks/phone-list", headers=auth("t-unit-tax")).status_code == 403


def test_a_link_answered_in_time_is_neither_reminded_nor_listed(assessment, amqp_uri, tap, db):
    replied_appeal(amqp_uri, db, "CH2", REPLIED)
    [link] = links(tap, "CH2", 1)
    answer = requests.post(f"{assessment}/api/v1/callback/{token_of(link)}", json={"solved": True,
                                                                                  "satisfaction": "满意"},
                           headers={"X-Suqiu-Now": (REPLIED + timedelta(hours=2)).isoformat()})
    assert answer.status_code == 201
    late = chase(assessment, EXPIRY + timedelta(days=2))
    assert (late["reminded"], late["phone_listed"]) == (0, 0)


def test_the_timer_chases_by_the_injected_clock(container_factory, service_config, amqp_uri, tap, db):
    """The timer reads the service's Clock: started at CLOCK_START past the link's expiry, its first
    run (at start) lists the appeal that the events left unanswered."""
    config = {**service_config, "SIMULATED_CLOCK": "true", "CALLBACK_SECRET": SECRET, "CHASE_TIMER": "false"}
    first = container_factory(AssessmentService, config)
    first.start()
    replied_appeal(amqp_uri, db, "CH3", REPLIED)
    links(tap, "CH3", 1)
    first.stop()
    later = container_factory(AssessmentService, {**config, "CHASE_TIMER": "true",
                                                  "CLOCK_START": (EXPIRY + timedelta(hours=1)).isoformat()})
    later.start()
    wait_for(lambda: count(db, phone_callbacks) == 1, 20, message="the timer listed the expired link")


def test_a_follow_up_round_samples_closed_appeals_reproducibly_and_not_really_solved_reopens(
        assessment, amqp_uri, tap, db):
    for n in range(6):
        closed_appeal(assessment, amqp_uri, tap, db, f"FR{n}", unit="tax" if n % 2 else "hrss", day=16 + n % 3)
    closed_appeal(assessment, amqp_uri, tap, db, "FR-late", unit="tax", day=25)  # closed after the period
    body = {"name": "11月回访抽查", "closed_from": "2026-11-16", "closed_to": "2026-11-20", "sample": 3,
            "seed": 20261205}
    when = {"X-Suqiu-Now": t(30, 9).isoformat()}
    started = requests.post(f"{assessment}/api/v1/callback-rounds", json=body, headers={**auth(), **when})
    assert started.status_code == 201, started.text
    round_ = started.json()
    # the six closed 16-18 Nov are the candidates; the draw is the seeded sample of their sorted ids
    expected = sorted(chasing.select_sample([f"FR{n}" for n in range(6)], 3, 20261205))
    assert [a["appeal_id"] for a in round_["appeals"]] == expected
    assert round_["seed"] == 20261205 and round_["status"]["selected"] == 3
    assert [e["appeal_id"] for e in phone_list(assessment, reason="round")["items"]] == expected
    followups = lambda: [m for m in tap.of_type("callback_requested") if m["data"].get("followup")]  # noqa: E731
    wait_for(lambda: len(followups()) == 3, 10, message="the round's links")
    by_appeal = {m["subject"]: token_of(m["data"]["link"]) for m in followups()}
    confirmed, by_link, by_phone = expected
    ok = requests.post(f"{assessment}/api/v1/callback/{by_appeal[confirmed]}", headers=when,
                       json={"solved": True, "satisfaction": "满意"})
    assert (ok.status_code, ok.json()["result"]) == (201, "confirmed")
    not_solved = requests.post(f"{assessment}/api/v1/callback/{by_appeal[by_link]}", headers=when,
                               json={"solved": False, "satisfaction": "满意"})
    assert (not_solved.status_code, not_solved.json()["result"]) == (201, "reopened")
    phoned = office_callback(assessment, by_phone, t(30, 10), solved=True, satisfaction="不满意",
                             reopen_unit="district-a")
    assert (phoned.status_code, phoned.json()["result"]) == (201, "reopened")
    status = requests.get(f"{assessment}/api/v1/callback-rounds/{round_['round_id']}", headers=auth()).json()
    # by hand: 3 selected, 3 answered; satisfied = 满意 + 满意 (the not-solved answer was 满意) = 2;
    # not solved = 1; reopened = 2 (not solved, and 不满意)
    assert status["status"] == {"selected": 3, "answered": 3, "unanswered": 0, "satisfied": 2, "not_solved": 1,
                                "reopened": 2}
    wait_for(lambda: len(tap.of_type("appeal_reopened")) == 2, 10, message="two reopens")
    reopened = {m["subject"]: m["data"] for m in tap.of_type("appeal_reopened")}
    units = {f"FR{n}": "tax" if n % 2 else "hrss" for n in range(6)}
    assert reopened[by_link]["unit"] == units[by_link]  # back to the unit that replied
    assert reopened[by_phone]["unit"] == "district-a"  # the office said otherwise
    assert reopened[by_link]["reason"] == "followup_not_solved"
    assert phone_list(assessment)["total"] == 0
    history = requests.get(f"{assessment}/api/v1/appeals/{by_phone}/assessment", headers=auth()).json()
    assert [(f["name"], f["channel"], f["result"]) for f in history["followups"]] == [("11月回访抽查", "phone",
                                                                                        "reopened")]


def test_the_same_seed_draws_the_same_sample_and_a_drawn_seed_is_recorded(assessment, amqp_uri, tap, db):
    for n in range(5):
        closed_appeal(assessment, amqp_uri, tap, db, f"RS{n}", day=17)
    body = {"name": "随机抽查", "closed_from": "2026-11-17", "closed_to": "2026-11-17", "sample": 2}
    start = lambda extra: requests.post(f"{assessment}/api/v1/callback-rounds", json={**body, **extra},  # noqa: E731
                                        headers={**auth(), "X-Suqiu-Now": t(30, 9).isoformat()}).json()
    drawn = start({})
    assert isinstance(drawn["seed"], int)
    replay = start({"seed": drawn["seed"]})
    assert [a["appeal_id"] for a in replay["appeals"]] == [a["appeal_id"] for a in drawn["appeals"]] == \
        chasing.select_sample([f"RS{n}" for n in range(5)], 2, drawn["seed"])
    whole = start({"sample": None})
    assert whole["seed"] is None and len(whole["appeals"]) == 5


def test_a_round_with_nothing_closed_in_its_days_is_a_409_and_bad_days_a_400(assessment):
    """Days the wrong way round are no days: nothing matches (409), as JSON Schema cannot say it."""
    empty = requests.post(f"{assessment}/api/v1/callback-rounds", headers=auth(),
                          json={"name": "空", "closed_from": "2026-01-01", "closed_to": "2026-01-31"})
    assert empty.status_code == 409
    backwards = requests.post(f"{assessment}/api/v1/callback-rounds", headers=auth(),
                              json={"name": "反", "closed_from": "2026-02-01", "closed_to": "2026-01-31"})
    assert backwards.status_code == 409
    not_a_day = requests.post(f"{assessment}/api/v1/callback-rounds", headers=auth(),
                              json={"name": "错", "closed_from": "2026-02-30", "closed_to": "2026-03-01"})
    assert not_a_day.status_code == 400
