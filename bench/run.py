"""The mesh benchmark: appeals per second, CPU per appeal, latency, against what cannot be avoided.

    python -m bench.run [--duration 60] [--rates 100,250] [--rate-seconds 20] [--http-seconds 20]

Everything runs on a RabbitMQ node and a PostgreSQL cluster of the benchmark's own (the
fault tests' private servers, on free ports), so the CPU counted for the broker and the
database is this mesh's alone on a machine shared with other work. ``--shared`` uses the
local servers instead (a vhost and fresh databases of its own; CPU then includes others').

1. The broker floor: persistent publishes waiting for each confirm, with 100 confirms
   outstanding (pipelined, as the outbox relay publishes), consuming with acks.
2. The whole mesh (five processes, fresh databases), fed through the AMQP ingress (the path
   upstream platforms use: ``appeal_submitted`` on ``upstream.events``):
   * latency at a fixed offered rate (``--rates``, each ``--rate-seconds``): from each
     publish to the arrival of its ``appeal_dispatched`` (``p50_ms``, ``p95_ms``, ``p99_ms``);
   * full speed for ``--duration`` seconds, a window of appeals in flight: an appeal is
     through when assessment holds its acceptance deadline (dispatched, deadline set) and
     notify has written the lead unit's notification of the dispatch; ``appeals_per_s``
     over the window and ``cpu_ms_per_appeal`` of each service, RabbitMQ and PostgreSQL
     (``total``), from /proc;
   * full speed through HTTP (``POST /api/v1/appeals``, 8 clients, ``--http-seconds``).
3. The unavoidable cost, in the same run: the publishes, deliveries (acked in batches) and
   PostgreSQL rows (inserted, updated; counted from ``pg_stat_database`` during the AMQP
   full-speed window) that one appeal caused, done by one plain client in batches of 100;
   CPU ms per appeal of that client, the broker and the database, and the mesh's ratio to it.
   Per appeal and service database, at each fixed rate and at full speed
   (``database_per_appeal``): rows inserted and updated, transactions and, with
   ``--statements`` (``pg_stat_statements`` preloaded), statements. Counts, not times: they
   compare across machines, where the CPU figures depend on the host.
4. The load average during each part (the machine is shared) and a table; the figures go
   to ``bench/results/<time>.json``. ``python -m bench.summary FILES`` gives medians and spread.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

import amqp
import requests
from sqlalchemy import create_engine, text

from scripts.mesh import Mesh, available_services, drop_vhost, ensure_database, make_vhost, stop_on_sigterm
from scripts.sinks import HttpSink, MailSink, sink_env
from shared.auth import token_hash
from shared.db import normalise_url
from shared.testing import free_port
from shared.topology import SUBSCRIPTIONS, declare_all

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
TOKEN = "bench-office-token"
CODES = ["916107001590830106", "91610700913909960G", "91610700819482190E", "916107000937865708"]
DISTRICTS = ["汉台区", "南郑区", "城固县", "洋县"]
HOT_EVENTS = ("appeal_received", "appeal_dispatched", "appeal_deadline_set")  # one each per appeal
MESH = ("intake", "dispatch", "supervision", "assessment", "notify")


def appeal(n: int, channel: str = "platform") -> dict:
    return {"credit_code": CODES[n % 4], "enterprise_name": f"基准测试企业{n % 4}", "title": f"用工问题 {n}",
            "description": "招工难，需要人社部门协助对接", "category": "用工", "district": DISTRICTS[n % 4],
            "channel": channel, "collected_at": datetime.now(timezone.utc).isoformat()}


# ---------------------------------------------------------------- CPU and load from /proc
def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds_of(pid: int, children: bool = True) -> float:
    """utime + stime (+ the reaped children's cutime + cstime) of a process, in seconds."""
    try:
        fields = _stat(pid)
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def _processes() -> list[tuple[int, int, str]]:
    """(pid, parent pid, command line) of every process."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = _stat(int(entry.name))
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            found.append((int(entry.name), int(fields[1]), cmdline))
    return found


class Servers:
    """The broker and the database: private ones (default) or the local shared ones."""

    def __init__(self, shared: bool, statements: bool = False):
        self.shared = shared
        self.statements = statements
        self._stack = ExitStack()

    def __enter__(self) -> Servers:
        if self.shared:
            self.vhost = make_vhost("bench-mesh")
            self._stack.callback(drop_vhost, self.vhost)
            self.amqp_uri = f"amqp://guest:guest@127.0.0.1:5672/{self.vhost}"
            self.postgres_base = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
            self.rabbit = self.postgres = None
            return self
        import shutil

        from tests.faults.conftest import PrivatePostgres, PrivateRabbit  # the fault tests' private servers

        self.rabbit = PrivateRabbit()
        self._stack.callback(shutil.rmtree, self.rabbit.folder, True)
        self._stack.callback(lambda: self.rabbit.stop())
        self.rabbit.start()
        self.postgres = PrivatePostgres()
        self._stack.callback(shutil.rmtree, self.postgres.folder, True)
        # as a city would run it: fsync on (the fault tests turn it off for speed)
        self.postgres.options = self.postgres.options.replace("-c fsync=off", "")
        if self.statements:
            self.postgres.options += " -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=top"
        self._stack.callback(lambda: self.postgres.stop("fast"))
        self.postgres.start()
        self.amqp_uri = self.rabbit.uri
        self.postgres_base = self.postgres.base
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def database(self, name: str) -> str:
        return ensure_database(self.postgres_base, name, fresh=True)

    def broker_cpu(self) -> float:
        if self.rabbit is None:
            return sum(cpu_seconds_of(pid) for pid, _, cmd in _processes() if "beam.smp" in cmd)
        mine = f"RABBITMQ_NODENAME={self.rabbit.node}".encode()

        def ours(pid: int) -> bool:  # the node's name is in its environment, not its command line
            try:
                return mine in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                return False

        return sum(cpu_seconds_of(pid) for pid, _, cmd in _processes() if "beam.smp" in cmd and ours(pid))

    def database_cpu(self) -> float:
        if self.postgres is None:
            return sum(cpu_seconds_of(pid) for pid, _, cmd in _processes() if cmd.startswith("postgres"))
        postmaster = int((self.postgres.data / "postmaster.pid").read_text().split()[0])
        # the postmaster's cutime/cstime hold its reaped backends; the live ones are added
        return cpu_seconds_of(postmaster) + sum(cpu_seconds_of(pid, children=False)
                                                for pid, ppid, _ in _processes() if ppid == postmaster)


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


class Sampler:
    """The machine's 1-minute load average, sampled every second while a part runs."""

    def __init__(self):
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            self.samples.append(loadavg())

    def __enter__(self) -> Sampler:
        self.samples.append(loadavg())
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def reset(self) -> None:
        """Start over from now (a part measured after a warm-up)."""
        self.samples = [loadavg()]

    def summary(self) -> dict:
        return {"mean": round(statistics.fmean(self.samples), 2), "max": round(max(self.samples), 2)}


# ---------------------------------------------------------------- the broker floor
def broker_floor(amqp_uri: str, messages: int = 5000, size: int = 800) -> dict:
    from bench.broker import consume_uri, publish_uri

    body = json.dumps({"pad": "x" * max(0, size - 12)}).encode()
    queue = f"floor-{uuid.uuid4().hex[:6]}"
    return {"confirm_each": round(publish_uri(amqp_uri, queue, messages // 5, body, window=1), 1),
            "confirm_pipelined_100": round(publish_uri(amqp_uri, queue, messages, body, window=100), 1),
            "consume_ack": round(consume_uri(amqp_uri, queue, messages // 5 + messages), 1)}


# ---------------------------------------------------------------- feeding and watching the mesh
def _amqp(amqp_uri: str) -> amqp.Connection:
    from kombu import Connection

    info = Connection(amqp_uri).info()
    connection = amqp.Connection(host=f"{info['hostname']}:{info['port']}", userid=info["userid"],
                                 password=info["password"], virtual_host=info["virtual_host"])
    connection.connect()
    return connection


class Feeder:
    """Publishes upstream appeals with pipelined confirms (at most ``window`` outstanding)."""

    def __init__(self, amqp_uri: str, window: int = 200):
        self.connection = _amqp(amqp_uri)
        self.channel = self.connection.channel()
        self.channel.confirm_select()
        self.window = window
        self.pending: set[int] = set()
        self.tag = 0
        self.channel.events["basic_ack"].add(self._settle)

    def _settle(self, tag: int, multiple: bool) -> None:
        if multiple:
            self.pending.difference_update([t for t in self.pending if t <= tag])
        else:
            self.pending.discard(tag)

    def publish(self, external_id: str, body: dict) -> None:
        self.channel.basic_publish(
            amqp.Message(json.dumps(body, ensure_ascii=False).encode(), content_type="application/json",
                         delivery_mode=2, message_id=external_id, timestamp=int(time.time())),
            exchange="upstream.events", routing_key="appeal_submitted")
        self.tag += 1
        self.pending.add(self.tag)
        while len(self.pending) >= self.window:
            self.connection.drain_events(timeout=30)

    def flush(self) -> None:
        while self.pending:
            self.connection.drain_events(timeout=30)

    def close(self) -> None:
        self.flush()
        self.connection.close()


class Watch:
    """Notes when each appeal's ``appeal_received`` and ``appeal_dispatched`` go by (queues of its own)."""

    def __init__(self, amqp_uri: str):
        self.appeal_of: dict[str, str] = {}  # external id -> appeal id
        self.received: dict[str, float] = {}  # external id -> perf_counter at the arrival of appeal_received
        self.dispatched: dict[str, float] = {}  # appeal id -> perf_counter at arrival
        self.connection = _amqp(amqp_uri)
        channel = self.connection.channel()
        for exchange, key in (("intake.events", "appeal_received"), ("dispatch.events", "appeal_dispatched")):
            name = f"bench-watch-{key}-{uuid.uuid4().hex[:6]}"
            channel.queue_declare(name, exclusive=True, auto_delete=True)
            channel.queue_bind(name, exchange, key)
            channel.basic_consume(name, callback=self._on_message, no_ack=True)
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _on_message(self, message) -> None:
        event = json.loads(message.body)
        if event["type"] == "appeal_received":
            external_id = event["data"].get("external_id") or ""
            self.appeal_of[external_id] = event["data"]["appeal_id"]
            self.received.setdefault(external_id, time.perf_counter())
        else:
            self.dispatched.setdefault(event["subject"], time.perf_counter())

    def _run(self) -> None:
        while not self._stop:
            try:
                self.connection.drain_events(timeout=0.5)
            except TimeoutError:
                continue
            except OSError:
                return

    def dispatched_at(self, external_id: str) -> float | None:
        appeal_id = self.appeal_of.get(external_id)
        return self.dispatched.get(appeal_id) if appeal_id else None

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=5)
        with contextlib.suppress(Exception):  # noqa: BLE001
            self.connection.close()


# pg_stat_statements keeps every database's statements: those of the connection's own
_THIS_DATABASE = "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"


class Progress:
    """How many appeals went through the loop: assessment applied their ``appeal_deadline_set``
    and notify their ``appeal_dispatched`` (each service's own ``suqiu_events_consumed_total``,
    read from /metrics: a count(*) on growing tables several times a second would be charged
    to PostgreSQL). The rows written come from ``pg_stat_database``, read twice."""

    def __init__(self, mesh: Mesh, database_urls: dict[str, str], statements: bool = False):
        self.mesh = mesh
        self.engines = {name: create_engine(normalise_url(url), pool_size=1) for name, url in database_urls.items()}
        self.statements = statements
        if statements:
            for engine in self.engines.values():
                with engine.begin() as connection:
                    connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))

    def _metrics(self, service: str) -> list[str]:
        return requests.get(f"{self.mesh.url(service)}/metrics", timeout=10).text.splitlines()

    def _processed(self, service: str, queue_part: str) -> int:
        total = 0.0
        for line in self._metrics(service):
            if (line.startswith("suqiu_events_consumed_total{") and queue_part in line
                    and 'result="processed"' in line):
                total += float(line.rsplit(" ", 1)[1])
        return int(total)

    def batches(self) -> dict[str, tuple[float, float]]:
        """Per service, (messages, units of work) so far: its ``suqiu_consumer_batch_size`` sum and count."""
        found = {}
        for service in self.mesh.services:
            total = count = 0.0
            for line in self._metrics(service):
                if line.startswith("suqiu_consumer_batch_size_sum"):
                    total += float(line.rsplit(" ", 1)[1])
                elif line.startswith("suqiu_consumer_batch_size_count"):
                    count += float(line.rsplit(" ", 1)[1])
            found[service] = (total, count)
        return found

    def through(self) -> int:
        return min(self._processed("assessment", "appeal_deadline_set--assessment"),
                   self._processed("notify", "appeal_dispatched--notify"))

    def database_counters(self) -> dict[str, dict[str, int]]:
        """Per service database, so far: rows inserted and updated, transactions (commits and
        rollbacks: ``pg_stat_database``) and, with ``--statements``, statements run
        (``pg_stat_statements``): counts, the same on a fast machine and a slow one."""
        found = {}
        for name, engine in self.engines.items():
            with engine.connect() as connection:
                row = connection.execute(text(
                    "SELECT tup_inserted, tup_updated, xact_commit + xact_rollback FROM pg_stat_database "
                    "WHERE datname = current_database()")).one()
                found[name] = {"inserted": row[0], "updated": row[1], "transactions": row[2]}
                if self.statements:
                    found[name]["statements"] = connection.execute(text(
                        "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements "
                        + _THIS_DATABASE)).scalar_one()
        return found

    def statement_counters(self) -> dict[str, dict[int, tuple[int, float, str]]]:
        """With ``--statements``, per service database: each statement's (calls, ms executing, text)
        so far (``pg_stat_statements``); {} without."""
        if not self.statements:
            return {}
        found = {}
        for name, engine in self.engines.items():
            with engine.connect() as connection:
                found[name] = {row[0]: (row[1], row[2], row[3]) for row in connection.execute(text(
                    "SELECT queryid, calls, total_exec_time, query FROM pg_stat_statements " + _THIS_DATABASE))}
        return found

    def close(self) -> None:
        for engine in self.engines.values():
            engine.dispose()


def statements_per_appeal(before: dict, after: dict, appeals: int, top: int = 12) -> dict:
    """Per service, its ``top`` statements by calls in between: [calls per appeal, ms executing per
    appeal, the statement's text cut at 160 characters] (``Progress.statement_counters``)."""
    found = {}
    for service, statements in after.items():
        earlier = before.get(service, {})
        grown = []
        for queryid, (calls, ms, query) in statements.items():
            was_calls, was_ms, _ = earlier.get(queryid, (0, 0.0, ""))
            if calls > was_calls:
                grown.append([round((calls - was_calls) / max(appeals, 1), 3),
                              round((ms - was_ms) / max(appeals, 1), 4), " ".join(query.split())[:160]])
        found[service] = sorted(grown, key=lambda item: -item[0])[:top]
    return found


def fixed_rate(amqp_uri: str, watch: Watch, rate: float, seconds: float, mesh: Mesh, servers: Servers,
               progress: Progress, profile_dir: Path | None = None, warmup: float = 5.0) -> dict:
    """Offer ``rate`` appeals/s for ``warmup`` + ``seconds``; latency from each publish to its
    dispatch, and the CPU per appeal at that rate (small batches: the fixed cost of a unit of
    work shows here), of the appeals offered after the warm-up. The mesh's first appeals meet
    cold caches (statements compiled, PostgreSQL's catalogue, templates), as the full-speed
    run's do (it also measures after a warm-up): their latency is reported apart
    (``warmup_p99_ms``), not in the percentiles of the steady rate."""
    feeder = Feeder(amqp_uri, window=50)
    published: dict[str, float] = {}
    warming: dict[str, float] = {}
    warm_count, count = int(rate * warmup), int(rate * seconds)
    run = uuid.uuid4().hex[:6]
    begin = time.perf_counter()
    with Sampler() as load:
        for n in range(warm_count + count):
            if n == warm_count:
                cpu_before, counters_before = cpu_now(mesh, servers), progress.database_counters()
                statements_before = progress.statement_counters()
                profilers = profile_services(mesh, profile_dir, seconds) if profile_dir else []
                load.reset()
            due = begin + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            external_id = f"rate-{run}-{n}"
            (published if n >= warm_count else warming)[external_id] = time.perf_counter()
            feeder.publish(external_id, {**appeal(n), "external_id": external_id})
        feeder.close()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(watch.dispatched_at(e) for e in published):
            time.sleep(0.1)
    time.sleep(1.0)  # the rest of the loop (deadline, notifications) of the last appeals
    _, cpu = _per_appeal(cpu_before, cpu_now(mesh, servers), count)
    database = counts_per_appeal(counters_before, progress.database_counters(), count)
    statements = statements_per_appeal(statements_before, progress.statement_counters(), count)
    for profiler in profilers:
        profiler.wait()

    def delays(offered: dict[str, float]) -> list[float]:
        return sorted((watch.dispatched_at(e) - t) * 1000 for e, t in offered.items() if watch.dispatched_at(e))

    latencies = delays(published)
    # the first hop: publish -> intake's appeal_received seen (intake, its outbox relay, the broker)
    received = sorted((watch.received[e] - t) * 1000 for e, t in published.items() if e in watch.received)

    def pct(p: float, values: list[float] = latencies) -> float | None:
        return round(values[min(len(values) - 1, int(p / 100 * len(values)))], 1) if values else None

    return {"rate": rate, "seconds": seconds, "warmup_seconds": warmup, "appeals": count,
            "dispatched": len(latencies), "missing": count - len(latencies), "p50_ms": pct(50), "p95_ms": pct(95),
            "p99_ms": pct(99), "received_p50_ms": pct(50, received), "received_p99_ms": pct(99, received),
            "warmup_p99_ms": pct(99, delays(warming)), "cpu_ms_per_appeal": cpu, "database_per_appeal": database,
            "loadavg": load.summary(), **({"statements_per_appeal": statements} if statements else {})}


def idle_cpu(mesh: Mesh, servers: Servers, seconds: float) -> dict[str, float]:
    """The mesh with nothing to do: CPU ms per second of each process, RabbitMQ and PostgreSQL (the
    loops, timers and heartbeats; what a low offered rate pays on top of its appeals)."""
    time.sleep(2)  # what starting left behind
    before = cpu_now(mesh, servers)
    time.sleep(seconds)
    after = cpu_now(mesh, servers)
    per = {name: round(1000 * (after[name] - before[name]) / seconds, 2) for name in after}
    per["total"] = round(sum(per.values()), 2)
    return per


def cpu_now(mesh: Mesh, servers: Servers) -> dict[str, float]:
    usage = {name: cpu_seconds_of(process.pid) for name, process in mesh.processes.items()}
    usage["rabbitmq"] = servers.broker_cpu()
    usage["postgresql"] = servers.database_cpu()
    return usage


def counts_per_appeal(before: dict, after: dict, appeals: int) -> dict:
    """Per service and in all, the database counters' growth per appeal (``Progress.database_counters``)."""
    per: dict = {}
    for service, counters in after.items():
        for name, value in counters.items():
            per.setdefault(name, {})[service] = round((value - before[service][name]) / max(appeals, 1), 2)
    for values in per.values():
        values["total"] = round(sum(values.values()), 2)
    return per


def _per_appeal(before: dict, after: dict, appeals: int) -> tuple[dict, dict]:
    seconds = {k: round(after[k] - before.get(k, 0.0), 2) for k in after}
    per = {k: round(1000 * v / max(appeals, 1), 2) for k, v in seconds.items()}
    per["total"] = round(sum(per.values()), 2)
    return seconds, per


def profile_services(mesh: Mesh, folder: Path, seconds: float) -> list:
    """py-spy (``pip install py-spy``) samples each service for ``seconds``: ``folder/<service>.txt``,
    collapsed stacks (``--profile``; a run of its own, the sampling costs CPU too)."""
    import shutil
    import subprocess

    spy = shutil.which("py-spy") or str(Path(os.sys.executable).with_name("py-spy"))
    folder.mkdir(parents=True, exist_ok=True)
    return [subprocess.Popen([spy, "record", "-p", str(process.pid), "-d", str(int(seconds)), "-r", "50", "-f", "raw",
                              "-o", str(folder / f"{name}.txt"), "--nonblocking"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for name, process in mesh.processes.items()]


def full_speed_amqp(amqp_uri: str, mesh: Mesh, servers: Servers, progress: Progress, duration: float,
                    window: int = 3000, warmup: float = 5.0, profile_dir: Path | None = None) -> dict:
    """Keep ``window`` appeals in flight for ``warmup`` + ``duration`` seconds; measure the last ``duration``."""
    feeder = Feeder(amqp_uri, window=200)
    run = uuid.uuid4().hex[:6]
    start_through = progress.through()
    published = 0
    begin = time.monotonic()
    measured = None
    with Sampler() as load:
        while True:
            now = time.monotonic()
            if measured is None and now - begin >= warmup:
                measured = {"at": time.perf_counter(), "through": progress.through(), "cpu": cpu_now(mesh, servers),
                            "database": progress.database_counters(), "batches": progress.batches()}
                profilers = profile_services(mesh, profile_dir, duration) if profile_dir else []
            if measured is not None and now - begin >= warmup + duration:
                break
            through = progress.through() - start_through
            while published - through < window:
                for _ in range(100):
                    key = f"full-{run}-{published}"
                    feeder.publish(key, {**appeal(published), "external_id": key})
                    published += 1
            feeder.flush()
            time.sleep(1.0)
        elapsed = time.perf_counter() - measured["at"]
        through = progress.through() - measured["through"]
        cpu_after = cpu_now(mesh, servers)
        database = progress.database_counters()
        batches = progress.batches()
    feeder.close()
    for profiler in profilers:
        profiler.wait()
    seconds, per = _per_appeal(measured["cpu"], cpu_after, through)
    per_appeal = counts_per_appeal(measured["database"], database, through)
    return {"seconds": round(elapsed, 1), "appeals": through, "appeals_per_s": round(through / elapsed, 1),
            "in_flight_window": window, "cpu_seconds": seconds, "cpu_ms_per_appeal": per,
            "rows_per_appeal": {"inserted": per_appeal["inserted"]["total"], "updated": per_appeal["updated"]["total"]},
            "database_per_appeal": per_appeal,
            "published_total": published, "drained_at": start_through + published, "loadavg": load.summary(),
            "messages_per_unit_of_work": {
                service: round((total - measured["batches"][service][0]) / (count - measured["batches"][service][1]), 1)
                for service, (total, count) in batches.items() if count > measured["batches"][service][1]}}


def full_speed_http(mesh: Mesh, servers: Servers, progress: Progress, seconds: float, clients: int = 8) -> dict:
    base = mesh.url("intake")
    sessions = threading.local()
    stop = threading.Event()
    counter = iter(range(10 ** 9))
    lock = threading.Lock()

    def client() -> int:
        sessions.s = requests.Session()
        done = 0
        while not stop.is_set():
            with lock:
                n = next(counter)
            response = sessions.s.post(f"{base}/api/v1/appeals", json=appeal(n, "web"), timeout=30,
                                       headers={"Authorization": f"Bearer {TOKEN}"})
            response.raise_for_status()
            done += 1
        return done

    before_through, before_cpu = progress.through(), cpu_now(mesh, servers)
    began = time.perf_counter()
    with Sampler() as load, ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(client) for _ in range(clients)]
        time.sleep(seconds)
        stop.set()
        submitted = sum(f.result() for f in futures)
        submitting = time.perf_counter() - began
        wait_drained(progress, before_through + submitted, timeout=300)  # the CPU of all of them
    elapsed = time.perf_counter() - began
    through = progress.through() - before_through
    seconds_used, per = _per_appeal(before_cpu, cpu_now(mesh, servers), through)
    return {"seconds": round(elapsed, 1), "submitting_s": round(submitting, 1), "clients": clients,
            "submitted": submitted, "appeals": through, "appeals_per_s": round(through / elapsed, 1),
            "submitted_per_s": round(submitted / submitting, 1), "cpu_seconds": seconds_used,
            "cpu_ms_per_appeal": per, "loadavg": load.summary()}


# ---------------------------------------------------------------- what cannot be avoided
def unavoidable(amqp_uri: str, database_url: str, servers: Servers, deliveries: dict[str, int],
                rows: dict[str, float], appeals: int = 3000, size: int = 800) -> dict:
    """One plain client does an appeal's broker and database work for ``appeals`` appeals, in
    batches of 100: the hot events published with pipelined confirms, each delivered to as many
    queues as consume it in the mesh and acked with one ack per batch, and the rows the mesh
    inserted and updated per appeal, written 100 appeals to a transaction."""
    body = json.dumps({"pad": "x" * max(0, size - 12)}).encode()
    connection = _amqp(amqp_uri)
    channel = connection.channel()
    channel.confirm_select()
    exchange = f"floor-{uuid.uuid4().hex[:6]}"
    channel.exchange_declare(exchange, "direct", durable=True, auto_delete=False)
    queues = []
    for event_type, count in deliveries.items():
        for n in range(count):
            name = f"{exchange}-{event_type}-{n}"
            channel.queue_declare(name, durable=True, auto_delete=False)
            channel.queue_bind(name, exchange, event_type)
            queues.append(name)
    engine = create_engine(normalise_url(database_url), pool_size=1)
    with engine.begin() as db:
        db.execute(text("CREATE TABLE IF NOT EXISTS floor_rows (id bigserial PRIMARY KEY, appeal int NOT NULL, "
                        "body text NOT NULL, done boolean NOT NULL DEFAULT false)"))
    inserts, updates = max(1, round(rows["inserted"])), round(rows["updated"])
    consumer = _amqp(amqp_uri)
    consumer_channel = consumer.channel()
    consumer_channel.basic_qos(0, 200, False)
    received: list[int] = []

    def on_message(message) -> None:
        received.append(message.delivery_tag)

    for name in queues:
        consumer_channel.basic_consume(name, callback=on_message)
    pending: set[int] = set()
    tag = [0]
    channel.events["basic_ack"].add(lambda t, multiple: pending.difference_update(
        [p for p in pending if p <= t]) if multiple else pending.discard(t))
    expected = appeals * sum(deliveries.values())
    servers_before = (servers.broker_cpu(), servers.database_cpu())
    mine_before = time.process_time()
    started = time.perf_counter()
    acked = 0
    for batch in range(0, appeals, 100):
        for event_type in deliveries:
            for _ in range(100):
                channel.basic_publish(amqp.Message(body, delivery_mode=2, content_type="application/json"),
                                      exchange=exchange, routing_key=event_type)
                tag[0] += 1
                pending.add(tag[0])
        while pending:
            connection.drain_events(timeout=10)
        with engine.begin() as db:
            db.execute(text("INSERT INTO floor_rows (appeal, body) SELECT :a, repeat('x', 200) "
                            "FROM generate_series(1, :n)"), {"a": batch, "n": 100 * inserts})
            if updates:
                db.execute(text("UPDATE floor_rows SET done = true WHERE id IN (SELECT id FROM floor_rows "
                                "WHERE appeal = :a LIMIT :n)"), {"a": batch, "n": 100 * updates})
        target = (batch + 100) * sum(deliveries.values())
        while acked + len(received) < target:
            consumer.drain_events(timeout=10)
            if len(received) >= 100:
                consumer_channel.basic_ack(max(received), multiple=True)
                acked += len(received)
                received.clear()
    while acked + len(received) < expected:
        consumer.drain_events(timeout=10)
    if received:
        consumer_channel.basic_ack(max(received), multiple=True)
    elapsed = time.perf_counter() - started
    mine = time.process_time() - mine_before
    broker = servers.broker_cpu() - servers_before[0]
    database = servers.database_cpu() - servers_before[1]
    consumer.close()
    for name in queues:
        channel.queue_delete(name)
    channel.exchange_delete(exchange)
    connection.close()
    engine.dispose()
    per = {"client": round(1000 * mine / appeals, 3), "rabbitmq": round(1000 * broker / appeals, 3),
           "postgresql": round(1000 * database / appeals, 3)}
    per["total"] = round(sum(per.values()), 3)
    return {"appeals": appeals, "seconds": round(elapsed, 2), "deliveries_per_appeal": deliveries,
            "rows_per_appeal": {"inserted": inserts, "updated": updates}, "cpu_ms_per_appeal": per}


def hot_deliveries() -> dict[str, int]:
    """How many service queues receive each event of the hot loop (the topology's own count)."""
    return {event_type: len({s.consumer for s in SUBSCRIPTIONS if s.event_type == event_type})
            for event_type in HOT_EVENTS}


def versions() -> dict:
    from importlib.metadata import version

    return {name: version(name) for name in ("nameko", "kombu", "amqp", "eventlet", "SQLAlchemy", "psycopg2-binary")}


def run(args) -> dict:
    stop_on_sigterm()
    result: dict = {"when": datetime.now(timezone.utc).isoformat(),
                    "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                "python": platform.python_version()},
                    "versions": versions(), "servers": "shared" if args.shared else "private"}
    tokens = ROOT / "var" / "bench-tokens.yaml"
    tokens.parent.mkdir(parents=True, exist_ok=True)
    tokens.write_text(f"tokens:\n  - sha256: {token_hash(TOKEN)}\n    role: office\n    name: bench\n")
    with Servers(args.shared, statements=args.statements) as servers, MailSink() as mail, HttpSink() as sms:
        print("1/5 the broker floor ...", flush=True)
        result["floor_msgs_per_s"] = broker_floor(servers.amqp_uri)
        services = [name for name in available_services() if name in MESH]  # not the console
        databases = {name: servers.database(f"suqiu_bench_{name}") for name in services}
        from kombu import Connection

        with Connection(servers.amqp_uri) as conn:
            declare_all(conn)
        mesh = Mesh(services, amqp_uri=servers.amqp_uri, database_urls=databases,
                    ports={name: free_port() for name in services}, var_dir=ROOT / "var" / "bench",
                    env={"AUTH_TOKENS_FILE": str(tokens), "LOG_LEVEL": "WARNING", "TICK_TIMER": "false",
                         "PROFILE_DIR": "deploy/profiles/demo", **sink_env(mail, sms), **args.env})
        progress = Progress(mesh, databases, statements=args.statements)
        try:
            mesh.start()
            watch = Watch(servers.amqp_uri)
            result["idle_cpu_ms_per_s"] = idle_cpu(mesh, servers, seconds=10)
            result["fixed_rate"] = {}
            for rate in args.rates:
                print(f"2/5 {rate:.0f} appeals/s for {args.rate_warmup:.0f} + {args.rate_seconds:.0f} s "
                      "(AMQP ingress) ...", flush=True)
                result["fixed_rate"][str(int(rate))] = fixed_rate(
                    servers.amqp_uri, watch, rate, args.rate_seconds, mesh, servers, progress,
                    profile_dir=Path(args.profile_rate) / str(int(rate)) if args.profile_rate else None,
                    warmup=args.rate_warmup)
            watch.close()
            print(f"3/5 full speed through the AMQP ingress for {args.duration:.0f} s ...", flush=True)
            amqp_run = full_speed_amqp(servers.amqp_uri, mesh, servers, progress, args.duration, args.window,
                                       profile_dir=Path(args.profile) if args.profile else None)
            result["full_speed_amqp"] = amqp_run
            wait_drained(progress, amqp_run.pop("drained_at"), timeout=300)
            if args.http_seconds:
                print(f"4/5 full speed through HTTP for {args.http_seconds:.0f} s ...", flush=True)
                result["full_speed_http"] = full_speed_http(mesh, servers, progress, args.http_seconds)
        finally:
            progress.close()
            mesh.stop()
        print("5/5 the unavoidable cost ...", flush=True)
        floor_db = servers.database("suqiu_bench_floor")
        result["unavoidable"] = unavoidable(servers.amqp_uri, floor_db, servers, hot_deliveries(),
                                            amqp_run["rows_per_appeal"])
    total = amqp_run["cpu_ms_per_appeal"]["total"]
    floor_total = result["unavoidable"]["cpu_ms_per_appeal"]["total"]
    result.update({"appeals_per_s": amqp_run["appeals_per_s"], "cpu_ms_per_appeal": amqp_run["cpu_ms_per_appeal"],
                   "unavoidable_ms_per_appeal": floor_total,
                   "ratio_to_unavoidable": round(total / floor_total, 2) if floor_total else None,
                   "latency": {rate: {k: v[k] for k in ("p50_ms", "p95_ms", "p99_ms", "missing")}
                               for rate, v in result["fixed_rate"].items()}})
    return result


def wait_drained(progress: Progress, published: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if progress.through() >= published:
            return
        time.sleep(0.5)


def _database_counts(part: dict) -> str:
    counts = part["database_per_appeal"]
    return f"{counts['transactions']['total']} / {counts.get('statements', {}).get('total', '-')}"


def report(result: dict, path: Path) -> None:
    amqp_run = result["full_speed_amqp"]
    print()
    print(f"{'measure':58s} {'value':>10s}")
    rows = [("idle mesh: CPU ms per second, total", result.get("idle_cpu_ms_per_s", {}).get("total")),
            ("broker: confirm each (msg/s)", result["floor_msgs_per_s"]["confirm_each"]),
            ("broker: pipelined confirms, 100 outstanding (msg/s)",
             result["floor_msgs_per_s"]["confirm_pipelined_100"]),
            ("broker: consume with acks (msg/s)", result["floor_msgs_per_s"]["consume_ack"])]
    for rate, figures in result["fixed_rate"].items():
        rows += [(f"received->dispatched at {rate}/s: p50 / p99 (ms)", f"{figures['p50_ms']} / {figures['p99_ms']}"),
                 ("  p99 of the warm-up's appeals (ms)", figures.get("warmup_p99_ms")),
                 ("  CPU ms per appeal at that rate, total", figures["cpu_ms_per_appeal"]["total"]),
                 ("  transactions / statements per appeal at that rate", _database_counts(figures)),
                 ("  not dispatched; load average", f"{figures['missing']}; {figures['loadavg']['mean']}")]
    rows += [(f"AMQP full speed, {amqp_run['seconds']} s: appeals/s", amqp_run["appeals_per_s"]),
             ("  CPU ms per appeal, total", amqp_run["cpu_ms_per_appeal"]["total"]),
             ("  transactions / statements per appeal", _database_counts(amqp_run)),
             ("  load average (mean, max)", f"{amqp_run['loadavg']['mean']}, {amqp_run['loadavg']['max']}")]
    if "full_speed_http" in result:
        http = result["full_speed_http"]
        rows += [(f"HTTP full speed, {http['seconds']} s: appeals/s", http["appeals_per_s"]),
                 ("  CPU ms per appeal, total", http["cpu_ms_per_appeal"]["total"])]
    rows += [("unavoidable CPU ms per appeal", result["unavoidable_ms_per_appeal"]),
             ("ratio: mesh / unavoidable", result["ratio_to_unavoidable"])]
    for label, value in rows:
        print(f"{label:58s} {value!s:>10s}")
    print("CPU ms per appeal (AMQP full speed): " + ", ".join(
        f"{k} {v}" for k, v in amqp_run["cpu_ms_per_appeal"].items()))
    print("messages per unit of work (AMQP full speed): " + ", ".join(
        f"{k} {v}" for k, v in amqp_run.get("messages_per_unit_of_work", {}).items()))
    print(f"\nwritten {path.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of AMQP full speed, measured")
    parser.add_argument("--window", type=int, default=3000, help="appeals in flight at full speed")
    parser.add_argument("--rates", default="100,250", help="fixed offered rates for the latency")
    parser.add_argument("--rate-seconds", type=float, default=20.0)
    parser.add_argument("--rate-warmup", type=float, default=5.0,
                        help="seconds each fixed rate is offered before it is measured")
    parser.add_argument("--http-seconds", type=float, default=20.0, help="0: no HTTP run")
    parser.add_argument("--shared", action="store_true", help="the local RabbitMQ and PostgreSQL, not private ones")
    parser.add_argument("--profile", default=None, help="a folder: py-spy samples each service at full speed")
    parser.add_argument("--statements", action="store_true",
                        help="count the statements each service runs (pg_stat_statements in the private PostgreSQL)")
    parser.add_argument("--profile-rate", default=None,
                        help="a folder: py-spy samples each service at each fixed rate (<folder>/<rate>/)")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the services (repeatable)")
    args = parser.parse_args(argv)
    if args.shared and args.statements:
        parser.error("--statements needs the private PostgreSQL (it preloads pg_stat_statements); drop --shared")
    args.rates = [float(r) for r in args.rates.split(",") if r]
    args.env = dict(item.split("=", 1) for item in args.env)
    result = run(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    report(result, path)
    return result


if __name__ == "__main__":
    main()
