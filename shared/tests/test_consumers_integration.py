"""The unit of work on the real broker and PostgreSQL: batches, the inbox, the outbox in the
same transaction, in halves down to the failing message after a failure, delayed retries, parking, replay,
and a database connection dropped under it.

A probe service of the test's own consumes ``intake``'s ``appeal_received``: for each event it
writes a row of its own table and puts an ``appeal_dispatched`` into its outbox (so it is
named ``dispatch``, on a vhost and database of the test's own); what fails is set per test
through :class:`Behaviour`.
"""
from datetime import datetime, timezone
from typing import Any

import pytest
from eventlet.event import Event as GreenEvent
from kombu import Connection, Producer, Queue
from prometheus_client import REGISTRY
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, text

from shared import dlq
from shared.consumers import Batch, ConsumerHub, NotKnownYet, consume
from shared.db import Database, make_engine
from shared.errors import InvalidInput
from shared.events import make_event
from shared.outbox import OutboxRelay, install_notify_trigger, messaging_tables
from shared.testing import EventTap, settled, wait_for
from shared.topology import dead_letter_queue, events_exchange, service_queue_name

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 23, tzinfo=timezone.utc)
metadata = MetaData()
outbox, inbox = messaging_tables(metadata)
applied = Table("applied", metadata,
                Column("id", Integer, primary_key=True, autoincrement=True),
                Column("event_id", String(64), nullable=False),
                Column("appeal_id", String(32), nullable=False),
                Column("batch_size", Integer, nullable=False))


class Behaviour:
    fail_for: dict[str, int] = {}  # appeal id -> how many more times its handler raises
    refuse: set[str] = set()  # appeal ids whose handler raises a DomainError (never appliable)
    unknown: set[str] = set()  # appeal ids the handler does not know yet
    calls: list[list[str]] = []  # the appeal ids of each handler call
    gate: Any = None  # an eventlet Event the handler waits on, when set


class ProbeService:
    name = "dispatch"

    db = Database("probe")
    relay = OutboxRelay(outbox)

    @consume("intake", "appeal_received")
    def on_received(self, batch: Batch):
        ids = [event.data["appeal_id"] for event in batch.events]
        Behaviour.calls.append(ids)
        if Behaviour.gate is not None:
            Behaviour.gate.wait()
        for appeal_id in ids:
            if Behaviour.fail_for.get(appeal_id, 0) > 0:
                Behaviour.fail_for[appeal_id] -= 1
                raise RuntimeError(f"database briefly away for {appeal_id}")
            if appeal_id in Behaviour.refuse:
                raise InvalidInput(f"{appeal_id} can never be applied", {"appeal_id": ["refused"]})
            if appeal_id in Behaviour.unknown:
                raise NotKnownYet(f"{appeal_id} not known yet")
        batch.connection.execute(insert(applied), [
            {"event_id": event.id, "appeal_id": event.data["appeal_id"], "batch_size": len(batch.events)}
            for event in batch.events])
        for event in batch.events:
            batch.publish(make_event("appeal_dispatched", {
                "appeal_id": event.data["appeal_id"], "lead_unit": "hrss", "category": "用工", "difficulty": "B",
                "level": "city"}, producer="dispatch", now=event.time))


@pytest.fixture
def probe(monkeypatch, container_factory, amqp_uri, database_url):
    yield from _probe(monkeypatch, container_factory, amqp_uri, database_url, wait_ms=50)


@pytest.fixture
def probe_without_wait(monkeypatch, container_factory, amqp_uri, database_url):
    """As intake and dispatch run: a batch is what came with the first message, no wait for more."""
    yield from _probe(monkeypatch, container_factory, amqp_uri, database_url, wait_ms=0)


def _probe(monkeypatch, container_factory, amqp_uri, database_url, wait_ms: int):
    monkeypatch.setenv("SUQIU_RETRY_DELAY_MS", "200")
    monkeypatch.setenv("SUQIU_MAX_RETRIES", "2")
    Behaviour.fail_for, Behaviour.refuse, Behaviour.unknown, Behaviour.calls = {}, set(), set(), []
    Behaviour.gate = None
    engine = make_engine(database_url)
    metadata.create_all(engine)
    with engine.begin() as connection:
        install_notify_trigger(connection)  # as the services' migrations do: each commit wakes the relay
    tap = EventTap(amqp_uri, "dispatch")
    container = container_factory(ProbeService, {
        "AMQP_URI": amqp_uri, "DATABASE_URL": database_url, "DB_MIGRATE": False, "OUTBOX_POLL_SECONDS": 30,
        "CONSUMER_BATCH_WAIT_MS": wait_ms})
    yield container, engine, tap
    tap.close()
    engine.dispose()


