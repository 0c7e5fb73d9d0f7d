"""Start and stop the Suqiu services on one machine, each a separate process.

    python -m scripts.mesh start [--services intake,dispatch] [--postgres URL_PREFIX] [--profile NAME]
    python -m scripts.mesh status
    python -m scripts.mesh stop

Each service runs as ``nameko run --config services/<name>/config.yaml
services.<name>.service`` with its own database (SQLite under var/ by default;
with ``--postgres postgresql://postgres@127.0.0.1:5432`` one PostgreSQL database
per service, created when missing), its own port (8101...8105) and its own log
under ``var/log/``. Process ids are kept in ``var/run/``. The end-to-end tests,
the demo and the benchmark use :class:`Mesh` directly.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
PORTS = {"intake": 8101, "dispatch": 8102, "supervision": 8103, "assessment": 8104, "notify": 8105}


def available_services() -> list[str]:
    return [name for name in PORTS if (ROOT / "services" / name / "service.py").exists()]


def ensure_database(prefix: str, name: str, fresh: bool = False) -> str:
    """``prefix/<name>``, created when it does not exist yet (dropped first when ``fresh``)."""
    from sqlalchemy import create_engine, text

    from shared.db import normalise_url

    admin = create_engine(normalise_url(f"{prefix}/postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if fresh:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{prefix}/{name}"


MANAGEMENT = os.environ.get("RABBIT_MANAGEMENT", "http://127.0.0.1:15672")
RABBIT_AUTH = (os.environ.get("RABBIT_USER", "guest"), os.environ.get("RABBIT_PASSWORD", "guest"))


def make_vhost(prefix: str, management: str = MANAGEMENT, auth: tuple[str, str] = RABBIT_AUTH) -> str:
    """A new vhost ``<prefix>-<random>`` on the local broker, the user allowed everything on it."""
    import uuid

    vhost = f"{prefix}-{uuid.uuid4().hex[:6]}"
    requests.put(f"{management}/api/vhosts/{vhost}", auth=auth, timeout=10).raise_for_status()
    requests.put(f"{management}/api/permissions/{vhost}/{auth[0]}",
                 json={"configure": ".*", "write": ".*", "read": ".*"}, auth=auth, timeout=10).raise_for_status()
    return vhost


def drop_vhost(vhost: str, management: str = MANAGEMENT, auth: tuple[str, str] = RABBIT_AUTH) -> None:
    requests.delete(f"{management}/api/vhosts/{vhost}", auth=auth, timeout=30)


class Mesh:
    """A set of service processes with their environment; start, kill, restart, stop."""

    def __init__(self, services: list[str], *, amqp_uri: str, database_urls: dict[str, str] | None = None,
                 ports: dict[str, int] | None = None, var_dir: Path = VAR, env: dict | None = None):
        self.services = services
        self.amqp_uri = amqp_uri
        self.database_urls = database_urls or {}
        self.ports = {**PORTS, **(ports or {})}
        self.var_dir = Path(var_dir)
        self.env = env or {}
        self.processes: dict[str, subprocess.Popen] = {}

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def _environment(self, name: str) -> dict:
        env = dict(os.environ)
        env.update({
            "AMQP_URI": self.amqp_uri,
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{self.ports[name]}",
            "SUQIU_VAR_DIR": str(self.var_dir),
            "PYTHONWARNINGS": "ignore",
        })
        if self.database_urls.get(name):
            env["DATABASE_URL"] = self.database_urls[name]
        env.update(self.env)
        return env

    def spawn(self, name: str) -> subprocess.Popen:
        (self.var_dir / "log").mkdir(parents=True, exist_ok=True)
        (self.var_dir / "run").mkdir(parents=True, exist_ok=True)
        nameko = str(Path(sys.executable).with_name("nameko"))
        log = open(self.var_dir / "log" / f"{name}.log", "ab")
        process = subprocess.Popen(
            [nameko, "run", "--config", f"services/{name}/config.yaml", f"services.{name}.service"],
            cwd=ROOT, env=self._environment(name), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        (self.var_dir / "run" / f"{name}.pid").write_text(str(process.pid))
        self.processes[name] = process
        return process

    def healthy(self, name: str) -> bool:
        try:
            return requests.get(f"{self.url(name)}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def wait_healthy(self, names: list[str], timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        for name in names:
            while not self.healthy(name):
                process = self.processes.get(name)
                if process is not None and process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}; see "
                                       f"{self.var_dir / 'log' / (name + '.log')}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not become healthy; see {self.var_dir / 'log' / (name + '.log')}")
                time.sleep(0.3)

    def start(self, timeout: float = 90.0) -> "Mesh":
        for name in self.services:
            self.spawn(name)
        self.wait_healthy(self.services, timeout)
        return self

    def kill(self, name: str) -> None:
        """kill -9: no shutdown, no goodbye (the fault tests' crash)."""
        process = self.processes.pop(name, None)
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def restart(self, name: str, timeout: float = 90.0) -> None:
        self.kill(name)
        self.spawn(name)
        self.wait_healthy([name], timeout)

    def stop(self, timeout: float = 20.0) -> None:
        for name, process in list(self.processes.items()):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for name, process in list(self.processes.items()):
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            (self.var_dir / "run" / f"{name}.pid").unlink(missing_ok=True)
        self.processes.clear()

    def __enter__(self) -> "Mesh":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def stop_on_sigterm() -> None:
    """For the command-line tools: a SIGTERM unwinds (``with Mesh(...)`` stops its processes)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def stop_recorded(var_dir: Path = VAR, services: list[str] | None = None, timeout: float = 20.0) -> None:
    """Stop processes recorded in ``var/run`` by an earlier ``start``."""
    run = var_dir / "run"
    for pidfile in sorted(run.glob("*.pid")) if run.exists() else []:
        if services and pidfile.stem not in services:
            continue
        pid = int(pidfile.read_text())
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pidfile.unlink(missing_ok=True)
            continue
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            os.killpg(pid, signal.SIGKILL)
        pidfile.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.mesh")
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--services", default=",".join(available_services()))
    parser.add_argument("--amqp-uri", default=os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"))
    parser.add_argument("--postgres", default=None, help="e.g. postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--profile", default=None, help="a folder name under deploy/profiles (default demo)")
    args = parser.parse_args(argv)
    services = [s for s in args.services.split(",") if s]
    if args.command == "start":
        databases = {name: ensure_database(args.postgres, f"suqiu_{name}") for name in services} if args.postgres else {}
        env = {"PROFILE_DIR": f"deploy/profiles/{args.profile}"} if args.profile else {}
        mesh = Mesh(services, amqp_uri=args.amqp_uri, database_urls=databases, env=env).start()
        for name in services:
            print(f"{name:12s} pid {mesh.processes[name].pid:6d}  {mesh.url(name)}  log var/log/{name}.log")
    elif args.command == "stop":
        stop_recorded(services=services)
        print("stopped")
    else:
        probe = Mesh(services, amqp_uri=args.amqp_uri)
        for name in services:
            print(f"{name:12s} {'up' if probe.healthy(name) else 'down'}")


if __name__ == "__main__":
    main()
