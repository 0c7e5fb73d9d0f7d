"""Playwright for Python driving Debian's Chromium headless (``/usr/bin/chromium``; no
browser download: ``make test`` and ``.ci/run`` install the ``chromium`` package when it is
missing). Run by tests/test_browser.py in a process without eventlet (see the root conftest).

Screenshots go to ``SUQIU_SCREENSHOTS`` (default ``var/screenshots``); the README shows the
copies committed in ``docs/screenshots`` (``SUQIU_SCREENSHOTS=docs/screenshots``)."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.console_mesh import NOW, PASSWORD, console_mesh  # noqa: F401 (the module's mesh)

ROOT = Path(__file__).resolve().parent.parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1280, "height": 900}


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install -y chromium (make test does it as root), "
                    "or set CHROMIUM to a Chromium binary", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


@pytest.fixture
def open_browser(chromium):
    """``open_browser(phone=False)`` -> a fresh page (its own cookies) whose requests say they happen at NOW."""
    contexts = []

    def make(phone: bool = False):
        context = chromium.new_context(viewport=PHONE if phone else DESK, locale="zh-CN",
                                       extra_http_headers={"X-Suqiu-Now": NOW.isoformat()})
        context.set_default_timeout(30_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def shoot(page, name: str) -> Path:
    folder = Path(os.environ.get("SUQIU_SCREENSHOTS") or ROOT / "var" / "screenshots")
    if not folder.is_absolute():
        folder = ROOT / folder
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page, console: str, username: str, password: str = PASSWORD, next_path: str = "") -> None:
    page.goto(f"{console}/login" + (f"?next={next_path}" if next_path else ""))
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button[type=submit]:has-text('登录')")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.inner_text("main")


def appeal_id_in(text: str) -> str:
    return re.search(r"SQ\d{8}-[0-9a-f]{10}", text).group(0)
