"""An event handler that loses nothing.

nameko's ``event_handler`` acks a message whose handler raised (the event is
gone), or with ``requeue_on_error=True`` requeues it at once in a hot loop, and
a body that cannot be decoded kills the consumer. :func:`event_handler` instead:

* reads the envelope before any worker runs; a poison message (not JSON, not an
  envelope, an unknown type, invalid data) goes straight to ``Q.dlq`` with its
  reason;
* on a handler error, rejects the message so the broker dead-letters it to
  ``Q.retry``, from where it comes back after ``retry_delay_ms()``; after
  ``max_retries()`` it is parked in ``Q.dlq`` with the last error as reason;
* consumes from the durable queue of :data:`shared.topology.SUBSCRIPTIONS`.
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone
from functools import partial
from typing import Any, Callable

from amqp.exceptions import ConnectionError as AmqpConnectionError
from amqp.exceptions import RecoverableConnectionError
from eventlet.semaphore import Semaphore
from kombu import Connection, Producer
from kombu.exceptions import OperationalError
from nameko.events import EventHandler
from nameko.messaging import Consumer, QueueConsumer

from shared import metrics
from shared.events import Event, EventError, read_event
from shared.topology import DEAD_LETTER_EXCHANGE, consumer_queue, max_retries, subscription_for
from shared.errors import DomainError

log = logging.getLogger(__name__)

REASON_HEADER = "x-suqiu-reason"
# what kombu passes on undecoded (a message without a content type reads as application/data)
RAW_CONTENT_TYPES = ("application/data", "application/text")


# what settling a message on a connection the broker dropped raises (a broker restart,
# a network cut): the socket's errors, py-amqp's and kombu's
CONNECTION_LOST = (OSError, AmqpConnectionError, RecoverableConnectionError, OperationalError)


class PoisonMessage(Exception):
    """The message can never be handled as it is; it goes to the dead-letter queue."""


class ReliableQueueConsumer(QueueConsumer):
    """nameko's queue consumer, but an undecodable body is dead-lettered, not fatal."""

    def get_consumers(self, consumer_cls, channel):
        consumers = super().get_consumers(consumer_cls, channel)
        for provider, consumer in self._consumers.items():
            consumer.on_decode_error = partial(self._on_decode_error, provider)
        return consumers

    def _on_decode_error(self, provider: "ReliableEventHandler", message, exc: Exception) -> None:
        """kombu would not decode the body for its content type (``text/plain``, ``text/json``,
        ``application/json; charset=utf-8`` ...): read it as JSON all the same, or park it."""
        try:
            body = read_json(message.body, message.content_encoding)
        except ValueError as not_json:
            provider.park(message, f"undecodable message: {not_json} (content type {message.content_type!r})")
            return
        self.handle_message(provider, body, message)

    def ack_message(self, message) -> None:
        """Ack; on a connection the broker dropped, let the broker redeliver instead.

        nameko only tolerates py-amqp's ``ConnectionError`` here: the socket's
        ``ConnectionResetError`` / ``BrokenPipeError`` of a worker that finished while the
        broker restarted escaped into the container and killed the service. An unacked
        message goes back to its queue when its connection closes; the inbox drops the repeat.
        """
        try:
            super().ack_message(message)
        except CONNECTION_LOST as exc:
            log.warning("could not ack a message (connection lost: %s); the broker will redeliver it", exc)

    def requeue_message(self, message) -> None:
        try:
            super().requeue_message(message)
        except CONNECTION_LOST as exc:
            log.warning("could not requeue a message (connection lost: %s); the broker will redeliver it", exc)


class DeadLetterPublisher:
    """Publishes parked messages to ``suqiu.dead-letter`` with confirms, one at a time."""

    def __init__(self, amqp_uri: str):
        self.amqp_uri = amqp_uri
        self._lock = Semaphore(1)
        self._connection: Connection | None = None

    def publish(self, queue_name: str, message, reason: str) -> None:
        headers = dict(message.headers or {})
        headers.pop("x-death", None)
        headers.update({
            REASON_HEADER: reason[:2000],
            "x-suqiu-queue": queue_name,
            "x-suqiu-parked-at": datetime.now(timezone.utc).isoformat(),
        })
        properties = message.properties or {}
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._connection is None:
                        self._connection = Connection(self.amqp_uri, transport_options={"confirm_publish": True})
                    producer = Producer(self._connection.default_channel)
                    producer.publish(
                        message.body, exchange=DEAD_LETTER_EXCHANGE, routing_key=queue_name,
                        content_type=message.content_type or "application/octet-stream",
                        content_encoding=message.content_encoding or "binary",
                        headers=headers, delivery_mode=2, mandatory=True,
                        message_id=properties.get("message_id"), retry=False,
                    )
                    return
                except Exception:
                    self.close()
                    if attempt == 2:
                        raise

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # pragma: no cover
                pass
            self._connection = None


