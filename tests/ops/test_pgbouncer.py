"""Two replicas of the mesh through PgBouncer in transaction mode (docs/operations.md).

A PgBouncer of the test's own (``scripts.pgbouncer``: ``pool_mode = transaction``,
``default_pool_size`` = 3 server connections per database) stands between ten service processes
(two meshes of five) and the test's five databases. The migrations run first against PostgreSQL
itself (``python -m shared.migrate``), the processes start with ``DB_MIGRATE=false`` and
``DATABASE_URL`` pointing at PgBouncer. LISTEN does not work through a transaction pooler, so the
two meshes show the two settings of the relay: mesh A LISTENs on PostgreSQL itself
(``OUTBOX_LISTEN_URL``, one direct connection per process), mesh B does not listen at all
(``OUTBOX_LISTEN=false``: woken in its process after each unit of work and request, polling for
the rest). Appeals come in through both intakes and the AMQP ingress; afterwards every appeal is in
every service once, each hot event was published once per appeal, both relays published, and the
server saw at most the pool's connections per database (plus mesh A's listener) while the
processes held more client connections to PgBouncer.
"""
from __future__ import annotations

import json
import os
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from kombu import Connection
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from scripts.mesh import Mesh
from scripts.pgbouncer import PgBouncer, PgBouncerMissing
from shared.db import migrate, normalise_url
from shared.testing import TOKENS_FILE, free_port, wait_for
from shared.topology import declare_all
from tests.faults.mesh import loop_through, publish_upstream, sql_scalar, submit_http

pytestmark = pytest.mark.integration

SERVICES = ["intake", "dispatch", "supervision", "assessment", "notify"]
POOL = 3  # PgBouncer's server connections per database
HTTP_APPEALS = int(os.environ.get("PGBOUNCER_HTTP_APPEALS", "60"))  # per intake replica
UPSTREAM_APPEALS = int(os.environ.get("PGBOUNCER_UPSTREAM_APPEALS", "120"))
HOT = (("intake.events", "appeal_received"), ("dispatch.events", "appeal_dispatched"),
       ("supervision.events", "appeal_deadline_set"))


FIRM = "连接池测试企业"  # the load appeals' enterprises


def scalar(url: str, query: str, **params) -> int:
    """The test's own look at a database, straight to PostgreSQL (named, so :class:`Peaks` leaves it out)."""
    return int(sql_scalar(url, query, application_name="suqiu-ops-test", **params))


class Peaks:
    """Every 0.2 s: server connections per test database (pg_stat_activity on PostgreSQL itself,
    mesh A's LISTEN connections apart) and client connections per database at PgBouncer."""

    def __init__(self, admin_url: str, databases: list[str], bouncer: PgBouncer):
        self.engine = create_engine(normalise_url(admin_url))
        self.databases = databases
        self.bouncer = bouncer
        self.server: Counter = Counter()
        self.clients: Counter = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        query = text("SELECT datname, count(*) FROM pg_stat_activity WHERE datname = ANY(:names) "
                     "AND query NOT LIKE 'LISTEN %' AND application_name <> 'suqiu-ops-test' GROUP BY datname")
        while not self._stop.wait(0.2):
            with self.engine.connect() as connection:
                for name, count in connection.execute(query, {"names": self.databases}):
                    self.server[name] = max(self.server[name], count)
            for pool in self.bouncer.show("POOLS"):
                if pool["database"] in self.databases:
                    clients = pool["cl_active"] + pool["cl_waiting"]
                    self.clients[pool["database"]] = max(self.clients[pool["database"]], clients)

    def __enter__(self) -> Peaks:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.engine.dispose()


@pytest.fixture
def pgbouncer(database_base):
    url = make_url(database_base[0])
    try:
        bouncer = PgBouncer(url.host or "127.0.0.1", url.port or 5432, default_pool_size=POOL)
    except PgBouncerMissing as exc:
        pytest.fail(str(exc), pytrace=False)
    bouncer.start()
    try:
        yield bouncer
    finally:
        bouncer.stop()


def published(mesh: Mesh, name: str) -> float:
    text_ = requests.get(f"{mesh.url(name)}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text_.splitlines()
               if line.startswith("suqiu_events_published_total{"))


