"""QUEUE_TYPE: every queue of the mesh classic (the default) or quorum; a multi-node AMQP_URI.

The unit tests read the declarations (``shared.topology``); the integration tests declare the
mesh on a vhost of the local broker and read back what RabbitMQ made of it.
"""
from __future__ import annotations

import json
import subprocess
from types import SimpleNamespace

import pytest
from amqp.exceptions import PreconditionFailed
from kombu import Connection

from shared import topology
from shared.outbox import OutboxPublisher
from shared.testing import free_port
from shared.topology import Subscription

SUB = Subscription("dispatch", "receive_appeal", "intake", "appeal_received")


def declared(sub: Subscription = SUB) -> dict:
    return {queue.name: queue.queue_arguments or {} for queue in (
        topology.service_queue(sub.consumer, [sub]), topology.service_dead_letter_queue(sub.consumer),
        topology.consumer_queue(sub), topology.retry_queue(sub), topology.dead_letter_queue(sub))}


def test_by_default_no_queue_names_a_type_so_existing_classic_queues_are_declared_as_before(monkeypatch):
    monkeypatch.delenv("QUEUE_TYPE", raising=False)
    queues = declared()
    assert len(queues) == 5
    assert not any("x-queue-type" in arguments for arguments in queues.values())
    assert queues[f"{SUB.queue_name}.retry"] == {"x-message-ttl": 2000, "x-dead-letter-exchange": "",
                                                  "x-dead-letter-routing-key": SUB.queue_name}


def test_quorum_makes_every_queue_a_quorum_queue_and_keeps_its_other_arguments(monkeypatch):
    monkeypatch.setenv("QUEUE_TYPE", "Quorum ")
    monkeypatch.setenv("SUQIU_RETRY_DELAY_MS", "1500")
    queues = declared()
    assert {name: arguments.get("x-queue-type") for name, arguments in queues.items()} == {
        "evt--dispatch": "quorum", "evt--dispatch.dlq": "quorum", SUB.queue_name: "quorum",
        f"{SUB.queue_name}.retry": "quorum", f"{SUB.queue_name}.dlq": "quorum"}
    assert queues[f"{SUB.queue_name}.retry"] == {"x-message-ttl": 1500, "x-dead-letter-exchange": "",
                                                  "x-dead-letter-routing-key": SUB.queue_name,
                                                  "x-queue-type": "quorum"}
    assert queues[SUB.queue_name]["x-dead-letter-exchange"] == topology.RETRY_EXCHANGE
    for queue in (topology.service_queue("dispatch", [SUB]), topology.retry_queue(SUB)):
        assert queue.durable and not queue.exclusive and not queue.auto_delete  # what quorum queues require


def test_an_unknown_queue_type_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("QUEUE_TYPE", "stream")
    with pytest.raises(ValueError, match="QUEUE_TYPE='stream': write classic or quorum"):
        topology.queue_type()


def test_the_rpc_queue_of_nameko_follows_the_queue_type(monkeypatch):
    """supervision's ``rpc-supervision`` (tick) is declared by nameko; ``shared.topology.rpc`` types it."""
    from nameko.rpc import RpcConsumer

    from services.supervision.service import SupervisionService

    rpc_consumers = {type(entrypoint.rpc_consumer) for entrypoint in SupervisionService.tick.nameko_entrypoints}
    assert rpc_consumers == {topology._TypedRpcConsumer}
    for value, expected in (("quorum", {"x-queue-type": "quorum"}), ("classic", {})):
        monkeypatch.setenv("QUEUE_TYPE", value)
        consumer = topology._TypedRpcConsumer()
        consumer.container = SimpleNamespace(service_name="supervision", config={})
        consumer.queue_consumer = SimpleNamespace(register_provider=lambda provider: None)
        consumer.setup()
        assert isinstance(consumer, RpcConsumer)
        assert consumer.queue.name == "rpc-supervision" and consumer.queue.durable
        assert (consumer.queue.queue_arguments or {}) == expected


# ---------------------------------------------------------------- on the broker


def broker_queues(amqp_uri: str) -> dict[str, dict]:
    vhost = Connection(amqp_uri).info()["virtual_host"]
    done = subprocess.run(["rabbitmqctl", "list_queues", "-p", vhost, "name", "type", "arguments", "--formatter",
                           "json"], capture_output=True, text=True, timeout=60, check=True)
    return {row["name"]: row for row in json.loads(done.stdout)}


@pytest.mark.integration
def test_the_whole_mesh_is_declared_as_quorum_queues_and_a_switch_back_is_refused(amqp_uri, monkeypatch):
    monkeypatch.setenv("QUEUE_TYPE", "quorum")
    with Connection(amqp_uri) as connection:
        count = topology.declare_all(connection)
        assert topology.declare_all(connection) == count  # idempotent under the same setting
    queues = broker_queues(amqp_uri)
    assert len(queues) == count
    assert {row["type"] for row in queues.values()} == {"quorum"}
    expected = set(topology.all_queue_names())
    assert expected <= set(queues)
    # the one thing to know before switching a vhost: RabbitMQ refuses the other type
    monkeypatch.setenv("QUEUE_TYPE", "classic")
    with Connection(amqp_uri) as connection, pytest.raises(PreconditionFailed, match="x-queue-type"):
        topology.declare_all(connection)


@pytest.mark.integration
def test_the_outbox_publisher_takes_the_next_broker_of_a_failover_url(amqp_uri):
    """``amqp://down;amqp://up``: the relay's publisher skips a node that does not answer."""
    with Connection(amqp_uri) as connection:
        channel = connection.channel()
        channel.exchange_declare("intake.events", "topic", durable=True, auto_delete=False)
        channel.queue_declare("failover-tap", durable=True, auto_delete=False)
        channel.queue_bind("failover-tap", "intake.events", "appeal_received")
    parts = Connection(amqp_uri).info()
    down = f"amqp://guest:guest@127.0.0.1:{free_port()}/{parts['virtual_host']}"
    publisher = OutboxPublisher(f"{down};{amqp_uri}", confirm_timeout=10)
    row = SimpleNamespace(id=1, event_id="e-1", event_type="appeal_received", exchange="intake.events",
                          routing_key="appeal_received", body=json.dumps({"correlationid": "c"}), attempts=0)
    try:
        confirmed, refused = publisher.publish_batch([row])
        assert [r.event_id for r in confirmed] == ["e-1"] and refused == {}
        assert publisher._host == 1
    finally:
        publisher.close()
    with Connection(amqp_uri) as connection:
        message = connection.channel().basic_get("failover-tap", no_ack=True)
    assert message is not None and message.properties["message_id"] == "e-1"
    only_down = OutboxPublisher(down)
    with pytest.raises(ConnectionError, match="no broker of AMQP_URI answers"):
        only_down.connect()
