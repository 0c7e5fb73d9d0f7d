"""Test fixtures: a real broker and database, a fresh vhost and database per test.

Where they come from, in order:

1. ``TEST_AMQP_URI`` / ``TEST_DATABASE_URL`` when set;
2. testcontainers (RabbitMQ, PostgreSQL) when a Docker engine answers;
3. the local servers: ``amqp://guest:guest@127.0.0.1:5672/`` and
   ``postgresql://postgres@127.0.0.1:5432/postgres``.

Each test gets its own vhost (created through the management API, else
``rabbitmqctl``) and its own database, dropped afterwards. Nothing here skips:
a missing server is an error that says what to start.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
import requests
from kombu import Connection
from sqlalchemy import Table, create_engine, text
from sqlalchemy.engine import Engine, make_url

from shared.db import normalise_url
from shared.ports import free_port

_T = TypeVar("_T")
# (the AMQP URI without a vhost, the management API's URL or None, (user, password))
BrokerBase = tuple[str, str | None, tuple[str, str]]

LOCAL_AMQP = "amqp://guest:guest@127.0.0.1:5672/"
LOCAL_DATABASE = "postgresql://postgres@127.0.0.1:5432/postgres"
TOKENS_FILE = os.path.join(os.path.dirname(__file__), "..", "tests", "tokens.yaml")


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=2)
        client.ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def broker_base() -> Iterator[BrokerBase]:
    """(amqp uri without vhost, management url or None, credentials)."""
    uri = os.environ.get("TEST_AMQP_URI")
    container = None
    if not uri and _docker_answers():  # pragma: no cover - no Docker engine here
        from testcontainers.rabbitmq import RabbitMqContainer

        container = RabbitMqContainer("rabbitmq:3.13-management").start()
        host, port = container.get_container_host_ip(), container.get_exposed_port(5672)
        uri = f"amqp://guest:guest@{host}:{port}/"
        management: str | None = f"http://{host}:{container.get_exposed_port(15672)}"
    else:
        uri = uri or LOCAL_AMQP
        parts = urlsplit(uri)
        management = os.environ.get("TEST_RABBIT_MANAGEMENT", f"http://{parts.hostname}:15672")
    parts = urlsplit(uri)
    user, password = parts.username or "guest", parts.password or "guest"
    try:
        with Connection(uri, connect_timeout=5) as connection:
            connection.ensure_connection(max_retries=3)
    except Exception as exc:
        pytest.fail(f"RabbitMQ does not answer at {uri} ({exc}); start it (bash scripts/ensure-services.sh) "
                    "or set TEST_AMQP_URI", pytrace=False)
    try:
        requests.get(f"{management}/api/overview", auth=(user, password), timeout=3).raise_for_status()
    except Exception:
        management = None
    yield urlunsplit((parts.scheme, parts.netloc, "", "", "")), management, (user, password)
    if container is not None:  # pragma: no cover
        container.stop()


def _rabbitmqctl(*args: str) -> None:
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        raise RuntimeError("no management API and no rabbitmqctl: cannot make a test vhost")
    subprocess.run([ctl, *args], check=True, capture_output=True, timeout=60)


@contextmanager
def fresh_vhost(broker_base: BrokerBase) -> Iterator[tuple[str, str]]:
    base, management, (user, password) = broker_base
    vhost = f"test-{uuid.uuid4().hex[:12]}"
    if management:
        session = requests.Session()
        session.auth = (user, password)
        session.put(f"{management}/api/vhosts/{vhost}", timeout=10).raise_for_status()
        session.put(f"{management}/api/permissions/{vhost}/{user}",
                    json={"configure": ".*", "write": ".*", "read": ".*"}, timeout=10).raise_for_status()
    else:
        _rabbitmqctl("add_vhost", vhost)
        _rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
    uri = f"{base}/{quote(vhost, safe='')}"
    # the broker applies a new vhost's permissions a moment later under load: wait for them
    deadline = time.monotonic() + 10
    while True:
        try:
            with Connection(uri, connect_timeout=5) as connection:
                connection.ensure_connection(max_retries=1)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        yield uri, vhost
    finally:
        if management:
            requests.delete(f"{management}/api/vhosts/{vhost}", auth=(user, password), timeout=30)
        else:
            _rabbitmqctl("delete_vhost", vhost)


@pytest.fixture
def amqp_uri(broker_base: BrokerBase) -> Iterator[str]:
    """An AMQP URI on a vhost of this test's own."""
    with fresh_vhost(broker_base) as (uri, _vhost):
        yield uri


