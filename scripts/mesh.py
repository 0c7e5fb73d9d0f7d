"""Start and stop the Suqiu services on one machine, each a separate process; several meshes side by side.

    python -m scripts.mesh start  [--name NAME] [--services intake,dispatch] [--profile NAME]
                                  [--ports 8100 | auto | intake=9101,dispatch=9102] [--vhost VHOST]
                                  [--postgres URL_PREFIX [--db-prefix suqiu_] [--fresh | --reuse]]
                                  [--simulated-clock]
    python -m scripts.mesh status [--name NAME]
    python -m scripts.mesh stop   [--name NAME] [--services intake]

Each service runs as ``nameko run --config services/<name>/config.yaml
services.<name>.service``. A mesh is named (``--name``, default ``default``) and keeps
what it started in ``var/mesh/<name>/mesh.json``: each process's pid, command line and
start time, its port and the id it answers ``/healthz`` with, the vhost and the
databases. ``stop`` signals only a pid that still runs the command it started;
``status`` prints each service's address, pid and health from that file.

What two meshes on one machine must not share, and how they don't:

* ports: every port is checked before anything starts; a taken one is refused with
  the pid and command line of the process holding it (``--ports auto`` picks free ones);
  the services bind without SO_REUSEPORT, and a health answer counts only when it
  carries the instance id this mesh passed to the process (``SUQIU_INSTANCE_ID``);
* the broker: a vhost of the mesh's own (``suqiu-<name>-<checkout>``), created through
  the management API when missing;
* databases: SQLite files under the mesh's folder, or with ``--postgres`` the databases
  ``<db-prefix><service>``; databases left by an earlier run are named with their table
  counts and used only with ``--fresh`` (drop and recreate) or ``--reuse``; a database
  another process is connected to is never dropped nor shared.

The demo, the simulator and the benchmark use :func:`throwaway_mesh` (free ports, a
vhost and databases of their own, dropped afterwards); the end-to-end tests use
:class:`Mesh` directly.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import requests

from shared.config import flag
from shared.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
PORTS = {"intake": 8101, "dispatch": 8102, "supervision": 8103, "assessment": 8104, "notify": 8105,
         "console": 8106}
BASE_PORT = 8100
HOST = "127.0.0.1"
BROKER = "amqp://guest:guest@127.0.0.1:5672"
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
STATE_FILE = "mesh.json"
SIMULATED_CLOCK_ENV = {"SIMULATED_CLOCK": "true", "TICK_TIMER": "false"}
"""Time comes from each request's ``X-Suqiu-Now`` and from ``tick(now)`` calls, never from a timer."""


class MeshError(RuntimeError):
    """A mesh cannot start as asked; the message says why and what to do instead."""


class PortTaken(MeshError):
    pass


def available_services() -> list[str]:
    return [name for name in PORTS if (ROOT / "services" / name / "service.py").exists()]


def checkout_id() -> str:
    """Six hex digits naming this checkout, so meshes of two checkouts never share a vhost."""
    return hashlib.sha1(str(ROOT).encode()).hexdigest()[:6]


def mesh_dir(name: str, var_root: Path = VAR) -> Path:
    return Path(var_root) / "mesh" / name


# ---------------------------------------------------------------------------------------------- ports

