"""The intake service on the real broker and PostgreSQL."""
import io
import json
import uuid

import pytest
import requests
from kombu import Connection, Exchange, Producer, Queue

from services.intake.models import appeals, outbox
from services.intake.service import IntakeService
from shared.testing import EventTap, settled, wait_for
from shared.testing import count_rows as count

pytestmark = pytest.mark.integration

CODE = "91350100M000100Y43"
OTHER_CODE = "91110000600037341L"
APPEAL = {
    "credit_code": CODE, "enterprise_name": "测试公司", "title": "用工难", "description": "招不到熟练工",
    "district": "甲区", "channel": "visit", "collected_at": "2026-11-20T10:00:00+08:00",
}
UPSTREAM = Exchange("upstream.events", type="topic", durable=True)
DLQ = "evt-upstream-appeal_submitted--intake.receive_upstream.dlq"


def auth(token: str = "t-cadre") -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def intake(container_factory, service_config):
    container = container_factory(IntakeService, service_config)
    container.start()
    return f"http://{service_config['WEB_SERVER_ADDRESS']}"


@pytest.fixture
def tap(amqp_uri):
    tap = EventTap(amqp_uri, "intake")
    yield tap
    tap.close()


def received_events(tap, expected: int, timeout: float = 10) -> list[dict]:
    wait_for(lambda: len(tap.of_type("appeal_received")) >= expected, timeout, message=f"{expected} events")
    return tap.of_type("appeal_received")


def publish_upstream(amqp_uri: str, body, message_id: str | None = None, content_type="application/json"):
    with Connection(amqp_uri) as conn:
        producer = Producer(conn.channel())
        raw = body if isinstance(body, (bytes, str)) else json.dumps(body, ensure_ascii=False)
        producer.publish(raw, exchange=UPSTREAM, routing_key="appeal_submitted", content_type=content_type,
                         content_encoding="utf-8", delivery_mode=2, message_id=message_id, declare=[UPSTREAM])


def test_an_http_submission_publishes_exactly_one_appeal_received(intake, tap, db):
    response = requests.post(f"{intake}/api/v1/appeals", json=APPEAL, headers=auth())
    assert response.status_code == 201, response.text
    appeal_id = response.json()["id"]
    events = received_events(tap, 1)
    assert [e["subject"] for e in events] == [appeal_id]
    assert events[0]["data"]["credit_code"] == CODE
    wait_for(lambda: count(db, outbox, outbox.c.sent_at.is_(None)) == 0, message="outbox drained")
    assert len(tap.of_type("appeal_received")) == 1


def test_a_repeated_submission_returns_the_first_and_publishes_nothing(intake, tap, db):
    headers = {**auth(), "Idempotency-Key": str(uuid.uuid4())}
    first = requests.post(f"{intake}/api/v1/appeals", json=APPEAL, headers=headers)
    again = requests.post(f"{intake}/api/v1/appeals", json=APPEAL, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    received_events(tap, 1)
    wait_for(lambda: count(db, outbox, outbox.c.sent_at.is_(None)) == 0, message="outbox drained")
    assert (len(tap.of_type("appeal_received")), count(db, appeals), count(db, outbox)) == (1, 1, 1)


def test_the_same_external_id_on_the_same_channel_is_one_appeal(intake, db):
    body = {**APPEAL, "channel": "hotline", "external_id": "12345-0001"}
    first = requests.post(f"{intake}/api/v1/appeals", json=body, headers=auth())
    again = requests.post(f"{intake}/api/v1/appeals", json=body, headers=auth())
    assert (first.status_code, again.status_code) == (201, 200)
    assert count(db, appeals) == 1


def test_an_idempotency_key_reused_for_another_request_is_a_conflict(intake, db):
    headers = {**auth(), "Idempotency-Key": "k-1"}
    assert requests.post(f"{intake}/api/v1/appeals", json=APPEAL, headers=headers).status_code == 201
    other = requests.post(f"{intake}/api/v1/appeals", json={**APPEAL, "title": "用地难"}, headers=headers)
    assert other.status_code == 409
    assert count(db, appeals) == 1


def test_invalid_input_is_a_400_per_field_and_changes_nothing(intake, tap, db):
    response = requests.post(f"{intake}/api/v1/appeals", headers=auth(),
                             json={**APPEAL, "credit_code": "91350100M000100Y44", "title": ""})
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"credit_code", "title"}
    assert (count(db, appeals), count(db, outbox)) == (0, 0)
    assert tap.of_type("appeal_received") == []


