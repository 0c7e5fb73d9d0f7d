"""The supervision service on the real broker and PostgreSQL, time driven by tick(now)."""
import csv
import io
from collections import Counter
from datetime import datetime, timedelta, timezone

import eventlet
import pytest
import requests
from kombu import Connection, Producer
from nameko.standalone.rpc import ServiceRpcProxy
from openpyxl import load_workbook
from sqlalchemy import func, select

from services.supervision.models import appeals, outbox
from services.supervision.service import SupervisionService
from shared.events import make_event
from shared.testing import EventTap, free_port, wait_for
from shared.topology import events_exchange
from shared.workdays import SHANGHAI as SH

pytestmark = pytest.mark.integration

OFFICE = {"Authorization": "Bearer t-office"}
TAX = {"Authorization": "Bearer t-unit-tax"}
HRSS = {"Authorization": "Bearer t-unit-hrss"}


def at(y, m, d, hh=0, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def dispatched(appeal_id: str, lead="tax", difficulty="B", count=1, reason="rule") -> dict:
    return {"appeal_id": appeal_id, "lead_unit": lead, "co_units": [], "category": "用工", "difficulty": difficulty,
            "nature": "个性", "level": "city", "district": "汉台区", "reason": reason, "dispatch_count": count}


def publish(amqp_uri: str, event_type: str, data: dict, when: datetime, producer: str = "dispatch"):
    event = make_event(event_type, data, producer=producer, now=when)
    with Connection(amqp_uri) as conn:
        Producer(conn.channel()).publish(event.to_message(), exchange=events_exchange(producer),
                                         routing_key=event_type, serializer="json", delivery_mode=2,
                                         message_id=event.id)
    return event


def config(service_config, **extra) -> dict:
    return {**service_config, "SIMULATED_CLOCK": True, "TICK_TIMER": False, **extra}


@pytest.fixture
def supervision(container_factory, service_config):
    container = container_factory(SupervisionService, config(service_config))
    container.start()
    return f"http://{service_config['WEB_SERVER_ADDRESS']}"


@pytest.fixture
def replicas(container_factory, service_config):
    """Two supervision replicas on the same database and broker."""
    urls = []
    for port in (None, free_port()):
        cfg = config(service_config)
        if port is not None:
            cfg["WEB_SERVER_ADDRESS"] = f"127.0.0.1:{port}"
        container = container_factory(SupervisionService, cfg)
        container.start()
        urls.append(f"http://{cfg['WEB_SERVER_ADDRESS']}")
    return urls


@pytest.fixture
def tap(amqp_uri):
    tap = EventTap(amqp_uri, "supervision")
    yield tap
    tap.close()


def row(engine, appeal_id):
    with engine.connect() as conn:
        return conn.execute(select(appeals).where(appeals.c.appeal_id == appeal_id)).first()


def status_is(engine, appeal_id, status):
    return lambda: (r := row(engine, appeal_id)) is not None and r.status == status


def drained(engine):
    with engine.connect() as conn:
        unsent = select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
        return conn.execute(unsent).scalar_one() == 0


def tick(url: str, when: datetime) -> dict:
    response = requests.post(f"{url}/api/v1/tick", json={"now": when.isoformat()}, headers=OFFICE)
    assert response.status_code == 200, response.text
    return response.json()


def colours(events: list[dict]) -> list[str]:
    """The colours an appeal went through: a stage's deadline carries the colour it starts with
    (there is no "none -> green" event), the tick's changes follow."""
    seen: list[str] = []
    for event in events:
        if event["type"] in ("appeal_colour_changed", "appeal_deadline_set"):
            colour = event["data"].get("colour")
            if colour and (not seen or seen[-1] != colour):
                seen.append(colour)
    return seen


def settle(tap, engine) -> list[dict]:
    wait_for(lambda: drained(engine), 20, message="outbox drained")
    return tap.drain()


def test_a_month_left_alone_goes_green_yellow_red_and_up_the_ladder_once_with_two_replicas(
        replicas, amqp_uri, tap, db):
    ids = [f"SQ-M-{n:02d}" for n in range(12)]
    for appeal_id in ids:
        publish(amqp_uri, "appeal_dispatched", dispatched(appeal_id), at(2026, 11, 2, 10))
    wait_for(lambda: all(status_is(db, i, "dispatched")() for i in ids), 20, message="appeals dispatched")
    pool = eventlet.GreenPool(4)
    moment = at(2026, 11, 2, 12)
    while moment <= at(2026, 12, 2, 12):
        # both replicas tick at the same simulated time, at the same moment
        list(pool.imap(lambda url, moment=moment: tick(url, moment), replicas))
        moment += timedelta(hours=6)
    events = settle(tap, db)
    for appeal_id in ids:
        mine = [e for e in events if e["subject"] == appeal_id]
        rungs = [(e["data"]["rung"], e["data"]["reason"], e["data"]["to_unit"])
                 for e in mine if e["type"] == "appeal_escalated"]
        assert colours(mine) == ["green", "yellow", "red"], appeal_id
        assert [e["data"]["colour"] for e in mine if e["type"] == "appeal_colour_changed"] == ["yellow", "red"]
        assert rungs == [("unit_leader", "overdue", None), ("office", "overdue", "office"),
                         ("city", "overdue", "city"), ("province", "overdue", "province")], appeal_id
    assert len({e["id"] for e in events}) == len(events)
    first = [e for e in events if e["subject"] == ids[0]]
    assert [(e["data"]["stage"], e["data"]["due_at"]) for e in first if e["type"] == "appeal_deadline_set"] == [
        ("accept", "2026-11-03T16:00:00+00:00"),  # end of Tuesday 3 Nov, Shanghai time
        ("escalation", "2026-11-06T16:00:00+00:00"),  # unit leader: 3 working days more
        ("escalation", "2026-11-13T16:00:00+00:00"),  # office: 5 working days more
        ("escalation", "2026-11-27T16:00:00+00:00"),  # city: 10 working days more
        ("escalation", "2026-11-30T16:00:00+00:00"),  # province: the stage's own 1 working day
    ]
    digests = Counter((e["type"], e["data"]["period"], e["data"]["recipient"]) for e in events
                      if e["type"] in ("weekly_digest_ready", "monthly_supervision_list"))
    assert set(digests.values()) == {1}
    assert {k for k in digests if k[0] == "weekly_digest_ready"} == {
        ("weekly_digest_ready", f"2026-W{w}", "tax") for w in range(45, 50)}
    assert {k[1] for k in digests if k[0] == "monthly_supervision_list"} == {"2026-11", "2026-12"}
    december = next(e for e in events if e["type"] == "monthly_supervision_list"
                    and e["data"]["period"] == "2026-12")
    assert sorted(i["appeal_id"] for i in december["data"]["items"]) == ids
    agenda = requests.get(f"{replicas[0]}/api/v1/meeting-agenda", params={"month": "2026-11"}, headers=OFFICE)
    assert sorted(i["appeal_id"] for i in agenda.json()["items"]) == ids


def test_the_tick_runs_by_rpc_at_a_given_time(supervision, amqp_uri, tap, db):
    publish(amqp_uri, "appeal_dispatched", dispatched("SQ-RPC"), at(2026, 11, 2, 10))
    wait_for(status_is(db, "SQ-RPC", "dispatched"), 20, message="dispatched")
    with ServiceRpcProxy("supervision", {"AMQP_URI": amqp_uri}) as proxy:
        result = proxy.tick(at(2026, 11, 4, 1).isoformat())
    assert result["escalations"] == 1
    assert row(db, "SQ-RPC").colour == "red"


def ask_pause(url, headers, appeal_id, when, reason="等待企业补充材料", days=3):
    return requests.post(f"{url}/api/v1/appeals/{appeal_id}/pause-requests", json={"reason": reason, "days": days},
                         headers={**headers, "X-Suqiu-Now": when.isoformat()})


def decide(url, request_id, verb, when, note=None):
    return requests.post(f"{url}/api/v1/pause-requests/{request_id}/{verb}", json={"note": note} if note else None,
                         headers={**OFFICE, "X-Suqiu-Now": when.isoformat()})


def accepted_appeal(url, amqp_uri, db, appeal_id):
    publish(amqp_uri, "appeal_dispatched", dispatched(appeal_id), at(2026, 11, 2, 10))
    wait_for(status_is(db, appeal_id, "dispatched"), 20, message="dispatched")
    publish(amqp_uri, "appeal_accepted", {"appeal_id": appeal_id, "unit": "tax"}, at(2026, 11, 2, 11))
    wait_for(status_is(db, appeal_id, "accepted"), 20, message="accepted")
    # reply: 6 working days after Monday 2 Nov -> end of Tuesday 10 Nov
    assert row(db, appeal_id).due_at == at(2026, 11, 11)


def test_a_paused_clock_delays_the_deadline(supervision, amqp_uri, tap, db):
    accepted_appeal(supervision, amqp_uri, db, "SQ-P")
    asked = ask_pause(supervision, TAX, "SQ-P", at(2026, 11, 5, 9))
    assert asked.status_code == 201, asked.text
    approved = decide(supervision, asked.json()["request_id"], "approve", at(2026, 11, 5, 12))
    assert approved.status_code == 200, approved.text
    tick(supervision, at(2026, 11, 9))  # past the first deadline: nothing happens while paused
    assert row(db, "SQ-P").colour == "green"
    resumed = requests.post(f"{supervision}/api/v1/appeals/SQ-P/resume",
                            headers={**TAX, "X-Suqiu-Now": at(2026, 11, 9, 12).isoformat()})
    assert resumed.status_code == 200, resumed.text
    # Thursday noon to Monday noon: two working days; the deadline moves two working days
    assert row(db, "SQ-P").due_at == at(2026, 11, 13)
    tick(supervision, at(2026, 11, 12, 23))
    assert row(db, "SQ-P").colour == "yellow"
    tick(supervision, at(2026, 11, 13, 0, 1))
    assert row(db, "SQ-P").colour == "red"
    events = settle(tap, db)
    assert [e["type"] for e in events if e["type"].startswith("appeal_clock")] == [
        "appeal_clock_paused", "appeal_clock_resumed"]
    resumed_event = next(e for e in events if e["type"] == "appeal_clock_resumed")
    assert resumed_event["data"]["paused_seconds"] == 2 * 86400


def test_a_units_pause_request_stops_nothing_until_the_office_approves_it(supervision, amqp_uri, tap, db):
    accepted_appeal(supervision, amqp_uri, db, "SQ-R")
    direct = requests.post(f"{supervision}/api/v1/appeals/SQ-R/pause", json={"reason": "等材料"},
                           headers={**TAX, "X-Suqiu-Now": at(2026, 11, 4, 9).isoformat()})
    assert direct.status_code == 403
    asked = ask_pause(supervision, TAX, "SQ-R", at(2026, 11, 4, 9), days=2)
    assert asked.status_code == 201 and asked.json()["status"] == "pending"
    assert row(db, "SQ-R").paused_at is None
    assert ask_pause(supervision, TAX, "SQ-R", at(2026, 11, 4, 10)).status_code == 409  # one pending at a time
    pending = requests.get(f"{supervision}/api/v1/pause-requests?status=pending", headers=OFFICE).json()
    assert [r["appeal_id"] for r in pending["items"]] == ["SQ-R"]
    assert requests.get(f"{supervision}/api/v1/pause-requests", headers=HRSS).json()["total"] == 0
    request_id = asked.json()["request_id"]
    assert decide(supervision, request_id, "approve", at(2026, 11, 4, 10)).status_code == 200
    assert row(db, "SQ-R").paused_at == at(2026, 11, 4, 10)
    assert decide(supervision, request_id, "refuse", at(2026, 11, 4, 11)).status_code == 409  # decided once
    detail = requests.get(f"{supervision}/api/v1/appeals/SQ-R", headers=TAX).json()
    [history] = detail["pause_requests"]
    assert (history["requested_by"], history["decided_by"], history["status"]) == \
        ("unit:tax", "office:t-office", "approved")
    # two working days from Wednesday 10:00: the end of Friday 6 Nov; the tick resumes the clock then
    assert history["resume_at"] == at(2026, 11, 7).astimezone(timezone.utc).isoformat()
    tick(supervision, at(2026, 11, 6, 23))
    assert row(db, "SQ-R").paused_at is not None
    tick(supervision, at(2026, 11, 7, 1))
    resumed = row(db, "SQ-R")
    assert resumed.paused_at is None
    # paused Wednesday 10:00 to Saturday 00:00: 14 hours of Wednesday and two whole working days;
    # from the old deadline (24:00 Tuesday 10 Nov) that working time ends Friday 13 Nov at 14:00
    assert resumed.due_at == at(2026, 11, 13, 14)
    events = settle(tap, db)
    paused_event = next(e for e in events if e["type"] == "appeal_clock_paused")
    assert (paused_event["data"]["actor"], paused_event["data"]["requested_by"]) == ("office:t-office", "unit:tax")
    resumed_event = next(e for e in events if e["type"] == "appeal_clock_resumed")
    assert resumed_event["data"]["actor"] == "supervision"


def test_a_refused_pause_request_leaves_the_clock_running(supervision, amqp_uri, db):
    accepted_appeal(supervision, amqp_uri, db, "SQ-N")
    asked = ask_pause(supervision, TAX, "SQ-N", at(2026, 11, 4, 9))
    refused = decide(supervision, asked.json()["request_id"], "refuse", at(2026, 11, 4, 10), note="材料可并行补充")
    assert refused.status_code == 200
    assert (refused.json()["status"], refused.json()["decision_note"]) == ("refused", "材料可并行补充")
    assert row(db, "SQ-N").paused_at is None
    assert requests.post(f"{supervision}/api/v1/pause-requests/{asked.json()['request_id']}/approve",
                         headers=TAX).status_code == 403  # only the office decides
    assert ask_pause(supervision, HRSS, "SQ-N", at(2026, 11, 4, 11)).status_code == 404  # not hrss's appeal
    assert ask_pause(supervision, TAX, "SQ-N", at(2026, 11, 4, 11), days=0).status_code == 400


def test_pausing_twice_is_a_409_and_another_unit_cannot_pause(supervision, amqp_uri, tap, db):
    publish(amqp_uri, "appeal_dispatched", dispatched("SQ-P2"), at(2026, 11, 2, 10))
    wait_for(status_is(db, "SQ-P2", "dispatched"), 20, message="dispatched")
    now = {"X-Suqiu-Now": at(2026, 11, 2, 12).isoformat()}
    assert requests.post(f"{supervision}/api/v1/appeals/SQ-P2/pause", headers={**HRSS, **now}).status_code == 403
    assert requests.post(f"{supervision}/api/v1/appeals/SQ-P2/pause", headers={**OFFICE, **now}).status_code == 200
    before = row(db, "SQ-P2")
    again = requests.post(f"{supervision}/api/v1/appeals/SQ-P2/pause", headers={**OFFICE, **now})
    assert again.status_code == 409
    assert row(db, "SQ-P2") == before
    assert requests.post(f"{supervision}/api/v1/appeals/nope/resume", headers={**OFFICE, **now}).status_code == 404


def test_a_redelivered_dispatch_sets_one_deadline(supervision, amqp_uri, tap, db):
    event = make_event("appeal_dispatched", dispatched("SQ-D"), producer="dispatch", now=at(2026, 11, 2, 10))
    with Connection(amqp_uri) as conn:
        producer = Producer(conn.channel())
        for _ in range(2):
            producer.publish(event.to_message(), exchange=events_exchange("dispatch"),
                             routing_key="appeal_dispatched", serializer="json", message_id=event.id)
    wait_for(status_is(db, "SQ-D", "dispatched"), 20, message="dispatched")
    publish(amqp_uri, "appeal_accepted", {"appeal_id": "SQ-D", "unit": "tax"}, at(2026, 11, 2, 11))
    wait_for(status_is(db, "SQ-D", "accepted"), 20, message="accepted")
    events = settle(tap, db)
    assert [e["data"]["stage"] for e in events if e["type"] == "appeal_deadline_set"] == ["accept", "reply"]


def test_the_office_queue_has_no_deadline(supervision, amqp_uri, db):
    publish(amqp_uri, "appeal_dispatched", {**dispatched("SQ-Q", lead=None), "reason": "manual_queue"},
            at(2026, 11, 2, 10))
    wait_for(status_is(db, "SQ-Q", "queued"), 20, message="queued")
    assert (row(db, "SQ-Q").due_at, row(db, "SQ-Q").next_check_at) == (None, None)


def test_the_second_unsatisfied_callback_escalates(supervision, amqp_uri, tap, db):
    publish(amqp_uri, "appeal_dispatched", dispatched("SQ-R"), at(2026, 11, 2, 10))
    wait_for(status_is(db, "SQ-R", "dispatched"), 20, message="dispatched")
    for count, day in ((1, 5), (2, 9)):
        publish(amqp_uri, "appeal_reopened", {"appeal_id": "SQ-R", "reason": "不满意", "reopen_count": count},
                at(2026, 11, day, 10), producer="assessment")
        wait_for(lambda count=count: row(db, "SQ-R").reopen_count == count, 20, message=f"reopen {count}")
    events = settle(tap, db)
    escalated = [e["data"] for e in events if e["type"] == "appeal_escalated"]
    assert [(e["rung"], e["reason"], e["level"]) for e in escalated] == [("unit_leader", "unsatisfied", 1)]
    assert row(db, "SQ-R").due_at == at(2026, 11, 18)  # reply restarted on 9 Nov: 6 working days


def test_an_escalation_request_climbs_one_rung(supervision, amqp_uri, tap, db):
    publish(amqp_uri, "appeal_dispatched", dispatched("SQ-E"), at(2026, 11, 2, 10))
    wait_for(status_is(db, "SQ-E", "dispatched"), 20, message="dispatched")
    publish(amqp_uri, "appeal_escalation_requested", {"appeal_id": "SQ-E", "unit": "tax", "reason": "returns"},
            at(2026, 11, 2, 11))
    wait_for(lambda: row(db, "SQ-E").level == 1, 20, message="escalated")
    events = settle(tap, db)
    assert [(e["data"]["rung"], e["data"]["reason"]) for e in events if e["type"] == "appeal_escalated"] == [
        ("unit_leader", "returns")]


def test_reclassifying_as_harder_moves_the_running_deadline(supervision, amqp_uri, tap, db):
    publish(amqp_uri, "appeal_dispatched", dispatched("SQ-C"), at(2026, 11, 2, 10))
    wait_for(status_is(db, "SQ-C", "dispatched"), 20, message="dispatched")
    publish(amqp_uri, "appeal_reclassified", {"appeal_id": "SQ-C", "category": "用地", "difficulty": "D",
                                              "nature": "共性"}, at(2026, 11, 2, 11))
    wait_for(lambda: row(db, "SQ-C").difficulty == "D", 20, message="reclassified")
    assert row(db, "SQ-C").due_at == at(2026, 11, 5)  # accept D: 2 working days


def test_a_replied_or_closed_appeal_is_no_longer_checked(supervision, amqp_uri, db):
    publish(amqp_uri, "appeal_dispatched", dispatched("SQ-X"), at(2026, 11, 2, 10))
    wait_for(status_is(db, "SQ-X", "dispatched"), 20, message="dispatched")
    publish(amqp_uri, "appeal_replied", {"appeal_id": "SQ-X", "unit": "tax", "outcome": "solved",
                                         "reply_text": "已解决"}, at(2026, 11, 2, 15))
    wait_for(status_is(db, "SQ-X", "replied"), 20, message="replied")
    assert tick(supervision, at(2026, 12, 1))["escalations"] == 0
    publish(amqp_uri, "appeal_closed", {"appeal_id": "SQ-X", "outcome": "solved", "satisfaction": "满意"},
            at(2026, 11, 6, 15), producer="assessment")
    wait_for(status_is(db, "SQ-X", "closed"), 20, message="closed")
    assert row(db, "SQ-X").next_check_at is None


def test_an_order_has_its_own_deadline_and_a_closed_appeal_refuses_one(supervision, amqp_uri, tap, db):
    publish(amqp_uri, "appeal_dispatched", dispatched("SQ-O"), at(2026, 11, 2, 10))
    wait_for(status_is(db, "SQ-O", "dispatched"), 20, message="dispatched")
    now = {"X-Suqiu-Now": at(2026, 11, 3, 10).isoformat()}
    bad = requests.post(f"{supervision}/api/v1/appeals/SQ-O/orders", json={"text": "请加快办理"},
                        headers={**OFFICE, **now})
    assert bad.status_code == 400
    assert requests.post(f"{supervision}/api/v1/appeals/SQ-O/orders", json={"text": "x", "working_days": 2},
                         headers={**TAX, **now}).status_code == 403
    order = requests.post(f"{supervision}/api/v1/appeals/SQ-O/orders",
                          json={"text": "请于两个工作日内办结", "working_days": 2}, headers={**OFFICE, **now})
    assert order.status_code == 201, order.text
    assert order.json()["due_at"] == "2026-11-05T16:00:00+00:00"
    publish(amqp_uri, "appeal_closed", {"appeal_id": "SQ-O", "outcome": "solved"}, at(2026, 11, 4),
            producer="assessment")
    wait_for(status_is(db, "SQ-O", "closed"), 20, message="closed")
    refused = requests.post(f"{supervision}/api/v1/appeals/SQ-O/orders", json={"text": "x", "working_days": 2},
                            headers={**OFFICE, **now})
    assert refused.status_code == 409
    events = settle(tap, db)
    assert [e["data"]["order_id"] for e in events if e["type"] == "supervision_order_issued"] == [
        order.json()["order_id"]]


def test_the_ledger_filters_pages_and_exports_with_chinese_headings(supervision, amqp_uri, db):
    publish(amqp_uri, "appeal_dispatched", dispatched("SQ-L1"), at(2026, 11, 2, 10))
    publish(amqp_uri, "appeal_dispatched", dispatched("SQ-L2", lead="hrss"), at(2026, 11, 2, 10))
    publish(amqp_uri, "appeal_dispatched", dispatched("SQ-L3", difficulty="D"), at(2026, 11, 2, 10))
    wait_for(lambda: all(status_is(db, i, "dispatched")() for i in ("SQ-L1", "SQ-L2", "SQ-L3")), 20,
             message="dispatched")
    tick(supervision, at(2026, 11, 4, 1))  # B is overdue; D (2 working days) is yellow
    def ledger(**params):
        return requests.get(f"{supervision}/api/v1/ledger", params=params, headers=OFFICE).json()

    assert [i["appeal_id"] for i in ledger(overdue="true")["items"]] == ["SQ-L1", "SQ-L2"]
    assert [i["appeal_id"] for i in ledger(colour="yellow")["items"]] == ["SQ-L3"]
    assert [i["appeal_id"] for i in ledger(unit="hrss", level=1)["items"]] == ["SQ-L2"]
    page = ledger(page_size=2, page=2)
    assert (page["total"], len(page["items"])) == (3, 1)
    mine = requests.get(f"{supervision}/api/v1/ledger", headers=TAX).json()
    assert {i["appeal_id"] for i in mine["items"]} == {"SQ-L1", "SQ-L3"}
    assert requests.get(f"{supervision}/api/v1/ledger", params={"colour": "purple"},
                        headers=OFFICE).status_code == 400
    text = requests.get(f"{supervision}/api/v1/ledger.csv", params={"overdue": "true"},
                        headers=OFFICE).content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:5] == ["诉求编号", "牵头单位", "协办单位", "问题类别", "难度"]
    assert [(r[0], r[8]) for r in rows[1:]] == [("SQ-L1", "红"), ("SQ-L2", "红")]
    book = load_workbook(io.BytesIO(requests.get(f"{supervision}/api/v1/ledger.xlsx", headers=OFFICE).content))
    sheet = book.active
    assert sheet.title == "督办台账"
    assert sheet.cell(1, 9).value == "颜色" and sheet.max_row == 4


