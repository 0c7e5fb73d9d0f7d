"""The notify service on the real broker and PostgreSQL, with a real SMTP server and HTTP servers on loopback."""
from datetime import datetime, timedelta, timezone

import pytest
import requests
import yaml
from kombu import Connection, Producer
from sqlalchemy import delete, func, select

from scripts.sinks import HttpSink, MailSink
from services.notify.domain import SHANGHAI, body_signature
from services.notify.models import inbox, notifications, receipts
from services.notify.service import NotifyService
from shared.events import make_event
from shared.profile import DEFAULT_PROFILE
from shared.testing import EventTap, settled, wait_for
from shared.topology import declare_all, events_exchange

pytestmark = pytest.mark.integration

UTC = timezone.utc
CODE = "91350100M000100Y43"
OTHER = "91110000600037341L"
THIRD = "91440300MA5FXXXX0X"
APPEAL_ID = "SQ20261120-0000000001"
SECRET = "SEC-dingtalk-test"
MORNING = datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI).astimezone(UTC)
LATE = datetime(2026, 11, 20, 23, 0, tzinfo=SHANGHAI).astimezone(UTC)


# ---------------------------------------------------------------- loopback servers
@pytest.fixture
def smtp():
    """A real SMTP server on loopback (scripts.sinks, as the demo's)."""
    with MailSink() as mailbox:
        yield mailbox


@pytest.fixture
def http_receiver():
    """Webhooks and the SMS gateway: ``at(path)`` what was POSTed; ``fail[path]`` requests answer 503 first."""
    with HttpSink() as receiver:
        yield receiver


# ---------------------------------------------------------------- the service
@pytest.fixture
def profile(tmp_path, http_receiver):
    units = yaml.safe_load((DEFAULT_PROFILE / "units.yaml").read_text(encoding="utf-8"))
    for unit in units["units"]:
        if unit["code"] == "tax":
            unit["contact"] = {"email": "tax@example.gov.cn", "phone": "13800000001",
                               "webhook": f"{http_receiver.url}/dingtalk?access_token=tok",
                               "webhook_kind": "dingtalk", "webhook_secret": SECRET,
                               "channels": ["email", "webhook", "sms", "inbox"], "quiet_hours": "22:00-07:00"}
        if unit["code"] == "hrss":
            unit["contact"] = {"email": "hrss@example.gov.cn", "webhook": f"{http_receiver.url}/wecom",
                               "webhook_kind": "wecom", "channels": ["email", "webhook", "inbox"]}
    (tmp_path / "units.yaml").write_text(yaml.safe_dump(units, allow_unicode=True), encoding="utf-8")
    (tmp_path / "notify.yaml").write_text(yaml.safe_dump({
        "enterprises": {"channels": ["sms", "email", "inbox"], "quiet_hours": "22:00-08:00"},
        "cadres": {"王干部": {"email": "wang@example.gov.cn", "channels": ["email", "inbox"]}},
        "max_attempts": 3, "backoff": {"base_seconds": 60, "max_seconds": 600},
        "rate_limits": {"sms": {"rate": 50, "burst": 50}},
    }, allow_unicode=True), encoding="utf-8")
    return tmp_path


@pytest.fixture
def config(service_config, profile, smtp, http_receiver):
    return {**service_config, "PROFILE_DIR": str(profile), "SMTP_HOST": "127.0.0.1", "SMTP_PORT": smtp.port,
            "SMTP_FROM": "notify@suqiu.test", "SMS_GATEWAY_URL": f"{http_receiver.url}/sms",
            "SIMULATED_CLOCK": True, "NOTIFY_SENDER": False, "NOTIFY_POLL_SECONDS": 0.2,
            # the sender loop's clock: a weekday morning, outside every quiet hour, whatever the machine's time
            "CLOCK_START": MORNING.isoformat()}


