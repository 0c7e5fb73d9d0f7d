"""The transactional outbox and the idempotent inbox.

A state change and the events it causes are written in one transaction: the
events as rows of the service's ``outbox`` table. :class:`OutboxRelay` publishes
the unsent rows with publisher confirms and ``mandatory=True`` (an unroutable
event stays in the outbox and is retried later) and marks them sent. Replicas
claim batches with ``FOR UPDATE SKIP LOCKED``; what a crash left behind is
simply still unsent, and is published when a relay runs again.

The relay runs right after a commit that wrote outbox rows, in one of two ways:

* **Handed over** (the consumer's unit of work, the hot path): the unit of work writes its
  rows *held*, ``available_at`` ``OUTBOX_HANDOFF_SECONDS`` (30) after ``created_at``, and
  after its commit hands them (:meth:`OutboxRelay.hand_over`) to the relay of its own
  process, which publishes them at once, with no query and no transaction of its own, and
  marks the confirmed ones sent with one ``UPDATE`` for everything confirmed in the last
  ``OUTBOX_MARK_MS`` (100). A process that dies between the commit and the confirm leaves
  the rows unsent: once their hold is over, any relay's pass publishes them (consumers drop
  a repeat by its event id). Nobody else claims a held row before then.
* **Found** by a pass (``SELECT ... FOR UPDATE SKIP LOCKED`` of the rows available now):
  what HTTP workers, the tick and other processes wrote. On PostgreSQL a row trigger on
  ``outbox`` (:func:`notify_when_available`, in each service's migrations) sends
  ``NOTIFY suqiu_outbox`` at the commit of a row written available at once (not a held
  one), which the relay LISTENs for. While it does not listen (SQLite,
  ``OUTBOX_LISTEN=false``, the LISTEN connection lost and not back yet) the unit of work
  and every worker's end wake it in the process. Otherwise it sleeps: a slow poll
  (``OUTBOX_POLL_SECONDS``) is only the safety net, and publishes held rows whose hold ran out.

Consumers record each processed event id in ``inbox`` in the same transaction
as its effect (:mod:`shared.consumers`); a redelivered event finds its id there
and changes nothing.
"""
from __future__ import annotations

import contextlib
import json
import logging
import time as _time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import eventlet
from kombu import Connection
from nameko.containers import ServiceContainer, WorkerContext
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.engine import Connection as DbConnection
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from alembic.operations import Operations

from shared import metrics
from shared.config import flag
from shared.db import database_of, insert_rows
from shared.events import Event
from shared.loops import BackgroundLoop
from shared.topology import declare_all, events_exchange

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


def outbox_row(event: Event, now: datetime, hold: float = 0) -> dict[str, Any]:
    """The outbox row of ``event`` (to insert in the caller's transaction); ``hold`` seconds:
    a row its writer hands to its relay (:meth:`OutboxRelay.hand_over`), which no pass claims
    before then."""
    return {"event_id": event.id, "event_type": event.type, "exchange": events_exchange(event.producer).name,
            "routing_key": event.type, "body": json.dumps(event.to_message(), ensure_ascii=False),
            "created_at": now, "available_at": now + timedelta(seconds=hold) if hold else now, "attempts": 0}


@dataclass(frozen=True)
class HandedRow:
    """An outbox row its writer committed and handed to the relay: what publishing it needs (the
    row is found again by its ``event_id``, unique in the table)."""

    event_id: str
    event_type: str
    exchange: str
    routing_key: str
    body: str
    attempts: int = 0


def write_handed(connection: DbConnection, outbox: Table, events: Sequence[Event], now: datetime,
                 hold: float) -> list[HandedRow]:
    """Write ``events`` to the outbox held for ``hold`` seconds, in the caller's transaction (one
    insert with nothing to return: inside :func:`shared.db.pipelined_transaction` it goes with the
    ``COMMIT``); the rows to give :meth:`OutboxRelay.hand_over` once it committed, in order."""
    rows = [outbox_row(event, now, hold) for event in events]
    insert_rows(connection, outbox, rows)
    return [HandedRow(row["event_id"], row["event_type"], row["exchange"], row["routing_key"], row["body"])
            for row in rows]


