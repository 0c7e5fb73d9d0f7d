"""Exchanges, queues and bindings: the broker side of the catalogue.

Service ``X`` publishes to the durable topic exchange ``X.events`` with the event type
as routing key (upstream platforms publish to ``upstream.events``).

Each service declares what it consumes with :func:`shared.consumers.consume` on its
methods; this module turns those declarations into queues. A consuming service ``C``
has:

* ``evt--C``, its one durable queue, bound to every (exchange, event type) it consumes:
  the events about one appeal arrive in the order they were published, and a batch
  fills with whatever is waiting;
* per subscription ``S`` (one method of ``C`` consuming one event type of one source),
  ``S = evt-{source}-{type}--C.{method}`` and its companions. ``S`` itself is bound to
  no exchange: what comes back to this subscription alone comes in through it.

  - ``S.retry``: a message whose handler failed waits here ``retry_delay_ms()``, then
    goes to ``S`` (bounded by ``max_retries()``);
  - ``S.dlq``: where a poison message of this subscription, or one that kept failing,
    is parked with its reason in the ``x-suqiu-reason`` header; ``python -m shared.dlq
    replay S`` sends it back through ``S``.

  ``evt--C.dlq`` parks what arrives on ``evt--C`` under no subscription of ``C``.

Queue type: classic by default; ``QUEUE_TYPE=quorum`` declares every one of these queues
as a quorum queue (``x-queue-type: quorum``: replicated on a RabbitMQ cluster, so a node
may stop and nothing is lost; message TTL on the ``.retry`` queues needs RabbitMQ 3.10 or
later). Every declaration on one vhost must agree: RabbitMQ refuses to redeclare a queue
with another type (``PRECONDITION_FAILED``), so a switch takes a new vhost, or the old
queues deleted once drained (docs/operations.md).

Where the declarations come from: each service module is named under the entry point
group ``suqiu.services`` of the installed package (``pyproject.toml``), as
``name = "package.module:ServiceClass"``. :data:`SUBSCRIPTIONS` imports them on first
use and reads their ``consume`` entrypoints, so ``shared`` names no service, and a new
consumer is one decorated method in the service that owns it. Every service declares
the whole mesh's queues at start-up (and ``python -m shared.topology declare`` does),
so an event published before its consumer first runs waits in that consumer's queue.
"""
from __future__ import annotations

import argparse
import inspect
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, overload

from kombu import Connection, Exchange, Queue, binding
from nameko.rpc import Rpc as _NamekoRpc
from nameko.rpc import RpcConsumer as _NamekoRpcConsumer

log = logging.getLogger(__name__)

UPSTREAM = "upstream"
RETRY_EXCHANGE = "suqiu.retry"
DEAD_LETTER_EXCHANGE = "suqiu.dead-letter"
SERVICES_GROUP = "suqiu.services"


def retry_delay_ms() -> int:
    """How long a failed message waits before it comes back (``SUQIU_RETRY_DELAY_MS``).

    Part of the retry queues' arguments: every declaration on one broker must agree.
    """
    return int(os.environ.get("SUQIU_RETRY_DELAY_MS", "2000"))


QUEUE_TYPES = ("classic", "quorum")


def queue_type() -> str:
    """``classic`` (the default) or ``quorum``: the type of every queue of the mesh (``QUEUE_TYPE``).

    Part of every queue's arguments, like :func:`retry_delay_ms`: every process declaring the
    topology on one vhost must read the same value.
    """
    value = os.environ.get("QUEUE_TYPE", "classic").strip().lower() or "classic"
    if value not in QUEUE_TYPES:
        raise ValueError(f"QUEUE_TYPE={value!r}: write classic or quorum")
    return value


def queue_arguments(**arguments: Any) -> dict[str, Any]:
    """A durable queue's arguments with the mesh's queue type (nothing more for classic ones,
    so a broker whose queues predate the setting accepts the declarations as before)."""
    if queue_type() == "quorum":
        arguments["x-queue-type"] = "quorum"
    return arguments


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
        """The subscription's own queue: retries and replays come back to it through here."""
        return f"evt-{self.source}-{self.event_type}--{self.consumer}.{self.method}"

    @property
    def inbox_key(self) -> str:
        """The ``inbox.consumer`` value: one event is handled once per subscriber method."""
        return f"{self.consumer}.{self.method}"

    @property
    def exchange(self) -> str:
        return events_exchange(self.source).name


def service_queue_name(consumer: str) -> str:
    return f"evt--{consumer}"


