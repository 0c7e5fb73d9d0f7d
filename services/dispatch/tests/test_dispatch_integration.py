"""The dispatch service on the real broker and PostgreSQL, with the demo profile."""
from datetime import datetime, timedelta, timezone

import pytest
import requests
from kombu import Connection, Producer, Queue
from sqlalchemy import select

from services.dispatch.models import appeals, history, outbox
from services.dispatch.service import DispatchService
from shared.events import Event, make_event
from shared.testing import EventTap, wait_for
from shared.testing import count_rows as count
from shared.topology import events_exchange, service_queue_name

pytestmark = pytest.mark.integration

RECEIVED_AT = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
LABOUR = {  # 用工 in 汉台区: hrss leads, district-a co-handles; next candidate district-a
    "appeal_id": "SQ20261123-0000000001", "credit_code": "91350100M000100Y43", "enterprise_name": "测试公司",
    "title": "招工难", "description": "春节后缺少熟练工人", "category": "用工", "district": "汉台区",
    "channel": "visit", "collected_at": RECEIVED_AT, "submitted_at": RECEIVED_AT,
}
NOWHERE = {**LABOUR, "appeal_id": "SQ20261123-0000000002", "category": None, "title": "路灯不亮",
           "description": "厂区门口路灯坏了", "district": "外省某县"}


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tap(amqp_uri):
    tap = EventTap(amqp_uri, "dispatch")
    yield tap
    tap.close()


@pytest.fixture
def dispatch(container_factory, service_config, tap):
    container = container_factory(DispatchService, service_config)
    container.start()
    return f"http://{service_config['WEB_SERVER_ADDRESS']}"


def appeal_row(engine, appeal_id: str):
    with engine.connect() as conn:
        return conn.execute(select(appeals).where(appeals.c.id == appeal_id)).first()


def publish(amqp_uri: str, event: Event) -> Event:
    with Connection(amqp_uri) as conn:
        Producer(conn.channel()).publish(event.to_message(), exchange=events_exchange(event.producer),
                                         routing_key=event.type, serializer="json", delivery_mode=2,
                                         message_id=event.id)
    return event


def fact(event_type: str, producer: str, data: dict, at: datetime = RECEIVED_AT) -> Event:
    return make_event(event_type, data, producer=producer, now=at)


def events_of(tap, event_type: str, expected: int, timeout: float = 15) -> list[dict]:
    wait_for(lambda: len(tap.of_type(event_type)) >= expected, timeout, message=f"{expected} {event_type}")
    return tap.of_type(event_type)


def settled(amqp_uri: str, db, method: str) -> None:
    """The handler's queue is empty and everything it caused is published."""
    with Connection(amqp_uri) as conn:
        queue = Queue(service_queue_name("dispatch"))(conn.channel())
        wait_for(lambda: queue.queue_declare(passive=True).message_count == 0, message=f"{method} drained")
    wait_for(lambda: count(db, outbox, outbox.c.sent_at.is_(None)) == 0, message="outbox drained")


def received(amqp_uri: str, tap, data: dict = LABOUR) -> dict:
    publish(amqp_uri, fact("appeal_received", "intake", data))
    mine = lambda: [e for e in tap.of_type("appeal_dispatched") if e["subject"] == data["appeal_id"]]  # noqa: E731
    return wait_for(mine, 15, message=f"{data['appeal_id']} dispatched")[0]


def post(base: str, path: str, token: str, body: dict | None = None) -> requests.Response:
    return requests.post(f"{base}{path}", json=body if body is not None else {}, headers=auth(token))


# ---------------------------------------------------------------- received -> dispatched
def test_an_appeal_received_twice_is_dispatched_exactly_once(dispatch, amqp_uri, tap, db):
    event = fact("appeal_received", "intake", LABOUR)
    publish(amqp_uri, event)
    publish(amqp_uri, event)  # a redelivery: the same event id
    [first] = events_of(tap, "appeal_dispatched", 1)
    settled(amqp_uri, db, "receive_appeal")
    assert (first["data"]["lead_unit"], first["data"]["co_units"], first["time"]) == (
        "hrss", ["district-a"], RECEIVED_AT.isoformat())
    assert (len(tap.of_type("appeal_dispatched")), count(db, appeals)) == (1, 1)


