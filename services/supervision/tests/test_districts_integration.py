"""Issue 15 in supervision, on the real broker and PostgreSQL: a district's plan stage (建德
1+3+6+10, the Hangzhou profile) and meetings as records (the demo's monthly 调度会)."""
import csv
import io
from datetime import datetime, timedelta

import pytest
import requests
from openpyxl import load_workbook

from services.supervision.service import SupervisionService
from services.supervision.tests.test_supervision_integration import (
    OFFICE,
    TAX,
    config,
    dispatched,
    publish,
    row,
    settle,
    status_is,
)
from shared.testing import EventTap, wait_for
from shared.workdays import SHANGHAI as SH

pytestmark = pytest.mark.integration

MONDAY = datetime(2026, 11, 9, 9, tzinfo=SH)


@pytest.fixture
def tap(amqp_uri):
    tap = EventTap(amqp_uri, "supervision")
    yield tap
    tap.close()


def start(container_factory, service_config, **extra) -> str:
    container = container_factory(SupervisionService, config(service_config, **extra))
    container.start()
    return f"http://{service_config['WEB_SERVER_ADDRESS']}"


def test_jiandes_plan_stage_runs_between_acceptance_and_reply_counted_from_the_dispatch(
        container_factory, service_config, amqp_uri, tap, db):
    start(container_factory, service_config, PROFILE_DIR="deploy/profiles/hangzhou")
    publish(amqp_uri, "appeal_dispatched", {**dispatched("SQ-J", lead="jiande"), "district": "建德市"}, MONDAY)
    wait_for(status_is(db, "SQ-J", "dispatched"), 20, message="dispatched")
    assert row(db, "SQ-J").due_at == MONDAY + timedelta(days=1)  # day 1
    publish(amqp_uri, "appeal_accepted", {"appeal_id": "SQ-J", "unit": "jiande"}, MONDAY + timedelta(hours=20))
    wait_for(status_is(db, "SQ-J", "accepted"), 20, message="accepted")
    accepted = row(db, "SQ-J")
    assert (accepted.stage, accepted.due_at) == ("plan", MONDAY + timedelta(days=3))  # 3 days: the plan
    publish(amqp_uri, "appeal_plan_submitted", {"appeal_id": "SQ-J", "unit": "jiande", "note": "方案"},
            MONDAY + timedelta(days=2))
    wait_for(lambda: row(db, "SQ-J").stage == "reply", 20, message="the reply stage")
    planned = row(db, "SQ-J")
    assert (planned.due_at, planned.plan_submitted_at) == (MONDAY + timedelta(days=6), MONDAY + timedelta(days=2))
    stages = [(e["data"]["stage"], e["data"]["due_at"]) for e in settle(tap, db) if e["type"] == "appeal_deadline_set"]
    assert stages == [("accept", "2026-11-10T01:00:00+00:00"), ("plan", "2026-11-12T01:00:00+00:00"),
                      ("reply", "2026-11-15T01:00:00+00:00")]


def test_elsewhere_acceptance_starts_the_reply_and_urgency_and_code_reach_the_ledger(
        container_factory, service_config, amqp_uri, db):
    url = start(container_factory, service_config, PROFILE_DIR="deploy/profiles/hangzhou")
    publish(amqp_uri, "appeal_dispatched", {**dispatched("SQ-F", lead="fuyang", difficulty="C"),
                                            "district": "富阳区", "urgency": "特急", "code": "red"}, MONDAY)
    wait_for(status_is(db, "SQ-F", "dispatched"), 20, message="dispatched")
    assert row(db, "SQ-F").due_at == MONDAY + timedelta(hours=4)  # 富阳 特急: 4 hours
    publish(amqp_uri, "appeal_accepted", {"appeal_id": "SQ-F", "unit": "fuyang"}, MONDAY + timedelta(hours=1))
    wait_for(status_is(db, "SQ-F", "accepted"), 20, message="accepted")
    assert row(db, "SQ-F").stage == "reply"
    ledger = requests.get(f"{url}/api/v1/ledger", params={"code": "red", "urgency": "特急"}, headers=OFFICE).json()
    assert [(e["appeal_id"], e["code"], e["urgency"]) for e in ledger["items"]] == [("SQ-F", "red", "特急")]
    rows = list(csv.reader(io.StringIO(requests.get(f"{url}/api/v1/ledger.csv", headers=OFFICE)
                                       .content.decode("utf-8-sig"))))
    assert (rows[1][rows[0].index("紧急程度")], rows[1][rows[0].index("赋码")]) == ("特急", "红")


