"""Benchmark (not a test): how long a supervision tick takes with a large ledger.

Fills a PostgreSQL database of its own with 100,000 open appeals (100 of them due
now) and 1,000,000 closed ones (COPY), then times ``tick.run_tick`` (the code
the timer, the RPC and the HTTP tick run) several times, restoring the 100 due
appeals between runs, and prints the median. It also times a tick with nothing
due, and the open-appeals gauge refresh (a scan of the open appeals, which the
service runs at most every ``GAUGE_REFRESH_SECONDS``, outside the tick's cost).

    .venv/bin/python bench/supervision_tick.py [--url postgresql://postgres@127.0.0.1/postgres]
        [--open 100000] [--due 100] [--closed 1000000] [--runs 7] [--keep]
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from services.supervision import domain, tick  # noqa: E402
from services.supervision.profile import SupervisionPart  # noqa: E402
from shared.db import migrate, normalise_url  # noqa: E402
from shared.profile import DEFAULT_PROFILE, load_part  # noqa: E402

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=timezone.utc)  # Wednesday 10:00 in Shanghai
COLUMNS = ("appeal_id", "status", "lead_unit", "co_units", "category", "difficulty", "dispatch_count", "stage",
           "measure", "stage_started_at", "due_at", "yellow_at", "colour", "paused_seconds", "next_check_at",
           "level", "overdue_count", "reopen_count", "closed_at", "updated_at")
UNITS = ("tax", "hrss", "nrp", "finance", "approval", "energy", "market", "justice", "district-a", "nanzheng")


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment else r"\N"


def _rows(kind: str, start: int, count: int):
    for n in range(start, start + count):
        unit = UNITS[n % len(UNITS)]
        if kind == "closed":
            started = NOW - timedelta(days=400 - n % 300)
            yield (f"C{n:07d}", "closed", unit, "[]", "用工", "B", 1, None, None, None, None, None, None, 0,
                   None, 0, 0, 0, started + timedelta(days=5), started + timedelta(days=5))
        elif kind == "due":
            started = NOW - timedelta(days=9)
            due = NOW - timedelta(hours=1)
            yield (f"D{n:07d}", "accepted", unit, "[]", "用地", "B", 1, "reply", "working", started, due,
                   started + timedelta(days=5), "yellow", 0, due, 0, 0, 0, None, started)
        else:
            started = NOW - timedelta(hours=n % 48)
            due = NOW + timedelta(days=5 + n % 20)
            yellow = NOW + timedelta(days=2 + n % 10)
            yield (f"O{n:07d}", "accepted", unit, "[]", "资金", "B", 1, "reply", "working", started, due, yellow,
                   "green", 0, yellow, 0, 0, 0, None, started)


def _copy(engine, kind: str, total: int, chunk: int = 100_000) -> None:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for start in range(0, total, chunk):
            buffer = io.StringIO()
            for row in _rows(kind, start, min(chunk, total - start)):
                buffer.write("\t".join(r"\N" if v is None else (_iso(v) if isinstance(v, datetime) else str(v))
                                       for v in row) + "\n")
            buffer.seek(0)
            cursor.copy_expert(f"COPY appeals ({', '.join(COLUMNS)}) FROM STDIN", buffer)
        raw.commit()
    finally:
        raw.close()


def _restore_due(engine, due: int) -> None:
    """Put the due appeals back as they were before a tick (not timed)."""
    started, due_at = NOW - timedelta(days=9), NOW - timedelta(hours=1)
    with engine.begin() as conn:
        conn.execute(text("UPDATE appeals SET colour = 'yellow', level = 0, rung = NULL, overdue_count = 0, "
                          "due_at = :due, next_check_at = :due, stage_started_at = :started "
                          "WHERE appeal_id LIKE 'D%'"), {"due": due_at, "started": started})
        conn.execute(text("DELETE FROM escalations"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/supervision_tick.py")
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=100)
    parser.add_argument("--closed", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)

    admin = create_engine(normalise_url(args.url), isolation_level="AUTOCOMMIT")
    name = f"bench_supervision_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(normalise_url(args.url)).set(database=name).render_as_string(hide_password=False)
    try:
        migrate("supervision", url)
        engine = create_engine(url)
        t0 = time.perf_counter()
        _copy(engine, "closed", args.closed)
        _copy(engine, "open", args.open - args.due)
        _copy(engine, "due", args.due)
        with engine.connect() as conn:
            conn.execute(text("ANALYZE appeals"))
            conn.commit()
        print(f"filled {args.closed:,} closed + {args.open:,} open ({args.due} due) appeals "
              f"in {time.perf_counter() - t0:.1f} s")

        policy = domain.Policy.from_profile(load_part(DEFAULT_PROFILE, "supervision", SupervisionPart))
        sessions = sessionmaker(bind=engine, expire_on_commit=False)

        @contextmanager
        def transaction():
            with sessions() as session, session.begin():
                yield session

        # the week's and month's digests have gone out already (steady state)
        with transaction() as session:
            for kind, (period, _) in (("weekly", domain.weekly_period(NOW, policy)),
                                      ("monthly", domain.monthly_period(NOW, policy))):
                tick._claim_digest(session, kind, period, "*", 0, NOW)

        due_times, idle_times = [], []
        for run in range(args.runs):
            _restore_due(engine, args.due)
            started = time.perf_counter()
            effects = tick.run_tick(transaction, policy, NOW, "office")
            due_times.append(time.perf_counter() - started)
            if effects.checked != args.due:
                raise SystemExit(f"run {run}: checked {effects.checked}, expected {args.due}")
            started = time.perf_counter()
            idle = tick.run_tick(transaction, policy, NOW, "office")
            idle_times.append(time.perf_counter() - started)
            assert idle.checked == 0
        with Session(engine) as session:
            started = time.perf_counter()
            tick.open_counts(session)
            gauge = time.perf_counter() - started
        with engine.connect() as conn:
            plan = "\n".join(r[0] for r in conn.execute(text(
                "EXPLAIN SELECT * FROM appeals WHERE next_check_at <= :now ORDER BY next_check_at LIMIT 200 "
                "FOR UPDATE SKIP LOCKED"), {"now": NOW}))
        print(f"tick with {args.due} due (each: colour red, one escalation, a new deadline; events in the outbox): "
              f"median {statistics.median(due_times) * 1000:.1f} ms over {args.runs} runs "
              f"(min {min(due_times) * 1000:.1f}, max {max(due_times) * 1000:.1f})")
        print(f"tick with nothing due: median {statistics.median(idle_times) * 1000:.2f} ms")
        print(f"open-appeals gauge refresh (not part of the tick): {gauge * 1000:.1f} ms")
        print("plan of the due query:\n" + plan)
        engine.dispose()
    finally:
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