def test_a_tick_needs_the_office_and_a_time(supervision):
    assert requests.post(f"{supervision}/api/v1/tick", json={"now": "2026-11-02T10:00:00+08:00"},
                         headers=TAX).status_code == 403
    assert requests.post(f"{supervision}/api/v1/tick", json={"now": "tomorrow"}, headers=OFFICE).status_code == 400
    assert requests.post(f"{supervision}/api/v1/tick", json={"now": "2026-11-02T10:00:00"},
                         headers=OFFICE).status_code == 400


def test_health_metrics_and_openapi_answer(supervision):
    wait_for(lambda: requests.get(f"{supervision}/healthz").status_code == 200, 10, message="supervision ready")
    tick(supervision, datetime(2026, 11, 2, tzinfo=timezone.utc))
    metrics = requests.get(f"{supervision}/metrics").text
    assert "suqiu_tick_duration_seconds_count" in metrics
    assert "/api/v1/ledger" in requests.get(f"{supervision}/openapi.json").json()["paths"]


@pytest.fixture
def quick_retries(monkeypatch):
    monkeypatch.setenv("SUQIU_RETRY_DELAY_MS", "300")
    monkeypatch.setenv("SUQIU_MAX_RETRIES", "5")


def test_an_acceptance_heard_before_its_dispatch_is_retried_until_the_dispatch_arrives(
        quick_retries, supervision, amqp_uri, tap, db):
    publish(amqp_uri, "appeal_accepted", {"appeal_id": "SQ-LATE", "unit": "tax"}, at(2026, 11, 2, 11))
    publish(amqp_uri, "appeal_dispatched", dispatched("SQ-LATE"), at(2026, 11, 2, 10))
    wait_for(status_is(db, "SQ-LATE", "accepted"), 20, message="accepted after a retry")
    events = settle(tap, db)
    assert [e["data"]["stage"] for e in events if e["type"] == "appeal_deadline_set"] == ["accept", "reply"]


