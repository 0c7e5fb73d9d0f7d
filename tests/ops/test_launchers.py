"""The launchers of tests/ops refuse clearly when their server is not installed."""
from __future__ import annotations

import pytest

from scripts import pgbouncer, rabbit_cluster


def test_no_rabbitmq_server_is_refused_with_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(rabbit_cluster, "RABBIT_BIN", tmp_path)
    with pytest.raises(rabbit_cluster.RabbitMissing, match="apt-get install rabbitmq-server"):
        rabbit_cluster.RabbitCluster(3)
    assert list(tmp_path.iterdir()) == []  # nothing started, nothing left


def test_no_pgbouncer_is_refused_with_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(pgbouncer, "PGBOUNCER", str(tmp_path / "pgbouncer"))
    with pytest.raises(pgbouncer.PgBouncerMissing, match="apt-get install pgbouncer"):
        pgbouncer.PgBouncer()


def test_the_failover_url_names_every_node_in_order():
    cluster = rabbit_cluster.RabbitCluster.__new__(rabbit_cluster.RabbitCluster)
    cluster.nodes = [type("Node", (), {"url": lambda self, vhost="/", port=port: f"amqp://h:{port}/{vhost}"})()
                     for port in (1, 2, 3)]
    assert cluster.url("v") == "amqp://h:1/v;amqp://h:2/v;amqp://h:3/v"
    assert cluster.url("v", nodes=[2, 0]) == "amqp://h:3/v;amqp://h:1/v"