def parse_ports(spec: str | None, services: list[str]) -> dict[str, int]:
    """``auto`` (free ports), a base port (``9100``: intake 9101 ... notify 9105, as 8100 gives the
    documented ports) or ``intake=9101,dispatch=9102`` (the others keep their documented port)."""
    spec = (spec or str(BASE_PORT)).strip()
    if spec == "auto":
        return {name: free_port() for name in services}
    if spec.isdigit():
        base = int(spec)
        ports = {name: base + PORTS[name] - BASE_PORT for name in services}
    else:
        ports = {name: PORTS[name] for name in services}
        for item in spec.split(","):
            name, _, value = item.partition("=")
            name = name.strip()
            if name not in PORTS or not value.strip().isdigit():
                raise MeshError(f"--ports {spec!r}: write auto, a base port (9100) or service=port pairs "
                                f"(intake=9101,dispatch=9102); services: {', '.join(PORTS)}")
            if name in services:
                ports[name] = int(value)
    bad = [f"{name}={port}" for name, port in ports.items() if not 0 < port < 65536]
    if bad:
        raise MeshError(f"--ports {spec!r}: no such port: {', '.join(bad)}")
    if len(set(ports.values())) < len(ports):
        raise MeshError(f"--ports {spec!r}: two services on one port: {ports}")
    return ports


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether a service could bind ``host:port`` now (as it does: SO_REUSEADDR, no SO_REUSEPORT)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_holder(port: int) -> str:
    """Who holds ``port``: ``pid 1234 (nameko run ...)``, from the kernel's socket table."""
    import psutil

    try:
        sockets = [c for c in psutil.net_connections("inet") if c.laddr and c.laddr.port == port]
    except psutil.AccessDenied:  # pragma: no cover - some systems hide other users' sockets
        sockets = []
    sockets.sort(key=lambda c: c.status != psutil.CONN_LISTEN)  # the listener first
    for connection in sockets:
        if connection.pid:
            return f"pid {connection.pid} ({command_line(connection.pid)}{suqiu_instance(connection.pid)})"
    if sockets:
        return "a process this user may not see (its pid is hidden)"
    return "no process found holding it now (it may have just let it go)"


def command_line(pid: int) -> str:
    import psutil

    try:
        return " ".join(psutil.Process(pid).cmdline()) or psutil.Process(pid).name()
    except psutil.Error:
        return "?"


def suqiu_instance(pid: int) -> str:
    """``, Suqiu instance <mesh>/<service>/<id> from <checkout>`` when ``pid`` is a service a mesh started."""
    import psutil

    try:
        process = psutil.Process(pid)
        instance = process.environ().get("SUQIU_INSTANCE_ID")
        return f", Suqiu instance {instance} from {process.cwd()}" if instance else ""
    except psutil.Error:
        return ""


def check_ports(ports: dict[str, int], host: str = HOST) -> None:
    """Raise :class:`PortTaken` naming every taken port and the process that holds it."""
    taken = [f"port {port} ({name}) is held by {port_holder(port)}"
             for name, port in ports.items() if not port_is_free(port, host)]
    if taken:
        raise PortTaken("cannot start: " + "; ".join(taken)
                        + ". Stop what holds it, or choose other ports (--ports auto picks free ones).")


# --------------------------------------------------------------------------------------------- broker

MANAGEMENT = os.environ.get("RABBIT_MANAGEMENT", "http://127.0.0.1:15672")
RABBIT_AUTH = (os.environ.get("RABBIT_USER", "guest"), os.environ.get("RABBIT_PASSWORD", "guest"))


def management_of(broker: str) -> tuple[str, tuple[str, str]]:
    """The management API of the broker ``amqp://user:password@host:port`` and its credentials."""
    parts = urlsplit(broker)
    url = os.environ.get("RABBIT_MANAGEMENT") or f"http://{parts.hostname or '127.0.0.1'}:15672"
    return url, (unquote(parts.username or "guest"), unquote(parts.password or "guest"))


def make_vhost(prefix: str, management: str = MANAGEMENT, auth: tuple[str, str] = RABBIT_AUTH, *,
               exact: bool = False) -> str:
    """A new vhost ``<prefix>-<random>`` (or, ``exact``, the vhost ``prefix``, created when missing)
    on the broker, the user allowed everything on it."""
    vhost = prefix if exact else f"{prefix}-{uuid.uuid4().hex[:6]}"
    name = quote(vhost, safe="")
    requests.put(f"{management}/api/vhosts/{name}", auth=auth, timeout=10).raise_for_status()
    requests.put(f"{management}/api/permissions/{name}/{quote(auth[0], safe='')}",
                 json={"configure": ".*", "write": ".*", "read": ".*"}, auth=auth, timeout=10).raise_for_status()
    return vhost


def vhost_exists(vhost: str, management: str = MANAGEMENT, auth: tuple[str, str] = RABBIT_AUTH) -> bool:
    response = requests.get(f"{management}/api/vhosts/{quote(vhost, safe='')}", auth=auth, timeout=10)
    if response.status_code == 404:
        return False
    response.raise_for_status()
    return True


