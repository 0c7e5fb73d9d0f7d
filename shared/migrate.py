"""``python -m shared.migrate SERVICE [upgrade|revision MESSAGE|check]`` against DATABASE_URL."""
from __future__ import annotations

import argparse
import os

from shared.db import alembic_config, default_database_url, migrate


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.migrate")
    parser.add_argument("service")
    parser.add_argument("command", choices=["upgrade", "revision", "check", "current"], nargs="?", default="upgrade")
    parser.add_argument("-m", "--message", default="change")
    parser.add_argument("--url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args(argv)
    url = args.url or default_database_url(args.service)
    if args.command == "upgrade":
        migrate(args.service, url)
        print(f"{args.service}: migrated {url.split('@')[-1]}")
        return
    from alembic import command

    config = alembic_config(args.service, url)
    if args.command == "revision":
        command.revision(config, message=args.message, autogenerate=True)
    elif args.command == "check":
        command.check(config)
    else:
        command.current(config)


if __name__ == "__main__":
    main()