@pytest.fixture
def start(container_factory, config):
    def start_service(**overrides):
        container = container_factory(NotifyService, {**config, **overrides})
        container.start()
        return container
    return start_service


@pytest.fixture
def base_url(config):
    return f"http://{config['WEB_SERVER_ADDRESS']}"


def office(now=None):
    headers = {"Authorization": "Bearer t-office"}
    if now is not None:
        headers["X-Suqiu-Now"] = now.isoformat()
    return headers


def send_due(base_url, now):
    response = requests.post(f"{base_url}/api/v1/send-due", json={"now": now.isoformat()}, headers=office())
    assert response.status_code == 200, response.text
    return response.json()


def publish(amqp_uri, event):
    with Connection(amqp_uri) as conn:
        declare_all(conn)
        Producer(conn.channel()).publish(event.to_message(), exchange=events_exchange(event.producer),
                                         routing_key=event.type, serializer="json", delivery_mode=2,
                                         message_id=event.id)
    return event


def deliver(container, amqp_uri, event, method=None):
    """Publish and wait until the service's consumer has settled this delivery (committed, acked)."""
    with settled("notify"):
        publish(amqp_uri, event)
    return event


def received(now=MORNING, appeal_id=APPEAL_ID, code=CODE, contact=None):
    return make_event("appeal_received", {
        "appeal_id": appeal_id, "credit_code": code, "enterprise_name": "汉中测试有限公司", "title": "用工难",
        "description": "招不到熟练工", "district": "汉台区", "channel": "visit", "collected_at": now,
        "submitted_at": now, "cadre": "王干部",
        "contact": contact or {"name": "张经理", "phone": "13700000000", "email": "zhang@firm.cn"},
    }, producer="intake", now=now)


def dispatched(now=MORNING, appeal_id=APPEAL_ID):
    return make_event("appeal_dispatched", {
        "appeal_id": appeal_id, "lead_unit": "tax", "co_units": ["hrss"], "category": "用工", "difficulty": "B",
        "level": "city"}, producer="dispatch", now=now)


def count(engine, *where):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(notifications).where(*where)).scalar_one()


# ---------------------------------------------------------------- each party, the right text
def test_the_enterprise_and_its_cadre_hear_the_appeal_id_by_email_and_sms(start, amqp_uri, base_url, smtp,
                                                                          http_receiver):
    container = start()
    deliver(container, amqp_uri, received())
    assert send_due(base_url, MORNING + timedelta(minutes=1))["sent"] == 3  # enterprise email + sms, cadre email
    [mail] = smtp.to("zhang@firm.cn")
    assert mail["Subject"] == "【诉求已受理】用工难"
    assert APPEAL_ID in mail.get_content() and "汉中测试有限公司" in mail.get_content()
    [cadre_mail] = smtp.to("wang@example.gov.cn")
    assert "您包联的汉中测试有限公司" in cadre_mail.get_content()
    [sms] = http_receiver.at("/sms")
    assert sms["json"]["phone"] == "13700000000" and APPEAL_ID in sms["json"]["text"]
    assert sms["headers"]["Idempotency-Key"] == sms["json"]["id"]


def test_the_lead_unit_hears_by_email_and_a_signed_dingtalk_robot_and_the_co_unit_by_wecom(
        start, amqp_uri, base_url, smtp, http_receiver):
    container = start()
    deliver(container, amqp_uri, received())
    deliver(container, amqp_uri, dispatched())
    send_due(base_url, MORNING + timedelta(minutes=1))
    [mail] = smtp.to("tax@example.gov.cn")
    assert mail["Subject"] == "【新诉求待签收】汉中测试有限公司：用工难"
    assert "牵头办理" in mail.get_content() and "市人社局" in mail.get_content()
    assert mail["Message-ID"].startswith("<") and "@suqiu.notify" in mail["Message-ID"]
    [ding] = http_receiver.at("/dingtalk")
    assert ding["json"]["msgtype"] == "text" and "新诉求待签收" in ding["json"]["text"]["content"]
    timestamp, sign = ding["query"]["timestamp"][0], ding["query"]["sign"][0]
    import base64
    import hashlib
    import hmac
    expected = base64.b64encode(hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(),
                                         hashlib.sha256).digest()).decode()
    assert sign == expected and ding["query"]["access_token"] == ["tok"]
    assert ding["headers"]["X-Suqiu-Signature"] == body_signature(SECRET, ding["raw"])
    [wecom] = http_receiver.at("/wecom")
    assert "协办" in wecom["json"]["text"]["content"] and wecom["headers"]["Idempotency-Key"]
    [co_mail] = smtp.to("hrss@example.gov.cn")
    assert "协办，牵头单位为市税务局" in co_mail.get_content()