def test_a_batch_claimed_by_one_replica_is_skipped_by_the_other(database_url):
    """Two ticks at once: the second finds the first one's due rows locked and takes none."""
    from contextlib import contextmanager

    from sqlalchemy.orm import sessionmaker

    from services.supervision import domain, tick
    from services.supervision.profile import SupervisionPart
    from shared.db import make_engine, migrate
    from shared.profile import DEFAULT_PROFILE, load_part

    migrate("supervision", database_url)
    engine = make_engine(database_url)
    policy = domain.Policy.from_profile(load_part(DEFAULT_PROFILE, "supervision", SupervisionPart))
    sessions = sessionmaker(bind=engine)
    due = at(2026, 11, 4)
    with engine.begin() as conn:
        conn.execute(appeals.insert(), [
            {"appeal_id": f"SQ-S{n}", "status": "dispatched", "lead_unit": "tax", "difficulty": "B", "stage": "accept",
             "measure": "working", "stage_started_at": at(2026, 11, 2, 10), "due_at": due,
             "yellow_at": at(2026, 11, 3, 8, 48), "colour": "yellow", "next_check_at": due,
             "updated_at": at(2026, 11, 2, 10)} for n in range(5)])
    first, second = sessions(), sessions()
    try:
        with first.begin():
            assert tick.tick_batch(first, policy, at(2026, 11, 4, 1)).checked == 5
            with second.begin():  # while the first has not committed
                assert tick.tick_batch(second, policy, at(2026, 11, 4, 1)).checked == 0

        @contextmanager
        def transaction():
            with sessions() as session, session.begin():
                yield session

        assert tick.run_tick(transaction, policy, at(2026, 11, 4, 1), "office").checked == 0  # after it
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(outbox)
                                .where(outbox.c.event_type == "appeal_escalated")).scalar_one() == 5
    finally:
        first.close()
        second.close()
        engine.dispose()


