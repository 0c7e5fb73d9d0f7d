"""Dead-lettered messages: list them with their reasons, replay them once fixed.

    python -m shared.dlq list                      # every parking queue and its count
    python -m shared.dlq show QUEUE [--limit N]    # the reasons, without taking them
    python -m shared.dlq replay QUEUE [--limit N]  # back to QUEUE, with confirms

QUEUE is the consumer queue, not its ``.dlq``: a subscription's queue
``evt-<source>-<type>--<service>.<method>`` (what its handler failed on or could not
read), or a service's ``evt--<service>`` (what arrived under no subscription). A
replayed message goes back to QUEUE with its original body and id, so the consumer's
inbox still drops it if it was in fact processed before.
"""
from __future__ import annotations

import argparse
import os
from typing import Any

from kombu import Connection, Producer, Queue

from shared.consumers import REASON_HEADER
from shared.topology import all_queue_names


def parking(queue_name: str, channel: Any) -> Queue:
    """The ``.dlq`` of a consumer queue, bound to ``channel``; LookupError when there is none."""
    try:
        channel.queue_declare(f"{queue_name}.dlq", passive=True)
    except Exception:
        raise LookupError(f"no parking queue {queue_name}.dlq; see python -m shared.dlq list") from None
    return Queue(f"{queue_name}.dlq")(channel)


def replay(connection: Connection, queue_name: str, limit: int | None = None) -> int:
    parked = parking(queue_name, connection.channel())
    moved = 0
    with Connection(connection.as_uri(include_password=True),
                    transport_options={"confirm_publish": True}) as confirming:
        producer = Producer(confirming.channel())
        while limit is None or moved < limit:
            message = parked.get(no_ack=False)
            if message is None:
                break
            headers = {k: v for k, v in (message.headers or {}).items()
                       if k != "x-death" and not k.startswith("x-suqiu-")}
            headers["x-suqiu-replayed-from"] = parked.name
            producer.publish(message.body, exchange="", routing_key=queue_name,
                             content_type=message.content_type, content_encoding=message.content_encoding,
                             headers=headers, delivery_mode=2, mandatory=True,
                             message_id=(message.properties or {}).get("message_id"), retry=False)
            message.ack()
            moved += 1
    return moved


def peek(connection: Connection, queue_name: str, limit: int = 20) -> list[tuple[str | None, str]]:
    """The first parked messages' ids and reasons; they stay parked (requeued)."""
    channel = connection.channel()
    parked = parking(queue_name, channel)
    seen = []
    for _ in range(limit):
        message = parked.get(no_ack=False)
        if message is None:
            break
        seen.append(((message.properties or {}).get("message_id"), (message.headers or {}).get(REASON_HEADER, "")))
    channel.close()  # unacked messages return to the queue in their order
    return seen


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.dlq")
    parser.add_argument("command", choices=["list", "show", "replay"])
    parser.add_argument("queue", nargs="?")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--amqp-uri", default=os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672//"))
    args = parser.parse_args(argv)
    with Connection(args.amqp_uri) as connection:
        if args.command == "list":
            for name in all_queue_names():
                channel = connection.channel()
                try:
                    count = channel.queue_declare(f"{name}.dlq", passive=True).message_count
                except Exception:  # not declared on this broker (yet)
                    continue
                print(f"{count:8d}  {name}")
                channel.close()
            return
        if not args.queue:
            parser.error("name the consumer queue")
        if args.command == "show":
            for message_id, reason in peek(connection, args.queue, args.limit or 20):
                print(f"{message_id}: {reason}")
        else:
            moved = replay(connection, args.queue, args.limit)
            print(f"replayed {moved} message(s) to {args.queue}")


if __name__ == "__main__":
    main()