def test_the_enterprise_reads_the_units_reply_and_then_the_callback_link(start, amqp_uri, base_url, smtp):
    container = start()
    deliver(container, amqp_uri, received())
    deliver(container, amqp_uri, make_event("appeal_replied", {
        "appeal_id": APPEAL_ID, "unit": "tax", "outcome": "solved", "reply_text": "已协调专场招聘会"},
        producer="dispatch", now=MORNING))
    deliver(container, amqp_uri, make_event("callback_requested", {
        "appeal_id": APPEAL_ID, "link": "https://suqiu.example/cb/abc", "expires_at": MORNING + timedelta(days=7)},
        producer="assessment", now=MORNING))
    send_due(base_url, MORNING + timedelta(minutes=1))
    subjects = {m["Subject"]: m.get_content() for m in smtp.to("zhang@firm.cn")}
    assert "已协调专场招聘会" in subjects["【诉求办理答复】用工难"]
    assert "市税务局" in subjects["【诉求办理答复】用工难"]
    assert "https://suqiu.example/cb/abc" in subjects["【请评价诉求办理】用工难"]


def test_an_escalation_reaches_the_units_leader_and_the_units_inbox(start, amqp_uri, base_url, smtp):
    container = start()
    deliver(container, amqp_uri, received())
    deliver(container, amqp_uri, dispatched())
    deliver(container, amqp_uri, make_event("appeal_escalated", {
        "appeal_id": APPEAL_ID, "rung": "unit_leader", "level": 1, "reason": "overdue", "unit": "tax",
        "to_unit": None}, producer="supervision", now=MORNING))
    send_due(base_url, MORNING + timedelta(minutes=1))
    [leader_mail] = smtp.to("tax.lead@example.gov.cn")
    assert leader_mail["Subject"] == "【提级督办提醒】汉中测试有限公司：用工难"
    assert "超期未办" in leader_mail.get_content()
    inbox_page = requests.get(f"{base_url}/api/v1/inbox", headers={"Authorization": "Bearer t-unit-tax"}).json()
    assert {m["subject"] for m in inbox_page["items"]} == {
        "【新诉求待签收】汉中测试有限公司：用工难", "【诉求提级督办】汉中测试有限公司：用工难",
        "【提级督办提醒】汉中测试有限公司：用工难"}


# ---------------------------------------------------------------- exactly once
def test_a_redelivered_event_is_sent_once(start, amqp_uri, base_url, smtp, db):
    container = start()
    event = received()
    deliver(container, amqp_uri, event)
    deliver(container, amqp_uri, event)
    send_due(base_url, MORNING + timedelta(minutes=1))
    send_due(base_url, MORNING + timedelta(minutes=2))
    assert len(smtp.to("zhang@firm.cn")) == 1
    assert count(db, notifications.c.event_id == event.id) == 5  # enterprise email/sms/inbox, cadre email/inbox