def drop_vhost(vhost: str, management: str = MANAGEMENT, auth: tuple[str, str] = RABBIT_AUTH) -> None:
    requests.delete(f"{management}/api/vhosts/{quote(vhost, safe='')}", auth=auth, timeout=30)


def amqp_uri_of(broker: str, vhost: str) -> str:
    return f"{broker.rstrip('/')}/{quote(vhost, safe='')}"


def declare_topology(amqp_uri: str, timeout: float = 15.0) -> None:
    """Every queue of the mesh, so an event published before its consumer first ran waits for it.
    Retried a moment: the broker applies a new vhost's permissions a little later under load."""
    from kombu import Connection

    from shared.topology import declare_all

    deadline = time.monotonic() + timeout
    while True:
        try:
            with Connection(amqp_uri, connect_timeout=5) as connection:
                declare_all(connection)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


# ------------------------------------------------------------------------------------------ databases

def _admin(postgres: str):
    from sqlalchemy import create_engine

    from shared.db import normalise_url

    return create_engine(normalise_url(f"{postgres.rstrip('/')}/postgres"), isolation_level="AUTOCOMMIT")


def ensure_database(prefix: str, name: str, fresh: bool = False) -> str:
    """``prefix/<name>``, created when it does not exist yet (dropped first when ``fresh``)."""
    from sqlalchemy import text

    admin = _admin(prefix)
    with admin.connect() as conn:
        if fresh:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{prefix.rstrip('/')}/{name}"


def drop_database(postgres: str, name: str) -> None:
    from sqlalchemy import text

    admin = _admin(postgres)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def leftover_databases(postgres: str, names: list[str]) -> dict[str, int]:
    """Those of ``names`` that exist, with the number of tables each holds."""
    from sqlalchemy import create_engine, text

    from shared.db import normalise_url

    admin = _admin(postgres)
    with admin.connect() as conn:
        existing = [row[0] for row in conn.execute(
            text("SELECT datname FROM pg_database WHERE datname = ANY(:names) ORDER BY datname"), {"names": names})]
    admin.dispose()
    counts = {}
    for name in existing:
        engine = create_engine(normalise_url(f"{postgres.rstrip('/')}/{name}"))
        with engine.connect() as conn:
            counts[name] = conn.execute(text(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')")
            ).scalar_one()
        engine.dispose()
    return counts


def database_users(postgres: str, names: list[str]) -> dict[str, list[str]]:
    """Who else is connected to each of ``names``: the application names of their connections."""
    from sqlalchemy import text

    admin = _admin(postgres)
    with admin.connect() as conn:
        rows = conn.execute(text(
            "SELECT datname, coalesce(nullif(application_name, ''), 'client ' || coalesce(host(client_addr), "
            "'local')), count(*) FROM pg_stat_activity WHERE datname = ANY(:names) AND pid <> pg_backend_pid() "
            "GROUP BY 1, 2 ORDER BY 1, 2"), {"names": names}).all()
    admin.dispose()
    users: dict[str, list[str]] = {}
    for database, application, count in rows:
        users.setdefault(database, []).append(f"{application} x{count}")
    return users


def default_db_prefix(name: str) -> str:
    return "suqiu_" if name == "default" else f"suqiu_{re.sub(r'[^a-z0-9_]', '_', name.lower())}_"


def prepare_databases(postgres: str, names: dict[str, str], *, fresh: bool = False, reuse: bool = False) -> list[str]:
    """Check and create the mesh's PostgreSQL databases; lines saying what was found and done.

    Refuses (:class:`MeshError`) to touch a database another process is connected to, and
    to use databases an earlier run left unless told ``fresh`` (drop, recreate) or ``reuse``.
    """
    wanted = list(names.values())
    for database in wanted:
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", database):
            raise MeshError(f"database name {database!r}: use lower-case letters, digits and _ (--db-prefix)")
    in_use = database_users(postgres, wanted)
    if in_use:
        raise MeshError("databases in use by other connections (another mesh?): " + "; ".join(
            f"{database} by {', '.join(users)}" for database, users in in_use.items())
            + ". Stop that mesh first, or give this one other databases (--db-prefix).")
    leftovers = leftover_databases(postgres, wanted)
    listing = ", ".join(f"{database} ({tables} tables)" for database, tables in leftovers.items())
    if leftovers and not (fresh or reuse):
        raise MeshError(f"databases left by an earlier run on {postgres}: {listing}. "
                        "Start with --fresh to drop and recreate them, or --reuse to keep their data.")
    lines = []
    if leftovers:
        lines.append(("dropped and recreated " if fresh else "reusing ") + listing)
    for database in wanted:
        ensure_database(postgres, database, fresh=fresh)
    return lines


def with_application_name(url: str, application: str) -> str:
    """The URL with ``application_name`` set, so ``pg_stat_activity`` names the mesh and service."""
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, f"application_name={quote(application, safe='')}") if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


