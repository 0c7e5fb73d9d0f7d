"""The answer goes back where the appeal came from: a platform, played by a plain AMQP client.

The platform (a 12345 hotline) publishes an appeal to ``upstream.events`` and listens on a
queue of its own bound to its exchange (``intake.yaml``); the acceptance, the reply and the
closing of that appeal come back there with its ``external_id``, through intake's outbox. An
appeal a cadre entered goes back nowhere.
"""
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from kombu import Connection, Exchange, Producer, Queue
from sqlalchemy import select

from services.intake.models import appeals, outbox
from services.intake.service import IntakeService
from shared.events import PlatformFeedbackV1, make_event
from shared.profile import DEFAULT_PROFILE
from shared.testing import count_rows as count
from shared.testing import wait_for
from shared.topology import events_exchange

pytestmark = pytest.mark.integration

EXCHANGE = "platform.test-hotline"
APPEAL = {"credit_code": "91350100M000100Y43", "enterprise_name": "测试公司", "title": "用工难",
          "description": "招不到熟练工", "district": "汉台区", "channel": "hotline", "external_id": "12345-0001",
          "collected_at": "2026-11-20T10:00:00+08:00"}
AT = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def profile(tmp_path) -> Path:
    for part in ("units.yaml", "dispatch.yaml"):
        shutil.copy(DEFAULT_PROFILE / part, tmp_path / part)
    (tmp_path / "intake.yaml").write_text(f"""
platforms:
  - name: hotline-12345
    match: {{channels: [hotline]}}
    exchange: {EXCHANGE}
    routing_keys: {{accepted: suqiu.accepted, replied: suqiu.replied, closed: suqiu.closed}}
""", encoding="utf-8")
    return tmp_path


@pytest.fixture
def intake(container_factory, service_config, profile):
    container = container_factory(IntakeService, {**service_config, "PROFILE_DIR": str(profile)})
    container.start()
    return container


@pytest.fixture
def platform(intake, amqp_uri):
    """The platform's own queue on its exchange (which intake declared at start)."""
    with Connection(amqp_uri) as connection:
        queue = Queue("hotline-inbox", Exchange(EXCHANGE, type="topic", durable=True), routing_key="suqiu.#",
                      durable=True)(connection.channel())
        queue.declare()
        yield queue


def offer(amqp_uri: str, appeal: dict) -> None:
    with Connection(amqp_uri) as connection:
        Producer(connection.channel()).publish(appeal, exchange=Exchange("upstream.events", type="topic"),
                                               routing_key="appeal_submitted", serializer="json",
                                               message_id=f"hotline-{appeal['external_id']}")


def fact(amqp_uri: str, event_type: str, producer: str, data: dict) -> None:
    event = make_event(event_type, data, producer=producer, now=AT)
    with Connection(amqp_uri) as connection:
        Producer(connection.channel()).publish(event.to_message(), exchange=events_exchange(producer),
                                               routing_key=event_type, serializer="json", message_id=event.id)


def the_loop(amqp_uri: str, appeal_id: str) -> None:
    fact(amqp_uri, "appeal_accepted", "dispatch", {"appeal_id": appeal_id, "unit": "hrss"})
    fact(amqp_uri, "appeal_replied", "dispatch", {"appeal_id": appeal_id, "unit": "hrss", "outcome": "solved",
                                                  "reply_text": "已推荐 12 名熟练工"})
    fact(amqp_uri, "appeal_closed", "assessment", {"appeal_id": appeal_id, "outcome": "solved",
                                                   "satisfaction": "满意", "unit": "hrss"})


def appeal_id(db, external_id: str) -> str:
    def found():
        with db.connect() as connection:
            return connection.execute(select(appeals.c.id).where(appeals.c.external_id == external_id)).scalar()
    return wait_for(found, 15, message=f"the appeal {external_id}")


def drain(queue, expected: int, timeout: float = 20) -> list:
    got = []

    def enough():
        while (message := queue.get(no_ack=True)) is not None:
            got.append(message)
        return len(got) >= expected
    wait_for(enough, timeout, message=f"{expected} messages on the platform's queue")
    return got


def test_acceptance_reply_and_closing_go_back_to_the_platform_with_its_external_id(intake, platform, amqp_uri, db):
    offer(amqp_uri, APPEAL)
    the_loop(amqp_uri, appeal_id(db, "12345-0001"))
    messages = drain(platform, 3)
    bodies = [json.loads(m.body) for m in messages]
    assert [m.delivery_info["routing_key"] for m in messages] == ["suqiu.accepted", "suqiu.replied", "suqiu.closed"]
    assert [(b["data"]["external_id"], b["data"]["stage"], b["type"], b["subject"]) for b in bodies] == [
        ("12345-0001", stage, "appeal_feedback", "12345-0001") for stage in ("accepted", "replied", "closed")]
    assert (bodies[1]["data"]["reply_text"], bodies[2]["data"]["satisfaction"]) == ("已推荐 12 名熟练工", "满意")
    assert all(not PlatformFeedbackV1().validate(b["data"]) for b in bodies)
    assert [m.properties["message_id"] for m in messages] == [b["id"] for b in bodies]


def test_an_appeal_no_platform_sent_goes_back_nowhere(intake, platform, amqp_uri, db):
    offer(amqp_uri, {**APPEAL, "channel": "visit", "external_id": "VISIT-1"})
    the_loop(amqp_uri, appeal_id(db, "VISIT-1"))
    offer(amqp_uri, APPEAL)  # a second appeal, from the platform, to know the first has been dealt with
    fact(amqp_uri, "appeal_accepted", "dispatch", {"appeal_id": appeal_id(db, "12345-0001"), "unit": "hrss"})
    [message] = drain(platform, 1)
    assert json.loads(message.body)["data"]["external_id"] == "12345-0001"
    assert count(db, outbox, outbox.c.event_type == "appeal_feedback") == 1


def test_a_redelivered_reply_goes_back_once(intake, platform, amqp_uri, db):
    offer(amqp_uri, APPEAL)
    event = make_event("appeal_replied", {"appeal_id": appeal_id(db, "12345-0001"), "unit": "hrss",
                                          "outcome": "explained", "reply_text": "政策暂不支持，已解释"},
                       producer="dispatch", now=AT)
    with Connection(amqp_uri) as connection:
        for _ in range(2):
            Producer(connection.channel()).publish(event.to_message(), exchange=events_exchange("dispatch"),
                                                   routing_key="appeal_replied", serializer="json",
                                                   message_id=event.id)
    fact(amqp_uri, "appeal_accepted", "dispatch", {"appeal_id": appeal_id(db, "12345-0001"), "unit": "hrss"})
    messages = drain(platform, 2)
    assert [json.loads(m.body)["data"]["stage"] for m in messages] == ["replied", "accepted"]
    assert count(db, outbox, outbox.c.event_type == "appeal_feedback") == 2
