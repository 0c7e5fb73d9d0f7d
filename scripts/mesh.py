"""Start and stop the Suqiu services on one machine, each a separate process.

    python -m scripts.mesh start [--services intake,dispatch] [--postgres URL_PREFIX] [--profile NAME]
    python -m scripts.mesh status
    python -m scripts.mesh stop

Each service runs as ``nameko run --config services/<name>/config.yaml
services.<name>.service`` with its own database (SQLite under var/ by default;
with ``--postgres postgresql://postgres@127.0.0.1:5432`` one PostgreSQL database
per service, created when missing), its own port (8101...8105) and its own log
under ``var/log/``. Process ids are kept in ``var/run/``.
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


def ensure_database(prefix: str, name: str) -> str:
    """``prefix/suqiu_<name>``, created when it does not exist yet."""
    from sqlalchemy import create_engine, text

    from shared.db import normalise_url

    admin = create_engine(normalise_url(f"{prefix}/postgres"), isolation_level="AUTOCOMMIT")
    database = f"suqiu_{name}"
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": database}).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{database}"'))
    admin.dispose()
    return f"{prefix}/{database}"


def service_env(name: str, *, amqp_uri: str, database_url: str | None, extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.update({
        "AMQP_URI": amqp_uri,
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{PORTS[name]}",
        "SUQIU_VAR_DIR": str(VAR),
        "PYTHONWARNINGS": "ignore",
    })
    if database_url:
        env["DATABASE_URL"] = database_url
    env.update(extra or {})
    return env


def start(services: list[str], *, amqp_uri: str, postgres: str | None, extra: dict | None = None,
          wait: float = 60.0) -> dict[str, int]:
    (VAR / "log").mkdir(parents=True, exist_ok=True)
    (VAR / "run").mkdir(parents=True, exist_ok=True)
    nameko = str(Path(sys.executable).with_name("nameko"))
    pids = {}
    for name in services:
        database_url = ensure_database(postgres, name) if postgres else None
        log = open(VAR / "log" / f"{name}.log", "ab")
        process = subprocess.Popen(
            [nameko, "run", "--config", f"services/{name}/config.yaml", f"services.{name}.service"],
            cwd=ROOT, env=service_env(name, amqp_uri=amqp_uri, database_url=database_url, extra=extra),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        (VAR / "run" / f"{name}.pid").write_text(str(process.pid))
        pids[name] = process.pid
    deadline = time.monotonic() + wait
    for name in services:
        while True:
            if healthy(name):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not become healthy; see var/log/{name}.log")
            time.sleep(0.3)
    return pids


def healthy(name: str) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{PORTS[name]}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def stop(services: list[str] | None = None, timeout: float = 20.0) -> None:
    run = VAR / "run"
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
    args = parser.parse_args(argv)
    services = [s for s in args.services.split(",") if s]
    if args.command == "start":
        pids = start(services, amqp_uri=args.amqp_uri, postgres=args.postgres)
        for name, pid in pids.items():
            print(f"{name:12s} pid {pid:6d}  http://127.0.0.1:{PORTS[name]}  log var/log/{name}.log")
    elif args.command == "stop":
        stop(services)
        print("stopped")
    else:
        for name in services:
            print(f"{name:12s} {'up' if healthy(name) else 'down'}")


if __name__ == "__main__":
    main()