@pytest.fixture(scope="session")
def database_base() -> Iterator[tuple[str, Engine]]:
    url = os.environ.get("TEST_DATABASE_URL")
    container = None
    if not url and _docker_answers():  # pragma: no cover - no Docker engine here
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("postgres:16", driver="psycopg2").start()
        url = container.get_connection_url()
    url = normalise_url(url or LOCAL_DATABASE)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    deadline = time.monotonic() + 30
    while True:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            break
        except Exception as exc:
            if time.monotonic() > deadline:
                pytest.fail(f"PostgreSQL does not answer at {url} ({exc}); start it "
                            "(bash scripts/ensure-services.sh) or set TEST_DATABASE_URL", pytrace=False)
            time.sleep(1)
    yield url, engine
    engine.dispose()
    if container is not None:  # pragma: no cover
        container.stop()


@contextmanager
def fresh_database(database_base: tuple[str, Engine]) -> Iterator[str]:
    url, engine = database_base
    name = f"test_{uuid.uuid4().hex[:16]}"
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def database_url(database_base: tuple[str, Engine]) -> Iterator[str]:
    """A PostgreSQL database of this test's own."""
    with fresh_database(database_base) as url:
        yield url


@pytest.fixture
def make_database_url(database_base: tuple[str, Engine]) -> Iterator[Callable[[], str]]:
    """More databases for the same test (one per service of a mesh)."""
    stack: list[AbstractContextManager[str]] = []

    def make() -> str:
        manager = fresh_database(database_base)
        stack.append(manager)
        return manager.__enter__()

    yield make
    for manager in reversed(stack):
        manager.__exit__(None, None, None)


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    """An engine on this test's database, to look at what a service stored."""
    engine = create_engine(normalise_url(database_url))
    yield engine
    engine.dispose()


def count_rows(engine: Engine, table: Table, *where: Any) -> int:
    from sqlalchemy import func, select

    with engine.connect() as conn:
        count: int = conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
        return count


@pytest.fixture
def service_config(amqp_uri: str, database_url: str) -> dict[str, Any]:
    """A nameko config for one service on this test's vhost and database."""
    port = free_port()
    return {
        "AMQP_URI": amqp_uri,
        "DATABASE_URL": database_url,
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        "AUTH_TOKENS_FILE": os.path.abspath(TOKENS_FILE),
        "OUTBOX_POLL_SECONDS": 0.2,
        "max_workers": 10,
    }


def wait_for(predicate: Callable[[], _T], timeout: float = 10.0, interval: float = 0.05,
             message: str = "condition", status: Callable[[], object] | None = None) -> _T:
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout``, saying what
    ``status()`` reads then (how far it got), when given."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}"
                                 + (f"; {status()}" if status is not None else ""))
        time.sleep(interval)


class EventTap:
    """Collects the events a service publishes, from a queue bound to its exchange."""

    def __init__(self, amqp_uri: str, service: str, routing_key: str = "#"):
        from kombu import Queue

        from shared.topology import events_exchange

        self.connection = Connection(amqp_uri)
        self.queue = Queue(f"tap-{uuid.uuid4().hex[:8]}", exchange=events_exchange(service),
                           routing_key=routing_key, exclusive=True, auto_delete=True)
        self.queue = self.queue(self.connection.channel())
        self.queue.declare()
        self.messages: list[dict[str, Any]] = []

    def drain(self) -> list[dict[str, Any]]:
        while True:
            message = self.queue.get(no_ack=True, accept=["json"])
            if message is None:
                return self.messages
            self.messages.append(message.decode() if hasattr(message, "decode") else message.payload)

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [m for m in self.drain() if m.get("type") == event_type]

    def close(self) -> None:
        self.connection.release()


def consumed(service: str) -> float:
    """How many messages ``service``'s consumer (in this process) has settled so far: applied,
    dropped as repeats, sent to retry or parked (``suqiu_events_consumed_total``).

    Counted after the commit and the ack, so a test that waits for it to grow waits for the
    unit of work to be done; nameko's ``entrypoint_waiter`` returns before the commit and
    never sees a repeat, which the inbox drops before any worker runs.
    """
    from prometheus_client import REGISTRY

    total = 0.0
    for metric in REGISTRY.collect():
        if metric.name == "suqiu_events_consumed":
            total += sum(s.value for s in metric.samples
                         if s.name.endswith("_total") and s.labels.get("service") == service)
    return total


@contextmanager
def settled(service: str, messages: int = 1, timeout: float = 20.0) -> Iterator[None]:
    """``with settled("notify"): publish(...)``: on leaving, ``messages`` more were settled."""
    before = consumed(service)
    yield
    wait_for(lambda: consumed(service) >= before + messages, timeout,
             message=f"{messages} message(s) settled by {service}")