def test_a_meeting_records_its_appeals_applies_its_decisions_and_exports_its_minutes(
        container_factory, service_config, amqp_uri, tap, db):
    url = start(container_factory, service_config)
    for appeal_id in ("SQ-M1", "SQ-M2"):
        publish(amqp_uri, "appeal_dispatched", dispatched(appeal_id), MONDAY)
        wait_for(status_is(db, appeal_id, "dispatched"), 20, message="dispatched")
    now = lambda moment: {**OFFICE, "X-Suqiu-Now": moment.isoformat()}  # noqa: E731
    body = {"kind": "调度会", "held_on": "2026-11-10", "title": "十一月调度会", "chair": "常务副市长",
            "attendees": ["市税务局", "市人社局"], "appeal_ids": ["SQ-M1", "SQ-M2"]}
    assert requests.post(f"{url}/api/v1/meetings", json={**body, "kind": "茶话会"},
                         headers=now(MONDAY)).status_code == 400
    assert requests.post(f"{url}/api/v1/meetings", json={**body, "appeal_ids": ["SQ-NONE"]},
                         headers=now(MONDAY)).status_code == 404
    assert requests.get(f"{url}/api/v1/meetings", params={"month": ""}, headers=OFFICE).status_code == 400
    assert requests.post(f"{url}/api/v1/meetings", json=body, headers={**TAX}).status_code == 403
    created = requests.post(f"{url}/api/v1/meetings", json=body, headers=now(MONDAY + timedelta(days=1)))
    assert created.status_code == 201, created.text
    meeting = created.json()
    decisions = f"{url}/api/v1/meetings/{meeting['meeting_id']}/decisions"
    held = MONDAY + timedelta(days=1, hours=2)
    decided = requests.post(decisions, json={"appeal_id": "SQ-M1", "lead_unit": "hrss", "co_units": ["tax"],
                                             "working_days": 5, "lead_leader": "王副市长", "note": "人社牵头"},
                            headers=now(held))
    assert decided.status_code == 200, decided.text
    assert requests.post(decisions, json={"appeal_id": "SQ-M1", "lead_leader": "李"},
                         headers=now(held)).status_code == 409
    assert requests.post(decisions, json={"appeal_id": "SQ-OTHER", "lead_leader": "李"},
                         headers=now(held)).status_code == 404
    assert requests.post(decisions, json={"appeal_id": "SQ-M2", "lead_unit": "nobody"},
                         headers=now(held)).status_code == 400
    assert requests.post(decisions, json={"appeal_id": "SQ-M2"}, headers=now(held)).status_code == 400
    events = settle(tap, db)
    [made] = [e["data"] for e in events if e["type"] == "meeting_decision_made"]
    due = "2026-11-17T16:00:00+00:00"  # 5 working days after Tuesday: the end of the next Tuesday
    assert made == {"appeal_id": "SQ-M1", "meeting_id": meeting["meeting_id"], "kind": "调度会",
                    "held_on": "2026-11-10", "lead_unit": "hrss", "co_units": ["tax"], "due_at": due,
                    "lead_leader": "王副市长", "note": "人社牵头"}
    [order] = [e["data"] for e in events if e["type"] == "supervision_order_issued"]
    assert (order["appeal_id"], order["unit"], order["due_at"]) == ("SQ-M1", "hrss", due)
    minutes = requests.get(f"{url}/api/v1/meetings/{meeting['meeting_id']}/minutes.csv", headers=OFFICE)
    table = list(csv.reader(io.StringIO(minutes.content.decode("utf-8-sig"))))
    assert table[:4] == [["会议", "十一月调度会"], ["类别", "调度会"], ["日期", "2026-11-10"], ["主持", "常务副市长"]]
    heading = table.index(next(r for r in table if r and r[0] == "序号"))
    assert [(r[1], r[6], r[8], r[9]) for r in table[heading + 1:]] == [
        ("SQ-M1", "市人社局", "2026-11-18 00:00", "王副市长"), ("SQ-M2", "（未决定）", "", "")]
    sheet = load_workbook(io.BytesIO(requests.get(f"{url}/api/v1/meetings/{meeting['meeting_id']}/minutes.xlsx",
                                                  headers=OFFICE).content)).active
    assert sheet.title == "会议纪要" and sheet["B1"].value == "十一月调度会"
    markdown = requests.get(f"{url}/api/v1/meetings/{meeting['meeting_id']}/minutes.md", headers=OFFICE)
    assert markdown.headers["Content-Type"].startswith("text/markdown")
    assert markdown.text.startswith("# 十一月调度会纪要")
    listed = requests.get(f"{url}/api/v1/meetings", params={"month": "2026-11"}, headers=OFFICE).json()
    assert [m["meeting_id"] for m in listed["items"]] == [meeting["meeting_id"]]
    assert requests.get(f"{url}/api/v1/meetings/nope", headers=OFFICE).status_code == 404