def test_the_open_appeals_gauge_is_refreshed_by_the_tick(supervision, amqp_uri, db):
    publish(amqp_uri, "appeal_dispatched", dispatched("SQ-G", lead="hrss"), at(2026, 11, 2, 10))
    wait_for(status_is(db, "SQ-G", "dispatched"), 20, message="dispatched")
    tick(supervision, at(2026, 11, 2, 12))
    metrics = requests.get(f"{supervision}/metrics").text
    assert 'suqiu_open_appeals{colour="green",unit="hrss"} 1.0' in metrics


def test_a_redispatch_to_the_escalated_unit_starts_its_acceptance_and_a_stale_one_is_ignored(
        supervision, amqp_uri, tap, db):
    publish(amqp_uri, "appeal_dispatched", dispatched("SQ-U"), at(2026, 11, 2, 10))
    wait_for(status_is(db, "SQ-U", "dispatched"), 20, message="dispatched")
    tick(supervision, at(2026, 11, 4, 1))  # overdue: red, unit leader
    publish(amqp_uri, "appeal_dispatched", dispatched("SQ-U", lead="office", count=2, reason="escalated"),
            at(2026, 11, 7, 1))
    wait_for(lambda: row(db, "SQ-U").lead_unit == "office", 20, message="re-dispatched")
    publish(amqp_uri, "appeal_dispatched", dispatched("SQ-U", count=1), at(2026, 11, 7, 2))  # late and stale
    publish(amqp_uri, "appeal_accepted", {"appeal_id": "SQ-U", "unit": "office"}, at(2026, 11, 9, 9))
    wait_for(status_is(db, "SQ-U", "accepted"), 20, message="accepted")
    entry = row(db, "SQ-U")
    assert (entry.lead_unit, entry.level, entry.colour) == ("office", 1, "green")
    events = settle(tap, db)
    assert colours(events) == ["green", "red", "green"]
    assert [e["data"]["previous"] for e in events if e["type"] == "appeal_colour_changed"] == ["green"]
    assert [(e["data"]["stage"], e["data"]["unit"], e["data"]["due_at"]) for e in events
            if e["type"] == "appeal_deadline_set"][2:] == [
        ("accept", "office", "2026-11-09T16:00:00+00:00"),  # Saturday 7 Nov + 1 working day: end of Mon 9
        ("reply", "office", "2026-11-17T16:00:00+00:00")]  # 6 working days after 9 Nov: 10-13, 16, 17


