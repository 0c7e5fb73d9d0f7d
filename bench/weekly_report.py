"""Benchmark (not a test): the weekly report over 1,000,000 appeals' facts on PostgreSQL.

    .venv/bin/python bench/weekly_report.py [--url postgresql://postgres@127.0.0.1/bench_assessment]
                                            [--appeals 1000000] [--runs 5] [--week 2026-W47]

Creates (or recreates) the database, migrates it, fills ``appeal_facts`` with
N appeals spread over two years (``INSERT ... SELECT`` from ``generate_series`` on
the server, so nothing crosses the wire), about 1.6 callbacks per 2 appeals, a
return per 10 and an overdue escalation per 20, runs ``VACUUM ANALYZE``, then times
``reports.build`` (every SQL aggregation of the report) and each rendering, and
prints the median of ``--runs`` runs.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from services.assessment import domain, render, reports  # noqa: E402
from services.assessment.profile import AssessmentPart  # noqa: E402
from shared.db import make_engine, migrate, normalise_url  # noqa: E402
from shared.profile import DEFAULT_PROFILE, load_part, load_units  # noqa: E402

UNITS = ["tax", "hrss", "nrp", "finance", "approval", "energy", "market", "justice",
         "district-a", "nanzheng", "chenggu", "yangxian", "mianxian", "xixiang"]
CATEGORIES = ["用工", "用地", "融资", "审批", "政策", "人才", "能源", "市场", "法律", "其他"]
DISTRICTS = ["汉台区", "南郑区", "城固县", "洋县", "勉县", "西乡县"]

FILL = """
INSERT INTO appeal_facts (appeal_id, credit_code, enterprise_name, title, district, category,
    collected_at, submitted_at, submitted_on_time, lead_unit, difficulty, dispatched_at, dispatch_count,
    accepted_at, accept_due_at, replied_at, reply_due_at, outcome, colour, status,
    callback_requested_at, callback_expires_at, callback_answered_at, reopen_count,
    closed_at, closed_outcome, closed_on_time, closing_reply_days)
SELECT 'B' || g, '91350100M000100Y43', '企业' || (g % 5000), '诉求' || g,
    (:districts)[1 + g % 6], (:categories)[1 + (g / 7) % 10],
    s - interval '1 day' * (g % 3), s, (g % 3) < 2,
    (:units)[1 + (g / 3) % 14], 'B', s + interval '2 hours', 1,
    CASE WHEN g % 10 < 9 THEN s + interval '1 hour' * (3 + g % 40) END,
    s + interval '26 hours',
    CASE WHEN g % 10 < 8 THEN s + interval '1 day' * (1 + g % 12) END,
    s + interval '10 days',
    CASE WHEN g % 10 < 8 THEN (ARRAY['solved','solved','solved','explained','long_term'])[1 + g % 5] END,
    (ARRAY['green','green','yellow','red'])[1 + g % 4],
    CASE WHEN g % 10 < 7 THEN 'closed' WHEN g % 10 < 8 THEN 'replied' ELSE 'accepted' END,
    CASE WHEN g % 10 < 8 THEN s + interval '1 day' * (1 + g % 12) END,
    CASE WHEN g % 10 < 8 THEN s + interval '1 day' * (8 + g % 12) END,
    CASE WHEN g % 10 < 7 THEN s + interval '1 day' * (2 + g % 12) END,
    0,
    CASE WHEN g % 10 < 7 THEN s + interval '1 day' * (2 + g % 12) END,
    CASE WHEN g % 10 < 7 THEN (ARRAY['solved','solved','solved','explained','long_term'])[1 + g % 5] END,
    CASE WHEN g % 10 < 7 THEN (1 + g % 12) <= 10 END,
    CASE WHEN g % 10 < 7 THEN (1 + g % 12)::float END
FROM (SELECT g, TIMESTAMPTZ '2025-01-01 00:00+08' + (interval '2 years' * g / :n) AS s
      FROM generate_series(1, :n) AS g) AS series
"""
CALLBACKS = """
INSERT INTO callbacks (appeal_id, unit, outcome, solved, satisfaction, caller, channel, called_at, result)
SELECT appeal_id, lead_unit, outcome, closed_outcome = 'solved',
       (ARRAY['满意','满意','满意','基本满意','不满意'])[1 + (hashtext(appeal_id) & 7) % 5],
       '回访员', 'office', callback_answered_at, 'closed'