def add_event(session: Session | DbConnection, outbox: Table, event: Event) -> None:
    """Queue an event in the caller's transaction; it is published after the commit."""
    add_events(session, outbox, [event])


def add_events(session: Session | DbConnection, outbox: Table, events: list[Event]) -> None:
    """Queue several events in the caller's transaction with one INSERT (``insert_rows``), in
    order; for a use case that raises many at once (supervision's tick), where a round trip per
    event would dominate. :func:`add_event` is its one-event case."""
    if events:
        now = datetime.now(timezone.utc)
        insert_rows(session, outbox, [outbox_row(event, now) for event in events])


NACKED = "nacked by the broker"


class OutboxPublisher:
    """Publishes outbox rows in pipelined batches with publisher confirms.

    A batch is published in one go (``mandatory=True``, persistent), then the
    broker's confirms are awaited together: one round trip per batch instead of
    one per event. A row counts as sent only when the broker confirmed it and did
    not return it as unroutable.
    """

    def __init__(self, amqp_uri: str, confirm_timeout: float = 10.0):
        self.amqp_uri = amqp_uri
        self.confirm_timeout = confirm_timeout
        # py-amqp's, unannotated
        self.connection: Any = None
        self.channel: Any = None
        self._next_tag = 0
        self._host = 0  # which of the URI's brokers to try first (the last one that answered)

    def connect(self) -> None:
        """Connect to the first broker of ``AMQP_URI`` that answers: several nodes of a cluster
        are written ``amqp://a;amqp://b;amqp://c`` (kombu's failover form), tried in turn from the
        one used last."""
        import amqp

        self.close()
        hosts = [Connection(url).info() for url in (Connection(self.amqp_uri).alt or [self.amqp_uri])]
        failures = []
        for step in range(len(hosts)):
            index = (self._host + step) % len(hosts)
            info = hosts[index]
            connection = amqp.Connection(
                host=f"{info['hostname']}:{info['port']}", userid=info["userid"], password=info["password"],
                virtual_host=info["virtual_host"], connect_timeout=5, heartbeat=0)
            # without connection.blocked, py-amqp reads the socket before every publish (a fifth of
            # the relay's CPU); a blocked broker shows here as confirms that do not come in time
            connection.negotiate_capabilities = {**connection.negotiate_capabilities, "connection.blocked": False}
            try:
                connection.connect()
                channel = connection.channel()
                channel.confirm_select()
            except (OSError, amqp.exceptions.AMQPError) as exc:
                failures.append(f"{info['hostname']}:{info['port']}: {exc}")
                with contextlib.suppress(Exception):  # pragma: no cover - dropping a half-open connection
                    connection.collect()
                continue
            self._host = index
            self.connection, self.channel, self._next_tag = connection, channel, 0
            return
        raise ConnectionError(f"no broker of AMQP_URI answers ({'; '.join(failures)})")

    def switch(self) -> None:
        """Close, and connect to the next node of the URL next time (after a nack)."""
        self.close()
        self._host += 1

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):  # pragma: no cover - closing a broken connection
                self.connection.close()
        self.connection = None
        self.channel = None

    def publish_batch(self, rows: Sequence[Any]) -> tuple[list[Any], dict[str, Any]]:
        """Publish ``rows``; returns (confirmed rows, {event_id: reason} refused ones)."""
        import amqp

        if self.channel is None:
            self.connect()
        channel = self.channel
        pending: dict[int, Any] = {}
        confirmed: list[Any] = []
        refused: dict[str, str] = {}

        def settle(delivery_tag: int, multiple: bool, ok: bool) -> None:
            tags = [t for t in pending if t <= delivery_tag] if multiple else [delivery_tag]
            for tag in tags:
                row = pending.pop(tag, None)
                if row is None:
                    continue
                if not ok:
                    refused.setdefault(row.event_id, NACKED)
                elif row.event_id not in refused:
                    confirmed.append(row)

        def on_return(exc: Exception, exchange: str, routing_key: str, message: Any) -> None:
            message_id = message.properties.get("message_id")
            refused[message_id] = f"unroutable: {exc}"

        channel.events["basic_ack"].add(lambda tag, multiple: settle(tag, multiple, True))
        channel.events["basic_nack"].add(lambda tag, multiple: settle(tag, multiple, False))
        channel.events["basic_return"].add(on_return)
        try:
            now = int(_time.time())
            with _corked(self.connection.transport):
                for row in rows:
                    correlation = json.loads(row.body).get("correlationid")
                    message = amqp.Message(
                        row.body.encode("utf-8"), content_type="application/json", content_encoding="utf-8",
                        delivery_mode=2, message_id=row.event_id, timestamp=now, type=row.event_type,
                        application_headers={"correlation_id": correlation})
                    channel.basic_publish(message, exchange=row.exchange, routing_key=row.routing_key,
                                          mandatory=True)
                    self._next_tag += 1
                    pending[self._next_tag] = row
            deadline = _time.monotonic() + self.confirm_timeout
            while pending:
                remaining = deadline - _time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(pending)} confirms not received in {self.confirm_timeout}s")
                self.connection.drain_events(timeout=remaining)
        finally:
            channel.events["basic_ack"].clear()
            channel.events["basic_nack"].clear()
            channel.events["basic_return"].clear()
        return confirmed, refused


