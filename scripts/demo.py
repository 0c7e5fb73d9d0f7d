"""`make demo`: start the mesh with a campaign's profile, replay weeks of the campaign,
and write the weekly report and the monthly bulletin (HTML with charts, XLSX).

    python -m scripts.demo [--profile hanzhong] [--weeks 4] [--appeals-per-day 5]

The five services run as separate processes on free ports, on PostgreSQL (a
database each) and a RabbitMQ vhost of this run's own, all dropped at the end
(:func:`scripts.mesh.throwaway_mesh`), so the demo runs beside another mesh; a
local SMTP server and SMS gateway stand in for the outside world. The simulator
drives the mesh through its public interfaces only; time moves by ``tick(now)``.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

from scripts import mesh as meshes
from scripts.client import Suqiu, write_tokens
from scripts.simulate import SHANGHAI, run
from scripts.sinks import HttpSink, MailSink, sink_env
from shared.profile import load_units

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "demo"


def percent(value) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


CONSOLE_PASSWORD = "suqiu-demo-2026"  # the demo's accounts only: anyone who reads this holds them


def console_people(units: dict) -> list[tuple[str, str, str, str | None]]:
    """The demo's console accounts: the office, a leader, an admin, the first simulated cadre
    (paired with the first enterprises) and a clerk for every department and locality."""
    people = [("office", "督办专员", "office", units["office"]), ("leader", "分管领导", "leader", None),
              ("admin", "系统管理员", "admin", None), ("cadre", "干部0001", "cadre", None)]
    people += [(f"clerk-{u['code']}", f"{u['name']}经办人", "unit_clerk", u["code"])
               for u in units["units"] if u["type"] in ("department", "locality")]
    return people


def wait_for_enter(console_url: str) -> None:
    """Keep the mesh (and the console) up for a person at a terminal; scripts and CI go on."""
    if not sys.stdin.isatty() or os.environ.get("DEMO_NO_WAIT"):
        return
    with contextlib.suppress(EOFError, KeyboardInterrupt):
        input(f"\nThe console stays up at {console_url}: press Enter to stop the mesh. ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.demo")
    parser.add_argument("--profile", default=os.environ.get("DEMO_PROFILE", "hanzhong"))
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--start", default="2026-10-12", help="a Monday")
    parser.add_argument("--enterprises", type=int, default=40)
    parser.add_argument("--appeals-per-day", type=int, default=5)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--postgres", default=os.environ.get("DEMO_POSTGRES", meshes.POSTGRES))
    parser.add_argument("--amqp", default=os.environ.get("DEMO_AMQP_BASE", meshes.BROKER), help="the broker, no vhost")
    parser.add_argument("--ports", default="auto", help="auto (default), a base port or intake=9101,...")
    args = parser.parse_args(argv)
    meshes.stop_on_sigterm()

    profile_dir = ROOT / "deploy" / "profiles" / args.profile
    units = load_units(profile_dir)
    start = date.fromisoformat(args.start)
    print(f"Suqiu demo: {units['campaign']} ({units['city']}), profile deploy/profiles/{args.profile}")
    OUT.mkdir(parents=True, exist_ok=True)
    mesh_name = meshes.new_mesh_name("demo")
    tokens = write_tokens(units["units"], meshes.mesh_dir(mesh_name) / "tokens.yaml")
    services = meshes.available_services()
    began = time.monotonic()
    with MailSink() as mail, HttpSink() as sms:
        print(f"Starting {', '.join(services)} as mesh {mesh_name}:")
        mesh_of_the_demo = meshes.throwaway_mesh(
            "demo", services, name=mesh_name, postgres=args.postgres, broker=args.amqp, ports=args.ports,
            env={"PROFILE_DIR": str(profile_dir), **meshes.SIMULATED_CLOCK_ENV, "AUTH_TOKENS_FILE": str(tokens),
                 "LOG_LEVEL": "WARNING", **sink_env(mail, sms)})
        try:
            with mesh_of_the_demo as mesh:
                client = Suqiu({s: mesh.url(s) for s in services}, mesh.amqp_uri)
                if "console" in services:
                    from services.console.accounts import add_many

                    people = console_people(units)
                    add_many(mesh.database_urls["console"], str(profile_dir), people, CONSOLE_PASSWORD)
                    print(f"Console: {mesh.url('console')}  (password of every demo account: {CONSOLE_PASSWORD})")
                    print("  accounts: " + ", ".join(f"{u} ({role})" for u, _, role, _ in people[:4])
                          + f", clerk-<unit code> (unit clerks: {', '.join(p[0] for p in people[4:7])} ...)")
                print(f"Replaying {args.weeks} weeks from {start} ({args.appeals_per_day} appeals a working day, "
                      f"{args.enterprises} enterprises):")
                outcome = run(client, units["units"], start=start, weeks=args.weeks,
                              enterprise_count=args.enterprises, appeals_per_day=args.appeals_per_day,
                              seed=args.seed, office=units["office"])
                end = outcome.ended
                publish_at = datetime.combine(end + timedelta(days=1), datetime.min.time(), SHANGHAI).replace(hour=9)
                week = outcome.weeks[-1]
                month = f"{start.year}-{start.month:02d}"
                files = {}
                for kind, period in (("weekly", week), ("monthly", month)):
                    client.publish_report(kind, period, publish_at)
                    for fmt in ("html", "xlsx"):
                        path = OUT / f"{kind}-{period}.{fmt}"
                        path.write_bytes(client.report(kind, period, fmt, publish_at))
                        files[(kind, fmt)] = path
                weekly = client.report("weekly", week, "json", publish_at)
                monthly = client.report("monthly", month, "json", publish_at)
                client.quiesce()
                time.sleep(1.5)  # notify's sender runs every second: let it hand the last mails over
                deliveries = Counter((d["channel"], d["status"]) for d in client.deliveries())
                if "console" in services:
                    print(f"\nThe replay is over; the console shows it: {mesh.url('console')} "
                          f"(e.g. office / {CONSOLE_PASSWORD}; reports of {week} and {month})")
                    wait_for_enter(mesh.url("console"))
        except meshes.MeshError as exc:
            print(f"The demo cannot start its mesh: {exc}", file=sys.stderr)
            return 2
        emails = len(mail.messages)
        texts = len(sms.received)

    print()
    print(f"{outcome.appeals} appeals in {time.monotonic() - began:.0f} s; final states: "
          + ", ".join(f"{state} {count}" for state, count in sorted(outcome.states.items())))
    print("what happened: " + ", ".join(f"{name} {count}" for name, count in sorted(outcome.actions.items())))
    for label, report in ((f"weekly report {week}", weekly), (f"monthly bulletin {month}", monthly)):
        rates = report["overall"]["rates"]
        summary = report["summary"]
        print(f"{label}: new {summary['new_appeals']}, resolved {summary['resolved']} "
              f"(within a week {summary['resolved_within_week']}), overdue {summary['overdue']}; "
              f"response {percent(rates.get('response'))}, resolution {percent(rates.get('resolution'))}, "
              f"satisfaction {percent(rates.get('satisfaction'))}; "
              f"ranked units {len(report['ranking'])}, to rectify {len(report['rectification'])}")
    print(f"notifications: {dict(deliveries)}; the SMTP server got {emails} mails, the SMS gateway {texts} texts")
    if outcome.parked:
        print(f"parked (dead-lettered) messages: {outcome.parked}")
    print("\nOpen the reports:")
    for _kind, path in sorted(files.items()):
        print(f"  {path.relative_to(ROOT)}")
    return 0 if outcome.appeals and not outcome.parked else 1


if __name__ == "__main__":
    sys.exit(main())