def test_an_appeal_no_rule_matches_waits_in_the_office_queue(dispatch, amqp_uri, tap):
    event = received(amqp_uri, tap, NOWHERE)
    queue = requests.get(f"{dispatch}/api/v1/office/queue", headers=auth("t-office")).json()
    assert (event["data"]["lead_unit"], event["data"]["reason"], event["data"]["category"]) == (
        None, "manual_queue", "其他")
    assert [a["id"] for a in queue["items"]] == [NOWHERE["appeal_id"]]


def test_dispatching_is_counted_in_the_metrics(dispatch, amqp_uri, tap):
    received(amqp_uri, tap)
    text = requests.get(f"{dispatch}/metrics").text
    assert 'suqiu_appeals_dispatched_total{category="用工",unit="hrss"}' in text
    assert "suqiu_dispatch_latency_seconds_count" in text


# ---------------------------------------------------------------- the desk
def test_the_lead_accepts_notes_progress_and_replies(dispatch, amqp_uri, tap, db):
    received(amqp_uri, tap)
    path = f"/api/v1/desk/appeals/{LABOUR['appeal_id']}"
    assert post(dispatch, f"{path}/accept", "t-unit-hrss").status_code == 200
    assert post(dispatch, f"{path}/progress", "t-unit-hrss", {"note": "已联系人社部门招聘会"}).status_code == 200
    reply = post(dispatch, f"{path}/reply", "t-unit-hrss", {"outcome": "solved", "reply_text": "已推荐 12 名熟练工"})
    assert reply.status_code == 200, reply.text
    [replied] = events_of(tap, "appeal_replied", 1)
    assert (reply.json()["status"], [h["action"] for h in reply.json()["history"]]) == (
        "replied", ["received", "dispatched", "accepted", "progressed", "replied"])
    assert (replied["data"]["outcome"], replied["data"]["unit"], len(tap.of_type("appeal_accepted"))) == (
        "solved", "hrss", 1)


@pytest.mark.parametrize("steps, action, body", [
    ([], "reply", {"outcome": "solved", "reply_text": "已解决"}),  # reply before accept
    (["accept"], "accept", {}),  # accept twice
    ([], "progress", {"note": "进展"}),  # progress before accept
])
def test_an_illegal_transition_is_a_409_and_changes_nothing(dispatch, amqp_uri, tap, db, steps, action, body):
    received(amqp_uri, tap)
    path = f"/api/v1/desk/appeals/{LABOUR['appeal_id']}"
    for step in steps:
        assert post(dispatch, f"{path}/{step}", "t-unit-hrss").status_code == 200
    before = (appeal_row(db, LABOUR["appeal_id"]).status, count(db, outbox), count(db, history))
    response = post(dispatch, f"{path}/{action}", "t-unit-hrss", body)
    assert (response.status_code, response.json()["error"]) == (409, "illegal_transition")
    assert (appeal_row(db, LABOUR["appeal_id"]).status, count(db, outbox), count(db, history)) == before


def test_an_invalid_reply_is_a_400_and_changes_nothing(dispatch, amqp_uri, tap, db):
    received(amqp_uri, tap)
    path = f"/api/v1/desk/appeals/{LABOUR['appeal_id']}"
    post(dispatch, f"{path}/accept", "t-unit-hrss")
    before = count(db, outbox)
    response = post(dispatch, f"{path}/reply", "t-unit-hrss", {"outcome": "done", "reply_text": ""})
    assert (response.status_code, set(response.json()["fields"])) == (400, {"outcome", "reply_text"})
    assert (appeal_row(db, LABOUR["appeal_id"]).status, count(db, outbox)) == ("accepted", before)


