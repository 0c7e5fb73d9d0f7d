"""The transactional outbox and the idempotent inbox.

A state change and the events it causes are written in one transaction: the
events as rows of the service's ``outbox`` table. :class:`OutboxRelay` publishes
the unsent rows with publisher confirms and ``mandatory=True`` (an unroutable
event stays in the outbox and is retried later) and marks them sent. Replicas
claim batches with ``FOR UPDATE SKIP LOCKED``; what a crash left behind is
simply still unsent, and is published when a relay runs again.

Consumers record each processed event id in ``inbox`` in the same transaction
as its effect; a redelivered event finds its id there and changes nothing.
"""
from __future__ import annotations

import json
import logging
import time as _time
from datetime import datetime, timedelta, timezone

import eventlet
from eventlet.queue import Empty, Full, LightQueue
from kombu import Connection, Producer
from nameko.extensions import DependencyProvider
from sqlalchemy import (BigInteger, Column, DateTime, Index, Integer, MetaData, String, Table,
                        Text, func, insert, select, update)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from shared import metrics
from shared.events import Event
from shared.topology import events_exchange, declare_all

log = logging.getLogger(__name__)

_BigId = BigInteger().with_variant(Integer, "sqlite")


def messaging_tables(metadata: MetaData) -> tuple[Table, Table]:
    """The ``outbox`` and ``inbox`` tables, on a service's own metadata."""
    outbox = Table(
        "outbox", metadata,
        Column("id", _BigId, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("event_type", String(64), nullable=False),
        Column("exchange", String(128), nullable=False),
        Column("routing_key", String(128), nullable=False),
        Column("body", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("available_at", DateTime(timezone=True), nullable=False),
        Column("sent_at", DateTime(timezone=True), nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text, nullable=True),
    )
    Index("ix_outbox_unsent", outbox.c.available_at, outbox.c.id,
          postgresql_where=outbox.c.sent_at.is_(None), sqlite_where=outbox.c.sent_at.is_(None))
    inbox = Table(
        "inbox", metadata,
        Column("event_id", String(64), primary_key=True),
        Column("consumer", String(128), primary_key=True),
        Column("processed_at", DateTime(timezone=True), nullable=False),
    )
    return outbox, inbox


def add_event(session: Session, outbox: Table, event: Event) -> None:
    """Queue an event in the caller's transaction; it is published after the commit."""
    exchange = events_exchange(event.producer).name
    now = datetime.now(timezone.utc)
    session.execute(insert(outbox).values(
        event_id=event.id, event_type=event.type, exchange=exchange, routing_key=event.type,
        body=json.dumps(event.to_message(), ensure_ascii=False), created_at=now,
        available_at=now, attempts=0,
    ))


def first_delivery(session: Session, inbox: Table, event_id: str, consumer: str, now: datetime) -> bool:
    """True the first time ``consumer`` sees ``event_id``; records it in the caller's transaction.

    The primary key makes the record unique: two workers racing on the same
    redelivery cannot both commit, the loser retries and then sees it here.
    """
    seen = session.execute(
        select(inbox.c.event_id).where(inbox.c.event_id == event_id, inbox.c.consumer == consumer)
    ).first()
    if seen is not None:
        return False
    session.execute(insert(inbox).values(event_id=event_id, consumer=consumer, processed_at=now))
    return True


class PublishError(Exception):
    pass


class OutboxPublisher:
    """Publishes outbox rows with publisher confirms on one connection."""

    def __init__(self, amqp_uri: str):
        self.amqp_uri = amqp_uri
        self.connection: Connection | None = None
        self.producer: Producer | None = None

    def connect(self) -> None:
        self.close()
        self.connection = Connection(self.amqp_uri, transport_options={"confirm_publish": True},
                                     connect_timeout=5)
        self.connection.ensure_connection(max_retries=1)
        self.producer = Producer(self.connection.channel())

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.release()
            except Exception:  # pragma: no cover - closing a broken connection
                pass
        self.connection = None
        self.producer = None

    def publish(self, row) -> None:
        if self.producer is None:
            self.connect()
        body = row.body
        message = json.loads(body)
        self.producer.publish(
            body.encode("utf-8"),
            exchange=row.exchange,
            routing_key=row.routing_key,
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
            mandatory=True,
            message_id=row.event_id,
            timestamp=int(_time.time()),
            type=row.event_type,
            headers={"correlation_id": message.get("correlationid")},
            retry=False,
        )


def relay_batch(engine: Engine, outbox: Table, publisher: OutboxPublisher, *, service: str,
                batch_size: int = 100, now: datetime | None = None) -> int:
    """Publish one batch of unsent rows; returns how many were published."""
    now = now or datetime.now(timezone.utc)
    published = 0
    with engine.connect() as conn:
        with conn.begin():
            query = (select(outbox).where(outbox.c.sent_at.is_(None), outbox.c.available_at <= now)
                     .order_by(outbox.c.id).limit(batch_size))
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = conn.execute(query).fetchall()
            sent_ids = []
            for row in rows:
                try:
                    publisher.publish(row)
                except (ConnectionError, OSError) as exc:
                    publisher.close()
                    log.warning("outbox relay: broker connection lost (%s); will retry", exc)
                    break
                except Exception as exc:  # unroutable (NoRoute), channel closed, ...
                    publisher.close()
                    delay = min(300, 2 ** min(row.attempts, 8))
                    conn.execute(update(outbox).where(outbox.c.id == row.id).values(
                        attempts=outbox.c.attempts + 1, last_error=str(exc)[:500],
                        available_at=now + timedelta(seconds=delay)))
                    metrics.OUTBOX_FAILURES.labels(service, row.event_type).inc()
                    log.warning("outbox relay: %s %s not published (%s); retry in %ss",
                                row.event_type, row.event_id, exc, delay)
                    break
                sent_ids.append(row.id)
                metrics.EVENTS_PUBLISHED.labels(service, row.event_type).inc()
            if sent_ids:
                conn.execute(update(outbox).where(outbox.c.id.in_(sent_ids)).values(
                    sent_at=datetime.now(timezone.utc), attempts=outbox.c.attempts + 1))
                published = len(sent_ids)
    return published


def unsent_count(engine: Engine, outbox: Table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))).scalar_one()


