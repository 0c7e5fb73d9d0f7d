"""Benchmark (not a test): how many emails a second notify's sender hands to an SMTP server.

A PostgreSQL database of its own gets notify's schema and ``--emails`` pending email
notifications; an SMTP server that accepts and discards (aiosmtpd's Sink) runs in another
process on a free loopback port; then :func:`services.notify.sender.send_due` (the code the
sender loop runs) drains them in passes of ``--batch`` rows, as the loop would. Printed, per
run and as the median of ``--runs``: emails per second, the sender's own CPU time per email,
and the largest pass. A second part offers ``--offered`` emails a second for ``--seconds``
(a producer inserting rows as the consumers of the mesh would) and reports the lag from a
row's creation to its sending: keeping up means a lag that stays near one pass.

    .venv/bin/python -m bench.notify_sender [--url postgresql://postgres@127.0.0.1:5432] [--emails 6000]
        [--batch 100] [--runs 3] [--offered 600] [--seconds 20]
"""
from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

from sqlalchemy import create_engine, func, insert, select, text

from services.notify import domain
from services.notify.channels import EmailChannel
from services.notify.models import notifications
from services.notify.profile import NotifyPart
from services.notify.sender import Settings, send_due
from shared.db import make_engine, migrate, normalise_url
from shared.profile import DEFAULT_PROFILE, load_part, load_units

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)  # Wednesday 10:00 in Shanghai


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _smtp_sink(port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink",
                                "-l", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the SMTP sink did not start")


def _rows(count: int, created: datetime) -> list[dict]:
    return [{"id": uuid.uuid4().hex, "event_id": uuid.uuid4().hex, "event_type": "appeal_dispatched",
             "appeal_id": None, "recipient": f"unit:u{n % 100}", "recipient_name": "某单位", "channel": "email",
             "address": f"u{n % 100}@example.gov.cn", "webhook_kind": None, "subject": "【诉求】新交办诉求",
             "body": "您单位有一件新交办的企业诉求，请及时签收办理。" * 4, "urgent": False, "quiet_hours": None,
             "status": "pending", "attempts": 0, "created_at": created, "next_attempt_at": created}
            for n in range(count)]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def drain(engine, channels, directory, settings, batch: int) -> tuple[int, float, float, int]:
    """Send everything pending; (sent, seconds, cpu seconds, largest pass)."""
    sent, largest = 0, 0
    started, cpu = time.perf_counter(), _cpu()
    while True:
        report = send_due(engine, now=NOW + timedelta(minutes=1), channels=channels, directory=directory,
                          settings=settings, buckets={}, limit=batch)
        sent += report.sent
        largest = max(largest, report.sent)
        if report.claimed == 0:
            break
    return sent, time.perf_counter() - started, _cpu() - cpu, largest


def offered(engine, channels, directory, settings, batch: int, rate: int, seconds: float) -> dict:
    """A producer inserts ``rate`` rows a second in ticks of 50 ms; the sender loop drains; lags measured."""
    stop = threading.Event()
    produced = [0]

    def produce() -> None:
        tick, begin = 0.05, time.monotonic()
        while not stop.is_set():
            due = int((time.monotonic() - begin) * rate) - produced[0]
            if due > 0:
                now = datetime.now(timezone.utc)
                with engine.begin() as conn:
                    conn.execute(insert(notifications), _rows(due, now))
                produced[0] += due
            time.sleep(tick)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    sent, begin = 0, time.monotonic()
    while time.monotonic() - begin < seconds:
        report = send_due(engine, now=datetime.now(timezone.utc), channels=channels, directory=directory,
                          settings=settings, buckets={}, limit=batch)
        sent += report.sent
        if report.claimed == 0:
            time.sleep(0.02)  # the loop's idle wait (it is woken by new rows in the service)
    stop.set()
    producer.join()
    with engine.connect() as conn:
        lag = conn.execute(select(func.percentile_cont(0.5).within_group(
            func.extract("epoch", notifications.c.sent_at) - func.extract("epoch", notifications.c.created_at)),
            func.max(func.extract("epoch", notifications.c.sent_at)
                     - func.extract("epoch", notifications.c.created_at)))
            .where(notifications.c.status == "sent")).one()
        pending = conn.execute(select(func.count()).select_from(notifications)
                               .where(notifications.c.status == "pending")).scalar_one()
    return {"offered_per_s": rate, "seconds": seconds, "produced": produced[0], "sent": sent,
            "pending_at_end": pending, "lag_p50_ms": 1000 * float(lag[0] or 0), "lag_max_ms": 1000 * float(lag[1] or 0)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.notify_sender")
    parser.add_argument("--url", default=os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432"))
    parser.add_argument("--emails", type=int, default=6000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--offered", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args(argv)

    name = f"suqiu_bench_notify_{uuid.uuid4().hex[:8]}"
    admin = create_engine(normalise_url(f"{args.url}/postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    port = _free_port()
    sink = _smtp_sink(port)
    try:
        url = f"{args.url}/{name}"
        migrate("notify", url)
        engine = make_engine(url)
        part = load_part(DEFAULT_PROFILE, "notify", NotifyPart)
        directory = domain.Directory(load_units(DEFAULT_PROFILE), part)
        settings = Settings(max_attempts=3, backoff_base=60, backoff_max=600)
        channels = {"email": EmailChannel("127.0.0.1", port, "bench@suqiu.test")}
        results = []
        for run in range(args.runs):
            with engine.begin() as conn:
                conn.execute(text("TRUNCATE notifications, notification_receipts"))
                for start in range(0, args.emails, 1000):
                    conn.execute(insert(notifications), _rows(min(1000, args.emails - start), NOW))
            sent, seconds, cpu, largest = drain(engine, channels, directory, settings, args.batch)
            assert sent == args.emails, (sent, args.emails)
            results.append({"emails_per_s": sent / seconds, "cpu_ms_per_email": 1000 * cpu / sent,
                            "largest_pass": largest})
            print(f"run {run + 1}: {sent} emails in {seconds:.2f} s = {sent / seconds:.0f}/s, "
                  f"sender CPU {1000 * cpu / sent:.3f} ms/email, passes of up to {largest}")
        rates = [r["emails_per_s"] for r in results]
        cpus = [r["cpu_ms_per_email"] for r in results]
        print(f"median {statistics.median(rates):.0f} emails/s (range {min(rates):.0f}-{max(rates):.0f}), "
              f"sender CPU median {statistics.median(cpus):.3f} ms/email; load average {os.getloadavg()[0]:.2f}")
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE notifications, notification_receipts"))
        figures = offered(engine, channels, directory, settings, args.batch, args.offered, args.seconds)
        print(f"offered {figures['offered_per_s']}/s for {figures['seconds']:.0f} s: produced {figures['produced']}, "
              f"sent {figures['sent']}, still pending at the end {figures['pending_at_end']}; lag from creation to "
              f"sending p50 {figures['lag_p50_ms']:.0f} ms, max {figures['lag_max_ms']:.0f} ms")
        channels["email"].close()
        engine.dispose()
    finally:
        sink.terminate()
        sink.wait(timeout=10)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