def test_returns_redispatch_then_ask_for_escalation_after_n_returns(dispatch, amqp_uri, tap, db):
    received(amqp_uri, tap)
    path = f"/api/v1/desk/appeals/{LABOUR['appeal_id']}"
    first = post(dispatch, f"{path}/return", "t-unit-hrss", {"reason": "企业缺工属园区统筹，不属本局职责"})
    assert (first.status_code, first.json()["lead_unit"]) == (200, "district-a")
    second = post(dispatch, f"{path}/return", "t-unit-district-a", {"reason": "需要市级协调"})
    assert (second.status_code, second.json()["status"], second.json()["lead_unit"]) == (200, "queued", None)
    [asked] = events_of(tap, "appeal_escalation_requested", 1)
    dispatched = events_of(tap, "appeal_dispatched", 3)
    assert [(e["data"]["lead_unit"], e["data"]["reason"], e["data"]["dispatch_count"]) for e in dispatched] == [
        ("hrss", "rule", 1), ("district-a", "returned", 2), (None, "manual_queue", 3)]
    assert (asked["data"]["reason"], asked["data"]["unit"], len(tap.of_type("appeal_returned"))) == (
        "returns", "district-a", 2)


def test_a_unit_token_can_neither_read_nor_act_on_another_units_appeal(dispatch, amqp_uri, tap, db):
    received(amqp_uri, tap)
    path = f"/api/v1/desk/appeals/{LABOUR['appeal_id']}"
    before = (count(db, outbox), count(db, history))
    answers = {"read": requests.get(f"{dispatch}{path}", headers=auth("t-unit-tax")).status_code}
    for action, body in (("accept", {}), ("progress", {"note": "n"}),
                         ("reply", {"outcome": "solved", "reply_text": "t"}), ("return", {"reason": "r"}),
                         ("escalation-request", {"note": "n"})):
        answers[action] = post(dispatch, f"{path}/{action}", "t-unit-tax", body).status_code
    desk = requests.get(f"{dispatch}/api/v1/desk", headers=auth("t-unit-tax")).json()
    # another unit's appeal is answered as one that does not exist, as supervision and intake answer
    missing = requests.get(f"{dispatch}/api/v1/desk/appeals/SQ20261123-9999999999", headers=auth("t-unit-tax"))
    assert answers == {"read": 404, "accept": 404, "progress": 404, "reply": 404, "return": 404,
                       "escalation-request": 404}
    assert (missing.status_code, missing.json()["error"]) == (404, requests.get(
        f"{dispatch}{path}", headers=auth("t-unit-tax")).json()["error"])
    assert (desk["total"], count(db, outbox), count(db, history)) == (0, *before)


def test_a_co_unit_reads_the_appeal_but_only_the_lead_acts(dispatch, amqp_uri, tap, db):
    received(amqp_uri, tap)
    path = f"/api/v1/desk/appeals/{LABOUR['appeal_id']}"
    post(dispatch, f"{path}/accept", "t-unit-hrss")
    before = (count(db, outbox), count(db, history))
    answers = {"read": requests.get(f"{dispatch}{path}", headers=auth("t-unit-district-a")).status_code}
    for action, body in (("accept", {}), ("progress", {"note": "n"}),
                         ("reply", {"outcome": "solved", "reply_text": "t"}), ("return", {"reason": "r"}),
                         ("escalation-request", {"note": "n"})):
        answers[action] = post(dispatch, f"{path}/{action}", "t-unit-district-a", body).status_code
    assert answers == {"read": 200, "accept": 403, "progress": 403, "reply": 403, "return": 403,
                       "escalation-request": 403}
    assert (count(db, outbox), count(db, history)) == before


def test_the_office_endpoints_refuse_a_unit_token(dispatch, amqp_uri, tap, db):
    received(amqp_uri, tap)
    office = f"/api/v1/office/appeals/{LABOUR['appeal_id']}"
    answers = [requests.get(f"{dispatch}/api/v1/office/queue", headers=auth("t-unit-hrss")).status_code,
               requests.get(f"{dispatch}/api/v1/office/appeals", headers=auth("t-unit-hrss")).status_code,
               post(dispatch, f"{office}/assign", "t-unit-hrss", {"lead": "hrss"}).status_code,
               post(dispatch, f"{office}/classify", "t-unit-hrss", {"difficulty": "A"}).status_code]
    assert answers == [403, 403, 403, 403]


def test_a_unit_asks_for_escalation(dispatch, amqp_uri, tap):
    received(amqp_uri, tap)
    response = post(dispatch, f"/api/v1/desk/appeals/{LABOUR['appeal_id']}/escalation-request", "t-unit-hrss",
                    {"note": "涉及跨部门用工政策，超出本局权限"})
    [asked] = events_of(tap, "appeal_escalation_requested", 1)
    assert (response.status_code, asked["data"]["reason"], asked["data"]["unit"]) == (200, "requested", "hrss")