def test_after_a_restart_what_was_written_is_sent_once_and_a_repeat_adds_nothing(start, amqp_uri, config, smtp,
                                                                                 db):
    first = start()  # writes, never sends (its sender is off), then stops
    event = deliver(first, amqp_uri, received())
    first.stop()
    assert count(db, notifications.c.status == "pending") == 3
    second = start(NOTIFY_SENDER=True)  # same database: sends what the first left
    wait_for(lambda: len(smtp.to("zhang@firm.cn")) == 1 and len(smtp.to("wang@example.gov.cn")) == 1,
             timeout=15, message="the two emails")
    # even with the inbox record lost, the unique key keeps one notification per recipient and channel
    with db.begin() as conn:
        conn.execute(delete(inbox).where(inbox.c.event_id == event.id))
    deliver(second, amqp_uri, event)
    wait_for(lambda: count(db, notifications.c.status == "pending") == 0, timeout=15, message="nothing pending")
    assert count(db, notifications.c.event_id == event.id) == 5
    assert len(smtp.to("zhang@firm.cn")) == 1


# ---------------------------------------------------------------- retries and failures
def test_the_gateway_failing_twice_is_retried_with_backoff_until_it_takes_the_sms(start, amqp_uri, base_url,
                                                                                   http_receiver, db):
    http_receiver.fail["/sms"] = 2
    container = start()
    deliver(container, amqp_uri, received(contact={"phone": "13700000000"}))
    t0 = MORNING + timedelta(minutes=1)
    assert send_due(base_url, t0)["errors"] == 1
    assert send_due(base_url, t0 + timedelta(seconds=30))["errors"] == 0  # not due: backoff 60 s
    assert send_due(base_url, t0 + timedelta(seconds=61))["errors"] == 1
    assert send_due(base_url, t0 + timedelta(seconds=61 + 119))["sent"] == 0  # backoff 120 s
    assert send_due(base_url, t0 + timedelta(seconds=61 + 121))["sent"] == 1
    attempts = http_receiver.at("/sms")
    assert len(attempts) == 3 and len({a["headers"]["Idempotency-Key"] for a in attempts}) == 1
    log = requests.get(f"{base_url}/api/v1/deliveries?channel=sms", headers=office()).json()
    [row] = log["items"]
    assert row["status"] == "sent" and row["attempts"] == 3 and row["recipient"] == f"enterprise:{CODE}"


def test_after_n_failures_the_notification_is_failed_and_notification_failed_is_published(
        start, amqp_uri, base_url, http_receiver, db):
    http_receiver.fail["/sms"] = 100
    tap = EventTap(amqp_uri, "notify")
    try:
        container = start()
        deliver(container, amqp_uri, received(contact={"phone": "13700000000"}))
        moment = MORNING
        for _ in range(3):
            moment += timedelta(hours=1)
            send_due(base_url, moment)
        with db.connect() as conn:
            row = conn.execute(select(notifications).where(notifications.c.channel == "sms")).one()
        assert row.status == "failed" and row.attempts == 3 and "503" in row.last_error
        [failed] = wait_for(lambda: tap.of_type("notification_failed"), 10, message="notification_failed")
        assert failed["data"]["notification_id"] == row.id and failed["data"]["attempts"] == 3
        send_due(base_url, moment + timedelta(days=1))
        assert len(http_receiver.at("/sms")) == 3
    finally:
        tap.close()