# ----------------------------------------------------------------------------------------------- mesh

def still_running(record: dict) -> tuple[bool, str]:
    """Whether the pid of ``record`` is still the process this mesh started (pids are reused): the
    same start time, and the same command line or the instance id the mesh gave it; if not, what it is."""
    import psutil

    try:
        process = psutil.Process(record["pid"])
        if process.status() == psutil.STATUS_ZOMBIE:
            return False, "it has exited"
        command, started = process.cmdline(), process.create_time()
        try:
            instance = process.environ().get("SUQIU_INSTANCE_ID")
        except psutil.Error:  # another user's process: its command line must do
            instance = None
    except psutil.NoSuchProcess:
        return False, "it has exited"
    except psutil.Error as exc:
        return False, f"it cannot be inspected ({type(exc).__name__})"
    if abs(started - record.get("create_time", 0)) > 1:
        return False, f"it is a process started at {datetime.fromtimestamp(started, timezone.utc):%H:%M:%S} UTC"
    if command != record.get("cmdline") and instance != record.get("instance"):
        return False, f"it now runs {' '.join(command)!r}"
    return True, ""


def _gone(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def terminate_group(pid: int, timeout: float) -> None:
    """SIGTERM the process group ``pid`` leads (each service has a session of its own), SIGKILL after ``timeout``."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if _gone(pid):
                return
            time.sleep(0.1)


class Mesh:
    """A set of service processes with their environment; start, kill, restart, stop.

    Each process gets ``SUQIU_INSTANCE_ID``, fresh at every spawn, and counts as healthy
    only when its ``/healthz`` answers 200 with that id. What runs is written to
    ``<var_dir>/mesh.json`` (see :func:`stop_recorded`).
    """

    def __init__(self, services: list[str], *, amqp_uri: str, database_urls: dict[str, str] | None = None,
                 ports: dict[str, int] | None = None, var_dir: Path = VAR, env: dict | None = None,
                 name: str | None = None, host: str = HOST, service_env: dict[str, dict] | None = None):
        self.services = services
        self.amqp_uri = amqp_uri
        self.database_urls = database_urls or {}
        self.ports = {**PORTS, **(ports or {})}
        self.var_dir = Path(var_dir)
        self.env = env or {}
        self.service_env = service_env or {}  # per service, over ``env`` (e.g. OUTBOX_LISTEN_URL: its database)
        self.name = name or self.var_dir.name
        self.host = host
        self.processes: dict[str, subprocess.Popen] = {}
        self.instances: dict[str, str] = {}
        self.records: dict[str, dict] = {}
        self.notes: dict = {}  # vhost, databases, ...: kept in the state file for status and stop

    def url(self, name: str) -> str:
        return f"http://{self.host}:{self.ports[name]}"

    @property
    def state_file(self) -> Path:
        return self.var_dir / STATE_FILE

    def log_file(self, name: str) -> Path:
        return self.var_dir / "log" / f"{name}.log"

    def _environment(self, name: str) -> dict:
        env = dict(os.environ)
        env.update({
            "AMQP_URI": self.amqp_uri,
            "WEB_SERVER_ADDRESS": f"{self.host}:{self.ports[name]}",
            "SUQIU_VAR_DIR": str(self.var_dir),
            "PYTHONWARNINGS": "ignore",
        })
        if self.database_urls.get(name):
            env["DATABASE_URL"] = self.database_urls[name]
        env.update(self._console_wiring(name))
        env.update(self.env)
        env.update(self.service_env.get(name, {}))
        env["SUQIU_INSTANCE_ID"] = self.instances[name]
        return env

    def _console_wiring(self, name: str) -> dict:
        """With the console in the mesh, every service verifies its person tokens (its JWKS) and
        the console calls the services of this mesh; a service not in it is "not deployed here"."""
        if "console" not in self.services:
            return {}
        if name != "console":
            return {"CONSOLE_JWKS_URL": f"{self.url('console')}/.well-known/jwks.json"}
        return {"CONSOLE_PUBLIC_URL": self.url("console"),
                **{f"{other.upper()}_URL": self.url(other) for other in self.services if other != "console"}}

    def spawn(self, name: str) -> subprocess.Popen:
        import psutil

        (self.var_dir / "log").mkdir(parents=True, exist_ok=True)
        self.instances[name] = f"{self.name}/{name}/{uuid.uuid4().hex[:12]}"
        nameko = str(Path(sys.executable).with_name("nameko"))
        with open(self.log_file(name), "ab") as log:
            process = subprocess.Popen(
                [nameko, "run", "--config", f"services/{name}/config.yaml", f"services.{name}.service"],
                cwd=ROOT, env=self._environment(name), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes[name] = process
        record = {"pid": process.pid, "port": self.ports[name], "url": self.url(name),
                  "instance": self.instances[name], "log": str(self.log_file(name))}
        record.update(cmdline=[], create_time=0.0)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # /proc/<pid>/cmdline reads empty for a moment right after the exec
            try:
                info = psutil.Process(process.pid)
                record.update(cmdline=info.cmdline(), create_time=info.create_time())
            except psutil.Error:  # it died at once; wait_healthy says so
                break
            if record["cmdline"]:
                break
            time.sleep(0.01)
        self.records[name] = record
        self.save_state()
        return process

    def probe(self, name: str) -> tuple[str, dict | None]:
        """``("ok" | "unavailable" | "down" | "foreign", body)``: foreign when another process answered."""
        try:
            response = requests.get(f"{self.url(name)}/healthz", timeout=2)
        except requests.RequestException:
            return "down", None
        try:
            body = response.json()
        except ValueError:
            return "foreign", None
        if not isinstance(body, dict) or body.get("instance") != self.instances.get(name):
            return "foreign", body if isinstance(body, dict) else None
        return ("ok" if response.status_code == 200 else "unavailable"), body

    def healthy(self, name: str) -> bool:
        return self.probe(name)[0] == "ok"

    def _exited(self, name: str, process: subprocess.Popen) -> MeshError:
        log = self.log_file(name)
        tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
        if "Address already in use" in tail or not port_is_free(self.ports[name], self.host):
            return PortTaken(f"{name} could not bind port {self.ports[name]}: it is held by "
                             f"{port_holder(self.ports[name])}. Choose other ports (--ports auto picks free ones).")
        return MeshError(f"{name} exited with {process.returncode}; see {log}")

    def wait_healthy(self, names: list[str], timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        for name in names:
            while True:
                process = self.processes.get(name)
                if process is not None and process.poll() is not None:
                    raise self._exited(name, process)
                state, body = self.probe(name)
                if state == "ok":
                    break
                if state == "foreign":
                    raise PortTaken(
                        f"{self.url(name)}/healthz answered from another process (instance "
                        f"{(body or {}).get('instance')!r}), not the {name} this mesh started (pid "
                        f"{process.pid if process else '?'}): port {self.ports[name]} is held by "
                        f"{port_holder(self.ports[name])}")
                if time.monotonic() > deadline:
                    raise MeshError(f"{name} did not become healthy in {timeout:.0f} s; see {self.log_file(name)}")
                time.sleep(0.3)

    def start(self, timeout: float = 90.0) -> Mesh:
        check_ports({name: self.ports[name] for name in self.services}, self.host)
        try:
            for name in self.services:
                self.spawn(name)
            self.wait_healthy(self.services, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def kill(self, name: str) -> None:
        """kill -9: no shutdown, no goodbye (the fault tests' crash)."""
        process = self.processes.pop(name, None)
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        self.records.pop(name, None)
        self.save_state()

    def restart(self, name: str, timeout: float = 90.0) -> None:
        self.kill(name)
        self.spawn(name)
        self.wait_healthy([name], timeout)

    def stop(self, timeout: float = 20.0) -> None:
        for process in list(self.processes.values()):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in list(self.processes.values()):
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.processes.clear()
        self.records.clear()
        self.save_state()

    def save_state(self) -> None:
        """``mesh.json``: what runs now (removed when nothing does)."""
        if not self.records:
            self.state_file.unlink(missing_ok=True)
            return
        self.var_dir.mkdir(parents=True, exist_ok=True)
        state = {"name": self.name, "checkout": str(ROOT), "amqp_uri": hide_password(self.amqp_uri),
                 "saved_at": datetime.now(timezone.utc).isoformat(), **self.notes, "services": self.records}
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=2, ensure_ascii=False))
        temporary.replace(self.state_file)

    def describe(self) -> list[str]:
        """Where everything is, for the person who started the mesh."""
        lines = [f"{name:12s} {self.url(name):24s} pid {self.processes[name].pid:<7d} log {self.log_file(name)}"
                 for name in self.services if name in self.processes]
        lines.append(f"{'broker':12s} {hide_password(self.amqp_uri)}")
        databases = self.notes.get("databases")
        if databases:
            lines.append(f"{'databases':12s} {', '.join(databases.values())} on {self.notes.get('postgres')}")
        else:
            lines.append(f"{'databases':12s} SQLite under {self.var_dir}")
        if flag(self.env.get("SIMULATED_CLOCK")):
            lines.append(f"{'clock':12s} simulated: each request's X-Suqiu-Now, supervision's tick(now); no timer")
        return lines

    def __enter__(self) -> Mesh:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def read_state(var_dir: Path) -> dict | None:
    path = Path(var_dir) / STATE_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def stop_recorded(var_dir: Path, services: list[str] | None = None, timeout: float = 20.0) -> list[str]:
    """Stop what ``<var_dir>/mesh.json`` says this mesh started, and nothing else: a pid is signalled
    only while it runs the command line it was started with (pids are reused). Lines of what was done."""
    path = Path(var_dir) / STATE_FILE
    state = read_state(var_dir)
    if state is None:
        return [f"nothing recorded in {path}"]
    lines = []
    records = state.get("services", {})
    for name, record in list(records.items()):
        if services and name not in services:
            continue
        running, what = still_running(record)
        if not running:
            lines.append(f"{name:12s} pid {record['pid']} is no longer the {name} this mesh started ({what}): "
                         "left alone")
        else:
            terminate_group(record["pid"], timeout)
            lines.append(f"{name:12s} pid {record['pid']} stopped")
        del records[name]
    if records:
        path.write_text(json.dumps(state, indent=2, ensure_ascii=False))
    else:
        path.unlink(missing_ok=True)
    return lines


