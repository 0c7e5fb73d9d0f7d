"""Exchanges, consumer queues and their bindings: the broker side of the catalogue.

nameko's convention: service ``X`` publishes to the durable topic exchange
``X.events`` with the event type as routing key; a consumer's queue is
``evt-{source}-{type}--{service}.{method}``.

Every consumer queue of the mesh is listed in :data:`SUBSCRIPTIONS` and declared
at every service's start-up (and by ``python -m shared.topology declare``), so an
event published before its consumer first runs waits in its queue instead of
being dropped. Each consumer queue ``Q`` has two companions:

* ``Q.retry``: a failed message is rejected from ``Q``, dead-lettered here, waits
  ``retry_delay_ms()`` and is dead-lettered back to ``Q`` (bounded by
  ``max_retries()``, counted from the broker's ``x-death`` header);
* ``Q.dlq``: where a poison message, or one that kept failing, is parked with its
  reason in the ``x-suqiu-reason`` header, for ``python -m shared.dlq replay``.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from kombu import Connection, Exchange, Queue

UPSTREAM = "upstream"
RETRY_EXCHANGE = "suqiu.retry"
DEAD_LETTER_EXCHANGE = "suqiu.dead-letter"


def retry_delay_ms() -> int:
    """How long a failed message waits before it comes back (``SUQIU_RETRY_DELAY_MS``).

    Part of the retry queues' arguments: every declaration on one broker must agree.
    """
    return int(os.environ.get("SUQIU_RETRY_DELAY_MS", "2000"))


def max_retries() -> int:
    """How often a failing message is retried before it is parked (``SUQIU_MAX_RETRIES``)."""
    return int(os.environ.get("SUQIU_MAX_RETRIES", "3"))


@dataclass(frozen=True)
class Subscription:
    consumer: str  # the consuming service
    method: str  # its handler method
    source: str  # the publishing service (or "upstream")
    event_type: str

    @property
    def queue_name(self) -> str:
        return f"evt-{self.source}-{self.event_type}--{self.consumer}.{self.method}"


def _subs(consumer: str, *rows: tuple[str, str, str]) -> list[Subscription]:
    return [Subscription(consumer, method, source, event_type) for method, source, event_type in rows]


# Every consumer of the mesh. A test checks each service's handlers against this list.
# Each service keeps its own block: (handler method, publishing service, event type).
SUBSCRIPTIONS: list[Subscription] = [
    *_subs("intake",
           ("receive_upstream", UPSTREAM, "appeal_submitted"),
           ("on_appeal_closed", "assessment", "appeal_closed"),  # Open311's status
           ("on_appeal_reopened", "assessment", "appeal_reopened")),
    *_subs("dispatch",
           ("receive_appeal", "intake", "appeal_received"),
           ("on_appeal_reopened", "assessment", "appeal_reopened"),
           ("on_appeal_closed", "assessment", "appeal_closed"),
           ("on_appeal_escalated", "supervision", "appeal_escalated"),
           ("on_appeal_colour_changed", "supervision", "appeal_colour_changed"),
           ),
    *_subs("supervision",
           ("on_dispatched", "dispatch", "appeal_dispatched"),
           ("on_accepted", "dispatch", "appeal_accepted"),
           ("on_replied", "dispatch", "appeal_replied"),
           ("on_escalation_requested", "dispatch", "appeal_escalation_requested"),
           ("on_reclassified", "dispatch", "appeal_reclassified"),
           ("on_reopened", "assessment", "appeal_reopened"),
           ("on_closed", "assessment", "appeal_closed"),
           ),
    *_subs("assessment",
           ("on_received", "intake", "appeal_received"),
           ("on_dispatched", "dispatch", "appeal_dispatched"),
           ("on_accepted", "dispatch", "appeal_accepted"),
           ("on_replied", "dispatch", "appeal_replied"),
           ("on_returned", "dispatch", "appeal_returned"),
           ("on_reclassified", "dispatch", "appeal_reclassified"),
           ("on_deadline_set", "supervision", "appeal_deadline_set"),
           ("on_colour_changed", "supervision", "appeal_colour_changed"),
           ("on_escalated", "supervision", "appeal_escalated")),
    *_subs("notify",
           ("on_enterprise_updated", "intake", "enterprise_updated"),
           ("on_appeal_received", "intake", "appeal_received"),
           ("on_appeal_dispatched", "dispatch", "appeal_dispatched"),
           ("on_appeal_accepted", "dispatch", "appeal_accepted"),
           ("on_appeal_replied", "dispatch", "appeal_replied"),
           ("on_appeal_escalated", "supervision", "appeal_escalated"),
           ("on_supervision_order_issued", "supervision", "supervision_order_issued"),
           ("on_weekly_digest_ready", "supervision", "weekly_digest_ready"),
           ("on_monthly_supervision_list", "supervision", "monthly_supervision_list"),
           ("on_callback_requested", "assessment", "callback_requested"),
           ("on_appeal_closed", "assessment", "appeal_closed"),
           ("on_appeal_reopened", "assessment", "appeal_reopened"),
           ("on_report_published", "assessment", "report_published"),
           ("on_unit_flagged", "assessment", "unit_flagged")),
]


def events_exchange(service: str) -> Exchange:
    return Exchange(f"{service}.events", type="topic", durable=True, auto_delete=False)


def retry_exchange() -> Exchange:
    return Exchange(RETRY_EXCHANGE, type="direct", durable=True)


def dead_letter_exchange() -> Exchange:
    return Exchange(DEAD_LETTER_EXCHANGE, type="direct", durable=True)


def consumer_queue(sub: Subscription) -> Queue:
    """The durable queue of one subscription; the same arguments wherever declared."""
    return Queue(
        sub.queue_name,
        exchange=events_exchange(sub.source),
        routing_key=sub.event_type,
        durable=True,
        auto_delete=False,
        queue_arguments={
            "x-dead-letter-exchange": RETRY_EXCHANGE,
            "x-dead-letter-routing-key": sub.queue_name,
        },
    )


def retry_queue(sub: Subscription) -> Queue:
    return Queue(
        f"{sub.queue_name}.retry",
        exchange=retry_exchange(),
        routing_key=sub.queue_name,
        durable=True,
        queue_arguments={
            "x-message-ttl": retry_delay_ms(),
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": sub.queue_name,
        },
    )


def dead_letter_queue(sub: Subscription) -> Queue:
    return Queue(
        f"{sub.queue_name}.dlq",
        exchange=dead_letter_exchange(),
        routing_key=sub.queue_name,
        durable=True,
    )


def subscription_for(consumer: str, method: str) -> Subscription:
    for sub in SUBSCRIPTIONS:
        if sub.consumer == consumer and sub.method == method:
            return sub
    raise LookupError(f"{consumer}.{method} is not in shared.topology.SUBSCRIPTIONS")


def subscription_for_queue(queue_name: str) -> Subscription:
    for sub in SUBSCRIPTIONS:
        if sub.queue_name == queue_name:
            return sub
    raise LookupError(f"no consumer queue {queue_name!r}; see python -m shared.topology list")


def all_exchanges() -> list[Exchange]:
    sources = {sub.source for sub in SUBSCRIPTIONS}
    from shared.events import CATALOGUE

    sources |= {spec.producer for spec in CATALOGUE.values()}
    return [events_exchange(s) for s in sorted(sources)] + [retry_exchange(), dead_letter_exchange()]


def declare_all(connection: Connection) -> int:
    """Declare every exchange, consumer queue and binding of the mesh; idempotent."""
    channel = connection.channel()
    try:
        for exchange in all_exchanges():
            exchange(channel).declare()
        count = 0
        for sub in SUBSCRIPTIONS:
            for queue in (consumer_queue(sub), retry_queue(sub), dead_letter_queue(sub)):
                queue(channel).declare()
                count += 1
        return count
    finally:
        channel.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.topology")
    parser.add_argument("command", choices=["declare", "list"])
    parser.add_argument("--amqp-uri", default=os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672//"))
    args = parser.parse_args(argv)
    if args.command == "list":
        for sub in SUBSCRIPTIONS:
            print(f"{sub.source}.events  {sub.event_type:32s} -> {sub.queue_name}")
        return
    with Connection(args.amqp_uri) as connection:
        count = declare_all(connection)
    print(f"declared {len(all_exchanges())} exchanges and {count} queues")


if __name__ == "__main__":
    main()