# ---------------------------------------------------------------- quiet hours
def test_sms_waits_for_the_end_of_quiet_hours_but_an_escalation_does_not(start, amqp_uri, base_url, smtp,
                                                                          http_receiver):
    container = start()
    deliver(container, amqp_uri, received(now=LATE))
    deliver(container, amqp_uri, dispatched(now=LATE))
    report = send_due(base_url, LATE + timedelta(minutes=5))
    assert report["deferred"] == 2  # the enterprise's and the tax unit's SMS
    assert http_receiver.at("/sms") == [] and len(smtp.to("tax@example.gov.cn")) == 1
    deliver(container, amqp_uri, make_event("appeal_escalated", {
        "appeal_id": APPEAL_ID, "rung": "unit_leader", "level": 1, "reason": "overdue", "unit": "tax"},
        producer="supervision", now=LATE + timedelta(minutes=10)))
    send_due(base_url, LATE + timedelta(minutes=11))
    [urgent] = http_receiver.at("/sms")
    assert "提级" in urgent["json"]["text"] and urgent["json"]["phone"] == "13800000001"
    morning = datetime(2026, 11, 21, 7, 1, tzinfo=SHANGHAI)
    assert send_due(base_url, morning)["sent"] == 1  # the tax unit's (quiet until 07:00)
    assert send_due(base_url, morning + timedelta(hours=1))["sent"] == 1  # the enterprise's (until 08:00)
    assert {r["json"]["phone"] for r in http_receiver.at("/sms")} == {"13800000001", "13700000000"}


# ---------------------------------------------------------------- policy pushes
def enterprise(code, name, district, tags, cadre=None, contact=None):
    return make_event("enterprise_updated", {
        "credit_code": code, "name": name, "district": district, "industry": "制造业", "size": "small",
        "cadre": cadre, "tags": tags, "contact": contact}, producer="intake", now=MORNING)


def test_a_policy_push_reaches_exactly_the_matching_enterprises(start, amqp_uri, base_url, smtp):
    container = start()
    tap = EventTap(amqp_uri, "notify")
    try:
        deliver(container, amqp_uri, enterprise(CODE, "甲公司", "汉台区", ["专精特新"], "王干部",
                                                {"email": "a@firm.cn"}), "on_enterprise_updated")
        deliver(container, amqp_uri, enterprise(OTHER, "乙公司", "汉台区", ["外贸"], None,
                                                {"email": "b@firm.cn"}), "on_enterprise_updated")
        deliver(container, amqp_uri, enterprise(THIRD, "丙公司", "南郑区", ["专精特新"], "李干部",
                                                {"phone": "13700000003"}), "on_enterprise_updated")
        response = requests.post(f"{base_url}/api/v1/policy-pushes", headers=office(MORNING), json={
            "title": "稳岗补贴申报通知", "body": "符合条件的企业请于月底前申报稳岗补贴。",
            "targets": {"tags": ["专精特新"], "paired": True}})
        assert response.status_code == 201, response.text
        body = response.json()
        assert sorted(body["enterprises"]) == sorted([CODE, THIRD])
        assert body["reached"] == {"email": 1, "sms": 1, "inbox": 2}
        send_due(base_url, MORNING + timedelta(minutes=1))
        [mail] = smtp.to("a@firm.cn")
        assert mail["Subject"] == "【政策推送】稳岗补贴申报通知" and "稳岗补贴" in mail.get_content()
        assert smtp.to("b@firm.cn") == []
        inbox_of = lambda code: requests.get(f"{base_url}/api/v1/inbox?credit_code={code}",  # noqa: E731
                                             headers=office()).json()["total"]
        assert (inbox_of(CODE), inbox_of(OTHER), inbox_of(THIRD)) == (1, 0, 1)
        [pushed] = wait_for(lambda: tap.of_type("policy_pushed"), 10, message="policy_pushed")
        assert pushed["data"]["reached"] == {"email": 1, "sms": 1, "inbox": 2}
    finally:
        tap.close()


def test_an_invalid_push_is_refused_and_reaches_no_one(start, base_url, db):
    start()
    response = requests.post(f"{base_url}/api/v1/policy-pushes", headers=office(), json={
        "title": "", "targets": {"paired": "perhaps"}})
    assert response.status_code == 400
    assert set(response.json()["fields"]) >= {"title", "body", "targets"}
    assert count(db) == 0


def test_only_the_office_reads_the_delivery_log(start, base_url):
    start()
    response = requests.get(f"{base_url}/api/v1/deliveries", headers={"Authorization": "Bearer t-unit-tax"})
    assert response.status_code == 403