@pytest.mark.parametrize("data, headers, status", [
    (b"{not json", {"Content-Type": "application/json"}, 400),
    (b"", {"Content-Type": "application/json"}, 400),
    (b"<xml/>", {"Content-Type": "application/xml"}, 415),
])
def test_a_body_that_is_not_json_is_refused_clearly(intake, db, data, headers, status):
    response = requests.post(f"{intake}/api/v1/appeals", data=data, headers={**auth(), **headers})
    assert response.status_code == status
    assert response.json()["message"]
    assert count(db, appeals) == 0


def test_a_submission_without_a_token_is_401_and_a_unit_token_is_403(intake, db):
    assert requests.post(f"{intake}/api/v1/appeals", json=APPEAL).status_code == 401
    assert requests.post(f"{intake}/api/v1/appeals", json=APPEAL, headers=auth("t-unit-tax")).status_code == 403
    assert count(db, appeals) == 0


def test_a_cadre_sees_only_the_appeals_it_submitted(intake):
    mine = requests.post(f"{intake}/api/v1/appeals", json=APPEAL, headers=auth("t-cadre")).json()["id"]
    requests.post(f"{intake}/api/v1/appeals", json={**APPEAL, "title": "别人的"}, headers=auth("t-cadre-2"))
    listing = requests.get(f"{intake}/api/v1/appeals", headers=auth("t-cadre")).json()
    assert [a["id"] for a in listing["items"]] == [mine]
    assert requests.get(f"{intake}/api/v1/appeals/{mine}", headers=auth("t-cadre-2")).status_code == 404
    assert requests.get(f"{intake}/api/v1/appeals", headers=auth("t-office")).json()["total"] == 2


def test_an_enterprise_submits_only_for_its_own_credit_code(intake, db):
    own = requests.post(f"{intake}/api/v1/appeals", json={**APPEAL, "channel": "qrcode"}, headers=auth("t-enterprise"))
    other = requests.post(f"{intake}/api/v1/appeals", json={**APPEAL, "credit_code": OTHER_CODE},
                          headers=auth("t-enterprise"))
    assert (own.status_code, other.status_code) == (201, 403)
    assert own.json()["appeal"]["submitted_by"] == f"enterprise:{CODE}"
    assert count(db, appeals) == 1


def test_an_enterprise_follows_its_own_appeals_whoever_entered_them(intake):
    by_cadre = requests.post(f"{intake}/api/v1/appeals", json=APPEAL, headers=auth("t-cadre")).json()["id"]
    elsewhere = requests.post(f"{intake}/api/v1/appeals", json={**APPEAL, "credit_code": OTHER_CODE},
                              headers=auth("t-cadre")).json()["id"]
    listing = requests.get(f"{intake}/api/v1/appeals", headers=auth("t-enterprise")).json()
    assert [a["id"] for a in listing["items"]] == [by_cadre]
    assert requests.get(f"{intake}/api/v1/appeals/{by_cadre}", headers=auth("t-enterprise")).status_code == 200
    assert requests.get(f"{intake}/api/v1/appeals/{elsewhere}", headers=auth("t-enterprise")).status_code == 404


def test_a_cadre_lists_the_enterprises_paired_with_it(intake):
    for code, cadre in ((CODE, "张明"), (OTHER_CODE, "李华")):
        requests.put(f"{intake}/api/v1/enterprises/{code}", json={"name": "企业", "district": "甲区", "cadre": cadre},
                     headers=auth("t-office")).raise_for_status()
    listing = requests.get(f"{intake}/api/v1/enterprises", params={"cadre": "张明"}, headers=auth("t-cadre")).json()
    assert [e["credit_code"] for e in listing["items"]] == [CODE]


def test_the_listing_filters_and_pages(intake):
    for district in ("甲区", "甲区", "乙区"):
        requests.post(f"{intake}/api/v1/appeals", json={**APPEAL, "district": district}, headers=auth("t-office"))
    page = requests.get(f"{intake}/api/v1/appeals", params={"district": "甲区", "page_size": 1},
                        headers=auth("t-office")).json()
    assert (page["total"], len(page["items"])) == (2, 1)
    bad = requests.get(f"{intake}/api/v1/appeals", params={"page": "x"}, headers=auth("t-office"))
    assert bad.status_code == 400


def test_a_crash_after_commit_before_publishing_publishes_on_restart(container_factory, service_config, tap, db):
    crashed = container_factory(IntakeService, {**service_config, "OUTBOX_RELAY": "false"})
    crashed.start()
    url = f"http://{service_config['WEB_SERVER_ADDRESS']}"
    assert requests.post(f"{url}/api/v1/appeals", json=APPEAL, headers=auth()).status_code == 201
    crashed.kill()
    assert count(db, outbox, outbox.c.sent_at.is_(None)) == 1
    assert tap.of_type("appeal_received") == []

    restarted = container_factory(IntakeService, service_config)
    restarted.start()
    received_events(tap, 1)
    wait_for(lambda: count(db, outbox, outbox.c.sent_at.is_(None)) == 0, message="outbox drained")
    assert len(tap.of_type("appeal_received")) == 1