def test_an_order_past_its_deadline_climbs_one_rung_once_and_one_met_in_time_does_not(supervision, amqp_uri, tap, db):
    for appeal_id in ("SQ-OL", "SQ-OM"):
        publish(amqp_uri, "appeal_dispatched", dispatched(appeal_id), at(2026, 11, 2, 10))
        wait_for(status_is(db, appeal_id, "dispatched"), 20, message="dispatched")
        publish(amqp_uri, "appeal_accepted", {"appeal_id": appeal_id, "unit": "tax"}, at(2026, 11, 2, 11))
        wait_for(status_is(db, appeal_id, "accepted"), 20, message="accepted")
        order = requests.post(f"{supervision}/api/v1/appeals/{appeal_id}/orders",
                              json={"text": "请于一个工作日内反馈", "working_days": 1},
                              headers={**OFFICE, "X-Suqiu-Now": at(2026, 11, 3, 10).isoformat()})
        assert order.json()["due_at"] == "2026-11-04T16:00:00+00:00"
    publish(amqp_uri, "appeal_replied", {"appeal_id": "SQ-OM", "unit": "tax", "outcome": "solved",
                                         "reply_text": "已办结"}, at(2026, 11, 4, 15))
    wait_for(status_is(db, "SQ-OM", "replied"), 20, message="replied")
    assert tick(supervision, at(2026, 11, 5, 1))["escalations"] == 1
    assert tick(supervision, at(2026, 11, 5, 2))["escalations"] == 0
    events = settle(tap, db)
    assert [(e["subject"], e["data"]["reason"]) for e in events if e["type"] == "appeal_escalated"] == [
        ("SQ-OL", "order")]
    statuses = {a: requests.get(f"{supervision}/api/v1/appeals/{a}", headers=OFFICE).json()["orders"][0]["status"]
                for a in ("SQ-OL", "SQ-OM")}
    assert statuses == {"SQ-OL": "overdue", "SQ-OM": "met"}


