"""Database plumbing on real PostgreSQL: cooperative queries, migrations equal models."""
import time

import eventlet
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from shared.db import make_engine, migrate, services_with_migrations

pytestmark = pytest.mark.integration

SERVICES_WITH_MIGRATIONS = services_with_migrations()


def test_concurrent_slow_queries_do_not_serialise_under_eventlet(database_url):
    engine = make_engine(database_url, pool_size=10)

    def slow_query(_):
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_sleep(0.3)"))

    with engine.connect() as connection:  # open the first connection outside the timing
        connection.execute(text("SELECT 1"))
    pool = eventlet.GreenPool(10)
    started = time.perf_counter()
    list(pool.imap(slow_query, range(10)))
    elapsed = time.perf_counter() - started
    engine.dispose()
    assert elapsed < 1.5, f"10 x 0.3 s queries took {elapsed:.2f} s: the driver blocks the eventlet hub"


def test_every_service_has_migrations():
    assert "intake" in SERVICES_WITH_MIGRATIONS


@pytest.mark.parametrize("service", SERVICES_WITH_MIGRATIONS)
def test_migrations_build_exactly_the_models(service, database_url):
    import importlib

    metadata = importlib.import_module(f"services.{service}.models").metadata
    migrate(service, database_url)
    migrate(service, database_url)  # idempotent: a second start changes nothing
    engine = make_engine(database_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert diff == [], f"models and migrations of {service} differ; add a revision: {diff}"
