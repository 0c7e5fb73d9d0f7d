"""Root conftest. eventlet is monkey-patched here, first, before anything imports
sockets (nameko 2.14's pytest plugin no longer does it); shared.testing gives
every test its own vhost and database.

The browser tests (tests/browser) drive Chromium with Playwright, whose sync API does not
run under eventlet's monkey-patching: they run in a pytest process of their own with
``SUQIU_BROWSER_TESTS=1`` (nothing patched, nothing else collected), which
tests/test_browser.py starts from the main run, so ``pytest`` and ``make test`` run them."""
import os

BROWSER_RUN = os.environ.get("SUQIU_BROWSER_TESTS") == "1"

if not BROWSER_RUN:
    import eventlet

    eventlet.monkey_patch()
    collect_ignore = ["tests/browser"]

pytest_plugins = ["shared.testing"]
