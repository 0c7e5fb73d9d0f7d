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


def held(engine, outbox, count: int, hold: float = 30, events: list | None = None):
    from shared.outbox import write_handed

    with engine.begin() as conn:
        return write_handed(conn, outbox, events or [received(n) for n in range(count)],
                            datetime.now(timezone.utc), hold)


def test_a_held_row_is_left_to_its_writer_until_its_hold_is_over(store, publisher, amqp_uri):
    """What a unit of work hands to its own relay: no pass claims it for ``hold`` seconds (so it
    is not published twice), after that any pass does (its writer died before publishing)."""
    engine, outbox = store
    bind_queue(amqp_uri)
    events = [received(n) for n in range(3)]
    rows = held(engine, outbox, 3, hold=30, events=events)
    assert [row.event_id for row in rows] == [event.id for event in events]  # in order
    assert relay_batch(engine, outbox, publisher, service="intake") == 0
    assert relay_batch(engine, outbox, publisher, service="intake",
                       now=datetime.now(timezone.utc) + timedelta(seconds=31)) == 3
    assert queued(amqp_uri) == 3


def test_only_rows_available_at_once_notify_the_relays(store):
    """The migrations' trigger: a held row wakes no relay (its writer's relay publishes it),
    a row written available at once (an HTTP worker's, the tick's) does, once per commit."""
    import select as select_module

    from shared.outbox import NOTIFY_CHANNEL, install_notify_trigger

    engine, outbox = store
    with engine.begin() as conn:
        install_notify_trigger(conn)
    raw = engine.raw_connection()
    listener = raw.driver_connection
    listener.autocommit = True
    listener.cursor().execute(f"LISTEN {NOTIFY_CHANNEL}")

    def notified() -> int:
        select_module.select([listener], [], [], 0.3)
        listener.poll()
        count = len(listener.notifies)
        listener.notifies.clear()
        return count

    try:
        held(engine, outbox, 2)
        assert notified() == 0
        fill(engine, outbox, 3)
        assert notified() == 1
    finally:
        raw.close()


def test_a_handed_batch_the_broker_does_not_confirm_is_made_available_at_once(store, publisher, amqp_uri):
    """Its writer's relay could not publish it: the next pass (after the back-off) may take it
    at once rather than after the hold."""
    from types import SimpleNamespace

    from shared.outbox import OutboxRelay

    engine, outbox = store
    rows = held(engine, outbox, 2)
    relay = OutboxRelay(outbox)
    relay.engine, relay.container = engine, SimpleNamespace(service_name="intake")
    relay.publisher = OutboxPublisher(amqp_uri.rsplit("/", 1)[0] + "/no-such-vhost")
    relay.hand_over(rows)
    with pytest.raises(Exception):  # noqa: B017 - whatever the broker answers, nothing is marked sent
        relay._publish_handed()
    with engine.connect() as conn:
        found = conn.execute(select(outbox.c.available_at, outbox.c.created_at, outbox.c.sent_at)).all()
    assert len(found) == 2
    assert all(row.sent_at is None and row.available_at - row.created_at < timedelta(seconds=30) for row in found)
    assert relay_batch(engine, outbox, publisher, service="intake") == 0  # taken at once: unroutable, no sink
    with engine.connect() as conn:
        assert all("unroutable" in row.last_error for row in conn.execute(select(outbox.c.last_error)))


def test_rows_handed_over_are_published_at_once_and_marked_sent_together(
        store, amqp_uri, database_url, container_factory):
    """The unit of work's path: no NOTIFY (held rows send none), no pass (the poll is a
    minute away), yet the relay of the process publishes them at once, then marks them sent in
    one statement after ``OUTBOX_MARK_MS``."""
    import eventlet

    from shared.db import Database
    from shared.outbox import OutboxRelay, install_notify_trigger, relay_of

    engine, outbox = store
    with engine.begin() as conn:
        install_notify_trigger(conn)
    bind_queue(amqp_uri)
    service = type("RelayOnly", (), {"name": "intake", "db": Database("intake"), "relay": OutboxRelay(outbox)})
    container = container_factory(service, {"AMQP_URI": amqp_uri, "DATABASE_URL": database_url,
                                            "DB_MIGRATE": False, "OUTBOX_POLL_SECONDS": 60, "OUTBOX_MARK_MS": 300})
    container.start()
    eventlet.sleep(0.5)  # the first (empty) pass and the LISTEN
    relay = relay_of(container)
    assert relay.takes_handoff
    rows = held(engine, outbox, 3, hold=relay.hold)
    started = time.monotonic()
    relay.hand_over(rows)
    while queued(amqp_uri) < 3 and time.monotonic() - started < 10:
        eventlet.sleep(0.02)
    assert queued(amqp_uri) == 3
    assert time.monotonic() - started < 2

    def unsent() -> int:
        with engine.connect() as conn:
            return len(conn.execute(select(outbox.c.id).where(outbox.c.sent_at.is_(None))).all())

    while unsent() and time.monotonic() - started < 10:
        eventlet.sleep(0.05)
    assert unsent() == 0
    with engine.connect() as conn:
        assert {row.attempts for row in conn.execute(select(outbox.c.attempts))} == {1}
    assert queued(amqp_uri) == 3  # and nothing published twice