def test_the_ledger_filters_the_appeals_on_the_phone_callback_list(supervision, amqp_uri, db):
    for appeal_id in ("SQ-PH1", "SQ-PH2"):
        publish(amqp_uri, "appeal_dispatched", dispatched(appeal_id), at(2026, 11, 2, 10))
        wait_for(status_is(db, appeal_id, "dispatched"), 20, message="dispatched")
    publish(amqp_uri, "callback_phone_listed", {"appeal_id": "SQ-PH1", "reason": "expired"}, at(2026, 11, 12, 10),
            producer="assessment")
    listed = lambda: [e["appeal_id"] for e in requests.get(  # noqa: E731
        f"{supervision}/api/v1/ledger?phone_callback=true", headers=OFFICE).json()["items"]]
    wait_for(lambda: listed() == ["SQ-PH1"], 20, message="on the phone list")
    others = requests.get(f"{supervision}/api/v1/ledger?phone_callback=false", headers=OFFICE).json()["items"]
    assert [e["appeal_id"] for e in others] == ["SQ-PH2"]
    publish(amqp_uri, "callback_recorded", {"appeal_id": "SQ-PH1", "solved": True, "satisfaction": "满意"},
            at(2026, 11, 13, 9), producer="assessment")
    wait_for(lambda: listed() == [], 20, message="off the phone list once called")