def test_every_other_event_reaches_its_parties_in_chinese(start, amqp_uri, base_url, smtp):
    container = start()
    deliver(container, amqp_uri, received())
    deliver(container, amqp_uri, dispatched())
    for event in (
        make_event("appeal_accepted", {"appeal_id": APPEAL_ID, "unit": "tax"}, producer="dispatch", now=MORNING),
        make_event("appeal_reopened", {"appeal_id": APPEAL_ID, "reason": "企业不满意", "reopen_count": 1,
                                       "unit": "tax"}, producer="assessment", now=MORNING),
        make_event("supervision_order_issued", {"appeal_id": APPEAL_ID, "order_id": "DB-7", "unit": "tax",
                                                "due_at": MORNING + timedelta(days=3), "text": "请三日内办结"},
                   producer="supervision", now=MORNING),
        make_event("weekly_digest_ready", {"recipient": "tax", "period": "2026-W47",
                                           "items": [{"appeal_id": APPEAL_ID, "title": "用工难"}]},
                   producer="supervision", now=MORNING),
        make_event("appeal_closed", {"appeal_id": APPEAL_ID, "outcome": "solved", "satisfaction": "满意",
                                     "unit": "tax"}, producer="assessment", now=MORNING),
        make_event("report_published", {"report": "monthly", "period": "2026-11",
                                        "links": {"月度通报": "https://suqiu.example/r/2026-11"}},
                   producer="assessment", now=MORNING),
        make_event("unit_flagged", {"unit": "tax", "period": "2026-11", "satisfaction_rate": 0.72,
                                    "threshold": 0.8}, producer="assessment", now=MORNING),
    ):
        deliver(container, amqp_uri, event)
    send_due(base_url, MORNING + timedelta(minutes=1))
    subjects = lambda address: {m["Subject"]: m.get_content() for m in smtp.to(address)}  # noqa: E731
    firm = subjects("zhang@firm.cn")
    assert "市税务局签收办理" in firm["【诉求已签收】用工难"]
    assert "已解决，评价：满意" in firm["【诉求已办结】用工难"]
    tax = subjects("tax@example.gov.cn")
    assert "第1次退回重办" in tax["【诉求重办】汉中测试有限公司：用工难"]
    assert "请三日内办结" in tax["【督办单】汉中测试有限公司：用工难"]
    assert "1件诉求" in tax["【每周提醒】2026-W47 诉求办理情况"]
    assert "https://suqiu.example/r/2026-11" in subjects("leader.city@example.gov.cn")["【月度通报已发布】2026-11"]
    assert "满意率为72.0%，低于80.0%" in subjects("tax.lead@example.gov.cn")["【限期整改】市税务局（2026-11）"]
    assert "请限期整改" in tax["【限期整改】市税务局（2026-11）"]


def test_a_burst_is_held_to_the_channels_rate_limit(start, amqp_uri, base_url, profile, http_receiver):
    part = yaml.safe_load((profile / "notify.yaml").read_text(encoding="utf-8"))
    part["rate_limits"] = {"sms": {"rate": 0.01, "burst": 2}}
    (profile / "notify.yaml").write_text(yaml.safe_dump(part, allow_unicode=True), encoding="utf-8")
    container = start()
    for number in range(3):
        deliver(container, amqp_uri, received(appeal_id=f"SQ20261120-{number:010d}",
                                              contact={"phone": f"1370000000{number}"}))
    report = send_due(base_url, MORNING + timedelta(minutes=1))
    assert report["sent"] == 5  # the burst of two SMS and the cadre's three emails, which are not limited
    assert len(http_receiver.at("/sms")) == 2
    # the third SMS waits for the rate: a channel claims no more rows than it has tokens
    again = send_due(base_url, MORNING + timedelta(minutes=1))
    assert (again["sent"], again["rate_limited"]) == (0, 0) and len(http_receiver.at("/sms")) == 2
    metrics = requests.get(f"{base_url}/metrics").text
    assert 'suqiu_notifications_total{channel="sms",result="sent"}' in metrics
    assert "suqiu_notification_send_seconds_bucket" in metrics