def received(appeal_id: str):
    return make_event("appeal_received", {
        "appeal_id": appeal_id, "credit_code": "91350100M000100Y43", "enterprise_name": "测试公司", "title": "t",
        "description": "d", "district": "甲区", "channel": "visit", "collected_at": NOW, "submitted_at": NOW},
        producer="intake", now=NOW)


def publish(amqp_uri: str, *events) -> list:
    with Connection(amqp_uri) as conn:
        producer = Producer(conn.channel())
        for event in events:
            producer.publish(event.to_message(), exchange=events_exchange("intake"), routing_key="appeal_received",
                             serializer="json", delivery_mode=2, message_id=event.id)
    return list(events)


def applied_ids(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(applied.c.appeal_id).order_by(applied.c.id)).scalars())


def rows(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def parked(amqp_uri: str) -> list:
    """The parked messages; unacked, they go back to the parking queue when the connection closes."""
    sub_dlq = dead_letter_queue(next(iter(_subscriptions())))
    taken = []
    with Connection(amqp_uri) as conn:
        queue = Queue(sub_dlq.name)(conn.channel())
        while (message := queue.get(no_ack=False)) is not None:
            taken.append(message)
    return taken


def _subscriptions():
    from shared.topology import subscriptions_of

    return subscriptions_of(ProbeService)


def start_after_publishing_unsettled(container, amqp_uri, *events) -> None:
    with Connection(amqp_uri) as conn:
        from shared.topology import declare_all

        declare_all(conn, extra=_subscriptions())
    publish(amqp_uri, *events)
    container.start()


def start_after_publishing(container, amqp_uri, *events) -> None:
    """Publish while the probe is down (its queue declared), then start it: one batch waits."""
    with settled("dispatch", len(events)):
        start_after_publishing_unsettled(container, amqp_uri, *events)


def test_what_waits_is_applied_in_one_batch_with_its_outbox_rows_in_the_same_transaction(probe, amqp_uri):
    container, engine, tap = probe
    events = [received(f"SQ{n}") for n in range(30)]
    start_after_publishing(container, amqp_uri, *events)
    assert applied_ids(engine) == [f"SQ{n}" for n in range(30)]
    assert Behaviour.calls == [[f"SQ{n}" for n in range(30)]]  # one handler call, in the order published
    assert rows(engine, inbox) == 30 and rows(engine, outbox) == 30
    wait_for(lambda: len(tap.of_type("appeal_dispatched")) == 30, 10, message="the 30 events published")


def test_without_a_wait_what_came_meanwhile_is_still_one_batch(probe_without_wait, amqp_uri):
    """CONSUMER_BATCH_WAIT_MS 0, as intake and dispatch run: what the broker delivered while a batch
    was applied waits in the socket, py-amqp reads one message per drain, and the consumer goes on
    taking what follows within half a millisecond: those 29 messages are a batch or a few, not 29
    units of work."""
    import eventlet

    container, engine, _ = probe_without_wait
    Behaviour.gate = GreenEvent()
    container.start()
    publish(amqp_uri, received("SQ0"))
    wait_for(lambda: Behaviour.calls, 10, message="the first message in its handler")
    with settled("dispatch", 30):
        publish(amqp_uri, *[received(f"SQ{n}") for n in range(1, 30)])
        eventlet.sleep(0.5)  # delivered meanwhile (prefetch 200)
        Behaviour.gate.send(None)
    assert applied_ids(engine) == [f"SQ{n}" for n in range(30)]
    assert Behaviour.calls[0] == ["SQ0"] and len(Behaviour.calls) <= 5, [len(call) for call in Behaviour.calls]


def test_the_messages_a_batch_holds_unacked_are_reported_until_it_is_settled(probe, amqp_uri):
    """What a quiet mesh is (scripts.client.Suqiu.quiesce): no queue counts a message its consumer
    has taken and not acked, so the consumer reports them (suqiu_consumer_messages_held)."""
    container, engine, _ = probe
    Behaviour.gate = GreenEvent()
    hub = next(ext for ext in container.subextensions if isinstance(ext, ConsumerHub))
    start_after_publishing_unsettled(container, amqp_uri, *[received(f"SQ{n}") for n in range(5)])
    wait_for(lambda: Behaviour.calls, 10, message="the batch in its handler")
    assert hub.held() == 5 and _held_metric() == 5
    with settled("dispatch", 5):
        Behaviour.gate.send(None)
    assert hub.held() == 0 and _held_metric() == 0
    assert applied_ids(engine) == [f"SQ{n}" for n in range(5)]


def _held_metric() -> float:
    return REGISTRY.get_sample_value("suqiu_consumer_messages_held", {"service": "dispatch"})


def test_a_redelivered_event_is_dropped_before_the_handler(probe, amqp_uri):
    container, engine, _ = probe
    event = received("SQ1")
    container.start()
    for _ in range(3):
        with settled("dispatch"):
            publish(amqp_uri, event)
    assert applied_ids(engine) == ["SQ1"] and Behaviour.calls == [["SQ1"]]
    assert rows(engine, outbox) == 1


def test_events_about_one_appeal_go_in_order_into_separate_calls(probe, amqp_uri):
    container, engine, _ = probe
    first, again, other = received("SQ1"), received("SQ1"), received("SQ2")  # two events about SQ1
    start_after_publishing(container, amqp_uri, first, other, again)
    assert Behaviour.calls == [["SQ1", "SQ2"], ["SQ1"]]
    with engine.connect() as conn:
        assert list(conn.execute(select(applied.c.event_id).order_by(applied.c.id)).scalars()) == [
            first.id, other.id, again.id]


def test_one_refused_event_is_parked_alone_and_the_rest_of_its_batch_goes_through(probe, amqp_uri):
    container, engine, _ = probe
    Behaviour.refuse = {"SQ3"}
    events = [received(f"SQ{n}") for n in range(6)]
    start_after_publishing(container, amqp_uri, *events)
    assert sorted(applied_ids(engine)) == ["SQ0", "SQ1", "SQ2", "SQ4", "SQ5"]
    ids = [f"SQ{n}" for n in range(6)]  # the batch, then its halves down to the refused one
    assert Behaviour.calls == [ids, ids[:3], ids[3:], ["SQ3"], ["SQ4", "SQ5"]]
    [message] = parked(amqp_uri)
    assert message.properties["message_id"] == events[3].id
    assert "SQ3 can never be applied" in message.headers["x-suqiu-reason"]
    assert rows(engine, inbox) == 5 and rows(engine, outbox) == 5  # the refused one left nothing


def test_a_failing_handler_is_retried_after_a_delay_until_it_succeeds(probe, amqp_uri):
    container, engine, _ = probe
    Behaviour.fail_for = {"SQ1": 2}
    container.start()
    with settled("dispatch", 3):  # the first delivery and two retries
        publish(amqp_uri, received("SQ1"))
    assert applied_ids(engine) == ["SQ1"]
    assert parked(amqp_uri) == []


def test_not_known_yet_is_retried_and_applied_once_known(probe, amqp_uri):
    container, engine, _ = probe
    Behaviour.unknown = {"SQ1"}
    container.start()
    with settled("dispatch"):
        publish(amqp_uri, received("SQ1"))
    Behaviour.unknown = set()  # it became known meanwhile
    wait_for(lambda: applied_ids(engine) == ["SQ1"], 10, message="applied on the retry")


def test_a_handler_that_keeps_failing_is_parked_with_its_reason_and_replayable(probe, amqp_uri):
    container, engine, _ = probe
    Behaviour.fail_for = {"SQ1": 3}  # one more than the two retries
    container.start()
    with settled("dispatch", 3):
        event = publish(amqp_uri, received("SQ1"))[0]
    [message] = parked(amqp_uri)
    assert "failed 3 times" in message.headers["x-suqiu-reason"]
    assert "database briefly away" in message.headers["x-suqiu-reason"]
    queue = _subscriptions()[0].queue_name
    with Connection(amqp_uri) as conn, settled("dispatch"):  # fixed: replay it
        assert dlq.replay(conn, queue) == 1
    assert applied_ids(engine) == ["SQ1"]
    with engine.connect() as conn:
        assert conn.execute(select(inbox.c.event_id)).scalars().all() == [event.id]


def test_a_dropped_database_connection_holds_the_batch_and_parks_nothing(probe, amqp_uri, database_url):
    """No pool_pre_ping: the consumer finds out when a statement fails, and tries again."""
    container, engine, _ = probe
    container.start()
    with settled("dispatch"):
        publish(amqp_uri, received("SQ1"))
    database = engine.url.database
    with engine.connect() as conn:  # what a database restart does to the service's pooled connections
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": database})
        conn.commit()
    with settled("dispatch"):
        publish(amqp_uri, received("SQ2"))
    assert applied_ids(engine) == ["SQ1", "SQ2"]
    assert parked(amqp_uri) == []
    with Connection(amqp_uri) as conn:
        ready = Queue(service_queue_name("dispatch"))(conn.channel()).queue_declare(passive=True).message_count
    assert ready == 0