@contextlib.contextmanager
def _corked(transport: Any) -> Iterator[None]:
    """The frames py-amqp writes inside go to the socket in one ``sendall`` at the end, not one
    per message (a system call and a trip through eventlet's hub each: half the relay's CPU).
    py-amqp hands its writer a view of a buffer it reuses, hence the copy."""
    send = transport._write
    frames: list[bytes] = []
    transport._write = lambda data: frames.append(bytes(data))
    try:
        yield
    finally:
        transport._write = send
    transport.write(b"".join(frames))


def relay_batch(engine: Engine, outbox: Table, publisher: OutboxPublisher, *, service: str,
                batch_size: int = 100, now: datetime | None = None, max_delay: float = 300) -> int:
    """Publish one batch of unsent rows available now; returns how many the broker confirmed.

    A row the broker refused (unroutable, or nacked: a cluster nacks while its queues elect new
    leaders after a node stopped) waits ``2 ** attempts`` seconds, at most ``max_delay``
    (``OUTBOX_RETRY_MAX_SECONDS``), before it is published again."""
    now = now or datetime.now(timezone.utc)
    with engine.connect() as conn, conn.begin():
        query = (select(outbox).where(outbox.c.sent_at.is_(None), outbox.c.available_at <= now)
                 .order_by(outbox.c.id).limit(batch_size))
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = conn.execute(query).fetchall()
        if not rows:
            return 0
        confirmed, refused = publish_rows(publisher, rows, service)
        if confirmed:
            mark_sent(conn, outbox, [row.event_id for row in confirmed], datetime.now(timezone.utc))
        record_refused(conn, outbox, rows, refused, now=now, max_delay=max_delay, service=service)
        return len(confirmed)


def publish_rows(publisher: OutboxPublisher, rows: Sequence[Any], service: str) -> tuple[list[Any], dict[str, str]]:
    """Publish ``rows`` with confirms: (confirmed rows, {event id: reason} refused ones). When the
    connection breaks or confirms do not come, it raises and nothing counts as sent: all are
    published again later (consumers drop the repeats by event id). After a nack, the next try
    connects to the next node of the URL (a cluster's node can keep nacking what it routes to a
    queue whose leader it lost, while the other nodes take it)."""
    try:
        confirmed, refused = publisher.publish_batch(rows)
    except Exception as exc:
        publisher.close()
        log.warning("outbox relay: batch of %d not confirmed (%s); will retry", len(rows), exc)
        raise
    for row in confirmed:
        metrics.EVENTS_PUBLISHED.labels(service, row.event_type).inc()
    if any(reason == NACKED for reason in refused.values()):
        publisher.switch()
    return confirmed, refused