def test_an_exhausted_channel_does_not_hold_back_the_others_in_the_batch(start, amqp_uri, base_url, profile,
                                                                          http_receiver, smtp):
    part = yaml.safe_load((profile / "notify.yaml").read_text(encoding="utf-8"))
    part["rate_limits"] = {"sms": {"rate": 0.01, "burst": 1}}
    (profile / "notify.yaml").write_text(yaml.safe_dump(part, allow_unicode=True), encoding="utf-8")
    container = start()
    for number in range(3):  # each: an SMS and an email to the enterprise, an email to the cadre
        deliver(container, amqp_uri, received(appeal_id=f"SQ20261120-{number:010d}",
                                              contact={"phone": f"1370000000{number}", "email": f"e{number}@firm.cn"}))

    def send(limit):
        return requests.post(f"{base_url}/api/v1/send-due", headers=office(), json={
            "now": (MORNING + timedelta(minutes=1)).isoformat(), "limit": limit}).json()

    first = send(100)
    # one SMS and the six emails; the two other SMS wait, not even claimed (the channel had one token)
    assert (first["sent"], first["rate_limited"]) == (7, 0)
    deliver(container, amqp_uri, received(now=MORNING + timedelta(seconds=30), appeal_id="SQ20261120-0000000009",
                                          contact={"phone": "13700000009", "email": "e9@firm.cn"}))
    # the two waiting SMS are due first, but a channel over its rate takes no place in a batch
    second = send(2)
    assert (second["sent"], second["rate_limited"]) == (2, 0)
    assert len(http_receiver.at("/sms")) == 1 and len(smtp.messages) == 8


def test_a_send_recorded_before_a_crash_is_settled_without_sending_it_again(start, amqp_uri, base_url, smtp, db):
    container = start()
    deliver(container, amqp_uri, received())
    with db.connect() as conn:
        email = conn.execute(select(notifications.c.id).where(notifications.c.address == "zhang@firm.cn",
                                                              notifications.c.channel == "email")).scalar_one()
    with db.begin() as conn:  # the sender took it to the SMTP server and died before settling the pass
        conn.execute(receipts.insert().values(notification_id=email, sent_at=MORNING))
    report = send_due(base_url, MORNING + timedelta(minutes=1))
    assert report["sent"] == 2  # the cadre's email and the enterprise's SMS; not the enterprise's email
    assert smtp.to("zhang@firm.cn") == []
    with db.connect() as conn:
        row = conn.execute(select(notifications).where(notifications.c.id == email)).one()
        left = conn.execute(select(func.count()).select_from(receipts)).scalar_one()
    assert (row.status, row.sent_at, left) == ("sent", MORNING, 0)


def test_a_unit_reads_only_its_own_inbox(start, base_url):
    start()
    tax = {"Authorization": "Bearer t-unit-tax"}
    assert requests.get(f"{base_url}/api/v1/inbox?credit_code={CODE}", headers=tax).status_code == 403
    assert requests.get(f"{base_url}/api/v1/inbox", headers=tax).json()["total"] == 0
    spec = requests.get(f"{base_url}/openapi.json").json()
    assert {"/api/v1/policy-pushes", "/api/v1/deliveries", "/api/v1/inbox", "/api/v1/send-due"} <= set(spec["paths"])


# ---------------------------------------------------------------- warnings before a deadline
def deadline_set(now, colour, due_at, stage="reply"):
    return make_event("appeal_deadline_set", {"appeal_id": APPEAL_ID, "stage": stage, "due_at": due_at,
                                              "working_days": 6, "unit": "tax", "colour": colour},
                      producer="supervision", now=now)


