"""Consuming events: one batched unit of work for every consumer of the mesh.

How a service declares a consumer
---------------------------------
A method of the service class, decorated with :func:`consume`, names the publishing
service and the event types it handles::

    class DispatchService(OperableService):
        db = Database("dispatch")
        relay = OutboxRelay(outbox)           # the unit of work writes to its outbox

        @consume("intake", "appeal_received")
        def receive_appeal(self, batch: Batch) -> None:
            handlers.receive_appeals(batch, self.rules)

That is all: :mod:`shared.topology` reads these declarations (the service module is
named under the ``suqiu.services`` entry points in ``pyproject.toml``), binds the
service's one queue ``evt--dispatch`` to ``intake.events`` / ``appeal_received`` and
declares the subscription's retry and parking queues. One method may name several
event types of one source; each (method, event type) is one subscription.

What a handler gets, and what it may rely on
--------------------------------------------
``batch.events``: the events of this call, new to this subscription (redeliveries are
dropped before), in the order they arrived, never two about the same appeal (the
``subject``) in one call. ``batch.connection``: a SQLAlchemy ``Connection`` in the
unit of work's transaction; write with it (set-based where you can), never with a
session of your own. ``batch.publish(event)``: the event goes into the service's
outbox in the same transaction. ``batch.after_commit(fn)``: metrics and the like, run
once the transaction committed. Take the time of a fact from ``event.time``.

Raise :class:`NotKnownYet` when an event speaks of something this service has not
heard of yet (retried later), a :class:`shared.errors.DomainError` when the event can
never be applied (parked with the reason).

What the unit of work does
--------------------------
The service's consumer (:class:`ConsumerHub`, one per service process, on an AMQP
connection of its own) takes the messages that are ready, up to ``CONSUMER_BATCH``
(100): those that came with the first, and more for at most ``CONSUMER_BATCH_WAIT_MS`` (0)
after it, then those that follow within half a millisecond (what was already on its way)
(prefetch ``CONSUMER_PREFETCH``, default twice the batch). Then, for the batch:

1. each body is read; a poison message (not JSON, not an envelope, an unknown type,
   invalid data) is set aside for its parking queue with the reason;
2. one transaction: the inbox rows of all events under the subscription each arrived
   for, ``INSERT ... ON CONFLICT DO NOTHING RETURNING`` (only the new ones go on);
   each handler is called (a nameko worker per handler and "wave" of the batch); the
   events they published are written to the outbox in one statement, held for the relay of
   this process (:func:`shared.outbox.write_handed`); commit; the rows are handed to the
   relay, which publishes them at once, without a query of its own. The transaction takes as
   few exchanges with PostgreSQL as its reads allow (:func:`shared.db.pipelined_transaction`:
   ``BEGIN`` goes with the inbox's insert, writes without a ``RETURNING`` with the next
   statement, the last of them and the outbox's insert with ``COMMIT``);
3. the parked and retried messages are published (with confirms) to their queues,
   then the whole batch is acked with one ``basic.ack(multiple=True)``.

A handler error in a batch rolls it back and applies each half on its own, in order, down
to the one message that failed, so one bad message is dealt with alone and the others go
through (in a few transactions, not one per message). A message
whose handler fails is published to its subscription's ``.retry`` queue and comes back
after ``SUQIU_RETRY_DELAY_MS``; after ``SUQIU_MAX_RETRIES`` it is parked in ``.dlq``
with the last error (``x-suqiu-reason``); a ``DomainError`` or an unreadable event is
parked at once. When the database is unavailable the batch is held (unacked) and
tried again with back-off: an outage parks nothing.

A crash anywhere loses nothing and doubles nothing: before the commit nothing
happened and the broker redelivers; after it, the redelivered events find their inbox
rows and are only acked.

``inbox.processed_at`` is one rule for every consumer: the clock of the unit of work
(when this service applied the event), not the event's time, which the event keeps.
"""
from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import amqp
import eventlet
from amqp.exceptions import AMQPError, MessageNacked, RecoverableConnectionError
from amqp.exceptions import ConnectionError as AmqpConnectionError
from eventlet.event import Event as GreenEvent
from eventlet.greenthread import GreenThread
from kombu import Connection
from kombu.exceptions import OperationalError
from nameko.containers import WorkerContext
from nameko.extensions import Entrypoint, ProviderCollector, SharedExtension
from sqlalchemy import Table
from sqlalchemy.engine import Connection as DbConnection
from sqlalchemy.exc import DBAPIError