@pytest.mark.timeout(300)
def test_two_replicas_through_pgbouncer_in_transaction_mode(amqp_uri, make_database_url, pgbouncer, tmp_path):
    direct = {name: make_database_url() for name in SERVICES}
    names = {service: make_url(url).database for service, url in direct.items()}
    for service, url in direct.items():  # the documented way: migrations against PostgreSQL itself
        migrate(service, url)
    bounced = {service: pgbouncer.url(names[service]) for service in SERVICES}
    with Connection(amqp_uri) as conn:
        declare_all(conn)
        channel = conn.channel()
        taps = {}
        for exchange, key in HOT:
            taps[key] = f"tap-{key}-{uuid.uuid4().hex[:6]}"
            channel.queue_declare(taps[key], durable=True, auto_delete=False)
            channel.queue_bind(taps[key], exchange, key)
    env = {"PROFILE_DIR": "deploy/profiles/demo", "AUTH_TOKENS_FILE": str(Path(TOKENS_FILE).resolve()),
           "TICK_TIMER": "false", "NOTIFY_SENDER": "false", "DB_MIGRATE": "false", "OUTBOX_POLL_SECONDS": "2",
           "LOG_LEVEL": os.environ.get("E2E_LOG_LEVEL", "WARNING")}
    listening = Mesh(SERVICES, amqp_uri=amqp_uri, database_urls=bounced, ports={n: free_port() for n in SERVICES},
                     var_dir=tmp_path / "mesh-a", env=env,
                     service_env={service: {"OUTBOX_LISTEN_URL": direct[service]} for service in SERVICES})
    polling = Mesh(SERVICES, amqp_uri=amqp_uri, database_urls=bounced, ports={n: free_port() for n in SERVICES},
                   var_dir=tmp_path / "mesh-b", env={**env, "OUTBOX_LISTEN": "false"})
    replicas = [listening, polling]
    admin = direct["intake"].rsplit("/", 1)[0] + "/postgres"
    total = UPSTREAM_APPEALS + 2 * HTTP_APPEALS
    try:
        for mesh in replicas:
            mesh.start(timeout=120)
        with Peaks(admin, list(names.values()), pgbouncer) as peaks:
            with ThreadPoolExecutor(3) as pool:
                feeds = [pool.submit(publish_upstream, amqp_uri, UPSTREAM_APPEALS, FIRM, "B"),
                         pool.submit(submit_http, listening.url("intake"), HTTP_APPEALS, 0, FIRM),
                         pool.submit(submit_http, polling.url("intake"), HTTP_APPEALS, HTTP_APPEALS, FIRM)]
                for feed in feeds:
                    feed.result()

            wait_for(lambda: loop_through(direct, total, scalar), 150, interval=1.0,
                     message=f"{total} appeals through both meshes behind PgBouncer (logs in {tmp_path})")
            # mesh A's relays LISTEN on PostgreSQL itself: one direct connection per process
            listeners = {service: scalar(admin, "SELECT count(*) FROM pg_stat_activity WHERE datname = :name "
                                                "AND query = 'LISTEN suqiu_outbox'", name=names[service])
                         for service in SERVICES}
        counts = {name: scalar(direct[name], query) for name, query in (
            ("intake", "SELECT count(*) FROM appeals"), ("dispatch", "SELECT count(*) FROM appeals"),
            ("supervision", "SELECT count(*) FROM appeals"), ("assessment", "SELECT count(*) FROM appeal_facts"),
            ("notify", "SELECT count(*) FROM appeals"))}
        assert counts == {name: total for name in counts}
        with Connection(amqp_uri) as conn:
            channel = conn.channel()
            for key, queue in taps.items():
                seen: Counter = Counter()
                while (message := channel.basic_get(queue, no_ack=True)) is not None:
                    seen[json.loads(message.body)["subject"]] += 1
                assert len(seen) == total and set(seen.values()) == {1}, f"{key}: {Counter(seen.values())}"
        assert listeners == {service: 1 for service in SERVICES}, listeners
        for service in ("intake", "dispatch", "supervision"):  # both kinds of relay published
            assert published(listening, service) > 0 and published(polling, service) > 0, service
        stats = {row["database"]: row for row in pgbouncer.show("STATS")}
        assert all(stats[names[service]]["total_xact_count"] > 0 for service in SERVICES), stats
        server = {service: peaks.server[names[service]] for service in SERVICES}
        clients = {service: peaks.clients[names[service]] for service in SERVICES}
        assert all(0 < server[service] <= POOL for service in SERVICES), server
        assert sum(clients.values()) > sum(server.values()), (clients, server)
        print(f"\npgbouncer test: {total} appeals; server connections per database at most {server} "
              f"(pool {POOL}, plus mesh A's LISTEN connection {listeners}); client connections to PgBouncer "
              f"at most {clients}; transactions through PgBouncer "
              f"{ {service: stats[names[service]]['total_xact_count'] for service in SERVICES} }")
    finally:
        for mesh in replicas:
            mesh.stop()