class OutboxRelay(DependencyProvider):
    """Runs the relay loop inside the service; woken after each worker, polls otherwise.

    Config: ``AMQP_URI``, ``OUTBOX_POLL_SECONDS`` (default 0.5), ``OUTBOX_BATCH`` (100),
    ``OUTBOX_RELAY`` (true; false lets a test play a crash before publishing).
    """

    def __init__(self, outbox: Table):
        self.outbox = outbox
        self._wake = LightQueue(maxsize=1)
        self._running = False
        self._thread = None
        self.publisher: OutboxPublisher | None = None

    def setup(self) -> None:
        config = self.container.config
        self.amqp_uri = config["AMQP_URI"]
        self.poll = float(config.get("OUTBOX_POLL_SECONDS", 0.5))
        self.batch = int(config.get("OUTBOX_BATCH", 100))
        self.enabled = str(config.get("OUTBOX_RELAY", "true")).lower() in ("1", "true", "yes")

    def _engine(self) -> Engine:
        from shared.db import Database

        for dependency in self.container.dependencies:
            if isinstance(dependency, Database):
                return dependency.engine
        raise RuntimeError("OutboxRelay needs a shared.db.Database on the same service")

    def start(self) -> None:
        with Connection(self.amqp_uri, connect_timeout=5) as connection:
            declare_all(connection)
        self.publisher = OutboxPublisher(self.amqp_uri)
        if self.enabled:
            self._running = True
            self._thread = self.container.spawn_managed_thread(self._run, identifier="outbox_relay")

    def stop(self) -> None:
        self._running = False
        self.wake()
        if self._thread is not None:
            self._thread.wait()
            self._thread = None
        if self.publisher is not None:
            self.publisher.close()

    def kill(self) -> None:
        self._running = False
        if self._thread is not None:
            self._thread.kill()
            self._thread = None

    def wake(self) -> None:
        try:
            self._wake.put_nowait(True)
        except Full:
            pass

    def worker_result(self, worker_ctx, result=None, exc_info=None) -> None:
        self.wake()

    def _run(self) -> None:
        engine = self._engine()
        service = self.container.service_name
        backoff = 0.5
        while self._running:
            try:
                sent = relay_batch(engine, self.outbox, self.publisher, service=service, batch_size=self.batch)
                backoff = 0.5
            except Exception as exc:
                log.warning("outbox relay of %s failed: %s", service, exc)
                self.publisher.close()
                eventlet.sleep(backoff)
                backoff = min(backoff * 2, 10)
                continue
            if sent >= self.batch:
                eventlet.sleep(0)
                continue
            try:
                self._wake.get(timeout=self.poll)
            except Empty:
                pass

    def get_dependency(self, worker_ctx):
        return self