def test_the_desk_filters_by_colour_overdue_status_and_category(dispatch, amqp_uri, tap, db):
    received(amqp_uri, tap)
    other = {**LABOUR, "appeal_id": "SQ20261123-0000000003", "category": "人才"}
    received(amqp_uri, tap, other)
    events_of(tap, "appeal_dispatched", 2)
    publish(amqp_uri, fact("appeal_colour_changed", "supervision",
                           {"appeal_id": LABOUR["appeal_id"], "colour": "red", "previous": "yellow",
                            "unit": "hrss", "stage": "accept"}))
    settled(amqp_uri, db, "on_appeal_colour_changed")

    def ids(**params) -> list[str]:
        body = requests.get(f"{dispatch}/api/v1/desk", params=params, headers=auth("t-unit-hrss")).json()
        return sorted(a["id"] for a in body["items"])

    assert ids(overdue="true") == [LABOUR["appeal_id"]]
    assert ids(colour="red", category="用工") == [LABOUR["appeal_id"]]
    assert ids(category="人才", status="dispatched") == [other["appeal_id"]]
    assert len(ids(page_size=1)) == 1
    assert requests.get(f"{dispatch}/api/v1/desk", params={"status": "lost"},
                        headers=auth("t-unit-hrss")).status_code == 400


def test_a_closed_appeal_leaves_the_desks_overdue_list(dispatch, amqp_uri, tap, db):
    """Fix 5 of issue 13: red while it ran, then closed by assessment: no longer overdue on the desk."""
    received(amqp_uri, tap)
    events_of(tap, "appeal_dispatched", 1)
    publish(amqp_uri, fact("appeal_colour_changed", "supervision",
                           {"appeal_id": LABOUR["appeal_id"], "colour": "red", "previous": "yellow",
                            "unit": "hrss", "stage": "accept"}))
    settled(amqp_uri, db, "on_appeal_colour_changed")

    def overdue() -> list[str]:
        body = requests.get(f"{dispatch}/api/v1/desk", params={"overdue": "true"}, headers=auth("t-unit-hrss")).json()
        return [a["id"] for a in body["items"]]

    assert overdue() == [LABOUR["appeal_id"]]
    assert post(dispatch, f"/api/v1/desk/appeals/{LABOUR['appeal_id']}/accept", "t-unit-hrss", {}).status_code == 200
    assert post(dispatch, f"/api/v1/desk/appeals/{LABOUR['appeal_id']}/reply", "t-unit-hrss",
                {"outcome": "solved", "reply_text": "已协调解决"}).status_code == 200
    publish(amqp_uri, fact("appeal_closed", "assessment", {"appeal_id": LABOUR["appeal_id"], "outcome": "solved",
                                                          "satisfaction": "满意", "unit": "hrss"}))
    # a delivery being handled is not in the queue's count: wait for its effect, not for the queue
    wait_for(lambda: appeal_row(db, LABOUR["appeal_id"]).status == "closed", message="the close applied")
    assert overdue() == []


# ---------------------------------------------------------------- the office
def test_the_office_assigns_a_queued_appeal_and_reclassifies_it(dispatch, amqp_uri, tap, db):
    received(amqp_uri, tap, NOWHERE)
    office = f"/api/v1/office/appeals/{NOWHERE['appeal_id']}"
    assigned = post(dispatch, f"{office}/assign", "t-office", {"lead": "tax", "co_units": ["market"]})
    classified = post(dispatch, f"{office}/classify", "t-office", {"category": "市场", "difficulty": "C"})
    [reclassified] = events_of(tap, "appeal_reclassified", 1)
    dispatched = events_of(tap, "appeal_dispatched", 2)[-1]
    assert (assigned.status_code, dispatched["data"]["lead_unit"], dispatched["data"]["co_units"],
            dispatched["data"]["reason"]) == (200, "tax", ["market"], "assigned")
    assert (classified.status_code, reclassified["data"]) == (
        200, {"appeal_id": NOWHERE["appeal_id"], "category": "市场", "difficulty": "C", "nature": "个性",
              "urgency": "一般", "code": None})
    desk = requests.get(f"{dispatch}/api/v1/office/appeals", params={"unit": "tax"}, headers=auth("t-office"))
    assert [a["id"] for a in desk.json()["items"]] == [NOWHERE["appeal_id"]]