def read_json(raw: bytes | str, encoding: str | None = None) -> Any:
    """A message body read as JSON, whatever its content type says; ValueError when it is not JSON."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        try:
            raw = bytes(raw).decode(encoding if encoding and encoding.lower() != "binary" else "utf-8")
        except (LookupError, UnicodeDecodeError) as exc:
            raise ValueError(f"the body is not text: {exc}") from None
    try:
        return json.loads(raw.removeprefix("\ufeff"))
    except ValueError as exc:
        raise ValueError(f"the body is not JSON: {exc}") from None


def retries_so_far(message, queue_name: str) -> int:
    """How often the broker dead-lettered this message out of ``queue_name`` (rejections)."""
    for death in (message.headers or {}).get("x-death") or []:
        if death.get("queue") == queue_name and death.get("reason") == "rejected":
            return int(death.get("count", 0))
    return 0


def default_parser(event_type: str) -> Callable[[Any, Any], Event]:
    def parse(body: Any, message) -> Event:
        return read_event(body, expected_type=event_type)

    return parse


class ReliableEventHandler(EventHandler):
    queue_consumer = ReliableQueueConsumer()

    def __init__(self, source_service: str, event_type: str, parser: Callable[[Any, Any], Event] | None = None,
                 **kwargs):
        kwargs.setdefault("expected_exceptions", (EventError, DomainError, PoisonMessage))
        super().__init__(source_service, event_type, requeue_on_error=False, **kwargs)
        self.parser = parser or default_parser(event_type)

    def setup(self) -> None:
        service = self.container.service_name
        self.subscription = subscription_for(service, self.method_name)
        if (self.subscription.source, self.subscription.event_type) != (self.source_service, self.event_type):
            raise RuntimeError(f"{service}.{self.method_name} handles {self.source_service}/{self.event_type} "
                               f"but the catalogue says {self.subscription}")
        self.queue = consumer_queue(self.subscription)
        self.dead_letters = DeadLetterPublisher(self.container.config["AMQP_URI"])
        Consumer.setup(self)

    def stop(self) -> None:
        super().stop()
        self.dead_letters.close()

    def _count(self, result: str) -> None:
        metrics.EVENTS_CONSUMED.labels(self.container.service_name, self.queue.name, result).inc()

    def park(self, message, reason: str) -> None:
        """Move the message to its dead-letter queue with the reason, then ack it."""
        log.warning("dead-lettering a message from %s: %s", self.queue.name, reason)
        try:
            self.dead_letters.publish(self.queue.name, message, reason)
        except Exception as exc:  # broker trouble: let the broker keep it for a retry
            log.error("could not dead-letter (%s); rejecting for a retry", exc)
            self._reject(message)
            return
        self._count("dead_lettered")
        self.queue_consumer.ack_message(message)

    def _reject(self, message) -> None:
        if message.channel.connection:
            try:
                message.reject(requeue=False)
            except CONNECTION_LOST as exc:  # the broker redelivers it (same as a retry, sooner)
                log.warning("could not reject a message (connection lost: %s); the broker will redeliver it", exc)

    def handle_message(self, body, message) -> None:
        if isinstance(body, (str, bytes)) and (message.content_type or "application/data") in RAW_CONTENT_TYPES:
            # no content type (or kombu's own raw ones): kombu handed the body over undecoded
            try:
                body = read_json(body, message.content_encoding)
            except ValueError as not_json:
                self.park(message, f"undecodable message: {not_json} (content type {message.content_type!r})")
                return
        try:
            event = self.parser(body, message)
        except (EventError, PoisonMessage) as exc:
            self.park(message, _describe(exc))
            return
        super().handle_message(event, message)

    def handle_message_processed(self, message, result=None, exc_info=None) -> None:
        if exc_info is None:
            self._count("processed")
            self.queue_consumer.ack_message(message)
            return
        exc = exc_info[1]
        if isinstance(exc, (EventError, PoisonMessage, DomainError)):
            self.park(message, _describe(exc))
            return
        retries, limit = retries_so_far(message, self.queue.name), max_retries()
        if retries < limit:
            log.warning("%s failed (%s: %s); retry %d of %d after a delay", self.queue.name,
                        type(exc).__name__, exc, retries + 1, limit)
            self._count("retried")
            self._reject(message)
        else:
            self.park(message, f"failed {retries + 1} times; last error {type(exc).__name__}: {exc}")


def _describe(exc: Exception) -> str:
    fields = getattr(exc, "fields", None)
    text = str(exc)
    if fields:
        text += " " + json.dumps(fields, ensure_ascii=False, default=str)
    return text


def body_digest(body: bytes | str) -> str:
    raw = body if isinstance(body, bytes) else body.encode("utf-8")
    return hashlib.sha256(raw).hexdigest()[:32]


event_handler = ReliableEventHandler.decorator
