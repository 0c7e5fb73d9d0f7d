"""Manage the console's personal accounts from a shell (the admin page does the same).

    python -m services.console.accounts add USERNAME --name 王芳 --role unit_clerk --unit tax [--password-stdin]
    python -m services.console.accounts list
    python -m services.console.accounts disable USERNAME | enable USERNAME
    python -m services.console.accounts password USERNAME [--password-stdin]

Against ``DATABASE_URL`` (default the console's SQLite file under var/), migrated first;
units are checked against ``PROFILE_DIR``'s units.yaml (default deploy/profiles/demo).
Roles: office unit_clerk unit_leader cadre leader admin. Without ``--password-stdin`` the
password is asked for twice, not echoed.
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import datetime, timezone

from sqlalchemy.orm import Session

from services.console import domain, handlers
from shared.db import default_database_url, make_engine, migrate
from shared.errors import DomainError
from shared.profile import load_units


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("密码 (password): ")
    if first != getpass.getpass("再输入一次 (again): "):
        raise SystemExit("两次输入的密码不一致 (the passwords differ)")
    return first


def unit_codes(profile_dir: str) -> list[str]:
    return [u["code"] for u in load_units(profile_dir)["units"]]


def add_many(url: str, profile_dir: str, people: list[tuple[str, str, str, str | None]], password: str) -> None:
    """Accounts (username, name, role, unit) with one password: the demo's, never production's."""
    migrate("console", url)
    engine = make_engine(url)
    now = datetime.now(timezone.utc)
    try:
        with Session(engine) as session, session.begin():
            codes = unit_codes(profile_dir)
            for username, name, role, unit in people:
                handlers.add_account(session, domain.validate_account(username, name, role, unit, codes), password,
                                     now)
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.console.accounts")
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add")
    add.add_argument("username")
    add.add_argument("--name", required=True, help="the person's name as officials read it")
    add.add_argument("--role", required=True, choices=domain.ROLES)
    add.add_argument("--unit", default=None, help="a unit code of units.yaml (unit roles and the office)")
    add.add_argument("--password-stdin", action="store_true")
    commands.add_parser("list")
    for name in ("disable", "enable", "password"):
        command = commands.add_parser(name)
        command.add_argument("username")
        if name == "password":
            command.add_argument("--password-stdin", action="store_true")
    parser.add_argument("--url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--profile-dir", default=os.environ.get("PROFILE_DIR", "deploy/profiles/demo"))
    args = parser.parse_args(argv)

    url = args.url or default_database_url("console")
    migrate("console", url)
    engine = make_engine(url)
    now = datetime.now(timezone.utc)
    try:
        with Session(engine) as session, session.begin():
            if args.command == "add":
                fields = domain.validate_account(args.username, args.name, args.role, args.unit,
                                                 unit_codes(args.profile_dir))
                password = _password(args.password_stdin)
                problem = domain.password_problem(password)
                if problem:
                    raise SystemExit(problem)
                handlers.add_account(session, fields, password, now)
                print(f"added {fields['username']} ({domain.ROLE_NAMES[fields['role']]}"
                      f"{', ' + fields['unit'] if fields['unit'] else ''})")
            elif args.command == "list":
                for account in handlers.list_accounts(session):
                    state = "停用" if account["disabled"] else "启用"
                    print(f"{account['username']:24s} {account['display_name']:10s} {account['role']:12s} "
                          f"{account['unit'] or '-':14s} {account['source']:6s} {state}")
            elif args.command in ("disable", "enable"):
                handlers.set_disabled(session, args.username, args.command == "disable", now)
                print(f"{args.username}: {'disabled' if args.command == 'disable' else 'enabled'}")
            else:
                handlers.set_password(session, args.username, _password(args.password_stdin), now)
                print(f"{args.username}: password changed; their sessions are closed")
    except DomainError as exc:
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.fields.items())
        print(f"error: {exc.message}{' (' + detail + ')' if detail else ''}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