def test_assigning_an_unknown_unit_is_a_400_and_changes_nothing(dispatch, amqp_uri, tap, db):
    received(amqp_uri, tap, NOWHERE)
    before = count(db, outbox)
    response = post(dispatch, f"/api/v1/office/appeals/{NOWHERE['appeal_id']}/assign", "t-office", {"lead": "taxx"})
    assert (response.status_code, appeal_row(db, NOWHERE["appeal_id"]).status, count(db, outbox)) == (
        400, "queued", before)


# ---------------------------------------------------------------- what other services report
def replied(dispatch, amqp_uri, tap) -> None:
    received(amqp_uri, tap)
    path = f"/api/v1/desk/appeals/{LABOUR['appeal_id']}"
    post(dispatch, f"{path}/accept", "t-unit-hrss")
    assert post(dispatch, f"{path}/reply", "t-unit-hrss",
                {"outcome": "solved", "reply_text": "已解决"}).status_code == 200


def test_a_reopened_appeal_goes_back_to_its_lead_then_closes(dispatch, amqp_uri, tap, db):
    replied(dispatch, amqp_uri, tap)
    later = RECEIVED_AT + timedelta(days=5)
    publish(amqp_uri, fact("appeal_reopened", "assessment", {"appeal_id": LABOUR["appeal_id"],
                                                              "reason": "企业不满意", "reopen_count": 1}, later))
    again = events_of(tap, "appeal_dispatched", 2)[-1]
    row = appeal_row(db, LABOUR["appeal_id"])
    assert (again["data"]["reason"], again["data"]["lead_unit"], again["time"], row.status) == (
        "reopened", "hrss", later.isoformat(), "reopened")
    publish(amqp_uri, fact("appeal_closed", "assessment", {"appeal_id": LABOUR["appeal_id"], "outcome": "solved",
                                                            "satisfaction": "满意"}, later))
    wait_for(lambda: appeal_row(db, LABOUR["appeal_id"]).status == "closed", message="closed")
    refused = post(dispatch, f"/api/v1/desk/appeals/{LABOUR['appeal_id']}/accept", "t-unit-hrss")
    assert refused.status_code == 409


def test_an_escalation_makes_the_upper_unit_lead_and_a_null_to_unit_moves_nothing(dispatch, amqp_uri, tap, db):
    received(amqp_uri, tap)
    base = {"appeal_id": LABOUR["appeal_id"], "level": 1, "reason": "overdue", "unit": "hrss"}
    publish(amqp_uri, fact("appeal_escalated", "supervision", {**base, "rung": "unit_leader", "to_unit": None}))
    settled(amqp_uri, db, "on_appeal_escalated")
    assert appeal_row(db, LABOUR["appeal_id"]).lead_unit == "hrss"
    publish(amqp_uri, fact("appeal_escalated", "supervision", {**base, "rung": "city", "level": 2,
                                                                "to_unit": "city"}))
    moved = events_of(tap, "appeal_dispatched", 2)[-1]
    settled(amqp_uri, db, "on_appeal_escalated")
    assert (moved["data"]["lead_unit"], moved["data"]["co_units"], moved["data"]["reason"]) == (
        "city", ["hrss", "district-a"], "escalated")
    assert len(tap.of_type("appeal_dispatched")) == 2


def test_a_redelivered_reopen_moves_the_appeal_once(dispatch, amqp_uri, tap, db):
    replied(dispatch, amqp_uri, tap)
    reopen = fact("appeal_reopened", "assessment", {"appeal_id": LABOUR["appeal_id"], "reason": "企业不满意",
                                                     "reopen_count": 1})
    publish(amqp_uri, reopen)
    publish(amqp_uri, reopen)
    events_of(tap, "appeal_dispatched", 2)
    settled(amqp_uri, db, "on_appeal_reopened")
    row = appeal_row(db, LABOUR["appeal_id"])
    assert (len(tap.of_type("appeal_dispatched")), row.reopen_count, row.dispatch_count) == (2, 1, 2)


