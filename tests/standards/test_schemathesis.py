"""schemathesis, an outside tool, against the five services' OpenAPI documents: 0 failures.

For each service of a running mesh and each caller (the office's token, a unit's, none), the
schemathesis CLI runs every default phase (examples, coverage, fuzzing, stateful) with every
check (``--checks all``), a fixed seed and a bounded number of cases per operation, and must
find nothing. The hooks in ``schemathesis_hooks.py`` teach it the few rules JSON Schema cannot
state (the credit code's check character, real CSV/XLSX files, times on one side of "now").

``STANDARDS_EXAMPLES`` (default 5) sets the cases per operation and phase, ``STANDARDS_SEED``
the seed. The same run by hand, against a mesh started with ``python -m scripts.mesh start``::

    SCHEMATHESIS_HOOKS=tests.standards.schemathesis_hooks .venv/bin/schemathesis \\
        --config-file tests/standards/schemathesis.toml run http://127.0.0.1:8101/openapi.json \\
        --checks all -n 100 --seed 17 -H "Authorization: Bearer demo-office-token"
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts.faketime import real_clock_env

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("STANDARDS_EXAMPLES", "5"))
SEED = int(os.environ.get("STANDARDS_SEED", "17"))
CALLERS = {"office": "t-office", "unit": "t-unit-hrss", "no token": None}
SERVICES = ("intake", "dispatch", "supervision", "assessment", "notify")


def schemathesis(url: str, token: str | None, report: Path) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("schemathesis")),
               "--config-file", str(ROOT / "tests" / "standards" / "schemathesis.toml"), "--no-color",
               "run", f"{url}/openapi.json", "--checks", "all", "--max-examples", str(EXAMPLES),
               "--seed", str(SEED), "--workers", "1", "--report", "junit", "--report-junit-path", str(report)]
    if token:
        command += ["--header", f"Authorization: Bearer {token}"]
    # schemathesis is the outside tool, not a process under test: it runs on the real clock even
    # when the suite fakes the services' (libfaketime, scripts/at-shanghai-time.sh), whose 0.9.10
    # leaves a thread's timed wait (sem_clockwait) hanging for ever: its stateful phase never
    # ended. The hooks read the services' "now" from their Date header (SUQIU_SERVER).
    env = {**real_clock_env(), "SCHEMATHESIS_HOOKS": "tests.standards.schemathesis_hooks", "PYTHONPATH": str(ROOT),
           "SUQIU_SERVER": url}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("service", SERVICES)
def test_schemathesis_finds_nothing(mesh, service, caller, tmp_path):
    started = time.monotonic()
    run = schemathesis(mesh.url(service), CALLERS[caller], tmp_path / "junit.xml")
    output = run.stdout + run.stderr
    cases = re.search(r"^\s*(\d+) generated, (.*)$", output, re.MULTILINE)
    print(f"\nschemathesis {service} ({caller}): {cases.group(0).strip() if cases else 'no summary'}; "
          f"exit {run.returncode} in {time.monotonic() - started:.0f}s")
    assert cases is not None, f"schemathesis printed no summary:\n{output[-3000:]}"
    assert int(cases.group(1)) > 0, "schemathesis generated no case"
    assert run.returncode == 0, f"schemathesis found problems:\n{output[-12000:]}"
