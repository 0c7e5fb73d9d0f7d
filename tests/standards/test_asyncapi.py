"""shared/asyncapi.yaml against outside tools and against the real messages.

* The AsyncAPI initiative's own parser (``@asyncapi/parser``, pinned in
  ``tests/standards/asyncapi/package-lock.json``) finds no error and no warning in the file.
* Every message a running mesh publishes, of every event type of the catalogue, captured from the
  exchanges while one campaign goes down the whole loop, is valid against its message's payload
  schema in the file (JSON Schema draft 7 with format checks, ``jsonschema``), and carries the AMQP
  properties the file states (``message_id`` = the envelope's id, ``type``, persistent delivery).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time as time_module
import uuid
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
import requests
import yaml
from jsonschema import Draft7Validator, FormatChecker
from kombu import Connection, Queue

from scripts.client import OFFICE_TOKEN, UPSTREAM, unit_token
from shared import asyncapi
from shared.events import CATALOGUE
from shared.topology import events_exchange
from shared.workdays import SHANGHAI

ROOT = Path(__file__).resolve().parents[2]
PARSER_DIR = ROOT / "tests" / "standards" / "asyncapi"
MONDAY = date(2026, 11, 9)  # ISO week 2026-W46
CODE, OTHER, THIRD = "916107001590830106", "91610700913909960G", "91610700819482190E"


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), SHANGHAI)


def on_file() -> dict:
    return yaml.safe_load(Path(asyncapi.ASYNCAPI_PATH).read_text(encoding="utf-8"))


def validator(document: dict, event_type: str) -> Draft7Validator:
    return Draft7Validator(asyncapi.message_schema(document, event_type), format_checker=FormatChecker())


# ---------------------------------------------------------------- the parser
def parse(path: Path) -> tuple[int, str]:
    node = shutil.which("node")
    assert node, "node is needed (node 20): the AsyncAPI parser is a JavaScript package"
    assert (PARSER_DIR / "node_modules" / "@asyncapi" / "parser").is_dir(), \
        "install the parser first: (cd tests/standards/asyncapi && npm ci --ignore-scripts)"
    run = subprocess.run([node, "validate.mjs", str(path)], cwd=PARSER_DIR, capture_output=True, text=True,
                         timeout=120)
    return run.returncode, run.stdout + run.stderr


def test_the_asyncapi_parser_accepts_the_file():
    code, output = parse(Path(asyncapi.ASYNCAPI_PATH))
    print(f"\n@asyncapi/parser: {output.strip()}")
    summary = json.loads(output.strip().splitlines()[-1])
    assert code == 0, output
    # the catalogue's events and appeal_feedback (intake's answers back to a platform, on its own exchange)
    assert summary["version"] == "3.0.0" and summary["messages"] == len(CATALOGUE) + 1
    assert summary["receive"] >= 1 and summary["send"] == len(CATALOGUE)  # all but upstream's, and the feedback


def test_the_asyncapi_parser_refuses_a_broken_file(tmp_path):
    """The parser is no rubber stamp: an operation without its channel is an error."""
    document = on_file()
    broken = next(iter(document["operations"].values()))
    del broken["channel"]
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    code, output = parse(path)
    assert code == 1 and '"errors":0' not in output.replace(" ", ""), output


def test_suqiu_sends_what_it_publishes_and_receives_from_upstream():
    operations = on_file()["operations"]
    sends = {op["channel"]["$ref"] for op in operations.values() if op["action"] == "send"}
    receives = {op["channel"]["$ref"] for op in operations.values() if op["action"] == "receive"}
    assert "#/channels/upstream.events.appeal_submitted" in receives - sends
    assert sends == {f"#/channels/{events_exchange(e.producer).name}.{t}" for t, e in CATALOGUE.items()
                     if e.producer != "upstream"} | {f"#/channels/{asyncapi.FEEDBACK_CHANNEL}"}


def test_message_id_is_the_amqp_property_not_a_header():
    for event_type, message in on_file()["components"]["messages"].items():
        assert "message_id" not in (message.get("headers") or {}).get("properties", {}), event_type
        assert "message_id" in message["description"], event_type


def test_a_schema_refuses_what_no_producer_writes():
    document = on_file()
    check = validator(document, "appeal_received")
    good = {"specversion": "1.0", "id": "e1", "type": "appeal_received", "source": "suqiu/intake",
            "time": "2026-11-09T01:00:00+00:00", "subject": "SQ1", "dataversion": 2, "correlationid": "SQ1",
            "datacontenttype": "application/json",
            "data": {"appeal_id": "SQ1", "subject_type": "enterprise", "subject_id": CODE, "subject_name": "甲",
                     "credit_code": CODE, "enterprise_name": "甲", "title": "t",
                     "description": "d", "category": None, "district": "汉台区", "channel": "visit",
                     "external_id": None, "collected_at": "2026-11-09T00:00:00+00:00",
                     "submitted_at": "2026-11-09T01:00:00+00:00", "contact": None, "industry": None,
                     "size": None, "cadre": None, "leader": None}}
    assert list(check.iter_errors(good)) == []
    for broken in ({**good, "type": "appeal_closed"}, {**good, "time": "yesterday"},
                   {**good, "data": {**good["data"], "channel": "fax"}},
                   {**good, "data": {k: v for k, v in good["data"].items() if k != "title"}},
                   {**good, "data": {**good["data"], "district": None}}):
        assert list(check.iter_errors(broken)), broken


# ---------------------------------------------------------------- real messages
class Capture:
    """Every message published to any exchange of the catalogue, with its AMQP properties."""

    def __init__(self, amqp_uri: str):
        self.connection = Connection(amqp_uri)
        channel = self.connection.channel()
        self.queue = Queue(f"capture-{uuid.uuid4().hex[:8]}", exclusive=True, auto_delete=True, channel=channel)
        self.queue.declare()
        for producer in sorted({event.producer for event in CATALOGUE.values()}):
            exchange = events_exchange(producer)(channel)
            exchange.declare()
            self.queue.bind_to(exchange=exchange, routing_key="#")
        self.messages: list[dict] = []

    def drain(self) -> list[dict]:
        while (message := self.queue.get(no_ack=True)) is not None:
            self.messages.append({"routing_key": message.delivery_info["routing_key"],
                                  "exchange": message.delivery_info["exchange"], "body": message.body,
                                  "properties": dict(message.properties), "headers": dict(message.headers or {})})
        return self.messages

    def close(self) -> None:
        self.connection.release()


def http(method: str, url: str, token: str, now: datetime, **kwargs) -> dict:
    response = requests.request(method, url, headers={"Authorization": f"Bearer {token}",
                                                      "X-Suqiu-Now": now.isoformat()}, timeout=60, **kwargs)
    assert response.status_code in (200, 201), f"{method} {url}: {response.status_code} {response.text[:300]}"
    return response.json()


def appeal(code: str, title: str, **extra) -> dict:
    return {"credit_code": code, "enterprise_name": f"{title}公司", "title": title, "description": f"{title}，请协调",
            "category": "用工", "district": "汉台区", "channel": "visit",
            "collected_at": at(MONDAY, 8).isoformat(), **extra}


def drive_the_loop(mesh, client) -> None:
    """One campaign down every branch that publishes something: each event type at least once."""
    office = lambda service, path: f"{mesh.url(service)}{path}"  # noqa: E731
    http("PUT", office("intake", f"/api/v1/enterprises/{CODE}"), OFFICE_TOKEN, at(MONDAY, 7),
         json={"name": "甲公司", "district": "汉台区", "industry": "制造业", "size": "小型", "cadre": "张明",
               "leader": "李副区长", "contact": {"email": "jia@example.cn"}})
    a = client.submit(appeal(CODE, "甲"), at(MONDAY, 9), key="asyncapi-a")
    # a cadre of the registry visits the enterprise (visit_recorded)
    http("PUT", office("intake", "/api/v1/people/zhangming"), OFFICE_TOKEN, at(MONDAY, 7),
         json={"name": "张明", "role": "cadre", "unit": "tax"})
    http("POST", office("intake", "/api/v1/visits"), OFFICE_TOKEN, at(MONDAY, 10),
         json={"subject_type": "enterprise", "subject_id": CODE, "cadre_id": "zhangming",
               "visited_on": MONDAY.isoformat(), "findings": "用工难", "appeal_ids": [a]})
    # an upstream platform, with a plain client: the bare appeal, and one in the envelope
    client.publish_upstream(appeal(OTHER, "乙", channel="hotline", external_id="12345-B"), message_id="hotline-B",
                            now=at(MONDAY, 9))
    with Connection(mesh.amqp_uri) as connection:
        connection.Producer().publish(
            {"specversion": "1.0", "id": "hotline-C", "type": "appeal_submitted", "source": "upstream/12345",
             "time": at(MONDAY, 9).isoformat(), "data": appeal(THIRD, "丙", channel="platform",
                                                              external_id="12345-C")},
            exchange=UPSTREAM, routing_key="appeal_submitted", serializer="json", delivery_mode=2,
            message_id="hotline-C", declare=[UPSTREAM])
    client.quiesce()
    ids = {a["credit_code"]: a["id"] for a in client.intake_appeals()}
    b, c = ids[OTHER], ids[THIRD]
    http("POST", office("dispatch", f"/api/v1/office/appeals/{a}/classify"), OFFICE_TOKEN, at(MONDAY, 9, 30),
         json={"difficulty": "C"})
    client.quiesce()
    lead = client.appeal(a)["lead_unit"]
    client.accept(lead, a, at(MONDAY, 10))
    client.progress(lead, a, "已联系企业", at(MONDAY, 11))
    client.quiesce()
    supervision = lambda path: office("supervision", f"/api/v1/appeals/{a}{path}")  # noqa: E731
    asked = http("POST", supervision("/pause-requests"), unit_token(lead), at(MONDAY, 11, 20),
                 json={"reason": "等待企业补充材料", "days": 2})
    http("POST", office("supervision", f"/api/v1/pause-requests/{asked['request_id']}/approve"), OFFICE_TOKEN,
         at(MONDAY, 11, 30))
    http("POST", supervision("/resume"), unit_token(lead), at(MONDAY + timedelta(days=1), 9))
    http("POST", supervision("/orders"), OFFICE_TOKEN, at(MONDAY + timedelta(days=1), 10),
         json={"text": "请加快办理", "working_days": 2})
    client.request_escalation(lead, a, "需要市级协调", at(MONDAY + timedelta(days=1), 11))
    client.quiesce()
    client.reply(lead, a, "solved", "已协调解决", at(MONDAY + timedelta(days=2), 15))
    client.quiesce()
    client.callback(a, False, "不满意", at(MONDAY + timedelta(days=2), 17))  # reopened (重办)
    b_lead = client.appeal(b)["lead_unit"]
    client.return_(b_lead, b, "不属于本单位职责", at(MONDAY, 10))
    c_lead = client.appeal(c)["lead_unit"]
    client.accept(c_lead, c, at(MONDAY, 10))
    client.quiesce()
    http("POST", office("dispatch", f"/api/v1/desk/appeals/{c}/plan"), unit_token(c_lead), at(MONDAY, 11),
         json={"plan": "两天内协调人社部门组织专场招聘"})
    # the monthly 调度会 decides on b: a deadline and the leader who answers for it
    meeting = http("POST", office("supervision", "/api/v1/meetings"), OFFICE_TOKEN, at(MONDAY, 12),
                   json={"kind": "调度会", "held_on": MONDAY.isoformat(), "chair": "市助商稳企办主任",
                         "attendees": ["市人社局"], "appeal_ids": [b]})
    http("POST", office("supervision", f"/api/v1/meetings/{meeting['meeting_id']}/decisions"), OFFICE_TOKEN,
         at(MONDAY, 12, 30), json={"appeal_id": b, "working_days": 5, "lead_leader": "王副市长"})
    client.quiesce()
    client.reply(c_lead, c, "solved", "已解决", at(MONDAY, 16))
    client.quiesce()
    client.callback(c, True, "满意", at(MONDAY, 17))  # closed
    client.quiesce()
    # a follow-up round over what closed that day (callback_phone_listed), called back by phone
    http("POST", office("assessment", "/api/v1/callback-rounds"), OFFICE_TOKEN, at(MONDAY, 18),
         json={"name": "回访抽查", "closed_from": MONDAY.isoformat(), "closed_to": MONDAY.isoformat()})
    client.quiesce()
    http("POST", office("assessment", f"/api/v1/appeals/{c}/callback"), OFFICE_TOKEN, at(MONDAY, 19),
         json={"solved": True, "satisfaction": "满意", "channel": "phone"})
    client.quiesce()
    # time passes: colours, escalations of what lies, the Monday digests, the monthly list
    day = MONDAY
    while day <= date(2026, 12, 1):
        client.tick(at(day, 9, 30))
        day += timedelta(days=1)
    client.quiesce()
    client.publish_report("monthly", "2026-11", at(date(2026, 12, 1), 10))  # a's unit is under 80%: flagged
    http("POST", office("notify", "/api/v1/policy-pushes"), OFFICE_TOKEN, at(date(2026, 12, 1), 10),
         json={"title": "稳岗补贴政策", "body": "符合条件的企业可申请稳岗补贴", "targets": {"district": "汉台区"}})
    client.quiesce()
    # mail goes to a closed port: every attempt fails, a day apart, until one fails for good (the
    # sender's token bucket refills in real seconds: poll, with a deadline)
    moment, deadline = at(date(2026, 12, 1), 11), time_module.monotonic() + 90
    while not client.send_due(moment)["failed"]:
        assert time_module.monotonic() < deadline, "no notification failed for good"
        moment += timedelta(days=1)
        time_module.sleep(0.5)
    client.quiesce()


@pytest.mark.integration
@pytest.mark.timeout(600)
def test_every_real_message_matches_the_file(mesh, client):
    capture = Capture(mesh.amqp_uri)
    try:
        drive_the_loop(mesh, client)
        messages = capture.drain()
    finally:
        capture.close()
    document = on_file()
    seen: dict[str, int] = {}
    problems = []
    for message in messages:
        body = json.loads(message["body"])
        event_type = body.get("type", message["routing_key"]) if isinstance(body, dict) else message["routing_key"]
        seen[event_type] = seen.get(event_type, 0) + 1
        for error in validator(document, event_type).iter_errors(body):
            problems.append(f"{event_type}: {error.json_path}: {error.message}")
        properties = message["properties"]
        if message["exchange"] != "upstream.events":
            expected = {"message_id": body["id"], "type": event_type, "content_type": "application/json",
                        "delivery_mode": 2}
            got = {key: properties.get(key) for key in expected}
            if got != expected:
                problems.append(f"{event_type}: AMQP properties {got} != {expected}")
    print(f"\n{len(messages)} messages captured, by type: {json.dumps(seen, sort_keys=True)}")
    assert problems == [], "\n".join(problems[:40])
    assert set(seen) == set(CATALOGUE), f"never published: {sorted(set(CATALOGUE) - set(seen))}"