FROM appeal_facts WHERE callback_answered_at IS NOT NULL
"""
RETURNS = """
INSERT INTO returns (event_id, appeal_id, unit, returned_at)
SELECT 'r' || appeal_id, appeal_id, lead_unit, submitted_at + interval '3 hours'
FROM appeal_facts WHERE hashtext(appeal_id) % 10 = 0
"""
ESCALATIONS = """
INSERT INTO escalations (event_id, appeal_id, unit, reason, level, escalated_at)
SELECT 'e' || appeal_id, appeal_id, lead_unit, 'overdue', 1, submitted_at + interval '2 days'
FROM appeal_facts WHERE hashtext(appeal_id) % 20 = 0
"""

# the history the measures read (docs/measures.md): one dispatch and one stint per appeal, its colour
DISPATCHES = """
INSERT INTO dispatch_facts (appeal_id, seq, unit, reason, made_at, accept_due_at, accept_due_set_at, accepted_at)
SELECT appeal_id, 1, lead_unit, 'rule', dispatched_at, accept_due_at, dispatched_at, accepted_at FROM appeal_facts
"""
STINTS = """
INSERT INTO stint_facts (appeal_id, dispatch_id, unit, started_at, reopened, reply_due_at, reply_due_set_at,
                         replied_at, outcome, ended_at, end_kind)
SELECT d.appeal_id, d.id, d.unit, d.made_at, false, f.reply_due_at, f.accepted_at, f.replied_at, f.outcome,
       f.replied_at, CASE WHEN f.replied_at IS NOT NULL THEN 'replied' END
FROM dispatch_facts d JOIN appeal_facts f ON f.appeal_id = d.appeal_id
"""
COLOURS = """
INSERT INTO colour_changes (appeal_id, colour, changed_at)
SELECT appeal_id, colour, dispatched_at + interval '20 hours' FROM appeal_facts
"""
UNITS_OF_REPLIES = """
UPDATE appeal_facts SET first_unit = lead_unit, replied_unit = CASE WHEN replied_at IS NOT NULL THEN lead_unit END,
       closed_unit = CASE WHEN closed_at IS NOT NULL THEN lead_unit END
"""


def recreate(url: str) -> None:
    target = make_url(normalise_url(url))
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def fill(engine, appeals: int) -> None:
    with engine.begin() as conn:
        started = time.perf_counter()
        conn.execute(text(FILL), {"n": appeals, "units": UNITS, "categories": CATEGORIES, "districts": DISTRICTS})
        print(f"appeal_facts: {appeals:,} rows in {time.perf_counter() - started:.1f} s")
        for name, statement in (("callbacks", CALLBACKS), ("returns", RETURNS), ("escalations", ESCALATIONS),
                                ("dispatch_facts", DISPATCHES), ("stint_facts", STINTS),
                                ("colour_changes", COLOURS), ("units of replies", UNITS_OF_REPLIES)):
            started = time.perf_counter()
            rows = conn.execute(text(statement)).rowcount
            print(f"{name}: {rows:,} rows in {time.perf_counter() - started:.1f} s")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))  # the visibility map lets the open-appeal index scan alone


def timed(function, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench/weekly_report.py")
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/bench_assessment")
    parser.add_argument("--appeals", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--week", default="2026-W47")
    parser.add_argument("--reuse", action="store_true", help="keep the filled database of a previous run")
    args = parser.parse_args(argv)

    if not args.reuse:
        recreate(args.url)
        migrate("assessment", args.url)
    engine = make_engine(args.url)
    if not args.reuse:
        fill(engine, args.appeals)
    part = load_part(DEFAULT_PROFILE, "assessment", AssessmentPart)
    units = {u["code"]: u for u in load_units(DEFAULT_PROFILE)["units"]}
    week = domain.week_period(args.week)
    previous = domain.previous_weeks(week, 2)[0]
    now = datetime(2027, 1, 1, tzinfo=timezone.utc)
    with Session(engine) as session:
        total = session.execute(text("SELECT count(*) FROM appeal_facts")).scalar_one()
        build = lambda: reports.build(session, "weekly", week, previous, part, units, now)  # noqa: E731
        build()  # warm the caches once
        median, report = timed(build, args.runs)
        print(f"\nweekly report {args.week} over {total:,} appeals: median {median * 1000:.0f} ms "
              f"of {args.runs} runs (new {report['summary']['new_appeals']:,}, "
              f"resolved {report['summary']['resolved']:,})")
        for fmt, function in (("csv", render.to_csv), ("xlsx", render.to_xlsx), ("html", render.to_html)):
            median_fmt, _ = timed(lambda function=function: function(report), args.runs)
            print(f"  render {fmt}: median {median_fmt * 1000:.0f} ms")
        month = domain.month_period(args.week[:4] + "-11")
        median_month, _ = timed(lambda: reports.build(session, "monthly", month, domain.previous_month(month), part,
                                                      units, now), args.runs)
        print(f"monthly bulletin {month.label}: median {median_month * 1000:.0f} ms")
    engine.dispose()


if __name__ == "__main__":
    main()