def upstream_body(external_id: str = "MB-2026-001") -> dict:
    return {**APPEAL, "channel": "message_board", "external_id": external_id}


def test_a_redelivered_upstream_message_makes_one_appeal(intake, amqp_uri, tap, db):
    with settled("intake", 3):  # the three deliveries applied or dropped, committed and acked
        for _ in range(2):
            publish_upstream(amqp_uri, upstream_body(), message_id="mb-msg-1")
        publish_upstream(amqp_uri, upstream_body(), message_id="mb-msg-1-resent-by-platform")
    received_events(tap, 1)
    wait_for(lambda: count(db, outbox, outbox.c.sent_at.is_(None)) == 0, message="outbox drained")
    assert (count(db, appeals), len(tap.of_type("appeal_received"))) == (1, 1)


def test_a_platform_lists_and_reads_the_appeals_it_sent_over_amqp_and_no_other(intake, amqp_uri, tap, db):
    """Fix 6 of issue 13: t-platform speaks for the upstream source message_board (tests/tokens.yaml)."""
    with settled("intake", 2):
        publish_upstream(amqp_uri, upstream_body("MB-PL-1"), message_id="mb-pl-1")
        publish_upstream(amqp_uri, {**upstream_body("HL-PL-2"), "channel": "hotline"}, message_id="hl-pl-2")
    received_events(tap, 2)
    listing = requests.get(f"{intake}/api/v1/appeals", headers=auth("t-platform")).json()
    assert [(a["external_id"], a["submitted_by"]) for a in listing["items"]] == [
        ("MB-PL-1", "platform:upstream/message_board")]
    mine, other = listing["items"][0]["id"], next(
        e["data"]["appeal_id"] for e in tap.of_type("appeal_received") if e["data"]["channel"] == "hotline")
    assert requests.get(f"{intake}/api/v1/appeals/{mine}", headers=auth("t-platform")).status_code == 200
    assert requests.get(f"{intake}/api/v1/appeals/{other}", headers=auth("t-platform")).status_code == 404


def test_an_upstream_envelope_is_read_as_well(intake, amqp_uri, tap):
    envelope = {"specversion": "1.0", "id": "evt-77", "type": "appeal_submitted", "source": "provincial-platform",
                "time": "2026-11-20T03:00:00Z", "data": upstream_body("P-77")}
    publish_upstream(amqp_uri, envelope)
    assert received_events(tap, 1)[0]["data"]["external_id"] == "P-77"


def parked(amqp_uri: str, expected: int = 1) -> list:
    got = []
    with Connection(amqp_uri) as conn:
        queue = Queue(DLQ)(conn.channel())

        def take():
            message = queue.get(no_ack=True)
            if message is not None:
                got.append(message)
            return len(got) >= expected

        wait_for(take, message="dead-lettered message")
    return got


@pytest.mark.parametrize("body, content_type, reason", [
    ({**APPEAL, "channel": "message_board", "external_id": "X1", "credit_code": "123"}, "application/json",
     "credit_code"),
    ({**APPEAL, "channel": "message_board"}, "application/json", "external_id"),
    (b"\xff{{ not json", "application/json", "undecodable"),
    ("plain words", "text/plain", "undecodable"),
])
def test_a_bad_upstream_message_is_dead_lettered_with_its_reason(intake, amqp_uri, db, body, content_type, reason):
    publish_upstream(amqp_uri, body, message_id="bad-1", content_type=content_type)
    [message] = parked(amqp_uri)
    assert reason in message.headers["x-suqiu-reason"]
    assert count(db, appeals) == 0


def test_the_ingress_keeps_working_after_a_poison_message(intake, amqp_uri, tap):
    publish_upstream(amqp_uri, b"\xff garbage", content_type="application/json")
    publish_upstream(amqp_uri, upstream_body("after-poison"))
    assert received_events(tap, 1)[0]["data"]["external_id"] == "after-poison"


def csv_sheet() -> bytes:
    lines = ["统一社会信用代码,企业名称,问题标题,问题描述,所属区县,收集时间,外部编号",
             f"{CODE},测试公司,用工难,招不到人,甲区,2026-11-20 10:00,S-1",
             f"{OTHER_CODE},另一公司,用地难,缺少用地指标,乙区,2026-11-21 09:00,S-2",
             "123,坏行,,,甲区,2026-11-21 09:00,S-3",
             f"{CODE},测试公司,用工难,招不到人,甲区,2026-11-20 10:00,S-1"]
    return "\n".join(lines).encode("gb18030")


