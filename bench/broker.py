"""The broker floor: what one plain py-amqp client gets from this RabbitMQ.

    python -m bench.broker [--messages 5000] [--size 600]

* ``confirm_each``: persistent messages, waiting for each publisher confirm (the floor);
* ``confirm_window``: the same with up to 100 confirms outstanding (the headroom);
* ``consume_ack``: the same messages consumed with a manual ack each (prefetch 100).

Each on a durable queue of a vhost of its own, which is deleted afterwards.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import amqp

from scripts.mesh import drop_vhost, make_vhost

AMQP_HOST = os.environ.get("BENCH_AMQP_HOST", "127.0.0.1:5672")
MANAGEMENT = os.environ.get("BENCH_RABBIT_MANAGEMENT", "http://127.0.0.1:15672")
AUTH = ("guest", "guest")


def _vhost() -> str:
    return make_vhost("bench", MANAGEMENT, AUTH)


def _drop(vhost: str) -> None:
    drop_vhost(vhost, MANAGEMENT, AUTH)


def _connect(vhost: str) -> tuple[amqp.Connection, amqp.Channel]:
    connection = amqp.Connection(host=AMQP_HOST, userid=AUTH[0], password=AUTH[1], virtual_host=vhost)
    connection.connect()
    channel = connection.channel()
    channel.queue_declare("floor", durable=True, auto_delete=False)
    return connection, channel


def publish(vhost: str, count: int, body: bytes, window: int) -> float:
    """Messages per second, persistent, with at most ``window`` confirms outstanding."""
    connection, channel = _connect(vhost)
    return _pipelined(connection, channel, "floor", count, body, window)


def _pipelined(connection: amqp.Connection, channel: amqp.Channel, queue: str, count: int, body: bytes,
               window: int) -> float:
    """Publish ``count`` persistent messages to ``queue`` with at most ``window`` confirms
    outstanding; messages per second. Closes the connection."""
    channel.confirm_select()
    pending: set[int] = set()

    def settle(tag: int, multiple: bool) -> None:
        if multiple:
            pending.difference_update([t for t in pending if t <= tag])
        else:
            pending.discard(tag)

    channel.events["basic_ack"].add(settle)
    started = time.perf_counter()
    for tag in range(1, count + 1):
        channel.basic_publish(amqp.Message(body, delivery_mode=2, content_type="application/json"),
                              exchange="", routing_key=queue)
        pending.add(tag)
        while len(pending) >= window:
            connection.drain_events(timeout=10)
    while pending:
        connection.drain_events(timeout=10)
    elapsed = time.perf_counter() - started
    connection.close()
    return count / elapsed


def consume(vhost: str, count: int) -> float:
    connection, channel = _connect(vhost)
    channel.basic_qos(0, 100, False)
    got = {"n": 0}

    def on_message(message):
        channel.basic_ack(message.delivery_tag)
        got["n"] += 1

    channel.basic_consume("floor", callback=on_message)
    started = time.perf_counter()
    while got["n"] < count:
        connection.drain_events(timeout=10)
    elapsed = time.perf_counter() - started
    connection.close()
    return count / elapsed


def _connect_uri(amqp_uri: str, queue: str) -> tuple[amqp.Connection, amqp.Channel]:
    from kombu import Connection

    info = Connection(amqp_uri).info()
    connection = amqp.Connection(host=f"{info['hostname']}:{info['port']}", userid=info["userid"],
                                 password=info["password"], virtual_host=info["virtual_host"])
    connection.connect()
    channel = connection.channel()
    channel.queue_declare(queue, durable=True, auto_delete=False)
    return connection, channel


def publish_uri(amqp_uri: str, queue: str, count: int, body: bytes, window: int) -> float:
    """:func:`publish` on any broker (by URI) and queue."""
    connection, channel = _connect_uri(amqp_uri, queue)
    return _pipelined(connection, channel, queue, count, body, window)


def consume_uri(amqp_uri: str, queue: str, count: int) -> float:
    """:func:`consume` on any broker (by URI); the queue is deleted afterwards."""
    connection, channel = _connect_uri(amqp_uri, queue)
    channel.basic_qos(0, 100, False)
    got = {"n": 0}

    def on_message(message):
        channel.basic_ack(message.delivery_tag)
        got["n"] += 1

    tag = channel.basic_consume(queue, callback=on_message)
    started = time.perf_counter()
    while got["n"] < count:
        connection.drain_events(timeout=10)
    elapsed = time.perf_counter() - started
    channel.basic_cancel(tag)
    channel.queue_delete(queue)
    connection.close()
    return count / elapsed


def floor(messages: int = 5000, size: int = 600, repeats: int = 3) -> dict:
    """Median msgs/s of each measure over ``repeats`` runs."""
    body = json.dumps({"pad": "x" * max(0, size - 12)}).encode()
    results: dict[str, list[float]] = {"confirm_each": [], "confirm_window": [], "consume_ack": []}
    for _ in range(repeats):
        vhost = _vhost()
        try:
            results["confirm_each"].append(publish(vhost, messages, body, window=1))
            results["confirm_window"].append(publish(vhost, messages, body, window=100))
            results["consume_ack"].append(consume(vhost, 2 * messages))
        finally:
            _drop(vhost)
    return {key: round(statistics.median(values), 1) for key, values in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.broker")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--size", type=int, default=600, help="bytes per message (an event is ~600-900)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for key, value in floor(args.messages, args.size, args.repeats).items():
        print(f"{key:16s} {value:10.1f} msg/s")


if __name__ == "__main__":
    main()
