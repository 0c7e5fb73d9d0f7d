"""The mesh benchmark: how fast Suqiu is against the broker's own limit.

    python -m bench.run [--appeals 2000] [--rate 100] [--rate-appeals 1000] [--clients 8]

1. The broker floor (``bench.broker``): one plain py-amqp publisher waiting for each
   confirm, the same with a window of 100 confirms, and consuming with acks.
2. The whole mesh on PostgreSQL (fresh databases), each service a process:
   * appeals submitted over HTTP at a fixed rate (``--rate`` per second): latency
     from each submission to its ``appeal_dispatched`` (p50, p95, p99);
   * appeals at full speed (``--clients`` concurrent submitters): appeals/s through
     received -> dispatched -> notified (the lead unit's notification sent), the
     events/s the mesh published with confirms (the services' own counters);
   * the efficiency ratio: the mesh's confirmed events/s over the floor's msgs/s.
3. Prints a table and writes ``bench/results/<time>.json`` (machine, versions, figures).

A benchmark, not a test: the machine is shared and noisy, so each figure is a median
or a percentile over many appeals, and the JSON keeps the machine's description.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import requests
from kombu import Connection, Queue

from bench import broker
from scripts.mesh import BROKER, POSTGRES as LOCAL_POSTGRES, Mesh, available_services, stop_on_sigterm, throwaway_mesh
from scripts.sinks import HttpSink, MailSink, sink_env
from shared.auth import token_hash
from shared.topology import events_exchange

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
POSTGRES = os.environ.get("BENCH_POSTGRES", LOCAL_POSTGRES)
AMQP_BASE = os.environ.get("BENCH_AMQP_BASE", BROKER)
CODES = ["916107001590830106", "91610700913909960G", "91610700819482190E", "916107000937865708"]
DISTRICTS = ["汉台区", "南郑区", "城固县", "洋县"]
TOKEN = "bench-office-token"


def _appeal(n: int) -> dict:
    return {"credit_code": CODES[n % 4], "enterprise_name": f"基准测试企业{n % 4}", "title": f"用工问题 {n}",
            "description": "招工难，需要人社部门协助对接", "category": "用工", "district": DISTRICTS[n % 4],
            "channel": "visit", "collected_at": datetime.now(timezone.utc).isoformat()}


class DispatchWatch:
    """Consumes ``appeal_dispatched`` (a queue of its own) and notes when each arrived."""

    def __init__(self, amqp_uri: str):
        self.arrived: dict[str, float] = {}
        self._connection = Connection(amqp_uri)
        self._queue = Queue(f"bench-watch-{uuid.uuid4().hex[:6]}", exchange=events_exchange("dispatch"),
                            routing_key="appeal_dispatched", exclusive=True, auto_delete=True)
        self._stop = False
        channel = self._connection.channel()
        self._queue(channel).declare()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        def on_message(body, message):
            self.arrived.setdefault(body["subject"], time.perf_counter())
            message.ack()

        with self._connection.Consumer(self._queue, callbacks=[on_message], accept=["json"]):
            while not self._stop:
                try:
                    self._connection.drain_events(timeout=0.5)
                except TimeoutError:
                    continue
                except OSError:
                    if self._stop:
                        return
                    raise

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=5)
        self._connection.release()


def metric_total(url: str, name: str, label_filter: str = "") -> float:
    text = requests.get(f"{url}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if label_filter and not re.search(label_filter, line):
                continue
            total += float(line.rsplit(" ", 1)[1])
    return total


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pids_named(name: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def cpu_seconds(mesh: Mesh) -> dict[str, float]:
    """CPU seconds used so far by each service process, the broker and the database."""
    usage = {name: _cpu(process.pid) for name, process in mesh.processes.items()}
    usage["rabbitmq"] = sum(_cpu(pid) for pid in _pids_named("beam.smp"))
    usage["postgresql"] = sum(_cpu(pid) for pid in _pids_named("postgres"))
    return usage


def published_events(mesh: Mesh) -> float:
    return sum(metric_total(mesh.url(name), "suqiu_events_published_total") for name in mesh.services)


def notified(mesh: Mesh) -> float:
    """Appeals whose lead unit has been notified: in-app notifications of ``appeal_dispatched`` sent."""
    if "notify" not in mesh.services:
        return float("nan")
    response = requests.get(f"{mesh.url('notify')}/api/v1/deliveries", timeout=30,
                            headers={"Authorization": f"Bearer {TOKEN}"},
                            params={"event_type": "appeal_dispatched", "channel": "inbox", "status": "sent",
                                    "page_size": 1})
    response.raise_for_status()
    return float(response.json()["total"])


def submit(session: requests.Session, base: str, n: int) -> tuple[str, float]:
    started = time.perf_counter()
    response = session.post(f"{base}/api/v1/appeals", json=_appeal(n), headers={"Authorization": f"Bearer {TOKEN}"},
                            timeout=30)
    response.raise_for_status()
    return response.json()["id"], started


def fixed_rate(mesh: Mesh, watch: DispatchWatch, count: int, rate: float, clients: int) -> dict:
    base = mesh.url("intake")
    sessions = threading.local()
    submitted: dict[str, float] = {}
    lock = threading.Lock()

    def one(n: int) -> None:
        if not hasattr(sessions, "s"):
            sessions.s = requests.Session()
        appeal_id, started = submit(sessions.s, base, n)
        with lock:
            submitted[appeal_id] = started

    begin = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for n in range(count):
            due = begin + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, n)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not all(a in watch.arrived for a in submitted):
        time.sleep(0.1)
    latencies = sorted((watch.arrived[a] - t) * 1000 for a, t in submitted.items() if a in watch.arrived)
    missing = len(submitted) - len(latencies)

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))], 1) if latencies else None

    return {"appeals": count, "rate": rate, "dispatched": len(latencies), "missing": missing,
            "p50_ms": pct(50), "p95_ms": pct(95), "p99_ms": pct(99)}


def full_speed(mesh: Mesh, watch: DispatchWatch, count: int, clients: int) -> dict:
    base = mesh.url("intake")
    notified_before, events_before = notified(mesh), published_events(mesh)
    cpu_before = cpu_seconds(mesh)
    sessions = threading.local()

    def one(n: int) -> str:
        if not hasattr(sessions, "s"):
            sessions.s = requests.Session()
        return submit(sessions.s, base, n)[0]

    begin = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        ids = list(pool.map(one, range(count)))
    submitted_in = time.perf_counter() - begin
    # each appeal's lead unit is notified of appeal_dispatched (and its enterprise of received)
    target = notified_before + count
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        done_dispatch = all(a in watch.arrived for a in ids)
        sent = notified(mesh)
        if done_dispatch and (sent != sent or sent >= target):  # NaN when notify is absent
            break
        time.sleep(0.2)
    elapsed = time.perf_counter() - begin
    events = published_events(mesh) - events_before
    cpu_after = cpu_seconds(mesh)
    cpu = {name: round(cpu_after[name] - cpu_before.get(name, 0.0), 1) for name in cpu_after}
    return {"cpu_seconds": cpu, "cpu_ms_per_appeal": {k: round(1000 * v / count, 1) for k, v in cpu.items()},
            "appeals": count, "clients": clients, "submit_s": round(submitted_in, 2), "elapsed_s": round(elapsed, 2),
            "appeals_per_s": round(count / elapsed, 1), "events_published": int(events),
            "events_per_s": round(events / elapsed, 1),
            "notifications_sent": None if sent != sent else int(sent - notified_before)}


def versions() -> dict:
    from importlib.metadata import version

    return {name: version(name) for name in ("nameko", "kombu", "amqp", "eventlet", "SQLAlchemy", "psycopg2-binary")}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--appeals", type=int, default=2000, help="appeals at full speed")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--rate-appeals", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--floor-messages", type=int, default=3000)
    parser.add_argument("--ports", default="auto", help="auto (default), a base port or intake=9101,...")
    args = parser.parse_args(argv)
    stop_on_sigterm()

    print("1/3 the broker floor ...")
    floor = broker.floor(args.floor_messages, size=800, repeats=3)

    tokens = ROOT / "var" / "bench-tokens.yaml"
    tokens.parent.mkdir(parents=True, exist_ok=True)
    tokens.write_text(f"tokens:\n  - sha256: {token_hash(TOKEN)}\n    role: office\n    name: bench\n")
    services = available_services()
    print("   the mesh (free ports, a vhost and databases of its own):")
    with MailSink() as mail, HttpSink() as sms, throwaway_mesh(
            "bench", services, postgres=POSTGRES, broker=AMQP_BASE, ports=args.ports,
            env={"AUTH_TOKENS_FILE": str(tokens), "LOG_LEVEL": "WARNING", "MAX_WORKERS": "20",
                 "TICK_TIMER": "false", **sink_env(mail, sms)}) as mesh:
        watch = DispatchWatch(mesh.amqp_uri)
        print(f"2/3 {args.rate_appeals} appeals at {args.rate:.0f}/s ...")
        rate = fixed_rate(mesh, watch, args.rate_appeals, args.rate, args.clients)
        print(f"3/3 {args.appeals} appeals at full speed ...")
        speed = full_speed(mesh, watch, args.appeals, args.clients)
        watch.close()

    efficiency = round(speed["events_per_s"] / floor["confirm_each"], 2) if floor["confirm_each"] else None
    result = {
        "when": datetime.now(timezone.utc).isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "versions": versions(), "services": services,
        "floor_msgs_per_s": floor, "fixed_rate": rate, "full_speed": speed,
        "efficiency": efficiency, "appeals_per_s": speed["appeals_per_s"], "p99_ms": rate["p99_ms"],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False))
    print()
    print(f"{'measure':44s} {'value':>12s}")
    rows = [
        ("broker floor: confirm each (msg/s)", floor["confirm_each"]),
        ("broker headroom: window 100 (msg/s)", floor["confirm_window"]),
        ("broker consume with acks (msg/s)", floor["consume_ack"]),
        (f"received->dispatched at {args.rate:.0f}/s: p50 (ms)", rate["p50_ms"]),
        ("  p95 (ms)", rate["p95_ms"]),
        ("  p99 (ms)", rate["p99_ms"]),
        ("  appeals not dispatched", rate["missing"]),
        ("full speed: appeals/s (received->dispatched->notified)", speed["appeals_per_s"]),
        ("full speed: events/s published by the mesh", speed["events_per_s"]),
        ("efficiency (mesh events/s / floor msg/s)", efficiency),
    ]
    for label, value in rows:
        print(f"{label:44s} {value!s:>12s}")
    print("CPU per appeal at full speed (ms): " + ", ".join(
        f"{name} {value}" for name, value in speed["cpu_ms_per_appeal"].items()))
    print(f"\nwritten {path.relative_to(ROOT)}")
    return result


if __name__ == "__main__":
    main()