def status_lines(var_dir: Path) -> list[str]:
    state = read_state(var_dir)
    if state is None:
        return []
    lines = [f"mesh {state['name']}: broker {state.get('amqp_uri')}"
             + (f", databases {', '.join(state['databases'].values())}" if state.get("databases") else "")]
    for name, record in state.get("services", {}).items():
        running, what = still_running(record)
        try:
            response = requests.get(f"{record['url']}/healthz", timeout=2)
            body = response.json()
            if body.get("instance") != record["instance"]:
                health = f"answered by another process (instance {body.get('instance')!r})"
            else:
                health = body.get("status", str(response.status_code))
        except (requests.RequestException, ValueError, AttributeError):
            health = "no answer"
        lines.append(f"{name:12s} {record['url']:24s} pid {record['pid']:<7d} "
                     f"{'running' if running else f'NOT RUNNING ({what})'}, health {health}")
    return lines


# -------------------------------------------------------------------------------- meshes of one's own

def provision(name: str, services: list[str], *, ports: str | dict[str, int] = "auto", broker: str = BROKER,
              vhost: str | None = None, postgres: str | None = None, db_prefix: str | None = None,
              fresh: bool = False, reuse: bool = False, env: dict | None = None, var_root: Path = VAR,
              host: str = HOST) -> tuple[Mesh, list[str]]:
    """Everything a mesh needs before it starts, checked first, then made: ports (refused when
    taken), its vhost (created when missing) with the mesh's queues, its databases. Returns the
    mesh, not started, and lines saying what was found."""
    if urlsplit(broker).path not in ("", "/"):
        raise MeshError(f"--amqp-uri {broker!r} names a vhost: give the broker alone and the vhost with --vhost")
    var_dir = mesh_dir(name, var_root)
    running = read_state(var_dir)
    if running and any(still_running(record)[0] for record in running.get("services", {}).values()):
        raise MeshError(f"a mesh named {name!r} is already running here ({var_dir / STATE_FILE}): "
                        f"`python -m scripts.mesh stop --name {name}` first, or choose another --name")
    chosen = parse_ports(ports, services) if isinstance(ports, str) else {**{s: PORTS[s] for s in services}, **ports}
    check_ports(chosen, host)

    lines: list[str] = []
    databases: dict[str, str] = {}
    if postgres:
        parts = urlsplit(postgres)  # the server: a database named in the URL is not the mesh's
        postgres = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        prefix = db_prefix if db_prefix is not None else default_db_prefix(name)
        names = {service: f"{prefix}{service}" for service in services}
        lines += prepare_databases(postgres, names, fresh=fresh, reuse=reuse)
        databases = {service: with_application_name(f"{postgres.rstrip('/')}/{database}", f"suqiu {name} {service}")
                     for service, database in names.items()}
    else:
        for service in services:
            files = [var_dir / f"{service}.sqlite{suffix}" for suffix in ("", "-wal", "-shm")]
            if files[0].exists():
                if fresh:
                    for file in files:
                        file.unlink(missing_ok=True)
                    lines.append(f"removed {files[0]} (--fresh)")
                else:
                    lines.append(f"reusing {files[0]} from an earlier run (--fresh starts clean)")

    management, auth = management_of(broker)
    own = vhost is None
    vhost = vhost or f"suqiu-{name}-{checkout_id()}"
    try:
        if own and fresh and vhost_exists(vhost, management, auth):
            drop_vhost(vhost, management, auth)  # its queues may hold events of the dropped databases
            lines.append(f"vhost {vhost} dropped and recreated (--fresh)")
        make_vhost(vhost, management, auth, exact=True)
    except requests.RequestException as exc:
        if own:
            raise MeshError(f"cannot create the vhost {vhost}: the RabbitMQ management API at {management} "
                            f"did not answer ({exc}); enable it (rabbitmq-plugins enable rabbitmq_management), set "
                            "RABBIT_MANAGEMENT, or give an existing vhost with --vhost") from None
        lines.append(f"the management API at {management} did not answer ({type(exc).__name__}): "
                     f"using the vhost {vhost} as it is")
    amqp_uri = amqp_uri_of(broker, vhost)
    try:
        declare_topology(amqp_uri)
    except Exception as exc:
        raise MeshError(f"cannot declare the mesh's queues on {hide_password(amqp_uri)}: {exc}") from None

    mesh = Mesh(services, amqp_uri=amqp_uri, database_urls=databases, ports=chosen, var_dir=var_dir,
                env=env, name=name, host=host)
    mesh.notes = {"vhost": vhost, "own_vhost": own, "management": management,
                  "postgres": postgres, "databases": {s: urlsplit(u).path.lstrip("/") for s, u in databases.items()}}
    return mesh, lines


