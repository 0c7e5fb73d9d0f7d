"""Fixtures of the fault tests.

Private servers for the crash tests (``test_crashes.py``): a RabbitMQ node and a
PostgreSQL cluster of the test's own, on free ports and in temporary directories, that
the test may stop, crash and restart. The shared servers (127.0.0.1:5672 and :5432) run
other tests at the same time and are never restarted.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from kombu import Connection
from sqlalchemy import create_engine, text

from scripts.faketime import real_clock_env
from shared.db import normalise_url
from shared.testing import free_port

PG_BIN = Path(os.environ.get("FAULTS_PG_BIN", "/usr/lib/postgresql/15/bin"))
RABBIT_BIN = Path(os.environ.get("FAULTS_RABBIT_BIN", "/usr/lib/rabbitmq/bin"))


def _as_user(user: str) -> list[str]:
    """Run as ``user`` when we are root (RabbitMQ and PostgreSQL refuse root), else as we are."""
    return ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []


def _private_dir(prefix: str, owner: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(folder, owner, owner)
    return folder


class PrivateRabbit:
    """A RabbitMQ node of this test alone (no plugins), durable data in a temporary directory.

    ``restart()`` stops the node and starts it on the same data directory: durable queues and
    persistent messages survive, connections do not.
    """

    def __init__(self):
        self.folder = _private_dir("suqiu-faults-rabbit-", "rabbitmq")
        self.node = f"suqiu-faults-{uuid.uuid4().hex[:8]}@localhost"
        self.port, self.dist_port = free_port(), free_port()
        self.uri = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        (self.folder / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\ndisk_free_limit.absolute = 50MB\n")
        (self.folder / "enabled_plugins").write_text("[].\n")
        (self.folder / "rabbitmq-env.conf").write_text("ERL_EPMD_ADDRESS=127.0.0.1\n")
        for name in ("mnesia", "log"):
            (self.folder / name).mkdir()
        if os.geteuid() == 0:
            for path in self.folder.iterdir():
                shutil.chown(path, "rabbitmq", "rabbitmq")
        self.env = {**real_clock_env(),  # a server, not under test: the real clock (scripts/faketime.py)
                    "RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_PORT": str(self.port),
                    "RABBITMQ_DIST_PORT": str(self.dist_port),
                    "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
                    "RABBITMQ_LOG_BASE": str(self.folder / "log"),
                    "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
                    "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq.conf"),
                    "RABBITMQ_CONF_ENV_FILE": str(self.folder / "rabbitmq-env.conf"),
                    "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}"}
        if os.geteuid() == 0:
            self.env["HOME"] = os.path.expanduser("~rabbitmq")  # the Erlang cookie rabbitmqctl uses too

    def ctl(self, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*_as_user("rabbitmq"), str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node, *args],
                              env=self.env, cwd=self.folder, capture_output=True, text=True, timeout=timeout,
                              check=check)

    def start(self, timeout: float = 90) -> None:
        subprocess.run([*_as_user("rabbitmq"), str(RABBIT_BIN / "rabbitmq-server"), "-detached"], env=self.env,
                       cwd=self.folder, check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + timeout
        while True:  # the node registers with epmd a moment after -detached returns
            done = self.ctl("await_startup", "--timeout", "30", check=False)
            if done.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"private RabbitMQ {self.node} did not start: {done.stderr[-2000:]}; "
                                   f"logs in {self.folder / 'log'}")
            time.sleep(0.5)
        with Connection(self.uri, connect_timeout=5) as connection:
            connection.ensure_connection(max_retries=10)

    def stop(self) -> None:
        self.ctl("stop", check=False)

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def running(self) -> bool:
        return self.ctl("status", check=False, timeout=30).returncode == 0


@pytest.fixture
def private_rabbitmq():
    """A started :class:`PrivateRabbit` (default vhost ``/``, guest); stopped and removed afterwards."""
    rabbit = PrivateRabbit()
    try:
        rabbit.start()
    except Exception as exc:
        rabbit.stop()
        pytest.fail(f"could not start a private RabbitMQ node ({exc})", pytrace=False)
    yield rabbit
    rabbit.stop()
    shutil.rmtree(rabbit.folder, ignore_errors=True)


class PrivatePostgres:
    """A PostgreSQL cluster of this test alone; ``restart()`` stops it (fast or immediate) and starts it."""

    def __init__(self):
        self.folder = _private_dir("suqiu-faults-pg-", "postgres")
        self.data = self.folder / "data"
        self.port = free_port()
        self.base = f"postgresql://postgres@127.0.0.1:{self.port}"
        self.options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                        # fsync off: a crash of PostgreSQL (not of the machine) loses nothing without it;
                        # synchronous_commit stays on, or an immediate stop would lose acknowledged commits
                        "-c max_connections=400 -c fsync=off")
        subprocess.run([*_as_user("postgres"), str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
                        "--auth=trust", "-N", "-E", "UTF8", "--locale=C"],
                       cwd=self.folder, check=True, capture_output=True, timeout=120, env=real_clock_env())

    def pg_ctl(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*_as_user("postgres"), str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args],
                              cwd=self.folder, capture_output=True, text=True, timeout=timeout, check=check,
                              env=real_clock_env())  # a server, not under test: the real clock

    def start(self) -> None:
        self.pg_ctl("-o", self.options, "-l", str(self.folder / "log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("-m", mode, "-w", "stop", check=False)

    def restart(self, mode: str = "fast", down_for: float = 0.0) -> None:
        """``mode="immediate"`` is a crash: no checkpoint, recovery from the WAL at start."""
        self.stop(mode)
        time.sleep(down_for)
        self.start()

    def create_database(self, name: str) -> str:
        admin = create_engine(normalise_url(f"{self.base}/postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return f"{self.base}/{name}"


@pytest.fixture
def private_postgres():
    """A started :class:`PrivatePostgres`; stopped and removed afterwards."""
    try:
        postgres = PrivatePostgres()
        postgres.start()
    except Exception as exc:
        detail = getattr(exc, "stderr", "") or ""
        pytest.fail(f"could not start a private PostgreSQL ({exc}) {detail}", pytrace=False)
    yield postgres
    postgres.stop("immediate")
    shutil.rmtree(postgres.folder, ignore_errors=True)
