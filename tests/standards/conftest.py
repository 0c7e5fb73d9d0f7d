"""The whole mesh for the outside tools, started once per module on a vhost and databases of its own."""
from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

import pytest
import yaml

from scripts.client import Suqiu, write_tokens
from scripts.mesh import Mesh, available_services
from shared.profile import load_units
from shared.testing import TOKENS_FILE, free_port, fresh_database, fresh_vhost

PROFILE = "deploy/profiles/demo"


@pytest.fixture(scope="module")
def mesh(broker_base, database_base, tmp_path_factory):
    """The five services as processes (demo profile, simulated clock), for the module's tests."""
    names = available_services()
    folder = tmp_path_factory.mktemp("mesh")
    tokens = folder / "tokens.yaml"  # the tests' tokens (t-office ...) and the client's (sim-office-token ...)
    write_tokens(load_units(PROFILE)["units"], tokens)
    client_tokens = yaml.safe_load(tokens.read_text(encoding="utf-8"))["tokens"]
    test_tokens = yaml.safe_load(Path(TOKENS_FILE).read_text(encoding="utf-8"))["tokens"]
    tokens.write_text(yaml.safe_dump({"tokens": test_tokens + client_tokens}, allow_unicode=True), encoding="utf-8")
    with ExitStack() as stack:
        amqp_uri, _vhost = stack.enter_context(fresh_vhost(broker_base))
        databases = {name: stack.enter_context(fresh_database(database_base)) for name in names}
        running = Mesh(
            names, amqp_uri=amqp_uri, database_urls=databases, ports={name: free_port() for name in names},
            var_dir=folder,
            env={"PROFILE_DIR": PROFILE, "SIMULATED_CLOCK": "true", "AUTH_TOKENS_FILE": str(tokens),
                 "OUTBOX_POLL_SECONDS": "0.2",
                 "TICK_TIMER": "false", "NOTIFY_SENDER": "false", "CALLBACK_SECRET": "standards-callback-secret",
                 # nothing leaves the machine: a closed port for mail and SMS
                 "SMTP_HOST": "127.0.0.1", "SMTP_PORT": "9", "SMS_GATEWAY_URL": "http://127.0.0.1:9/sms",
                 "LOG_LEVEL": os.environ.get("E2E_LOG_LEVEL", "INFO")})
        stack.callback(running.stop)
        running.start()
        yield running


@pytest.fixture(scope="module")
def client(mesh) -> Suqiu:
    """The mesh's public interfaces, as the office, a cadre, the units and an upstream platform use them."""
    return Suqiu({name: mesh.url(name) for name in mesh.services}, mesh.amqp_uri)
