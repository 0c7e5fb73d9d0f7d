"""Fixtures of the operations tests: a RabbitMQ cluster of the test's own (scripts.rabbit_cluster)
and a PgBouncer of the test's own (scripts.pgbouncer)."""
from __future__ import annotations

import pytest

from scripts.rabbit_cluster import RabbitCluster, RabbitMissing


@pytest.fixture
def rabbit_cluster(tmp_path):
    """Three started RabbitMQ nodes joined in one cluster; every node stopped and removed afterwards,
    whatever the test did (also when the start failed half way); their logs kept in
    ``<tmp_path>/rabbit-logs``."""
    try:
        cluster = RabbitCluster(3)
    except RabbitMissing as exc:
        pytest.fail(f"no three-node cluster: {exc}", pytrace=False)
    try:
        cluster.start()
    except Exception as exc:
        pytest.fail(f"could not form a three-node RabbitMQ cluster on this machine: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.close(keep_logs=tmp_path / "rabbit-logs")
