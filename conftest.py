"""Root conftest. eventlet is monkey-patched here, first, before anything imports
sockets (nameko 2.14's pytest plugin no longer does it); shared.testing gives
every test its own vhost and database."""
import eventlet

eventlet.monkey_patch()

pytest_plugins = ["shared.testing"]
