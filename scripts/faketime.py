"""The real clock for what is not under test, when ``scripts/at-shanghai-time.sh`` fakes the suite's.

The script preloads Debian's libfaketime into every process the suite starts, so that the
services run at 23:30 or 10:00 Shanghai time. The servers a test starts for itself (a private
PostgreSQL cluster, RabbitMQ nodes, PgBouncer) and the outside tools (schemathesis) are not
under test and must keep the real clock: under libfaketime 0.9.10 a private PostgreSQL never
detected a deadlock between two replicas (its deadlock_timeout never fired: both waited for
ever), and a thread's timed wait (sem_clockwait) in schemathesis never ended.
"""
from __future__ import annotations

import os
from collections.abc import Mapping


def real_clock_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's environment) without libfaketime: no ``FAKETIME*``
    variables, and no faketime library in ``LD_PRELOAD`` (other preloads stay)."""
    clean = {k: v for k, v in (os.environ if env is None else env).items() if not k.startswith("FAKETIME")}
    preload = [lib for lib in clean.pop("LD_PRELOAD", "").split(":") if lib and "faketime" not in lib]
    if preload:
        clean["LD_PRELOAD"] = ":".join(preload)
    return clean