def test_a_csv_problem_sheet_is_imported_with_a_report_per_row(intake, db):
    response = requests.post(f"{intake}/api/v1/appeals/import", data=csv_sheet(),
                             headers={**auth(), "Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    rows = response.json()["rows"]
    assert [r["status"] for r in rows] == ["accepted", "accepted", "refused", "duplicate"]
    assert {"credit_code", "title", "description"} <= set(rows[2]["errors"])
    assert count(db, appeals) == 2


def test_an_xlsx_problem_sheet_is_imported(intake, db):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["统一社会信用代码", "企业名称", "问题标题", "问题描述", "所属区县", "收集时间"])
    sheet.append([CODE, "测试公司", "融资难", "贷款审批慢", "甲区", "2026-11-20T10:00:00"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = requests.post(f"{intake}/api/v1/appeals/import", headers=auth(),
                             files={"file": ("问题办理单.xlsx", buffer.getvalue())})
    assert response.status_code == 200, response.text
    assert response.json()["counts"] == {"accepted": 1, "duplicate": 0, "refused": 0}


def test_the_registry_enriches_appeals_and_publishes_changes(intake, amqp_uri, db):
    enterprise_tap = EventTap(amqp_uri, "intake", "enterprise_updated")
    body = {"name": "测试公司", "district": "甲区", "industry": "制造业", "size": "小型", "cadre": "张明",
            "leader": "李副区长", "tags": ["专精特新"]}
    put = requests.put(f"{intake}/api/v1/enterprises/{CODE}", json=body, headers=auth("t-office"))
    assert put.status_code == 201, put.text
    assert requests.put(f"{intake}/api/v1/enterprises/{CODE}", json=body, headers=auth("t-office")).status_code == 200
    appeal = requests.post(f"{intake}/api/v1/appeals", json=APPEAL, headers=auth()).json()["appeal"]
    assert (appeal["industry"], appeal["cadre"], appeal["leader"]) == ("制造业", "张明", "李副区长")
    wait_for(lambda: len(enterprise_tap.of_type("enterprise_updated")) == 2, message="enterprise events")
    enterprise_tap.close()
    refused = requests.put(f"{intake}/api/v1/enterprises/{CODE}", json={**body, "size": "巨型"},
                           headers=auth("t-office"))
    assert refused.status_code == 400 and "size" in refused.json()["fields"]
    assert requests.put(f"{intake}/api/v1/enterprises/{CODE}", json=body, headers=auth()).status_code == 403


def test_the_registry_loads_from_a_file(intake):
    lines = ["credit_code,name,district,industry,size,tags", f"{CODE},测试公司,甲区,制造业,小型,\"a,b\"",
             "bad,坏,甲区,,,"]
    response = requests.post(f"{intake}/api/v1/enterprises/import", data="\n".join(lines).encode(),
                             headers={**auth("t-office"), "Content-Type": "text/csv"})
    assert response.json()["counts"] == {"accepted": 1, "updated": 0, "refused": 1}
    one = requests.get(f"{intake}/api/v1/enterprises/{CODE}", headers=auth("t-office")).json()
    assert one["tags"] == ["a", "b"]


def test_health_metrics_and_openapi_are_served(intake):
    requests.post(f"{intake}/api/v1/appeals", json=APPEAL, headers=auth())
    checks = wait_for(lambda: (body := requests.get(f"{intake}/healthz").json())["status"] == "ok" and body["checks"],
                      10, message="intake ready")
    assert checks == {"database": "ok", "broker": "ok", "consumer": "ok"}
    metrics = requests.get(f"{intake}/metrics").text
    assert 'suqiu_appeals_received_total{channel="visit"}' in metrics
    assert "suqiu_entrypoint_duration_seconds_bucket" in metrics
    document = requests.get(f"{intake}/openapi.json").json()
    assert document["openapi"].startswith("3.") and "/api/v1/appeals" in document["paths"]


def test_healthz_is_503_when_the_database_does_not_answer(container_factory, service_config, make_database_url,
                                                          database_base):
    from sqlalchemy import text

    doomed = make_database_url()
    container = container_factory(IntakeService, {**service_config, "DATABASE_URL": doomed})
    container.start()
    url = f"http://{service_config['WEB_SERVER_ADDRESS']}"
    wait_for(lambda: requests.get(f"{url}/healthz").status_code == 200, 10, message="intake ready")
    _, admin = database_base
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{doomed.rsplit("/", 1)[1]}" WITH (FORCE)'))
    response = requests.get(f"{url}/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("down")
    assert response.json()["checks"]["broker"] == "ok"