# ---------------------------------------------------------------- where subscriptions come from
def subscriptions_of(service_cls: Any) -> list[Subscription]:
    """The subscriptions a service class declares with ``shared.consumers.consume``."""
    from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

    found = []
    for method_name, method in inspect.getmembers(service_cls, inspect.isfunction):
        for entrypoint in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()):
            declared = getattr(entrypoint, "subscriptions", None)
            if callable(declared):
                found.extend(declared(service_cls.name, method_name))
    return sorted(found, key=lambda s: (s.consumer, s.method, s.source, s.event_type))


def service_classes() -> list[type]:
    """The service classes named under the ``suqiu.services`` entry points (imported now)."""
    classes = []
    for point in sorted(entry_points(group=SERVICES_GROUP), key=lambda p: p.name):
        cls = point.load()
        if getattr(cls, "name", None) != point.name:
            raise RuntimeError(f"entry point {point.name} = {point.value}: the class is named {cls.name!r}")
        classes.append(cls)
    if not classes:
        raise RuntimeError(f"no {SERVICES_GROUP} entry points: is the package installed (pip install -e .)?")
    return classes


class _MeshSubscriptions(Sequence[Subscription]):
    """Every subscription of the mesh, read from the services on first use (then cached)."""

    def __init__(self) -> None:
        self._items: list[Subscription] | None = None

    def _load(self) -> list[Subscription]:
        if self._items is None:
            items = [sub for cls in service_classes() for sub in subscriptions_of(cls)]
            names = [s.queue_name for s in items]
            duplicated = {n for n in names if names.count(n) > 1}
            if duplicated:
                raise RuntimeError(f"two subscriptions share a queue: {sorted(duplicated)}")
            self._items = items
        return self._items

    @overload
    def __getitem__(self, index: int) -> Subscription: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Subscription]: ...

    def __getitem__(self, index: int | slice) -> Subscription | Sequence[Subscription]:
        return self._load()[index]

    def __len__(self) -> int:
        return len(self._load())

    def __iter__(self) -> Iterator[Subscription]:
        return iter(self._load())

    def __repr__(self) -> str:
        return f"<mesh subscriptions: {len(self)}>"


SUBSCRIPTIONS: Sequence[Subscription] = _MeshSubscriptions()
"""Every subscription of the mesh (from the services' ``consume`` declarations)."""


def consumers(subscriptions: Iterable[Subscription]) -> dict[str, list[Subscription]]:
    grouped: dict[str, list[Subscription]] = {}
    for sub in subscriptions:
        grouped.setdefault(sub.consumer, []).append(sub)
    return grouped


# ---------------------------------------------------------------- exchanges and queues
def events_exchange(service: str) -> Exchange:
    return Exchange(f"{service}.events", type="topic", durable=True, auto_delete=False)


def retry_exchange() -> Exchange:
    return Exchange(RETRY_EXCHANGE, type="direct", durable=True)


def dead_letter_exchange() -> Exchange:
    return Exchange(DEAD_LETTER_EXCHANGE, type="direct", durable=True)


def service_queue(consumer: str, subscriptions: Iterable[Subscription]) -> Queue:
    """``evt--C``: bound to every (exchange, event type) the service consumes."""
    bindings = sorted({(s.source, s.event_type) for s in subscriptions if s.consumer == consumer})
    return Queue(service_queue_name(consumer), durable=True, queue_arguments=queue_arguments(),
                 bindings=[binding(events_exchange(source), routing_key=event_type)
                           for source, event_type in bindings])


def service_dead_letter_queue(consumer: str) -> Queue:
    name = service_queue_name(consumer)
    return Queue(f"{name}.dlq", exchange=dead_letter_exchange(), routing_key=name, durable=True,
                 queue_arguments=queue_arguments())


def consumer_queue(sub: Subscription) -> Queue:
    """The subscription's own queue ``S`` (no exchange binding: retries and replays only).

    Its arguments are those of the per-subscription queues of earlier versions, so a
    broker that has them accepts the declaration; :func:`declare_all` removes their
    old binding to the source exchange.
    """
    return Queue(sub.queue_name, durable=True, queue_arguments=queue_arguments(**{
        "x-dead-letter-exchange": RETRY_EXCHANGE,
        "x-dead-letter-routing-key": sub.queue_name,
    }))


def retry_queue(sub: Subscription) -> Queue:
    return Queue(
        f"{sub.queue_name}.retry",
        exchange=retry_exchange(),
        routing_key=sub.queue_name,
        durable=True,
        queue_arguments=queue_arguments(**{
            "x-message-ttl": retry_delay_ms(),
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": sub.queue_name,
        }),
    )


def dead_letter_queue(sub: Subscription) -> Queue:
    return Queue(
        f"{sub.queue_name}.dlq",
        exchange=dead_letter_exchange(),
        routing_key=sub.queue_name,
        durable=True,
        queue_arguments=queue_arguments(),
    )


