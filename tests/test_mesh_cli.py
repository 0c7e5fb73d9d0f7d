"""Two meshes on one machine (issue 11): ``python -m scripts.mesh`` as a person runs it.

Intake alone makes the point and keeps this fast: each mesh here is one real ``nameko run``
process, on the real broker and PostgreSQL, with a name, a folder, a vhost and database
names of this test's own, so it runs beside other people's tests and meshes.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from scripts import mesh as meshes
from shared.testing import TOKENS_FILE, fresh_vhost

ROOT = Path(__file__).resolve().parent.parent
OFFICE = {"Authorization": "Bearer t-office"}
CODES = ["91350100M000100Y43", "91110000600037341L"]


# ------------------------------------------------------------------------------ fast: no process started

def test_a_base_port_gives_each_service_its_documented_offset():
    assert meshes.parse_ports("9100", ["intake", "notify"]) == {"intake": 9101, "notify": 9105}


def test_named_ports_replace_only_the_services_named():
    assert meshes.parse_ports("dispatch=9302", ["intake", "dispatch"]) == {"intake": 8101, "dispatch": 9302}


def test_auto_ports_are_free_and_distinct():
    ports = meshes.parse_ports("auto", ["intake", "dispatch", "supervision"])
    assert len(set(ports.values())) == 3 and all(meshes.port_is_free(port) for port in ports.values())


@pytest.mark.parametrize("spec", ["intake=", "teller=9101", "intake=9101,dispatch=9101", "70000"])
def test_a_ports_option_that_means_nothing_is_refused(spec):
    with pytest.raises(meshes.MeshError):
        meshes.parse_ports(spec, ["intake", "dispatch"])


def test_a_health_answer_from_another_process_is_not_taken_for_the_meshs_own():
    """What the demo met: /healthz answered 200 from the other mesh's intake."""

    class OtherMesh(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"status": "ok", "checks": {}, "instance": "someone-else/intake/1"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), OtherMesh)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        mesh = meshes.Mesh(["intake"], amqp_uri="amqp://unused", ports={"intake": server.server_address[1]})
        mesh.instances["intake"] = "this-mesh/intake/1"
        with pytest.raises(meshes.PortTaken, match="answered from another process"):
            mesh.wait_healthy(["intake"], timeout=5)
    finally:
        server.shutdown()
        server.server_close()


