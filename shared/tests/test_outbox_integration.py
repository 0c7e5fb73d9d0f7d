"""The outbox relay on the real broker and PostgreSQL."""
import time
from datetime import datetime, timedelta, timezone

import pytest
from kombu import Connection, Queue
from sqlalchemy import MetaData, select

from shared.db import make_engine
from shared.events import make_event
from shared.outbox import OutboxPublisher, add_event, messaging_tables, relay_batch
from shared.topology import events_exchange

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)


def received(n: int):
    data = {"appeal_id": f"SQ{n}", "credit_code": "91350100M000100Y43", "enterprise_name": "测试公司",
            "title": "t", "description": "d", "district": "甲区", "channel": "visit",
            "collected_at": NOW, "submitted_at": NOW}
    return make_event("appeal_received", data, producer="intake", now=NOW)


@pytest.fixture
def store(database_url):
    metadata = MetaData()
    outbox, _inbox = messaging_tables(metadata)
    engine = make_engine(database_url)
    metadata.create_all(engine)
    yield engine, outbox
    engine.dispose()


@pytest.fixture
def publisher(amqp_uri):
    with Connection(amqp_uri) as conn:
        events_exchange("intake")(conn.channel()).declare()
    publisher = OutboxPublisher(amqp_uri)
    yield publisher
    publisher.close()


def fill(engine, outbox, count: int) -> None:
    from sqlalchemy.orm import Session

    with Session(engine) as session, session.begin():
        for n in range(count):
            add_event(session, outbox, received(n))


def bind_queue(amqp_uri: str) -> Queue:
    with Connection(amqp_uri) as conn:
        queue = Queue("sink", exchange=events_exchange("intake"), routing_key="#", durable=True)
        queue(conn.channel()).declare()
    return queue


def queued(amqp_uri: str) -> int:
    with Connection(amqp_uri) as conn:
        return Queue("sink")(conn.channel()).queue_declare(passive=True).message_count


def test_an_event_no_queue_takes_stays_in_the_outbox_with_the_reason(store, publisher):
    engine, outbox = store
    fill(engine, outbox, 1)
    assert relay_batch(engine, outbox, publisher, service="intake") == 0
    with engine.connect() as conn:
        row = conn.execute(select(outbox)).one()
    assert row.sent_at is None and "unroutable" in row.last_error and row.available_at > row.created_at


def test_it_is_published_once_a_queue_is_bound(store, publisher, amqp_uri):
    engine, outbox = store
    fill(engine, outbox, 1)
    relay_batch(engine, outbox, publisher, service="intake")
    bind_queue(amqp_uri)
    later = datetime.now(timezone.utc) + timedelta(minutes=10)
    assert relay_batch(engine, outbox, publisher, service="intake", now=later) == 1
    assert queued(amqp_uri) == 1


def test_a_batch_is_confirmed_and_marked_sent_in_one_go(store, publisher, amqp_uri):
    engine, outbox = store
    bind_queue(amqp_uri)
    fill(engine, outbox, 250)
    sent = [relay_batch(engine, outbox, publisher, service="intake", batch_size=100) for _ in range(4)]
    assert sent == [100, 100, 50, 0]
    assert queued(amqp_uri) == 250
    with engine.connect() as conn:
        assert conn.execute(select(outbox.c.id).where(outbox.c.sent_at.is_(None))).all() == []


def test_a_broken_connection_leaves_the_batch_unsent(store, amqp_uri):
    engine, outbox = store
    fill(engine, outbox, 3)
    broken = OutboxPublisher(amqp_uri.rsplit("/", 1)[0] + "/no-such-vhost")
    with pytest.raises(Exception):  # noqa: B017 - whatever the broker answers, nothing is marked sent
        relay_batch(engine, outbox, broken, service="intake")
    with engine.connect() as conn:
        assert len(conn.execute(select(outbox.c.id).where(outbox.c.sent_at.is_(None))).all()) == 3


def test_the_relay_publishes_right_after_a_commit_it_hears_of_not_at_its_next_poll(
        store, amqp_uri, database_url, container_factory):
    """A commit that writes outbox rows NOTIFYs (the trigger of each service's migrations);
    the relay, polling only once a minute here, publishes within moments."""
    from shared.db import Database
    from shared.outbox import OutboxRelay, install_notify_trigger

    engine, outbox = store
    with engine.begin() as conn:
        install_notify_trigger(conn)
    bind_queue(amqp_uri)
    service = type("RelayOnly", (), {"name": "intake", "db": Database("intake"), "relay": OutboxRelay(outbox)})
    container = container_factory(service, {"AMQP_URI": amqp_uri, "DATABASE_URL": database_url,
                                            "DB_MIGRATE": False, "OUTBOX_POLL_SECONDS": 60})
    container.start()
    import eventlet

    eventlet.sleep(0.5)  # the first (empty) pass and the LISTEN
    started = time.monotonic()
    fill(engine, outbox, 3)  # another connection than the service's: only the NOTIFY can tell it
    while queued(amqp_uri) < 3 and time.monotonic() - started < 10:
        eventlet.sleep(0.02)
    assert queued(amqp_uri) == 3
    assert time.monotonic() - started < 2
