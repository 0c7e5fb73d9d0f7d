"""Two replicas of every service on one broker and one set of databases, under load.

Two meshes (five processes each, ports of their own) share the test's vhost and five
databases on a PostgreSQL of the test's own (the shared server's connections are not ours to
count, and other tests use them): the replicas of a service compete for its queue (``evt--<service>``), claim
outbox rows ``SKIP LOCKED`` and take turns migrating. Appeals come in through the AMQP
ingress and through both intakes' HTTP. Afterwards every appeal is in every service once,
each hot event was published exactly once per appeal, each service's replicas both did
work, nothing is parked or left unsent, and the mesh stayed within its connection budget
(8 per process: shared.db).
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

from scripts.mesh import Mesh
from shared.db import normalise_url
from shared.testing import TOKENS_FILE, free_port, wait_for
from shared.topology import all_queue_names, declare_all
from tests.faults.mesh import loop_progress, loop_through, publish_upstream, sql_scalar, submit_http

pytestmark = pytest.mark.integration

UPSTREAM_APPEALS = int(os.environ.get("REPLICAS_UPSTREAM_APPEALS", "1200"))
HTTP_APPEALS = int(os.environ.get("REPLICAS_HTTP_APPEALS", "120"))  # per intake replica
PER_PROCESS_CONNECTIONS = 8  # DB_POOL_SIZE 5 + DB_MAX_OVERFLOW 2 + the relay's LISTEN connection


FIRM = "副本测试企业"  # the load appeals' enterprises


class Tap:
    """Durable queues bound to the hot events: every copy the mesh published is kept."""

    def __init__(self, amqp_uri: str):
        self.amqp_uri = amqp_uri
        self.queues = {}
        with Connection(amqp_uri) as conn:
            channel = conn.channel()
            for exchange, key in (("intake.events", "appeal_received"), ("dispatch.events", "appeal_dispatched"),
                                  ("supervision.events", "appeal_deadline_set")):
                name = f"tap-{key}-{uuid.uuid4().hex[:6]}"
                channel.queue_declare(name, durable=True, auto_delete=False)
                channel.queue_bind(name, exchange, key)
                self.queues[key] = name

    def subjects(self, key: str) -> Counter:
        seen: Counter = Counter()
        with Connection(self.amqp_uri) as conn:
            channel = conn.channel()
            while (message := channel.basic_get(self.queues[key], no_ack=True)) is not None:
                seen[json.loads(message.body)["subject"]] += 1
        return seen


def queue_depths(amqp_uri: str) -> dict[str, int]:
    """Messages waiting in the mesh's queues (those that hold any), and consumers on each service queue."""
    depths = {}
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        for queue in all_queue_names():
            for name in (queue, f"{queue}.retry", f"{queue}.dlq"):
                try:
                    ok = channel.queue_declare(name, passive=True)
                except Exception:  # not declared: a passive declare closes the channel
                    channel = conn.channel()
                    continue
                if ok.message_count:
                    depths[name] = ok.message_count
                if queue.startswith("evt--") and name == queue:
                    depths[f"{name} consumers"] = ok.consumer_count
    return depths


def consumed_by(mesh: Mesh, name: str) -> float:
    total = 0.0
    for line in requests.get(f"{mesh.url(name)}/metrics", timeout=10).text.splitlines():
        if line.startswith("suqiu_events_consumed_total{") and 'result="processed"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


class ConnectionPeak:
    """The most connections the test's databases held at once (pg_stat_activity, every 0.2 s)."""

    def __init__(self, admin_url: str, databases: list[str]):
        self.engine = create_engine(normalise_url(admin_url))
        self.databases = databases
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        query = text("SELECT count(*) FROM pg_stat_activity WHERE datname = ANY(:names)")
        while not self._stop.wait(0.2):
            with self.engine.connect() as connection:
                self.peak = max(self.peak, connection.execute(query, {"names": self.databases}).scalar_one())

    def __enter__(self) -> ConnectionPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.engine.dispose()


@pytest.mark.timeout(300)
def test_two_replicas_of_every_service_lose_and_double_nothing_under_load(amqp_uri, private_postgres, tmp_path):
    names = ["intake", "dispatch", "supervision", "assessment", "notify"]
    databases = {name: private_postgres.create_database(f"suqiu_{name}") for name in names}
    with Connection(amqp_uri) as conn:
        declare_all(conn)
    tap = Tap(amqp_uri)
    env = {"PROFILE_DIR": "deploy/profiles/demo", "AUTH_TOKENS_FILE": str(Path(TOKENS_FILE).resolve()),
           "TICK_TIMER": "false", "NOTIFY_SENDER": "false", "LOG_LEVEL": os.environ.get("E2E_LOG_LEVEL", "WARNING")}
    replicas = [Mesh(names, amqp_uri=amqp_uri, database_urls=databases, ports={n: free_port() for n in names},
                     var_dir=tmp_path / f"replica-{i}", env=env) for i in (1, 2)]
    admin = databases["intake"].rsplit("/", 1)[0] + "/postgres"
    try:
        for mesh in replicas:
            mesh.start(timeout=120)
        total = UPSTREAM_APPEALS + 2 * HTTP_APPEALS
        with ConnectionPeak(admin, [url.rsplit("/", 1)[1] for url in databases.values()]) as connections:
            with ThreadPoolExecutor(3) as pool:
                feeds = [pool.submit(publish_upstream, amqp_uri, UPSTREAM_APPEALS, FIRM, "R"),
                         pool.submit(submit_http, replicas[0].url("intake"), HTTP_APPEALS, 0, FIRM),
                         pool.submit(submit_http, replicas[1].url("intake"), HTTP_APPEALS, HTTP_APPEALS, FIRM)]
                for feed in feeds:
                    feed.result()

            wait_for(lambda: loop_through(databases, total), 180, interval=1.0,
                     message=f"{total} appeals through both meshes",
                     status=lambda: {**loop_progress(databases), **queue_depths(amqp_uri)})
        counts = {name: sql_scalar(databases[name], query) for name, query in (
            ("intake", "SELECT count(*) FROM appeals"), ("dispatch", "SELECT count(*) FROM appeals"),
            ("supervision", "SELECT count(*) FROM appeals"), ("assessment", "SELECT count(*) FROM appeal_facts"),
            ("notify", "SELECT count(*) FROM appeals"))}
        assert counts == {name: total for name in counts}
        for key in ("appeal_received", "appeal_dispatched", "appeal_deadline_set"):
            seen = tap.subjects(key)
            assert len(seen) == total and set(seen.values()) == {1}, f"{key}: {Counter(seen.values())}"
        inbox_repeats = {name: sql_scalar(url, "SELECT count(*) - count(DISTINCT (event_id, consumer)) FROM inbox")
                         for name, url in databases.items()}
        assert set(inbox_repeats.values()) == {0}
        with Connection(amqp_uri) as conn:
            channel = conn.channel()
            parked = {name: channel.queue_declare(f"{name}.dlq", passive=True).message_count
                      for name in all_queue_names()}
        assert not any(parked.values()), {k: v for k, v in parked.items() if v}
        idle = [f"{name} replica {i + 1}" for name in names for i, mesh in enumerate(replicas)
                if consumed_by(mesh, name) == 0]
        assert not idle, f"replicas that consumed nothing: {idle}"
        assert connections.peak <= 2 * len(names) * PER_PROCESS_CONNECTIONS, connections.peak
    finally:
        for mesh in replicas:
            mesh.stop()
