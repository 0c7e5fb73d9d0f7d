"""Runs the browser tests (tests/browser) in a pytest process of their own, without eventlet
(see the root conftest), and fails with their output when any of them fails."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.integration
@pytest.mark.timeout(1800)
def test_the_browser_tests_pass_in_chromium():
    env = {**os.environ, "SUQIU_BROWSER_TESTS": "1"}
    run = subprocess.run([sys.executable, "-m", "pytest", "tests/browser", "-q", "-p", "no:cacheprovider",
                          "-o", "addopts=-ra --timeout=600 --suppress-nameko-eventlet-notification"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=1750)
    summary = [line for line in run.stdout.splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
    print("\n".join(summary))
    assert run.returncode == 0, f"browser tests failed ({run.returncode}):\n{run.stdout[-12000:]}\n{run.stderr[-3000:]}"
    assert summary and " passed" in summary[-1] and "failed" not in summary[-1], run.stdout[-3000:]
