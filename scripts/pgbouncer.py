"""A PgBouncer of its own in front of a PostgreSQL server: transaction pooling, on a free port.

    python -m scripts.pgbouncer up [--server 127.0.0.1:5432] [--pool-size 10]   # prints its URL
    PgBouncer(...) as a context manager                                       # tests/ops/

The way to run many replicas of the services (docs/operations.md): every ``DATABASE_URL``
points at PgBouncer (``pool_mode = transaction``), which lends each transaction one of at
most ``default_pool_size`` server connections per database, however many processes are
connected to it. Its ini, auth file, log and pid file are in a temporary directory; every
database of the server is reachable under its own name (``* = host=... port=...``); the
admin console (database ``pgbouncer``) answers ``SHOW POOLS`` / ``SHOW STATS`` to the
``postgres`` user. ``auth_type = trust`` here (the server is the test's, on loopback); a
deployment writes ``auth_type = scram-sha-256`` and its users in ``auth_file``.

Debian's ``pgbouncer`` package (``scripts/ensure-tools.sh`` installs it); as root it runs as
the ``postgres`` user (PgBouncer refuses root). Missing: :class:`PgBouncerMissing`.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from scripts.faketime import real_clock_env
from shared.ports import free_port

PGBOUNCER = os.environ.get("PGBOUNCER", "/usr/sbin/pgbouncer")
USER = "postgres"


class PgBouncerMissing(RuntimeError):
    """pgbouncer is not installed here."""


class PgBouncer:
    """One pgbouncer process (see the module's docstring)."""

    def __init__(self, server_host: str = "127.0.0.1", server_port: int = 5432, *, pool_mode: str = "transaction",
                 default_pool_size: int = 10, max_client_conn: int = 500, user: str = "postgres"):
        if not (shutil.which(PGBOUNCER) or Path(PGBOUNCER).exists()):
            raise PgBouncerMissing(f"{PGBOUNCER} not found: install Debian's pgbouncer (apt-get install pgbouncer; "
                                   "bash scripts/ensure-tools.sh does) or set PGBOUNCER")
        self.user = user
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="suqiu-pgbouncer-"))
        self.folder.chmod(0o755)
        self.ini = self.folder / "pgbouncer.ini"
        self.log = self.folder / "pgbouncer.log"
        (self.folder / "userlist.txt").write_text(f'"{user}" ""\n')
        self.ini.write_text(f"""\
[databases]
* = host={server_host} port={server_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir = {self.folder}
auth_type = trust
auth_file = {self.folder / 'userlist.txt'}
admin_users = {user}
stats_users = {user}
pool_mode = {pool_mode}
default_pool_size = {default_pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = {max_client_conn}
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
logfile = {self.log}
pidfile = {self.folder / 'pgbouncer.pid'}
""")
        if os.geteuid() == 0:
            for path in [self.folder, *self.folder.iterdir()]:
                shutil.chown(path, USER, USER)
        self.process: subprocess.Popen | None = None

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 20) -> PgBouncer:
        command = ["runuser", "-u", USER, "--"] if os.geteuid() == 0 else []
        self.process = subprocess.Popen([*command, PGBOUNCER, str(self.ini)], cwd=self.folder,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                                        env=real_clock_env())
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited with {self.process.returncode}: {self.tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError as exc:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"pgbouncer did not listen on {self.port} in {timeout}s: {self.tail()}") from exc
                time.sleep(0.1)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else "(no log)"

    def show(self, what: str) -> list[dict]:
        """``SHOW POOLS``, ``SHOW STATS``, ``SHOW CLIENTS`` ... on the admin console, as dicts."""
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname="pgbouncer")
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f"SHOW {what}")
                names = [column.name for column in cursor.description]
                return [dict(zip(names, row, strict=False)) for row in cursor.fetchall()]
        finally:
            connection.close()

    def stop(self) -> None:
        """Stops the process this object started (by its pid) and removes the directory."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.pgbouncer")
    parser.add_argument("command", choices=["up"])
    parser.add_argument("--server", default="127.0.0.1:5432", help="the PostgreSQL server (host:port)")
    parser.add_argument("--pool-size", type=int, default=10, help="default_pool_size: server connections per database")
    args = parser.parse_args(argv)
    host, _, port = args.server.rpartition(":")
    with PgBouncer(host or "127.0.0.1", int(port), default_pool_size=args.pool_size) as bouncer:
        print(f"pgbouncer (transaction pooling, {args.pool_size} server connections per database) on "
              f"{bouncer.url('<database>')}; admin: psql -h 127.0.0.1 -p {bouncer.port} -U postgres pgbouncer")
        print(f"ini and log: {bouncer.folder}")
        with contextlib.suppress(EOFError, KeyboardInterrupt):
            input("Enter stops it ")


if __name__ == "__main__":
    main()