def test_start_on_a_port_another_process_holds_names_the_port_and_the_pid(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run_mesh("start", "--name", "taken", "--services", "intake", "--ports", f"intake={port}",
                          var=tmp_path)
    assert result.returncode == 2
    assert f"port {port} (intake) is held by pid {os.getpid()}" in result.stderr
    assert not (tmp_path / "mesh" / "taken" / "mesh.json").exists()  # nothing was started


# ------------------------------------------------------------------- real meshes (intake), side by side

@pytest.fixture
def cli(broker_base, database_base, tmp_path):
    """``cli.start(name, postgres=False, extra=())`` on a vhost of the test's own; everything it
    started is stopped and every database it named is dropped afterwards."""
    base, management, _ = broker_base
    assert management, "scripts.mesh creates vhosts through the RabbitMQ management API"
    url, engine = database_base
    postgres = make_url(url).render_as_string(hide_password=False).rsplit("/", 1)[0]  # the server

    class Cli:
        var = tmp_path
        server = postgres
        vhosts: dict[str, str] = {}
        prefixes: dict[str, str] = {}

        def start(self, name: str, *, with_postgres: bool = False, extra: tuple = ()) -> subprocess.CompletedProcess:
            args = ["start", "--name", name, "--services", "intake", "--ports", "auto",
                    "--amqp-uri", base, "--vhost", self.vhosts[name]]
            if with_postgres:
                args += ["--postgres", postgres, "--db-prefix", self.prefixes[name]]
            return run_mesh(*args, *extra, var=tmp_path, management=management)

        def stop(self, name: str) -> subprocess.CompletedProcess:
            return run_mesh("stop", "--name", name, var=tmp_path)

        def status(self, name: str) -> subprocess.CompletedProcess:
            return run_mesh("status", "--name", name, var=tmp_path)

        def state(self, name: str) -> dict:
            return json.loads((tmp_path / "mesh" / name / "mesh.json").read_text())

        def url(self, name: str) -> str:
            return self.state(name)["services"]["intake"]["url"]

        def database(self, name: str) -> str:
            return f"{self.prefixes[name]}intake"

    cli = Cli()
    with fresh_vhost(broker_base) as (_, vhost_a), fresh_vhost(broker_base) as (_, vhost_b):
        cli.vhosts = {"a": vhost_a, "b": vhost_b}
        tag = uuid.uuid4().hex[:8]
        cli.prefixes = {"a": f"t{tag}_a_", "b": f"t{tag}_b_"}
        try:
            yield cli
        finally:
            for state in tmp_path.glob("mesh/*/mesh.json"):
                meshes.stop_recorded(state.parent)
            for leftover in processes_under(tmp_path):  # were the state files wrong, nothing outlives the test
                meshes.terminate_group(leftover, 5)
            with engine.connect() as conn:
                for name in cli.prefixes:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{cli.database(name)}" WITH (FORCE)'))


def run_mesh(*args: str, var: Path, management: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "AUTH_TOKENS_FILE": str(Path(TOKENS_FILE).resolve()), "PYTHONWARNINGS": "ignore"}
    if management:
        env["RABBIT_MANAGEMENT"] = management
    return subprocess.run([sys.executable, "-m", "scripts.mesh", *args, "--var-dir", str(var)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=150)


def put_enterprise(base: str, code: str, name: str) -> requests.Response:
    return requests.put(f"{base}/api/v1/enterprises/{code}", json={"name": name, "district": "汉台区"},
                        headers=OFFICE, timeout=10)


@pytest.mark.integration
def test_two_meshes_side_by_side_both_answer_and_each_sees_only_its_own_data(cli):
    started = [cli.start(name, with_postgres=True) for name in ("a", "b")]
    assert [result.returncode for result in started] == [0, 0], [result.stderr for result in started]
    a, b = cli.url("a"), cli.url("b")
    assert put_enterprise(a, CODES[0], "甲网格企业").status_code == 201
    assert put_enterprise(b, CODES[1], "乙网格企业").status_code == 201
    seen = {(mesh, code): requests.get(f"{url}/api/v1/enterprises/{code}", headers=OFFICE, timeout=10).status_code
            for mesh, url in (("a", a), ("b", b)) for code in CODES}
    assert seen == {("a", CODES[0]): 200, ("a", CODES[1]): 404, ("b", CODES[0]): 404, ("b", CODES[1]): 200}


@pytest.mark.integration
def test_each_mesh_answers_health_from_the_process_it_started(cli):
    for name in ("a", "b"):
        assert cli.start(name).returncode == 0
    answers = {name: requests.get(f"{cli.url(name)}/healthz", timeout=5).json()["instance"] for name in ("a", "b")}
    assert answers == {name: cli.state(name)["services"]["intake"]["instance"] for name in ("a", "b")}


@pytest.mark.integration
def test_stopping_one_mesh_leaves_the_other_running(cli):
    for name in ("a", "b"):
        assert cli.start(name).returncode == 0
    a_pid, b_pid = (cli.state(name)["services"]["intake"]["pid"] for name in ("a", "b"))
    a_url = cli.url("a")

    stopped = cli.stop("a")

    assert f"pid {a_pid} stopped" in stopped.stdout
    assert not running(a_pid)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{a_url}/healthz", timeout=5)
    assert running(b_pid)
    status = cli.status("b")
    assert status.returncode == 0 and f"pid {b_pid}" in status.stdout and "running, health ok" in status.stdout


@pytest.mark.integration
def test_stop_leaves_alone_a_recorded_pid_that_no_longer_runs_what_the_mesh_started(cli):
    assert cli.start("a").returncode == 0
    path = cli.var / "mesh" / "a" / "mesh.json"
    state = json.loads(path.read_text())
    record = state["services"]["intake"]
    real_pid = record["pid"]
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        record["pid"] = bystander.pid  # as if the mesh's pid had been reused by another program
        path.write_text(json.dumps(state))
        stopped = cli.stop("a")
        assert bystander.poll() is None and f"pid {bystander.pid} is no longer the intake" in stopped.stdout
    finally:
        bystander.kill()
        bystander.wait()
        meshes.terminate_group(real_pid, 20)


@pytest.mark.integration
def test_leftover_databases_are_named_with_their_tables_and_fresh_starts_clean(cli):
    assert cli.start("a", with_postgres=True).returncode == 0
    assert put_enterprise(cli.url("a"), CODES[0], "上次留下的企业").status_code == 201
    assert cli.stop("a").returncode == 0
    database = cli.database("a")
    engine = create_engine(make_url(cli.server).set(database=database))
    with engine.connect() as conn:
        tables = conn.execute(text("SELECT count(*) FROM pg_tables "
                                   "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")).scalar_one()
    engine.dispose()

    refused = cli.start("a", with_postgres=True)

    assert refused.returncode == 2
    assert f"{database} ({tables} tables)" in refused.stderr and "--fresh" in refused.stderr
    assert not (cli.var / "mesh" / "a" / "mesh.json").exists()

    fresh = cli.start("a", with_postgres=True, extra=("--fresh",))
    assert fresh.returncode == 0, fresh.stderr
    listing = requests.get(f"{cli.url('a')}/api/v1/enterprises", headers=OFFICE, timeout=10).json()
    assert listing["total"] == 0


def processes_under(folder: Path) -> list[int]:
    """Pids of the service processes a mesh in ``folder`` started (their SUQIU_VAR_DIR is there)."""
    pids = []
    for process in psutil.process_iter():
        try:
            if process.environ().get("SUQIU_VAR_DIR", "").startswith(str(folder)) and \
                    process.status() != psutil.STATUS_ZOMBIE:
                pids.append(process.pid)
        except psutil.Error:
            continue
    return pids


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.integration
def test_the_simulated_clock_option_lets_a_request_carry_its_time(cli):
    assert cli.start("a", extra=("--simulated-clock",)).returncode == 0
    moment = "2026-10-12T23:30:00+08:00"
    put = requests.put(f"{cli.url('a')}/api/v1/enterprises/{CODES[0]}",
                       json={"name": "模拟时钟企业", "district": "汉台区"},
                       headers={**OFFICE, "X-Suqiu-Now": moment}, timeout=10)
    assert put.status_code == 201
    stored = datetime.fromisoformat(put.json()["updated_at"])  # SQLite keeps UTC without its zone
    assert stored.replace(tzinfo=stored.tzinfo or timezone.utc) == datetime.fromisoformat(moment)
