"""Root conftest: nameko's pytest plugin monkey-patches eventlet before anything
imports sockets; shared.testing gives every test its own vhost and database."""
pytest_plugins = ["shared.testing"]