def test_two_concurrent_accepts_sign_once(dispatch, amqp_uri, tap, db):
    import eventlet

    received(amqp_uri, tap)
    path = f"/api/v1/desk/appeals/{LABOUR['appeal_id']}/accept"
    pool = eventlet.GreenPool(4)
    statuses = sorted(pool.imap(lambda _: post(dispatch, path, "t-unit-hrss").status_code, range(4)))
    events_of(tap, "appeal_accepted", 1)
    wait_for(lambda: count(db, outbox, outbox.c.sent_at.is_(None)) == 0, message="outbox drained")
    assert (statuses, len(tap.of_type("appeal_accepted"))) == ([200, 409, 409, 409], 1)


@pytest.fixture
def quick_retries(monkeypatch):
    monkeypatch.setenv("SUQIU_RETRY_DELAY_MS", "300")


def test_an_event_about_an_appeal_not_yet_received_waits_for_it(quick_retries, dispatch, amqp_uri, tap, db):
    publish(amqp_uri, fact("appeal_colour_changed", "supervision",
                           {"appeal_id": LABOUR["appeal_id"], "colour": "yellow", "stage": "accept"}))
    received(amqp_uri, tap)
    wait_for(lambda: appeal_row(db, LABOUR["appeal_id"]).colour == "yellow", 15, message="colour kept")


def test_an_appeal_submitted_to_intake_reaches_the_units_desk(container_factory, service_config, make_database_url,
                                                             tap):
    from services.intake.service import IntakeService
    from shared.testing import free_port

    dispatch = container_factory(DispatchService, service_config)
    dispatch.start()
    intake_address = f"127.0.0.1:{free_port()}"
    intake = container_factory(IntakeService, {**service_config, "DATABASE_URL": make_database_url(),
                                               "WEB_SERVER_ADDRESS": intake_address})
    intake.start()
    body = {"credit_code": LABOUR["credit_code"], "enterprise_name": "测试公司", "title": "厂房办证难",
            "description": "新建厂房迟迟办不下不动产证", "district": "南郑区", "channel": "visit",
            "collected_at": "2026-11-20T10:00:00+08:00"}
    created = requests.post(f"http://{intake_address}/api/v1/appeals", json=body, headers=auth("t-cadre"))
    assert created.status_code == 201, created.text
    appeal_id = created.json()["id"]
    wait_for(lambda: [e for e in tap.of_type("appeal_dispatched") if e["subject"] == appeal_id], 15,
             message="dispatched")
    desk = requests.get(f"http://{service_config['WEB_SERVER_ADDRESS']}/api/v1/office/appeals/{appeal_id}",
                        headers=auth("t-office")).json()
    assert (desk["category"], desk["category_source"], desk["lead_unit"], desk["co_units"]) == (
        "用地", "keywords", "nanzheng", ["nrp"])


def test_an_enterprise_follows_its_own_appeals_only(dispatch, amqp_uri, tap):
    received(amqp_uri, tap)
    received(amqp_uri, tap, {**NOWHERE, "credit_code": "91110000600037341L"})
    own = requests.get(f"{dispatch}/api/v1/enterprise/appeals", headers=auth("t-enterprise"))
    assert [(a["id"], a["status"], a["lead_unit"]) for a in own.json()["items"]] == \
        [(LABOUR["appeal_id"], "dispatched", "hrss")]
    assert "history" not in own.json()["items"][0]
    assert requests.get(f"{dispatch}/api/v1/enterprise/appeals", headers=auth("t-unit-hrss")).status_code == 403


def test_a_cadre_follows_the_appeals_of_the_enterprises_paired_with_it(dispatch, amqp_uri, tap):
    received(amqp_uri, tap, {**LABOUR, "cadre": "t-cadre"})
    received(amqp_uri, tap, {**NOWHERE, "cadre": "t-cadre-2"})
    seen = {token: [a["id"] for a in requests.get(f"{dispatch}/api/v1/enterprise/appeals",
                                                   headers=auth(token)).json()["items"]]
            for token in ("t-cadre", "t-cadre-2")}
    assert seen == {"t-cadre": [LABOUR["appeal_id"]], "t-cadre-2": [NOWHERE["appeal_id"]]}
