"""Reliable consumers on the real broker: bounded delayed retry, dead-lettering, replay."""
from datetime import datetime, timezone

import pytest
from kombu import Connection, Producer, Queue

from shared import topology
from shared.consumers import event_handler
from shared.dlq import replay
from shared.events import make_event
from shared.testing import wait_for
from shared.topology import Subscription, events_exchange

pytestmark = pytest.mark.integration

SUB = Subscription("probe", "on_received", "intake", "appeal_received")
NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)
DATA = {"appeal_id": "SQ1", "credit_code": "91350100M000100Y43", "enterprise_name": "测试公司", "title": "t",
        "description": "d", "district": "甲区", "channel": "visit", "collected_at": NOW, "submitted_at": NOW}


class Behaviour:
    failures_left = 0
    seen: list = []


class ProbeService:
    name = "probe"

    @event_handler("intake", "appeal_received")
    def on_received(self, event):
        if Behaviour.failures_left:
            Behaviour.failures_left -= 1
            raise RuntimeError("database briefly away")
        Behaviour.seen.append(event.id)


@pytest.fixture
def probe(monkeypatch, container_factory, amqp_uri):
    monkeypatch.setenv("SUQIU_RETRY_DELAY_MS", "200")
    monkeypatch.setenv("SUQIU_MAX_RETRIES", "2")
    monkeypatch.setattr(topology, "SUBSCRIPTIONS", [*topology.SUBSCRIPTIONS, SUB])
    Behaviour.failures_left, Behaviour.seen = 0, []
    with Connection(amqp_uri) as conn:
        topology.declare_all(conn)
    container = container_factory(ProbeService, {"AMQP_URI": amqp_uri})
    container.start()
    return container


def publish(amqp_uri: str) -> str:
    event = make_event("appeal_received", DATA, producer="intake", now=NOW)
    with Connection(amqp_uri) as conn:
        Producer(conn.channel()).publish(event.to_message(), exchange=events_exchange("intake"),
                                         routing_key="appeal_received", serializer="json", delivery_mode=2,
                                         message_id=event.id)
    return event.id


def parked_count(amqp_uri: str) -> int:
    with Connection(amqp_uri) as conn:
        return Queue(f"{SUB.queue_name}.dlq")(conn.channel()).queue_declare(passive=True).message_count


def test_a_failing_handler_is_retried_after_a_delay_until_it_succeeds(probe, amqp_uri):
    Behaviour.failures_left = 2
    event_id = publish(amqp_uri)
    wait_for(lambda: Behaviour.seen, timeout=10, message="the third attempt")
    assert Behaviour.seen == [event_id]
    assert parked_count(amqp_uri) == 0


def test_a_handler_that_keeps_failing_is_parked_with_its_reason_and_replayable(probe, amqp_uri):
    Behaviour.failures_left = 3  # one more than the two retries
    event_id = publish(amqp_uri)
    wait_for(lambda: parked_count(amqp_uri) == 1, timeout=10, message="the message parked")
    assert Behaviour.seen == []
    with Connection(amqp_uri) as conn:
        message = Queue(f"{SUB.queue_name}.dlq")(conn.channel()).get(no_ack=False)
        assert "failed 3 times" in message.headers["x-suqiu-reason"]
        assert "database briefly away" in message.headers["x-suqiu-reason"]
        message.requeue()
    with Connection(amqp_uri) as conn:  # fixed: replay it
        assert replay(conn, SUB.queue_name) == 1
    wait_for(lambda: Behaviour.seen, timeout=10, message="the replayed message")
    assert Behaviour.seen == [event_id]