def colour_changed(now, colour, previous):
    return make_event("appeal_colour_changed", {"appeal_id": APPEAL_ID, "colour": colour, "previous": previous,
                                                "unit": "tax", "stage": "reply"}, producer="supervision", now=now)


def test_yellow_warns_the_lead_unit_and_red_the_unit_and_its_leader_once_each(start, amqp_uri, base_url, smtp,
                                                                              http_receiver):
    container = start()
    due = datetime(2026, 11, 28, 0, 0, tzinfo=SHANGHAI).astimezone(UTC)
    deliver(container, amqp_uri, received())
    deliver(container, amqp_uri, dispatched())
    deliver(container, amqp_uri, deadline_set(MORNING, "green", due))
    send_due(base_url, MORNING + timedelta(minutes=1))
    assert not [m for m in smtp.to("tax@example.gov.cn") if "预警" in m["Subject"]]
    deliver(container, amqp_uri, colour_changed(MORNING + timedelta(days=3), "yellow", "green"))
    # the clock paused and resumed while yellow: its new deadline carries yellow again, nobody hears it twice
    deliver(container, amqp_uri, deadline_set(MORNING + timedelta(days=4), "yellow", due + timedelta(days=1)))
    send_due(base_url, MORNING + timedelta(days=4, minutes=1))
    warned = [m for m in smtp.to("tax@example.gov.cn") if "预警" in m["Subject"]]
    assert [m["Subject"] for m in warned] == ["【黄色预警：临近期限】汉中测试有限公司：用工难"]
    assert "2026-11-28 00:00前" in warned[0].get_content()  # the deadline, in Shanghai time
    assert not [m for m in smtp.to("tax.lead@example.gov.cn") if "预警" in m["Subject"]]
    # red at 23:00 Shanghai: the email and the robot go at once, the SMS waits for the end of the quiet hours
    late = datetime(2026, 11, 29, 23, 0, tzinfo=SHANGHAI).astimezone(UTC)
    deliver(container, amqp_uri, colour_changed(late, "red", "yellow"))
    send_due(base_url, late + timedelta(minutes=1))
    red = [m["Subject"] for m in smtp.to("tax@example.gov.cn") if "红色预警" in m["Subject"]]
    assert red == ["【红色预警：已超期】汉中测试有限公司：用工难"]
    [leader] = [m for m in smtp.to("tax.lead@example.gov.cn") if "预警" in m["Subject"]]
    assert "市税务局承办的诉求" in leader.get_content()
    sms = [r for r in http_receiver.at("/sms") if "红色预警" in r["json"]["text"]]
    assert sms == []
    send_due(base_url, datetime(2026, 11, 30, 7, 1, tzinfo=SHANGHAI).astimezone(UTC))
    assert len([r for r in http_receiver.at("/sms") if "红色预警" in r["json"]["text"]]) == 1


def test_the_weekly_reminder_lists_each_units_red_and_yellow_items_with_titles(start, amqp_uri, base_url, smtp):
    container = start()
    deliver(container, amqp_uri, received())
    deliver(container, amqp_uri, dispatched())
    deliver(container, amqp_uri, make_event("weekly_digest_ready", {"recipient": "tax", "period": "2026-W48", "items": [
        {"appeal_id": APPEAL_ID, "colour": "red", "due_at": "2026-11-20T16:00:00+00:00", "status": "accepted"},
        {"appeal_id": "SQ20261120-0000000009", "colour": "green", "due_at": "2026-11-30T16:00:00+00:00"}]},
        producer="supervision", now=MORNING))
    send_due(base_url, MORNING + timedelta(minutes=1))
    [mail] = [m for m in smtp.to("tax@example.gov.cn") if m["Subject"] == "【每周提醒】2026-W48 诉求办理情况"]
    body = mail.get_content()
    assert "2件诉求在办，其中已超期1件、临近期限0件" in body
    assert f"{APPEAL_ID} 用工难 期限 2026-11-21 00:00" in body and "其余1件正常办理中" in body
