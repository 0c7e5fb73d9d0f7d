"""Where a service's CPU goes, by library: the self time of py-spy's collapsed stacks.

    python -m bench.run --profile var/profile ...   # py-spy samples each service at full speed
    python -m bench.cpu_breakdown var/profile/*.txt

Each busy sample is charged to the innermost frame that belongs to a known library (the time
a C extension spends is charged to the Python frame that called it); samples of the eventlet
hub waiting for I/O are idle and left out.
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

LIBRARIES = [("marshmallow", "marshmallow"), ("jinja2", "jinja2"), ("sqlalchemy", "sqlalchemy"),
             ("psycopg2", "psycopg2"), ("/json/", "json"), ("/amqp/", "amqp+kombu"), ("/kombu/", "amqp+kombu"),
             ("/nameko/", "nameko"), ("/eventlet/", "eventlet"), ("greenlet", "eventlet"),
             ("prometheus_client", "prometheus"), ("werkzeug", "werkzeug"), ("smtplib", "smtp"),
             ("/email/", "smtp"), ("/logging/", "logging"), ("services/", "own code"), ("shared/", "own code")]
IDLE = ("do_poll", "Hub.wait")


def breakdown(path: Path) -> tuple[int, Counter]:
    shares: Counter = Counter()
    busy = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        if any(mark in frames[-1] for mark in IDLE):
            continue
        busy += int(count)
        library = next((name for frame in reversed(frames) for key, name in LIBRARIES if key in frame),
                       "other (stdlib)")
        shares[library] += int(count)
    return busy, shares


def main(argv: list[str] | None = None) -> None:
    for name in argv if argv is not None else sys.argv[1:]:
        busy, shares = breakdown(Path(name))
        print(f"{name}: {busy} busy samples")
        for library, count in shares.most_common():
            print(f"  {library:16s} {100 * count / max(busy, 1):5.1f}%")


if __name__ == "__main__":
    main()