from shared import metrics
from shared.db import database_of, insert_rows, pipelined_transaction
from shared.errors import DomainError
from shared.events import Event, EventError, read_event
from shared.outbox import HandedRow, outbox_row, relay_of, write_handed
from shared.topology import (
    DEAD_LETTER_EXCHANGE,
    RETRY_EXCHANGE,
    Subscription,
    declare_all,
    max_retries,
    service_queue_name,
)

log = logging.getLogger(__name__)

REASON_HEADER = "x-suqiu-reason"
RETRIES_HEADER = "x-suqiu-retries"

# what settling a message on a connection the broker dropped raises (a broker restart,
# a network cut): the socket's errors, py-amqp's and kombu's
CONNECTION_LOST = (OSError, AmqpConnectionError, RecoverableConnectionError, OperationalError)
# and what else makes the consumer start over on a new connection (unacked messages return
# to their queues): a channel error, a nacked or unconfirmed side publish
BROKER_TROUBLE = CONNECTION_LOST + (AMQPError, MessageNacked, TimeoutError)


# seconds: past a batch's wait, a delivery that comes within this of the last one still joins it
# (py-amqp reads one message per drain: what the socket already holds comes at once)
TAKE_READY = 0.0005


class PoisonMessage(Exception):
    """The message can never be handled as it is; it goes to the dead-letter queue."""


class NotKnownYet(Exception):
    """The event speaks of something this service has not heard of yet (its first event is
    still on its way, or being retried): the message is retried after a delay and parked
    if it never becomes known. The one rule of every consumer for "not known here yet"."""


class Unavailable(Exception):
    """The database cannot be reached: the batch is held and tried again, nothing is parked."""


# ---------------------------------------------------------------- what a handler gets
@dataclass
class Batch:
    """One handler call of a unit of work (see the module's docstring)."""

    subscription: Subscription
    events: list[Event]
    connection: DbConnection
    now: datetime  # the unit of work's clock: processed_at, outbox created_at (not the facts' time)
    published: list[Event] = field(default_factory=list)
    _after_commit: list[Callable[[], None]] = field(default_factory=list)

    def publish(self, event: Event) -> None:
        """Put ``event`` in the outbox, in this transaction; published after the commit."""
        self.published.append(event)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the unit of work committed (metrics, logs); not on a rollback."""
        self._after_commit.append(callback)


def default_parser(body: Any, message: Any, subscription: Subscription) -> Event:
    return read_event(body, expected_type=subscription.event_type)


# ---------------------------------------------------------------- reading a message
def read_body(message: Any) -> Any:
    """The JSON body of an AMQP message, whatever its content type says (missing,
    ``application/json; charset=utf-8``, ``text/json``, ``text/plain`` ...): platforms set it
    loosely. :class:`PoisonMessage` only when the body is not JSON text."""
    properties = message.properties or {}
    try:
        return read_json(message.body, properties.get("content_encoding"))
    except ValueError as not_json:
        raise PoisonMessage(f"undecodable message: {not_json} "
                            f"(content type {properties.get('content_type')!r})") from None


def read_json(raw: bytes | str, encoding: str | None = None) -> Any:
    """A message body read as JSON; ValueError when it is not JSON text."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        try:
            raw = bytes(raw).decode(encoding if encoding and encoding.lower() != "binary" else "utf-8")
        except (LookupError, UnicodeDecodeError) as exc:
            raise ValueError(f"the body is not text: {exc}") from None
    try:
        return json.loads(raw.removeprefix("\ufeff"))
    except ValueError as exc:
        raise ValueError(f"the body is not JSON: {exc}") from None


def describe(exc: BaseException) -> str:
    fields = getattr(exc, "fields", None)
    text = str(exc)
    if fields:
        text += " " + json.dumps(fields, ensure_ascii=False, default=str)
    return text


@dataclass
class Item:
    """One delivered message on its way through a unit of work."""

    message: Any  # amqp.Message
    subscription: Subscription | None = None
    provider: Consume | None = None
    event: Event | None = None
    park: str | None = None  # the reason, when it goes to the parking queue
    retry: str | None = None  # the error, when it goes to the retry queue
    duplicate: bool = False

    @property
    def tag(self) -> int:
        return int(self.message.delivery_tag)

    @property
    def read(self) -> tuple[Subscription, Consume, Event]:
        """What a readable message holds: only those reach the unit of work."""
        if self.subscription is None or self.provider is None or self.event is None:
            raise RuntimeError("a message that was not read reached the unit of work")
        return self.subscription, self.provider, self.event

    @property
    def retries(self) -> int:
        try:
            return int((self.message.headers or {}).get(RETRIES_HEADER, 0))
        except (TypeError, ValueError):
            return 0


