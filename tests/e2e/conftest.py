"""The whole mesh as separate processes on the real broker and PostgreSQL."""
import os
from pathlib import Path

import pytest

from scripts.mesh import Mesh, available_services
from shared.testing import TOKENS_FILE, free_port


@pytest.fixture
def start_mesh(amqp_uri, make_database_url, tmp_path):
    """``start_mesh(profile="demo", services=None, env=None)`` -> a started :class:`Mesh`."""
    started = []

    def start(profile: str = "demo", services: list[str] | None = None, env: dict | None = None) -> Mesh:
        names = services or available_services()
        mesh = Mesh(
            names, amqp_uri=amqp_uri,
            database_urls={name: make_database_url() for name in names},
            ports={name: free_port() for name in names},
            var_dir=tmp_path / "var",
            env={"PROFILE_DIR": f"deploy/profiles/{profile}", "SIMULATED_CLOCK": "true",
                 "AUTH_TOKENS_FILE": str(Path(TOKENS_FILE).resolve()), "OUTBOX_POLL_SECONDS": "0.2",
                 "LOG_LEVEL": os.environ.get("E2E_LOG_LEVEL", "INFO"), **(env or {})},
        )
        started.append(mesh)
        try:
            return mesh.start()
        except Exception:
            mesh.stop()
            raise

    yield start
    for mesh in started:
        mesh.stop()
