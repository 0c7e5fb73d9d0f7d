"""The whole mesh for the outside tools, started once per module on a vhost and databases of its own."""
from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

import pytest

from scripts.mesh import Mesh, available_services
from shared.testing import TOKENS_FILE, fresh_database, fresh_vhost, free_port


@pytest.fixture(scope="module")
def mesh(broker_base, database_base, tmp_path_factory):
    """The five services as processes (demo profile, simulated clock), for the module's tests."""
    names = available_services()
    with ExitStack() as stack:
        amqp_uri, _vhost = stack.enter_context(fresh_vhost(broker_base))
        databases = {name: stack.enter_context(fresh_database(database_base)) for name in names}
        running = Mesh(
            names, amqp_uri=amqp_uri, database_urls=databases, ports={name: free_port() for name in names},
            var_dir=tmp_path_factory.mktemp("mesh"),
            env={"PROFILE_DIR": "deploy/profiles/demo", "SIMULATED_CLOCK": "true",
                 "AUTH_TOKENS_FILE": str(Path(TOKENS_FILE).resolve()), "OUTBOX_POLL_SECONDS": "0.2",
                 "TICK_TIMER": "false", "NOTIFY_SENDER": "false", "CALLBACK_SECRET": "standards-callback-secret",
                 # nothing leaves the machine: a closed port for mail and SMS
                 "SMTP_HOST": "127.0.0.1", "SMTP_PORT": "9", "SMS_GATEWAY_URL": "http://127.0.0.1:9/sms",
                 "LOG_LEVEL": os.environ.get("E2E_LOG_LEVEL", "INFO")})
        stack.callback(running.stop)
        running.start()
        yield running