@contextmanager
def throwaway_mesh(kind: str, services: list[str], *, postgres: str | None = POSTGRES, broker: str = BROKER,
                   ports: str = "auto", env: dict | None = None, name: str | None = None,
                   timeout: float = 120.0, announce=print) -> Iterator[Mesh]:
    """A started mesh of one run (the demo, the simulator, the benchmark): free ports, a vhost and
    databases of its own, named ``<kind>-<random>``, all dropped when the block ends."""
    name = name or new_mesh_name(kind)
    mesh, lines = provision(name, services, ports=ports, broker=broker, postgres=postgres,
                            db_prefix=default_db_prefix(name), env=env)
    try:
        mesh.start(timeout)
        for line in mesh.describe() + lines:
            announce(f"  {line}")
        yield mesh
    finally:
        mesh.stop()
        drop_vhost(mesh.notes["vhost"], mesh.notes["management"], management_of(broker)[1])
        for database in mesh.notes["databases"].values():
            drop_database(postgres, database)


def new_mesh_name(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:6]}"


def stop_on_sigterm() -> None:
    """For the command-line tools: a SIGTERM unwinds (``with Mesh(...)`` stops its processes)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


# ------------------------------------------------------------------------------------------------ CLI

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.mesh", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--name", default=None,
                        help="which mesh of this checkout (default: default; status without it: every mesh)")
    parser.add_argument("--services", default=None, help="default: all (" + ",".join(available_services()) + ")")
    parser.add_argument("--profile", default=None, help="a folder name under deploy/profiles (default demo)")
    parser.add_argument("--ports", default=str(BASE_PORT),
                        help="auto (free ports), a base port (9100: intake 9101 ... notify 9105; default 8100) "
                             "or intake=9101,dispatch=9102")
    parser.add_argument("--amqp-uri", default=BROKER, help=f"the broker, without a vhost (default {BROKER})")
    parser.add_argument("--vhost", default=None, help="created when missing (default: suqiu-<name>-<checkout>)")
    parser.add_argument("--postgres", default=None, help=f"one PostgreSQL database per service, e.g. {POSTGRES} "
                                                         "(default: SQLite files under var/mesh/<name>/)")
    parser.add_argument("--db-prefix", default=None,
                        help="database names: <prefix><service> (default suqiu_, or suqiu_<name>_ with --name)")
    fresh = parser.add_mutually_exclusive_group()
    fresh.add_argument("--fresh", action="store_true", help="drop and recreate this mesh's databases (and its vhost)")
    fresh.add_argument("--reuse", action="store_true", help="keep the databases an earlier run left")
    parser.add_argument("--simulated-clock", action="store_true",
                        help="SIMULATED_CLOCK=true TICK_TIMER=false: time from X-Suqiu-Now and tick(now) only")
    parser.add_argument("--var-dir", default=str(VAR), help="where meshes keep state and logs (default var/)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # nameko imports it; not ours to act on
    var_root = Path(args.var_dir)
    name = args.name or "default"
    services = [s for s in (args.services or ",".join(available_services())).split(",") if s]
    unknown = [s for s in services if s not in PORTS]
    if unknown:
        parser.error(f"--services: no such service: {', '.join(unknown)}")

    if args.command == "stop":
        for line in stop_recorded(mesh_dir(name, var_root), services if args.services else None):
            print(line)
        return 0
    if args.command == "status":
        names = [args.name] if args.name else sorted(p.parent.name for p in (var_root / "mesh").glob(f"*/{STATE_FILE}"))
        found = False
        for each in names:
            lines = status_lines(mesh_dir(each, var_root))
            found |= bool(lines)
            for line in lines:
                print(line)
        if not found:
            print(f"no mesh recorded under {var_root / 'mesh'}" + (f" named {args.name!r}" if args.name else ""))
        return 0 if found else 3

    env = {}
    if args.profile:
        env["PROFILE_DIR"] = f"deploy/profiles/{args.profile}"
    if args.simulated_clock:
        env.update(SIMULATED_CLOCK_ENV)
    try:
        mesh, lines = provision(name, services, ports=args.ports, broker=args.amqp_uri, vhost=args.vhost,
                                postgres=args.postgres, db_prefix=args.db_prefix, fresh=args.fresh,
                                reuse=args.reuse, env=env, var_root=var_root)
    except MeshError as exc:
        print(f"mesh {name}: {exc}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    try:
        mesh.start()
    except MeshError as exc:
        print(f"mesh {name}: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, PortTaken) else 1
    print(f"mesh {name} started (python -m scripts.mesh status|stop --name {name}):")
    for line in mesh.describe():
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