def mark_sent(conn: DbConnection, outbox: Table, event_ids: Sequence[str], now: datetime) -> None:
    """The rows of ``event_ids``, confirmed by the broker, are sent."""
    conn.execute(update(outbox).where(outbox.c.event_id.in_(event_ids))
                 .values(sent_at=now, attempts=outbox.c.attempts + 1))


def record_refused(conn: DbConnection, outbox: Table, rows: Iterable[Any], refused: dict[str, str], *,
                   now: datetime, max_delay: float, service: str) -> None:
    """Each refused row waits ``2 ** attempts`` seconds (at most ``max_delay``) with its reason."""
    for row in rows:
        reason = refused.get(row.event_id)
        if reason is None:
            continue
        delay = min(max_delay, 2 ** min(row.attempts, 8))
        conn.execute(update(outbox).where(outbox.c.event_id == row.event_id).values(
            attempts=outbox.c.attempts + 1, last_error=reason[:500],
            available_at=now + timedelta(seconds=delay)))
        metrics.OUTBOX_FAILURES.labels(service, row.event_type).inc()
        log.warning("outbox relay: %s %s not published (%s); retry in %ss",
                    row.event_type, row.event_id, reason, delay)


NOTIFY_CHANNEL = "suqiu_outbox"


_NOTIFY_FUNCTION = f"""
        CREATE OR REPLACE FUNCTION suqiu_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{NOTIFY_CHANNEL}', '');
            RETURN NULL;
        END $$"""
_DROP_TRIGGER = "DROP TRIGGER IF EXISTS outbox_notify ON outbox"
# the first shape (migrations of 2026-12-04): every INSERT statement, held rows too
_EVERY_INSERT = [_DROP_TRIGGER, _NOTIFY_FUNCTION,
                 "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox "
                 "FOR EACH STATEMENT EXECUTE FUNCTION suqiu_outbox_notify()"]
# a row available at once, not one its writer holds for its own relay (shared.outbox.write_handed);
# the condition is checked by the executor, the function runs only for such rows
_WHEN_AVAILABLE = [_DROP_TRIGGER, _NOTIFY_FUNCTION,
                   "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH ROW "
                   "WHEN (NEW.available_at <= NEW.created_at) EXECUTE FUNCTION suqiu_outbox_notify()"]


def create_notify_trigger(op: Operations) -> None:
    """For a service's migration: ``NOTIFY suqiu_outbox`` at the commit of a transaction
    that inserted outbox rows (once per statement; PostgreSQL folds repeats in one
    transaction). Nothing on SQLite, where the relay polls. Later migrations replace it with
    :func:`notify_when_available`."""
    _execute(op, _EVERY_INSERT)


def notify_when_available(op: Operations) -> None:
    """For a service's migration: ``NOTIFY suqiu_outbox`` at the commit of a transaction that
    inserted an outbox row available at once; a row held for its writer's relay
    (:func:`write_handed`) wakes nobody (PostgreSQL folds repeats in one transaction)."""
    _execute(op, _WHEN_AVAILABLE)


def _execute(op: Operations, statements: list[str]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in statements:
        op.execute(statement)


def install_notify_trigger(connection: DbConnection) -> None:
    """The migrations' trigger (:func:`notify_when_available`) on a connection, for tables made
    with ``create_all`` (tests), not migrated."""
    if connection.dialect.name != "postgresql":
        return
    for statement in _WHEN_AVAILABLE:
        connection.exec_driver_sql(statement)


def drop_notify_trigger(op: Operations) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_DROP_TRIGGER)
    op.execute("DROP FUNCTION IF EXISTS suqiu_outbox_notify()")