class _TypedRpcConsumer(_NamekoRpcConsumer):
    """nameko's ``rpc-<service>`` queue, of the mesh's queue type like every other queue."""

    def setup(self) -> None:
        super().setup()
        if self.queue is not None:
            self.queue.queue_arguments = queue_arguments(**(self.queue.queue_arguments or {}))


class Rpc(_NamekoRpc):
    """nameko's ``@rpc`` entrypoint with its queue declared as ``QUEUE_TYPE`` says: a classic
    ``rpc-<service>`` lives on one node of a cluster and is gone while that node is down."""

    rpc_consumer = _TypedRpcConsumer()


rpc = Rpc.decorator
"""``@rpc`` (nameko's) whose ``rpc-<service>`` queue follows ``QUEUE_TYPE``; use it instead of nameko's."""


def subscription_for(consumer: str, method: str) -> Subscription:
    """The (first) subscription of ``consumer.method``."""
    for sub in SUBSCRIPTIONS:
        if sub.consumer == consumer and sub.method == method:
            return sub
    raise LookupError(f"{consumer}.{method} consumes nothing (see python -m shared.topology list)")


def subscription_for_queue(queue_name: str) -> Subscription:
    for sub in SUBSCRIPTIONS:
        if sub.queue_name == queue_name:
            return sub
    raise LookupError(f"no consumer queue {queue_name!r}; see python -m shared.topology list")


def parking_queue(queue_name: str, subscriptions: Iterable[Subscription] | None = None) -> Queue:
    """The ``.dlq`` of a consumer queue: a subscription's ``S`` or a service's ``evt--C``."""
    subscriptions = list(SUBSCRIPTIONS if subscriptions is None else subscriptions)
    for sub in subscriptions:
        if sub.queue_name == queue_name:
            return dead_letter_queue(sub)
    for consumer in consumers(subscriptions):
        if service_queue_name(consumer) == queue_name:
            return service_dead_letter_queue(consumer)
    raise LookupError(f"no consumer queue {queue_name!r}; see python -m shared.topology list")


def all_queue_names(subscriptions: Iterable[Subscription] | None = None) -> list[str]:
    """Every consumer queue of the mesh (services' and subscriptions'), without companions."""
    subscriptions = list(SUBSCRIPTIONS if subscriptions is None else subscriptions)
    return ([service_queue_name(c) for c in sorted(consumers(subscriptions))]
            + [s.queue_name for s in subscriptions])


def all_exchanges(subscriptions: Iterable[Subscription] | None = None) -> list[Exchange]:
    subscriptions = list(SUBSCRIPTIONS if subscriptions is None else subscriptions)
    sources = {sub.source for sub in subscriptions}
    from shared.events import CATALOGUE

    sources |= {spec.producer for spec in CATALOGUE.values()}
    return [events_exchange(s) for s in sorted(sources)] + [retry_exchange(), dead_letter_exchange()]


def declare_all(connection: Connection, extra: Iterable[Subscription] = ()) -> int:
    """Declare every exchange, queue and binding of the mesh (plus ``extra``); idempotent.

    Also removes the binding each subscription queue ``S`` had to its source exchange in
    the one-queue-per-subscription layout of earlier versions (a no-op on a new broker),
    so an upgraded broker does not deliver every event twice.
    """
    subscriptions = list(dict.fromkeys([*SUBSCRIPTIONS, *extra]))
    channel = connection.channel()
    try:
        for exchange in all_exchanges(subscriptions):
            exchange(channel).declare()
        count = 0
        for consumer, subs in sorted(consumers(subscriptions).items()):
            for queue in (service_queue(consumer, subs), service_dead_letter_queue(consumer)):
                queue(channel).declare()
                count += 1
        for sub in subscriptions:
            for queue in (consumer_queue(sub), retry_queue(sub), dead_letter_queue(sub)):
                queue(channel).declare()
                count += 1
            channel.queue_unbind(sub.queue_name, sub.exchange, sub.event_type)
        return count
    finally:
        channel.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.topology")
    parser.add_argument("command", choices=["declare", "list"])
    parser.add_argument("--amqp-uri", default=os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672//"))
    args = parser.parse_args(argv)
    if args.command == "list":
        for consumer, subs in sorted(consumers(SUBSCRIPTIONS).items()):
            print(service_queue_name(consumer))
            for sub in subs:
                print(f"  {sub.source}.events  {sub.event_type:28s} -> {sub.consumer}.{sub.method}"
                      f"   (retries, replays: {sub.queue_name})")
        return
    with Connection(args.amqp_uri) as connection:
        count = declare_all(connection)
    print(f"declared {len(all_exchanges())} exchanges and {count} queues")


if __name__ == "__main__":
    main()