def waves(items: list[Item]) -> list[tuple[Consume, Subscription, list[Item]]]:
    """The handler calls of a batch, in order: the n-th event about one subject goes into
    the n-th wave, each wave one call per (method, subscription) in order of arrival. So
    events about one appeal are applied in the order they came, and no call gets two."""
    seen: dict[str, int] = {}
    calls: dict[tuple[int, str, Subscription], tuple[Consume, list[Item]]] = {}
    for item in items:
        subscription, provider, event = item.read
        key = event.subject or event.id
        wave = seen.get(key, 0)
        seen[key] = wave + 1
        calls.setdefault((wave, provider.method_name, subscription), (provider, []))[1].append(item)
    ordered = sorted(calls.items(), key=lambda kv: kv[0][0])  # stable: arrival order within a wave
    return [(provider, sub, group) for (_, _, sub), (provider, group) in ordered]


# ---------------------------------------------------------------- the service's consumer
class ConsumerHub(SharedExtension, ProviderCollector):
    """The service's consumer: its queues, its batches, its units of work (one per process).

    Config: ``AMQP_URI``; ``CONSUMER_BATCH`` (100); ``CONSUMER_BATCH_WAIT_MS`` (0);
    ``CONSUMER_PREFETCH`` (twice the batch). It writes through the service's
    :class:`shared.db.Database` and into the outbox of its :class:`shared.outbox.OutboxRelay`,
    which runs after a commit that wrote outbox rows (:meth:`shared.outbox.OutboxRelay.committed`).
    """

    def __init__(self) -> None:
        super().__init__()
        self._thread: GreenThread | None = None
        self._running = False
        self._stopped = GreenEvent()
        self._connection: Connection | None = None
        self._buffer: list[Any] = []  # taken, not yet settled: a batch leaves it once applied
        self.clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
        self.consuming = False  # its queues declared and consumed: what /healthz reports as "consumer"

    # ------------------------------------------------------------ lifecycle
    def setup(self) -> None:
        config = self.container.config
        self.amqp_uri = config["AMQP_URI"]
        self.batch_size = max(1, int(config.get("CONSUMER_BATCH", 100)))
        self.batch_wait = float(config.get("CONSUMER_BATCH_WAIT_MS", 0)) / 1000.0
        self.prefetch = int(config.get("CONSUMER_PREFETCH") or 2 * self.batch_size)

    def start(self) -> None:
        service = self.container.service_name
        self.subscriptions: list[Subscription] = []
        self._by_method: dict[str, Consume] = {}
        for provider in sorted(self._providers, key=lambda p: p.method_name):
            self._by_method[provider.method_name] = provider
            self.subscriptions.extend(provider.subscriptions(service, provider.method_name))
        self._by_queue = {sub.queue_name: sub for sub in self.subscriptions}
        self._by_route = {(sub.exchange, sub.event_type): sub for sub in self.subscriptions}
        self.service_queue = service_queue_name(service)
        self.relay = relay_of(self.container)
        self.database = database_of(self.container)
        self.tables = _Tables(self.relay.outbox)
        self._running = True
        metrics.CONSUMER_HELD.labels(service).set_function(self.held)
        self._thread = self.container.spawn_managed_thread(self._run, identifier="consumer_hub")

    def held(self) -> int:
        """Messages taken from the broker and not yet settled (what a quiet mesh has none of)."""
        return len(self._buffer)

    def unregister_provider(self, provider: Consume) -> None:
        self._stop_loop()
        super().unregister_provider(provider)

    def _stop_loop(self) -> None:
        if self._running:
            self._running = False
            self._stopped.wait()
        self._close()

    def stop(self) -> None:
        self._stop_loop()
        super().stop()

    def kill(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.kill()
        self._close()

    def _close(self) -> None:
        self.consuming = False
        if self._connection is not None:
            with contextlib.suppress(Exception):  # pragma: no cover - closing a broken connection
                self._connection.release()
            self._connection = None

    # ------------------------------------------------------------ the loop
    def _run(self) -> None:
        backoff = 0.5
        try:
            while self._running:
                try:
                    self._consume()
                    backoff = 0.5
                except BROKER_TROUBLE as exc:
                    if not self._running:  # stopping: the connection was closed under the loop
                        break
                    log.warning("%s consumer: broker connection lost (%s: %s); reconnecting",
                                self.container.service_name, type(exc).__name__, exc)
                    self._close()
                    self._buffer.clear()
                    eventlet.sleep(backoff)
                    backoff = min(backoff * 2, 10)
        finally:
            self._stopped.send(None)

    def _connect(self) -> tuple[Connection, Any, _SidePublisher]:
        connection = Connection(self.amqp_uri, heartbeat=30, connect_timeout=5)
        connection.ensure_connection(max_retries=1)
        self._connection = connection
        declare_all(connection, extra=self.subscriptions)
        channel = connection.channel()
        channel.basic_qos(0, self.prefetch, False)
        for name in [self.service_queue, *sorted(self._by_queue)]:
            channel.basic_consume(queue=name, consumer_tag=name, callback=self._on_message, no_ack=False)
        side = connection.channel()
        side.confirm_select()
        return connection, channel, _SidePublisher(side)

    def _on_message(self, message: Any) -> None:
        self._buffer.append(message)

    def _consume(self) -> None:
        self._buffer.clear()
        connection, channel, side = self._connect()
        self.consuming = True
        log.info("%s consumes %s and %d subscription queues (batch %d, wait %.0f ms, prefetch %d)",
                 self.container.service_name, self.service_queue, len(self._by_queue), self.batch_size,
                 self.batch_wait * 1000, self.prefetch)
        while self._running:
            if not self._buffer:
                try:
                    connection.drain_events(timeout=1.0)
                except TimeoutError:
                    connection.heartbeat_check()
                    continue
                if not self._buffer:  # a frame that was no delivery (a confirm, a heartbeat)
                    continue
            deadline = time.monotonic() + self.batch_wait
            while len(self._buffer) < self.batch_size:
                remaining = deadline - time.monotonic()
                try:  # past the wait, what is already on its way (TAKE_READY) still joins the batch
                    connection.drain_events(timeout=max(remaining, TAKE_READY))
                except TimeoutError:
                    break
            batch = self._buffer[:self.batch_size]
            self._handle(batch, channel, side)  # deliveries meanwhile go to the end of the buffer
            del self._buffer[:len(batch)]

    # ------------------------------------------------------------ one batch
    def _handle(self, messages: list[Any], channel: Any, side: _SidePublisher) -> None:
        items = [self._read(message) for message in messages]
        readable = [item for item in items if item.park is None]
        if readable:
            self._apply_with_fallback(readable)
        for item in items:
            if item.park is not None:
                side.park(item, self._parking_key(item))
            elif item.retry is not None:
                side.retry(item)
        channel.basic_ack(max(item.tag for item in items), multiple=True)
        self._count(items)

    def _parking_key(self, item: Item) -> str:
        return item.subscription.queue_name if item.subscription is not None else self.service_queue

    def _subscription_of(self, message: Any) -> Subscription | None:
        info = message.delivery_info or {}
        queue = info.get("consumer_tag")
        if queue in self._by_queue:
            return self._by_queue[queue]
        return self._by_route.get((info.get("exchange") or "", info.get("routing_key") or ""))

    def _read(self, message: Any) -> Item:
        item = Item(message, subscription=self._subscription_of(message))
        if item.subscription is None:
            info = message.delivery_info or {}
            item.park = (f"no subscription of {self.container.service_name} for "
                         f"{info.get('exchange')!r} / {info.get('routing_key')!r}")
            return item
        item.provider = self._by_method[item.subscription.method]
        try:
            item.event = item.provider.parse(read_body(message), message, item.subscription)
        except (EventError, PoisonMessage) as exc:
            item.park = describe(exc)
        return item

    def _apply_with_fallback(self, items: list[Item], whole: bool = True) -> None:
        """Apply ``items`` in one unit of work; when a handler fails, apply each half on its own
        (in order), down to the one message that fails, which is retried or parked alone. One bad
        message in a batch of 100 costs about 14 transactions instead of 101; an event retried
        because its appeal is not known yet (two replicas, two sources) holds back only itself."""
        try:
            self._apply_held(items)
            return
        except RecoverableConnectionError:  # stopping while the database is away: nothing is settled
            raise
        except Exception as exc:
            if len(items) == 1:
                self._settle_failure(items[0], exc)
                return
            if whole:
                log.warning("%s: a batch of %d failed (%s: %s); applying it in halves",
                            self.container.service_name, len(items), type(exc).__name__, exc)
        middle = len(items) // 2
        self._apply_with_fallback(items[:middle], whole=False)
        self._apply_with_fallback(items[middle:], whole=False)

    def _settle_failure(self, item: Item, exc: Exception) -> None:
        if isinstance(exc, (EventError, PoisonMessage, DomainError)):
            item.park = describe(exc)
            return
        retries, limit = item.retries, max_retries()
        if retries < limit:
            log.warning("%s failed (%s: %s); retry %d of %d after a delay", self._parking_key(item),
                        type(exc).__name__, exc, retries + 1, limit)
            item.retry = f"{type(exc).__name__}: {exc}"
        else:
            item.park = f"failed {retries + 1} times; last error {type(exc).__name__}: {exc}"

    def _apply_held(self, items: list[Item]) -> None:
        """Apply; while the database is unavailable, hold the batch and try again."""
        backoff = 0.2
        rollbacks = 0
        while True:
            try:
                return self._apply(items)
            except Unavailable as exc:
                if not self._running:
                    raise RecoverableConnectionError(f"stopping with the database unavailable ({exc})") from exc
                log.warning("%s: database unavailable (%s); holding %d message(s), again in %.1fs",
                            self.container.service_name, exc.__cause__ or exc, len(items), backoff)
            except DBAPIError as exc:
                if not _transient(exc) or rollbacks >= 3:
                    raise
                rollbacks += 1  # a deadlock or serialization failure: the same batch again
            eventlet.sleep(backoff)
            backoff = min(backoff * 2, 5)

    def _apply(self, items: list[Item]) -> None:
        now = self.clock()
        if self.database.engine is None:
            raise RuntimeError("the database starts before the consumer")
        try:
            connection = self.database.engine.connect()
        except DBAPIError as exc:
            raise Unavailable(str(exc.orig)) from exc
        after: list[Callable[[], None]] = []
        published: list[Event] = []
        handed: list[HandedRow] = []
        hand_over = self.relay.takes_handoff
        try:
            # BEGIN goes with the inbox's insert, the handlers' writes with their next statement,
            # the rest and the outbox's insert with COMMIT (shared.db.pipelined_transaction)
            with pipelined_transaction(connection):
                fresh = self._record_inbox(connection, items, now)
                for provider, sub, group in waves(fresh):
                    batch = Batch(subscription=sub, events=[item.read[2] for item in group],
                                  connection=connection, now=now)
                    self._call(provider, batch)
                    published.extend(batch.published)
                    after.extend(batch._after_commit)
                if published and hand_over:
                    handed = write_handed(connection, self.tables.outbox, published, now, self.relay.hold)
                elif published:
                    insert_rows(connection, self.tables.outbox, [outbox_row(event, now) for event in published])
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise Unavailable(str(exc.orig)) from exc
            raise
        finally:
            connection.close()
        if handed:
            self.relay.hand_over(handed)
        elif published:
            self.relay.committed()
        for callback in after:
            try:
                callback()
            except Exception:  # pragma: no cover - a metric must not undo a commit
                log.exception("after-commit callback failed")

    def _record_inbox(self, connection: DbConnection, items: list[Item], now: datetime) -> list[Item]:
        rows = [{"event_id": item.read[2].id, "consumer": item.read[0].inbox_key, "processed_at": now}
                for item in items]
        inbox = self.tables.inbox
        new = {tuple(row) for row in insert_rows(connection, inbox, rows, ignore_conflicts=True,
                                                 returning=(inbox.c.event_id, inbox.c.consumer))}
        fresh = []
        for item in items:
            key = (item.read[2].id, item.read[0].inbox_key)
            if key in new:
                new.discard(key)  # a repeat within the batch is a duplicate too
                fresh.append(item)
            else:
                item.duplicate = True
        return fresh

    def _call(self, provider: Consume, batch: Batch) -> None:
        done = GreenEvent()

        def handle_result(worker_ctx: WorkerContext, result: Any, exc_info: Any) -> tuple[Any, Any]:
            done.send(exc_info)
            return result, exc_info

        self.container.spawn_worker(provider, (batch,), {}, handle_result=handle_result)
        exc_info = done.wait()
        if exc_info is not None:
            raise exc_info[1].with_traceback(exc_info[2])

    def _count(self, items: list[Item]) -> None:
        service = self.container.service_name
        sizes = metrics.CONSUMER_BATCH_SIZE.labels(service)
        sizes.observe(len(items))
        for item in items:
            result = ("dead_lettered" if item.park is not None else "retried" if item.retry is not None
                      else "duplicate" if item.duplicate else "processed")
            queue = item.subscription.queue_name if item.subscription else self.service_queue
            metrics.EVENTS_CONSUMED.labels(service, queue, result).inc()


def _transient(exc: DBAPIError) -> bool:
    """A deadlock or a serialization failure: the transaction may simply be run again."""
    from psycopg2.extensions import TransactionRollbackError

    return isinstance(getattr(exc, "orig", None), TransactionRollbackError)


class Consume(Entrypoint):
    """The entrypoint behind :func:`consume`; its worker gets a :class:`Batch`."""

    def __init__(self, source: str, *event_types: str,
                 parser: Callable[[Any, Any], Event] | None = None, **kwargs: Any) -> None:
        if not event_types:
            raise TypeError("consume(source, event_type, ...) needs at least one event type")
        kwargs.setdefault("expected_exceptions", (EventError, DomainError, PoisonMessage, NotKnownYet))
        super().__init__(**kwargs)
        self.source = source
        self.event_types = tuple(event_types)
        self.parser = parser

    hub = ConsumerHub()  # the service's consumer, shared by its consume entrypoints

    def subscriptions(self, consumer: str, method_name: str) -> list[Subscription]:
        return [Subscription(consumer, method_name, self.source, t) for t in self.event_types]

    def setup(self) -> None:
        self.hub.register_provider(self)

    def stop(self) -> None:
        self.hub.unregister_provider(self)

    def kill(self) -> None:
        self.hub.unregister_provider(self)

    def parse(self, body: Any, message: Any, subscription: Subscription) -> Event:
        if self.parser is not None:
            return self.parser(body, message)
        return default_parser(body, message, subscription)


consume = Consume.decorator
"""``@consume(source, *event_types, parser=None)``: see the module's docstring."""


class _Tables:
    """The unit of work's own tables: the service's outbox and its inbox."""

    def __init__(self, outbox: Table):
        self.outbox = outbox
        inbox = outbox.metadata.tables.get("inbox")
        if inbox is None:
            raise RuntimeError("the outbox's metadata has no inbox table (shared.outbox.messaging_tables)")
        self.inbox: Table = inbox


class _SidePublisher:
    """Publishes parked and retried copies with confirms, on a channel of the consumer's connection."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self._returned: list[str] = []
        channel.events["basic_return"].add(lambda exc, exchange, routing_key, message:
                                           self._returned.append(f"{exchange}/{routing_key}: {exc}"))

    def _publish(self, message: Any, exchange: str, routing_key: str, headers: dict[str, Any]) -> None:
        properties = dict(message.properties or {})
        for name in ("application_headers", "user_id", "expiration"):  # user_id: the broker checks it
            properties.pop(name, None)
        properties["delivery_mode"] = 2
        copy = amqp.Message(message.body, application_headers=headers, **properties)
        self._returned.clear()
        self.channel.basic_publish_confirm(copy, exchange=exchange, routing_key=routing_key, mandatory=True,
                                           confirm_timeout=10)
        if self._returned:
            raise RecoverableConnectionError(f"{self._returned[0]}: not routed (topology missing?)")

    def park(self, item: Item, queue_name: str) -> None:
        log.warning("dead-lettering a message from %s: %s", queue_name, item.park)
        headers = {k: v for k, v in (item.message.headers or {}).items() if k != "x-death"}
        headers.update({REASON_HEADER: (item.park or "")[:2000], "x-suqiu-queue": queue_name,
                        "x-suqiu-parked-at": datetime.now(timezone.utc).isoformat()})
        self._publish(item.message, DEAD_LETTER_EXCHANGE, queue_name, headers)

    def retry(self, item: Item) -> None:
        headers = dict(item.message.headers or {})
        headers.update({RETRIES_HEADER: item.retries + 1, "x-suqiu-last-error": (item.retry or "")[:2000]})
        self._publish(item.message, RETRY_EXCHANGE, item.read[0].queue_name, headers)