def relay_of(container: ServiceContainer) -> OutboxRelay:
    """The :class:`OutboxRelay` of a service container (the consumer writes into its outbox)."""
    for dependency in container.dependencies:
        if isinstance(dependency, OutboxRelay):
            return dependency
    raise RuntimeError(f"{container.service_name} has no shared.outbox.OutboxRelay dependency")


def backlog(engine: Engine, outbox: Table, now: datetime) -> tuple[int, float]:
    """(unsent events, age in seconds of the oldest of them; 0 when none): what the alert rules watch."""
    with engine.connect() as conn:
        count, oldest = conn.execute(select(func.count(), func.min(outbox.c.created_at))
                                     .where(outbox.c.sent_at.is_(None))).one()
    if not count or oldest is None:
        return 0, 0.0
    if oldest.tzinfo is None:  # SQLite keeps no zone
        oldest = oldest.replace(tzinfo=timezone.utc)
    return count, max(0.0, (now - oldest).total_seconds())


class OutboxRelay(BackgroundLoop):
    """Runs the relay loop inside the service: publishes the rows the unit of work hands over
    (:meth:`hand_over`) at once, and runs a pass over the rows available now right after a
    commit it hears of, else every ``OUTBOX_POLL_SECONDS`` (5).

    A pass is due when :meth:`wake` is called: on PostgreSQL by ``NOTIFY suqiu_outbox`` on a
    connection of its own that LISTENs (one connection more than the pool: see ``DB_POOL_SIZE``
    in :mod:`shared.db`), to ``OUTBOX_LISTEN_URL`` when set (PostgreSQL itself, when
    ``DATABASE_URL`` is a PgBouncer in transaction mode, where LISTEN does not work). Without it
    (SQLite, or ``OUTBOX_LISTEN=false``) every worker's end wakes it. Config: ``AMQP_URI``,
    ``OUTBOX_POLL_SECONDS``, ``OUTBOX_BATCH`` (100), ``OUTBOX_RETRY_MAX_SECONDS`` (300: the longest
    wait of a refused row), ``OUTBOX_HANDOFF_SECONDS`` (30: how long a handed row is held from
    other relays; 0 hands nothing over), ``OUTBOX_MARK_MS`` (100: how long confirmed handed rows
    wait to be marked sent together), ``OUTBOX_RELAY`` (true; false lets a test play a crash
    before publishing).
    """

    identifier = "outbox_relay"
    engine: Engine  # the service's, from start()

    def __init__(self, outbox: Table):
        super().__init__()
        self.outbox = outbox
        self.publisher: OutboxPublisher | None = None
        self.listening = False  # a LISTEN connection is wanted (its loop runs)
        self.heard = False  # and it is established: each commit's NOTIFY wakes the relay
        self._listener = None
        self._pass_due = True  # a pass over the rows available now (the first one at start)
        self._last_pass = 0.0  # time.monotonic() of the last one: the poll counts from there
        self._handed: list[HandedRow] = []  # committed, handed over, not published yet
        self._marks: list[str] = []  # event ids confirmed, not marked sent yet
        self._marks_since = 0.0  # time.monotonic() of the oldest of them

    def setup(self) -> None:
        config = self.container.config
        self.amqp_uri = config["AMQP_URI"]
        self.poll = float(config.get("OUTBOX_POLL_SECONDS", 5))
        self.batch = int(config.get("OUTBOX_BATCH", 100))
        self.max_delay = float(config.get("OUTBOX_RETRY_MAX_SECONDS") or 300)
        self.enabled = flag(config.get("OUTBOX_RELAY", "true"))
        self.listen = flag(config.get("OUTBOX_LISTEN", "true"))
        self.listen_url = config.get("OUTBOX_LISTEN_URL") or None
        self.hold = float(config.get("OUTBOX_HANDOFF_SECONDS", 30))
        self.mark_delay = float(config.get("OUTBOX_MARK_MS", 100)) / 1000.0

    def start(self) -> None:
        self._declare_topology()
        self.publisher = OutboxPublisher(self.amqp_uri)
        engine = database_of(self.container).engine
        if engine is None:
            raise RuntimeError(f"{self.container.service_name}: the database starts before the outbox relay")
        self.engine = engine
        if self.enabled and self.listen and self.engine.dialect.name == "postgresql":
            self.listening = True
            self._listener = self.container.spawn_managed_thread(self._listen, identifier="outbox_listener")
        self.start_loop()

    def _declare_topology(self, attempts: int = 4) -> None:
        """The mesh's exchanges and queues, on a new connection each try: a cluster node that stops
        while the service starts breaks the connection, the next try takes another node of the URL."""
        import amqp
        from kombu.exceptions import OperationalError

        for attempt in range(1, attempts + 1):
            try:
                with Connection(self.amqp_uri, connect_timeout=5) as connection:
                    declare_all(connection)
                return
            except (OSError, OperationalError, amqp.exceptions.ConnectionError) as exc:
                if attempt == attempts:
                    raise
                log.warning("%s: declaring the topology failed (%s: %s); again on a new connection",
                            self.container.service_name, type(exc).__name__, exc)
                eventlet.sleep(0.5 * attempt)

    def _stop_listening(self) -> None:
        self.listening = self.heard = False
        if self._listener is not None:
            self._listener.kill()
            self._listener = None

    def stop(self) -> None:
        self._stop_listening()
        super().stop()
        if self.publisher is not None:
            with contextlib.suppress(Exception):  # what is left is published once its hold is over
                self._publish_handed()
                self._mark()
            self.publisher.close()

    def kill(self) -> None:
        self._stop_listening()
        super().kill()

    def worker_result(self, worker_ctx: WorkerContext, result: Any = None, exc_info: Any = None) -> None:
        self.committed()  # the worker may have written rows

    @property
    def takes_handoff(self) -> bool:
        """Whether a unit of work may hand its rows over (:func:`write_handed`, :meth:`hand_over`):
        the relay runs in this process."""
        return self._running and self.hold > 0

    def hand_over(self, rows: Sequence[HandedRow]) -> None:
        """The unit of work committed ``rows`` (written held, :func:`write_handed`): publish them
        now. No pass is due for them."""
        if rows:
            self._handed.extend(rows)
            super().wake()

    def wake(self) -> None:
        """A pass over the rows available now is due (a commit wrote some, or may have)."""
        self._pass_due = True
        super().wake()

    def committed(self) -> None:
        """This process committed outbox rows. While the LISTEN is up, the commit's NOTIFY wakes
        the relay; waking it here as well made a second, empty pass (BEGIN, SELECT, COMMIT)
        after a third of the units of work at 40 appeals/s, as the NOTIFY came in during the
        first. Without a LISTEN (SQLite, ``OUTBOX_LISTEN=false``, the connection lost) it is woken here."""
        if not self.heard:
            self.wake()

    def _listen(self) -> None:
        """LISTEN suqiu_outbox on a connection of its own; each NOTIFY wakes the relay."""
        from eventlet.hubs import trampoline

        backoff = 0.5
        while self.listening:
            connection: Any = None  # psycopg2's
            try:
                if self.listen_url:
                    import psycopg2
                    from sqlalchemy.engine import make_url

                    url = make_url(self.listen_url).set(drivername="postgresql")
                    connection = psycopg2.connect(url.render_as_string(hide_password=False))
                else:
                    pooled = self.engine.raw_connection()
                    connection = pooled.driver_connection
                    pooled.detach()  # a connection of its own, outside the pool's count
                connection.autocommit = True
                with connection.cursor() as cursor:
                    cursor.execute(f"LISTEN {NOTIFY_CHANNEL}")
                self.heard = True
                self.wake()  # rows may have been written while nobody listened
                backoff = 0.5
                while self.listening:
                    with contextlib.suppress(TimeoutError):
                        trampoline(connection.fileno(), read=True, timeout=60, timeout_exc=TimeoutError)
                    connection.poll()
                    if connection.notifies:
                        connection.notifies.clear()
                        self.wake()
            except Exception as exc:  # the database went away: listen again when it is back
                self.heard = False
                log.warning("outbox listener of %s: %s; listening again in %.1fs",
                            self.container.service_name, exc, backoff)
                self.wake()
                eventlet.sleep(backoff)
                backoff = min(backoff * 2, 10)
            finally:
                self.heard = False
                if connection is not None:
                    with contextlib.suppress(Exception):  # pragma: no cover
                        connection.close()

    def run_once(self) -> bool:
        if self.publisher is None:
            raise RuntimeError("the outbox relay runs only once started")
        self._publish_handed()
        now = _time.monotonic()
        if self._marks and (len(self._marks) >= self.batch or now >= self._marks_since + self.mark_delay):
            self._mark()
        if self._pass_due or now >= self._last_pass + self.poll:
            self._pass_due, self._last_pass = False, now
            sent = relay_batch(self.engine, self.outbox, self.publisher, service=self.container.service_name,
                               batch_size=self.batch, max_delay=self.max_delay)
            self._pass_due = sent >= self.batch
        return self._pass_due or bool(self._handed)

    def next_wait(self) -> float:
        """Until the next poll, or until the confirmed rows are due to be marked sent."""
        due = self._last_pass + self.poll
        if self._marks:
            due = min(due, self._marks_since + self.mark_delay)
        return max(0.0, due - _time.monotonic())

    def _publish_handed(self) -> None:
        """Publish the rows handed over; the confirmed ones wait to be marked sent together. When the
        batch is not confirmed, its rows are made available at once, for the pass after the back-off."""
        if self.publisher is None:
            raise RuntimeError("the outbox relay publishes only once started")
        rows, self._handed = self._handed, []
        if not rows:
            return
        try:
            confirmed, refused = publish_rows(self.publisher, rows, self.container.service_name)
        except Exception:
            outbox = self.outbox
            with contextlib.suppress(Exception), self.engine.begin() as conn:  # else: once their hold is over
                conn.execute(update(outbox).where(outbox.c.event_id.in_([row.event_id for row in rows]),
                                                  outbox.c.sent_at.is_(None))
                             .values(available_at=datetime.now(timezone.utc)))
            raise
        if confirmed:
            if not self._marks:
                self._marks_since = _time.monotonic()
            self._marks.extend(row.event_id for row in confirmed)
        if refused:
            with self.engine.begin() as conn:
                record_refused(conn, self.outbox, rows, refused, now=datetime.now(timezone.utc),
                               max_delay=self.max_delay, service=self.container.service_name)

    def _mark(self) -> None:
        """Mark the confirmed handed rows sent, in one statement (kept for the next try when it fails)."""
        if not self._marks:
            return
        ids = list(self._marks)
        with self.engine.begin() as conn:
            mark_sent(conn, self.outbox, ids, datetime.now(timezone.utc))
        del self._marks[:len(ids)]  # those confirmed meanwhile wait for the next time
        self._marks_since = _time.monotonic()

    def on_failure(self, exc: Exception) -> None:
        self._pass_due = True  # what a failed pass or handed batch left is published by the next pass
        if self.publisher is not None:
            self.publisher.close()

    def observe_backlog(self) -> None:
        """Set the outbox gauges from the table (at a scrape: right even when the relay is stuck)."""
        count, age = backlog(self.engine, self.outbox, datetime.now(timezone.utc))
        service = self.container.service_name
        metrics.OUTBOX_UNSENT.labels(service).set(count)
        metrics.OUTBOX_OLDEST_AGE.labels(service).set(age)
